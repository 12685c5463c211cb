package queuetest

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/resilience-go/resilience/queue"
)

func testEnqueueGet(t *testing.T, b queue.Broker) {
	in := newTask("t1", "work", queue.QueueDefault)
	in.MaxRetries = 2
	stored, created, err := b.Enqueue(ctxFor(t, waitFor), in)
	must(t, err, "Enqueue")
	if !created {
		t.Fatal("Enqueue: got created false, want true for a new id")
	}
	in.Payload[0] = 'X' // the broker must not retain the caller's bytes
	for _, got := range []*queue.Task{stored, get(t, b, "t1")} {
		if got.ID != "t1" || got.Name != "work" || got.Queue != queue.QueueDefault {
			t.Fatalf("got id, name, queue %q, %q, %q, want t1, work, default", got.ID, got.Name, got.Queue)
		}
		if string(got.Payload) != `{"n":1}` {
			t.Fatalf("got payload %s, want {\"n\":1}", got.Payload)
		}
		if got.State != queue.StatePending || got.Attempt != 0 || got.MaxRetries != 2 {
			t.Fatalf("got state %s, attempt %d, max retries %d, want PENDING, 0, 2", got.State, got.Attempt, got.MaxRetries)
		}
		if got.EnqueuedAt.IsZero() {
			t.Fatal("got zero EnqueuedAt, want the enqueue time")
		}
	}
	got := get(t, b, "t1")
	got.Payload[0] = 'Y' // nor share its own bytes with callers
	if again := get(t, b, "t1"); string(again.Payload) != `{"n":1}` {
		t.Fatalf("after changing a returned payload, got %s, want {\"n\":1}", again.Payload)
	}
}

func testEnqueueResets(t *testing.T, b queue.Broker) {
	in := newTask("t1", "work", queue.QueueDefault)
	in.State, in.Attempt, in.Retries, in.Redeliveries = queue.StateSuccess, 3, 2, 1
	in.Result, in.Error = json.RawMessage(`1`), "old"
	in.Progress = &queue.Progress{Current: 1, Total: 2}
	_, _, err := b.Enqueue(ctxFor(t, waitFor), in)
	must(t, err, "Enqueue")
	got := get(t, b, "t1")
	if got.State != queue.StatePending || got.Attempt != 0 || got.Retries != 0 || got.Redeliveries != 0 ||
		got.Result != nil || got.Error != "" || got.Progress != nil {
		t.Fatalf("got %+v, want a fresh PENDING task with no attempts, result, error or progress", got)
	}
	claimed, _ := claim(t, b, longLease, queue.QueueDefault)
	if claimed.ID != "t1" {
		t.Fatalf("Claim: got %q, want t1 (claimable despite the SUCCESS state given)", claimed.ID)
	}
}

func testIdempotent(t *testing.T, b queue.Broker) {
	enqueue(t, b, "same", queue.QueueHigh)
	other := newTask("same", "other-name", queue.QueueLow)
	got, created, err := b.Enqueue(ctxFor(t, waitFor), other)
	must(t, err, "second Enqueue")
	if created || got.Name != "work" || got.Queue != queue.QueueHigh {
		t.Fatalf("second Enqueue of one id: got created %v, name %q, queue %q; want false, work, high", created, got.Name, got.Queue)
	}
	claim(t, b, longLease, queue.QueueHigh, queue.QueueLow)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if extra, _, err := b.Claim(ctx, []string{queue.QueueHigh, queue.QueueLow}, longLease); err == nil {
		t.Fatalf("a second claim got task %q; want no task: the duplicate enqueue must not have queued one", extra.ID)
	}
}

func testBadArguments(t *testing.T, b queue.Broker) {
	ctx := ctxFor(t, waitFor)
	for _, tt := range []struct {
		name string
		task *queue.Task
	}{
		{"nil task", nil},
		{"empty id", newTask("", "work", "default")},
		{"empty name", newTask("x", "", "default")},
		{"empty queue", newTask("x", "work", "")},
	} {
		_, _, err := b.Enqueue(ctx, tt.task)
		wantErr(t, err, queue.ErrInvalidArgument, "Enqueue with "+tt.name)
	}
	_, _, err := b.Claim(ctx, nil, time.Second)
	wantErr(t, err, queue.ErrInvalidArgument, "Claim with no queues")
	_, _, err = b.Claim(ctx, []string{"default"}, 0)
	wantErr(t, err, queue.ErrInvalidArgument, "Claim with lease 0")
	_, _, err = b.Claim(ctx, []string{"default", ""}, time.Second)
	wantErr(t, err, queue.ErrInvalidArgument, "Claim with an empty queue name")

	enqueue(t, b, "t1", "default")
	_, token := claim(t, b, longLease, "default")
	wantErr(t, b.Renew(ctx, "t1", token, 0), queue.ErrInvalidArgument, "Renew with lease 0")
	wantErr(t, b.Complete(ctx, "t1", token, nil, 0), queue.ErrInvalidArgument, "Complete with TTL 0")
	wantErr(t, b.Complete(ctx, "t1", token, json.RawMessage(`{"a":`), time.Minute), queue.ErrInvalidArgument,
		"Complete with a result that is not JSON")
	wantErr(t, b.Fail(ctx, "t1", token, "x", -time.Second), queue.ErrInvalidArgument, "Fail with TTL < 0")
	if got := get(t, b, "t1"); got.State != queue.StateStarted {
		t.Fatalf("after rejected calls got state %s, want STARTED (unchanged)", got.State)
	}
}

