package pgq

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/resilience-go/resilience/internal/pgtest"
	"github.com/resilience-go/resilience/queue"
)

// TestCorruptRowsGoToDeadLetters changes rows by hand the way a stray
// script would (a payload that is not JSON, headers that are not strings, a
// state that does not exist): Get reports ErrCorruptTask, Claim and Recover
// fail those tasks into the dead letters with the reason, and the good
// task behind them is still claimed.
func TestCorruptRowsGoToDeadLetters(t *testing.T) {
	pool := pgtest.Pool(t, 8)
	b, opts := newBroker(t, pool)
	ctx := context.Background()
	enqueueN(t, b, "default", "bad-payload", "bad-headers", "bad-state", "good")
	tasks := `"` + opts.Schema + `".tasks`
	for _, sql := range []string{
		`UPDATE ` + tasks + ` SET payload = 'not json' WHERE id = 'bad-payload'`,
		`UPDATE ` + tasks + ` SET headers = '{"n": 1}' WHERE id = 'bad-headers'`,
		`UPDATE ` + tasks + ` SET state = 'LOST' WHERE id = 'bad-state'`,
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"bad-payload", "bad-headers", "bad-state"} {
		if _, err := b.Get(ctx, id); !errors.Is(err, ErrCorruptTask) {
			t.Fatalf("Get(%s): got %v, want ErrCorruptTask", id, err)
		}
	}
	got, _, err := b.Claim(ctx, []string{"default"}, time.Minute)
	if err != nil || got.ID != "good" {
		t.Fatalf("Claim: got %v, %v; want good (the corrupt rows skipped)", got, err)
	}
	if _, err := b.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	store := NewDeadLetterStore(pool, opts)
	for id, reason := range map[string]string{
		"bad-payload": "payload", "bad-headers": "headers", "bad-state": `"LOST"`,
	} {
		e, err := store.Get(ctx, id)
		if err != nil || !strings.Contains(e.Error, reason) || e.TaskName != "work" {
			t.Fatalf("dead letter %s: got %+v, %v; want one whose error names the %s", id, e, err, reason)
		}
		task, err := b.Get(ctx, id)
		if err != nil || task.State != queue.StateFailure || !strings.Contains(task.Error, reason) {
			t.Fatalf("task %s after dead-lettering: got %+v, %v; want FAILURE", id, task, err)
		}
	}
	if e, _ := store.Get(ctx, "bad-payload"); !strings.Contains(e.Trace, "not json") {
		t.Fatalf("dead letter of the bad payload: trace %q, want the stored bytes", e.Trace)
	}
}
