package redisq

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/resilience-go/resilience/queue"
)

// taskFields renders t as the fields of its hash, as the scripts write
// them (the inverse of decodeTask).
func taskFields(t *queue.Task) map[string]string {
	f := map[string]string{
		fName: t.Name, fQueue: t.Queue, fPayload: string(t.Payload),
		fState: string(t.State), fAttempt: strconv.Itoa(t.Attempt),
		fMaxRetries: strconv.Itoa(t.MaxRetries), fRetries: strconv.Itoa(t.Retries),
		fRedeliveries: strconv.Itoa(t.Redeliveries), fEnqueuedAt: usString(t.EnqueuedAt),
	}
	set := func(k, v string) {
		if v != "" {
			f[k] = v
		}
	}
	set(fResult, string(t.Result))
	set(fError, t.Error)
	set(fNotBefore, usString(t.NotBefore))
	set(fStartedAt, usString(t.StartedAt))
	set(fFinishedAt, usString(t.FinishedAt))
	if !t.ExpiresAt.IsZero() {
		f[fTTL] = strconv.FormatInt(t.ExpiresAt.Sub(t.FinishedAt).Milliseconds(), 10)
	}
	if t.Progress != nil {
		p, _ := json.Marshal(t.Progress)
		f[fProgress] = string(p)
	}
	return f
}

func validFields() map[string]string {
	return map[string]string{
		fName: "work", fQueue: "default", fPayload: `{"n":1}`, fState: "SUCCESS",
		fAttempt: "1", fMaxRetries: "-1", fRetries: "0",
		fEnqueuedAt: "1700000000123456", fStartedAt: "1700000001000000",
		fFinishedAt: "1700000002000000", fTTL: "60000", fResult: `"ok"`,
		fProgress: `{"current":1,"total":2,"status":"s"}`, "token": "abc", "lease_us": "1000",
		fEnqCall: "call1",
	}
}

func TestDecodeTaskValid(t *testing.T) {
	got, err := decodeTask("t1", validFields())
	if err != nil {
		t.Fatalf("decodeTask: got error %v, want nil", err)
	}
	want := &queue.Task{
		ID: "t1", Name: "work", Queue: "default", Payload: json.RawMessage(`{"n":1}`),
		State: queue.StateSuccess, Attempt: 1, MaxRetries: -1, Result: json.RawMessage(`"ok"`),
		EnqueuedAt: time.UnixMicro(1700000000123456), StartedAt: time.UnixMicro(1700000001000000),
		FinishedAt: time.UnixMicro(1700000002000000), ExpiresAt: time.UnixMicro(1700000062000000),
		Progress: &queue.Progress{Current: 1, Total: 2, Status: "s"},
	}
	if !sameTask(got, want) {
		t.Fatalf("decodeTask: got %+v, want %+v", got, want)
	}
}

