package redisq

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/internal/redistest"
	"github.com/resilience-go/resilience/queue"
)

// TestEnqueueThatFailsStoresNoTask: the enqueue script used to write the
// task hash first, so a write after it that failed (here: the queue's
// ready list is a key of another type) left a PENDING task in no list,
// never claimed. Now a failed enqueue stores no task.
func TestEnqueueThatFailsStoresNoTask(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := newClient(t, srv)
	b, opts := newBroker(t, rdb)
	ctx := ctxFor(t, 10*time.Second)
	ready := "{" + opts.Prefix + "}:queue:default:ready"
	if err := rdb.Set(ctx, ready, "not a list", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	task := &queue.Task{ID: "a", Name: "work", Queue: "default", Payload: json.RawMessage(`{}`), EnqueuedAt: time.Now()}
	if _, _, err := b.Enqueue(ctx, task); err == nil {
		t.Fatal("Enqueue onto a ready list of the wrong type: got nil error, want the WRONGTYPE error")
	}
	if got, err := b.Get(ctx, "a"); !errors.Is(err, queue.ErrTaskNotFound) {
		t.Fatalf("Get after a failed Enqueue: got %+v, %v; want ErrTaskNotFound (nothing stored)", got, err)
	}
	if err := rdb.Del(ctx, ready).Err(); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	if _, created, err := b.Enqueue(ctx, task); err != nil || !created {
		t.Fatalf("Enqueue once the key is fixed: got created %v, %v; want a new task", created, err)
	}
	if got, _, err := b.Claim(ctx, []string{"default"}, time.Minute); err != nil || got.ID != "a" {
		t.Fatalf("Claim: got %v, %v; want task a", got, err)
	}
}

// TestGarbageStateIsNotClaimed: a task whose state field holds something
// this package never writes used to be claimed (set to STARTED, attempt
// counted) before it was decoded, and so handed to a worker as a good
// task. Now it goes to the dead letters with its fields as they were, and
// the claim moves on to the next task.
func TestGarbageStateIsNotClaimed(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := newClient(t, srv)
	b, opts := newBroker(t, rdb)
	ctx := ctxFor(t, 10*time.Second)
	tag := "{" + opts.Prefix + "}"
	if err := rdb.HSet(ctx, tag+":task:bogus", "name", "work", "queue", "default", "payload", "{}",
		"state", "HALF-DONE", "max_retries", "3", "enqueued_at", "1700000000000000").Err(); err != nil {
		t.Fatalf("HSET: %v", err)
	}
	if err := rdb.RPush(ctx, tag+":queue:default:ready", "bogus").Err(); err != nil {
		t.Fatalf("RPUSH: %v", err)
	}
	mustEnqueue(t, b, "good", "default", time.Time{})
	got, _, err := b.Claim(ctx, []string{"default"}, time.Minute)
	if err != nil || got.ID != "good" {
		t.Fatalf("Claim: got %+v, %v; want the good task (the bogus one dead-lettered)", got, err)
	}
	e, err := NewDeadLetterStore(rdb, opts).Get(ctx, "bogus")
	if err != nil {
		t.Fatalf("dead letter of the bogus task: %v", err)
	}
	if !strings.Contains(e.Error, `"state"`) || !strings.Contains(e.Trace, `state="HALF-DONE"`) {
		t.Fatalf("dead letter: got error %q, trace %q; want the state named and kept as it was", e.Error, e.Trace)
	}
	if task, err := b.Get(ctx, "bogus"); err != nil || task.State != queue.StateFailure || task.Attempt != 0 {
		t.Fatalf("the bogus task: got %+v, %v; want FAILURE with no attempt counted", task, err)
	}
}

// TestDeadLetterListCapsBytes: List used to cap a page by count only, so
// a page of large entries held them all in memory at once. Now a page
// stops before MaxListBytes, and paging on from offset+len reads them all.
func TestDeadLetterListCapsBytes(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := newClient(t, srv)
	s := NewDeadLetterStore(rdb, Options{Prefix: uniquePrefix(t)})
	ctx := ctxFor(t, 30*time.Second)
	big, _ := json.Marshal(strings.Repeat("x", 1<<20))
	const n = 20
	for i := range n {
		if err := s.Push(ctx, dlq.Entry{TaskID: string(rune('a' + i)), Payload: big}); err != nil {
			t.Fatalf("Push: %v", err)
		}
	}
	page, err := s.List(ctx, 0, 1000)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	size := 0
	for _, e := range page {
		raw, _ := json.Marshal(e)
		size += len(raw)
	}
	if len(page) == 0 || size > MaxListBytes {
		t.Fatalf("List(0, 1000) of %d entries of 1 MiB: got %d entries, %d bytes; want 1 or more within %d bytes",
			n, len(page), size, MaxListBytes)
	}
	seen := len(page)
	for seen < n {
		more, err := s.List(ctx, seen, 1000)
		if err != nil || len(more) == 0 {
			t.Fatalf("List(%d, 1000): got %d entries, %v; want more", seen, len(more), err)
		}
		seen += len(more)
	}
	if seen != n {
		t.Fatalf("paging read %d entries, want %d", seen, n)
	}
}