func testGetUnknown(t *testing.T, b queue.Broker) {
	_, err := b.Get(ctxFor(t, waitFor), "nope")
	wantErr(t, err, queue.ErrTaskNotFound, "Get of an unknown id")
}

func testPriorityOrder(t *testing.T, b queue.Broker) {
	enqueue(t, b, "low1", queue.QueueLow)
	enqueue(t, b, "def1", queue.QueueDefault)
	enqueue(t, b, "high1", queue.QueueHigh)
	enqueue(t, b, "def2", queue.QueueDefault)
	enqueue(t, b, "high2", queue.QueueHigh)
	want := []string{"high1", "high2", "def1", "def2", "low1"}
	for i, id := range want {
		got, _ := claim(t, b, longLease, queue.DefaultQueues()...)
		if got.ID != id {
			t.Fatalf("claim %d: got %q, want %q (order %v)", i, got.ID, id, want)
		}
	}
	// The order is the claim's, not fixed by the broker.
	enqueue(t, b, "high3", queue.QueueHigh)
	enqueue(t, b, "low2", queue.QueueLow)
	if got, _ := claim(t, b, longLease, queue.QueueLow, queue.QueueHigh); got.ID != "low2" {
		t.Fatalf("claim with order [low high]: got %q, want low2", got.ID)
	}
}

func testFIFO(t *testing.T, b queue.Broker) {
	ids := []string{"a", "b", "c", "d", "e"}
	for _, id := range ids {
		enqueue(t, b, id, "default")
	}
	for _, id := range ids {
		if got, _ := claim(t, b, longLease, "default"); got.ID != id {
			t.Fatalf("got %q, want %q (first in, first out)", got.ID, id)
		}
	}
}

func testClaimBlocks(t *testing.T, b queue.Broker) {
	type result struct {
		task *queue.Task
		err  error
	}
	res := make(chan result, 1)
	ctx := ctxFor(t, waitFor)
	go func() {
		got, _, err := b.Claim(ctx, []string{"high", "low"}, longLease)
		res <- result{got, err}
	}()
	// Let the claim block first. (The test is valid either way; this
	// makes it check the wake-up, not an immediate claim.)
	time.Sleep(50 * time.Millisecond)
	enqueue(t, b, "other", "default") // a queue the claim does not serve
	enqueue(t, b, "mine", "low")
	r := <-res
	must(t, r.err, "blocked Claim")
	if r.task.ID != "mine" {
		t.Fatalf("blocked Claim: got %q, want mine", r.task.ID)
	}
}

func testClaimCtx(t *testing.T, b queue.Broker) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, _, err := b.Claim(ctx, []string{"default"}, longLease)
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		wantErr(t, err, context.Canceled, "Claim after cancel")
	case <-time.After(waitFor):
		t.Fatalf("Claim did not return within %v of its ctx's cancellation", waitFor)
	}
	_, _, err := b.Claim(ctx, []string{"default"}, longLease)
	wantErr(t, err, context.Canceled, "Claim with a done ctx")
}

func testDelay(t *testing.T, b queue.Broker) {
	in := newTask("later", "work", "default")
	in.NotBefore = time.Now().Add(300 * time.Millisecond)
	_, _, err := b.Enqueue(ctxFor(t, waitFor), in)
	must(t, err, "Enqueue")
	if got := get(t, b, "later"); got.State != queue.StatePending {
		t.Fatalf("delayed task: got state %s, want PENDING", got.State)
	}
	got, _ := claim(t, b, longLease, "default") // blocks until the delay ends
	if now := time.Now(); got.ID != "later" || now.Before(in.NotBefore) {
		t.Fatalf("got %q at %v, want later at or after %v", got.ID, now, in.NotBefore)
	}
}

func testDelayNotBlocking(t *testing.T, b queue.Broker) {
	in := newTask("much-later", "work", "default")
	in.NotBefore = time.Now().Add(time.Hour)
	_, _, err := b.Enqueue(ctxFor(t, waitFor), in)
	must(t, err, "Enqueue")
	enqueue(t, b, "now", "default")
	if got, _ := claim(t, b, longLease, "default"); got.ID != "now" {
		t.Fatalf("got %q, want now (a delayed task must not hold up ready ones)", got.ID)
	}
}

func testConcurrentClaimers(t *testing.T, b queue.Broker) {
	const tasks, claimers = 200, 8
	for i := range tasks {
		enqueue(t, b, "c"+string(rune('A'+i/26))+string(rune('a'+i%26)), "default")
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range claimers {
		wg.Go(func() {
			for {
				got, _, err := b.Claim(ctx, []string{"default"}, longLease)
				if err != nil {
					return
				}
				mu.Lock()
				seen[got.ID]++
				if len(seen) == tasks {
					cancel()
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != tasks {
		t.Fatalf("claimed %d distinct tasks, want %d", len(seen), tasks)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("task %s was claimed %d times while its lease held, want 1", id, n)
		}
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("claimers did not drain %d tasks within %v", tasks, waitFor)
	}
}