// TestDecodeTaskRejectsCorruptFields names each way a hash can be corrupt
// and checks that the error wraps ErrCorruptTask and names the field.
func TestDecodeTaskRejectsCorruptFields(t *testing.T) {
	tests := []struct {
		name, field, value string // value "-" deletes the field
	}{
		{"missing name", fName, "-"},
		{"missing queue", fQueue, ""},
		{"unknown state", fState, "BOGUS"},
		{"missing state", fState, "-"},
		{"attempt not a number", fAttempt, "x"},
		{"retries overflow", fRetries, "99999999999999999999999"},
		{"redeliveries negative float", fRedeliveries, "-1e3"},
		{"time out of range", fFinishedAt, "999999999999999999"},
		{"ttl not a number", fTTL, "1h"},
		{"max retries float", fMaxRetries, "1.5"},
		{"enqueued_at missing", fEnqueuedAt, "-"},
		{"started_at garbage", fStartedAt, "yesterday"},
		{"payload not JSON", fPayload, "{"},
		{"result not JSON", fResult, "nope"},
		{"progress not JSON", fProgress, "[1,"},
		{"progress wrong type", fProgress, `{"current":"a"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := validFields()
			if tt.value == "-" {
				delete(f, tt.field)
			} else {
				f[tt.field] = tt.value
			}
			got, err := decodeTask("t1", f)
			if !errors.Is(err, ErrCorruptTask) {
				t.Fatalf("decodeTask: got task %+v, error %v; want an error wrapping ErrCorruptTask", got, err)
			}
			if !strings.Contains(err.Error(), strconv.Quote(tt.field)) {
				t.Fatalf("decodeTask: got error %q, want it to name field %q", err, tt.field)
			}
		})
	}
}

func TestFieldMapRejectsMalformedReplies(t *testing.T) {
	for _, v := range []any{nil, "x", []any{"a"}, []any{"a", int64(1)}, []any{int64(1), "a"}} {
		if _, err := fieldMap(v); !errors.Is(err, ErrCorruptTask) {
			t.Errorf("fieldMap(%#v): got error %v, want one wrapping ErrCorruptTask", v, err)
		}
	}
	m, err := fieldMap([]any{"a", "1", "b", "2"})
	if err != nil || len(m) != 2 || m["a"] != "1" || m["b"] != "2" {
		t.Fatalf("fieldMap: got %v, %v; want map[a:1 b:2]", m, err)
	}
}

func TestRawPayloadKeepsInvalidJSONAsString(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`{"a":1}`, `{"a":1}`},
		{"not json", `"not json"`},
		{"", ""},
	} {
		got := rawPayload(map[string]string{fPayload: tt.in})
		if string(got) != tt.want || (len(got) > 0 && !json.Valid(got)) {
			t.Errorf("rawPayload(%q): got %s, want %s (valid JSON)", tt.in, got, tt.want)
		}
	}
}

// FuzzDecodeTask feeds the decoder arbitrary hashes: it must never panic,
// must fail only with ErrCorruptTask, and a task it accepts must survive a
// round trip through the fields the scripts write.
func FuzzDecodeTask(f *testing.F) {
	f.Add(encodeFuzz(validFields()))
	f.Add(encodeFuzz(map[string]string{fName: "x"}))
	f.Add([]byte("state\x00PENDING\x00attempt\x00-1\x00progress\x00null\x00payload\x00[]"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		fields := decodeFuzz(data)
		got, err := decodeTask("id", fields)
		if err != nil {
			if !errors.Is(err, ErrCorruptTask) {
				t.Fatalf("decodeTask: got error %v, want one wrapping ErrCorruptTask", err)
			}
			_ = dumpFields(fields)
			if p := rawPayload(fields); len(p) > 0 && !json.Valid(p) {
				t.Fatalf("rawPayload: got invalid JSON %q", p)
			}
			return
		}
		again, err := decodeTask("id", taskFields(got))
		if err != nil {
			t.Fatalf("round trip of %+v: got error %v", got, err)
		}
		if !sameTask(got, again) {
			t.Fatalf("round trip: got %+v, want %+v", again, got)
		}
	})
}

// encodeFuzz and decodeFuzz map a hash to and from NUL-separated
// field/value pairs (a trailing odd field gets an empty value).
func encodeFuzz(m map[string]string) []byte {
	var b bytes.Buffer
	for k, v := range maps.All(m) {
		b.WriteString(k + "\x00" + v + "\x00")
	}
	return b.Bytes()
}

func decodeFuzz(data []byte) map[string]string {
	parts := strings.Split(string(data), "\x00")
	m := make(map[string]string)
	for i := 0; i < len(parts); i += 2 {
		v := ""
		if i+1 < len(parts) {
			v = parts[i+1]
		}
		m[parts[i]] = v
	}
	return m
}

func sameTask(a, b *queue.Task) bool {
	if (a.Progress == nil) != (b.Progress == nil) || (a.Progress != nil && *a.Progress != *b.Progress) {
		return false
	}
	return a.ID == b.ID && a.Name == b.Name && a.Queue == b.Queue && bytes.Equal(a.Payload, b.Payload) &&
		a.State == b.State && bytes.Equal(a.Result, b.Result) && a.Error == b.Error &&
		a.Attempt == b.Attempt && a.MaxRetries == b.MaxRetries && a.Retries == b.Retries &&
		a.Redeliveries == b.Redeliveries && a.EnqueuedAt.Equal(b.EnqueuedAt) && a.NotBefore.Equal(b.NotBefore) &&
		a.StartedAt.Equal(b.StartedAt) && a.FinishedAt.Equal(b.FinishedAt) && a.ExpiresAt.Equal(b.ExpiresAt)
}

// TestTimesOutsideTheStoredRangeSaturate checks that times a task hash
// cannot hold are stored as the nearest bound, not wrapped: UnixMicro
// alone wraps after the year 294,246, which would make a NotBefore that
// far away due at once.
func TestTimesOutsideTheStoredRangeSaturate(t *testing.T) {
	farFuture := time.Unix(1<<62, 0) // about the year 146 billion
	farPast := time.Unix(-1<<62, 0)
	if farFuture.UnixMicro() > 0 {
		t.Fatalf("test premise: %v.UnixMicro() = %d; want it to wrap negative", farFuture, farFuture.UnixMicro())
	}
	for _, c := range []struct {
		in   time.Time
		want time.Time
	}{
		{farFuture, maxTime},
		{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), maxTime},
		{farPast, minTime},
		{time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC), minTime},
		{time.Date(2026, 12, 5, 1, 2, 3, 4000, time.UTC), time.Date(2026, 12, 5, 1, 2, 3, 4000, time.UTC)},
	} {
		s := usString(c.in)
		d := decoder{f: map[string]string{fNotBefore: s}}
		if got := d.time(fNotBefore, true); d.err != nil || !got.Equal(c.want) {
			t.Errorf("usString(%v) = %s, which decodes to %v (error %v); want %v", c.in, s, got, d.err, c.want)
		}
	}
	if s := usString(time.Time{}); s != "" {
		t.Errorf("usString(zero time) = %q; want \"\"", s)
	}
}

// TestHugeTTLFieldDoesNotWrap checks that a ttl_ms beyond the largest
// Duration (another program's data) gives an ExpiresAt far in the future,
// not one in the past.
func TestHugeTTLFieldDoesNotWrap(t *testing.T) {
	finished := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	task := &queue.Task{ID: "t", Name: "n", Queue: "default", State: queue.StateSuccess, MaxRetries: -1,
		EnqueuedAt: finished, FinishedAt: finished}
	f := taskFields(task)
	f[fTTL] = "9223372036854775807"
	got, err := decodeTask("t", f)
	if err != nil {
		t.Fatal(err)
	}
	if !got.ExpiresAt.After(finished.AddDate(200, 0, 0)) {
		t.Fatalf("ExpiresAt = %v; want centuries after %v", got.ExpiresAt, finished)
	}
}
