package pgq

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/resilience-go/resilience/queue"
)

// FuzzRowTask decodes rows with arbitrary payload, result, headers and
// state bytes, as a row edited by hand may hold: the decoder never panics,
// and it returns either a task whose JSON fields are valid and whose state
// exists, or an error wrapping ErrCorruptTask.
func FuzzRowTask(f *testing.F) {
	f.Add([]byte(`{"n":1}`), []byte(`"ok"`), []byte(`{"k":"v"}`), "PENDING")
	f.Add([]byte("not json"), []byte(nil), []byte(`{"n":1}`), "LOST")
	f.Add([]byte(nil), []byte(`{`), []byte(`null`), "SUCCESS")
	f.Add([]byte(`[]`), []byte(`1`), []byte(`[1]`), "")
	f.Fuzz(func(t *testing.T, payload, result, headers []byte, state string) {
		r := &row{id: "x", name: "n", queue: "q", state: state, payload: payload, result: result, headers: headers,
			enqueued: time.Unix(0, 0)}
		task, err := r.task()
		if err != nil {
			if !errors.Is(err, ErrCorruptTask) {
				t.Fatalf("got error %v, want one wrapping ErrCorruptTask", err)
			}
			return
		}
		if !task.State.Valid() {
			t.Fatalf("decoded a task with state %q, which does not exist", task.State)
		}
		if len(task.Payload) > 0 && !json.Valid(task.Payload) || len(task.Result) > 0 && !json.Valid(task.Result) {
			t.Fatalf("decoded a task with invalid JSON: payload %q, result %q", task.Payload, task.Result)
		}
	})
}

// TestDBTimeBounds: times are saturated to the stored range and rounded up
// to a whole microsecond, so a NotBefore is never honoured early.
func TestDBTimeBounds(t *testing.T) {
	if got := dbTime(time.Time{}); got != nil {
		t.Fatalf("zero time: got %v, want nil (NULL)", got)
	}
	far := time.Now().Add(time.Duration(1<<63-1)).AddDate(10000, 0, 0)
	if got := dbTime(far); got != latestTime {
		t.Fatalf("year %d: got %v, want %v", far.Year(), got, latestTime)
	}
	if got := dbTime(time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC)); got != earliestTime {
		t.Fatalf("year -5: got %v, want %v", got, earliestTime)
	}
	in := time.Date(2030, 1, 1, 0, 0, 0, 1500, time.UTC)
	if got := dbTime(in).(time.Time); !got.Equal(time.Date(2030, 1, 1, 0, 0, 0, 2000, time.UTC)) {
		t.Fatalf("1.5 µs past the second: got %v, want 2 µs past (rounded up)", got)
	}
	if got := micros(time.Nanosecond); got != 1 {
		t.Fatalf("micros(1ns): got %d, want 1", got)
	}
	if got := micros(queue.DefaultResultTTL); got != int64(queue.DefaultResultTTL/time.Microsecond) {
		t.Fatalf("micros(DefaultResultTTL): got %d", got)
	}
}
