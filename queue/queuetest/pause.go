package queuetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/resilience-go/resilience/queue"
)

// The cases of the optional [queue.Pauser]: each skips when the broker is
// not one.

func pauser(t *testing.T, b queue.Broker) queue.Pauser {
	t.Helper()
	return optional[queue.Pauser](t, b, "queue.Pauser")
}

// testPause checks that a paused queue is not claimed from while others
// are, that enqueue still works, that pausing twice changes nothing, that
// a claim blocked on the paused queue wakes when it is resumed, and the
// error of a bad queue name.
func testPause(t *testing.T, b queue.Broker) {
	p := pauser(t, b)
	ctx := ctxFor(t, waitFor)
	must(t, p.SetPaused(ctx, "paused", true), "SetPaused(paused, true)")
	must(t, p.SetPaused(ctx, "paused", true), "SetPaused(paused, true) again")
	enqueue(t, b, "p1", "paused")
	enqueue(t, b, "o1", "other")
	if got, _ := claim(t, b, longLease, "paused", "other"); got.ID != "o1" {
		t.Fatalf("Claim(paused, other): got %q, want o1 (the paused queue comes first but is paused)", got.ID)
	}
	noClaim(t, b, shortLease, "paused")
	if got := get(t, b, "p1"); got.State != queue.StatePending || got.Attempt != 0 {
		t.Fatalf("task of the paused queue: got state %s, attempt %d; want PENDING, 0", got.State, got.Attempt)
	}

	claimed := make(chan *queue.Task, 1)
	go func() {
		got, _, err := b.Claim(ctx, []string{"paused"}, longLease)
		if err != nil {
			t.Errorf("blocked Claim(paused): %v", err)
		}
		claimed <- got
	}()
	time.Sleep(shortLease / 4) // let the claim block; the test holds either way
	select {
	case got := <-claimed:
		t.Fatalf("Claim on a paused queue returned %v before the queue was resumed", got)
	default:
	}
	must(t, p.SetPaused(ctx, "paused", false), "SetPaused(paused, false)")
	select {
	case got := <-claimed:
		if got == nil || got.ID != "p1" {
			t.Fatalf("blocked claim after resume: got %v, want p1", got)
		}
	case <-time.After(waitFor):
		t.Fatalf("a claim blocked on a paused queue did not wake within %v of its resume", waitFor)
	}
	must(t, p.SetPaused(ctx, "paused", false), "resuming a running queue")

	// Every name queue.CheckQueueName refuses, the broker refuses too:
	// invisible format characters and "." and ".." included.
	for _, bad := range []string{"", "a b", "a/b", ".", "..", "a\u202eb", "\u200b", "\ufeffq"} {
		if queue.CheckQueueName(bad) == nil {
			t.Fatalf("queue.CheckQueueName(%q) accepts it; the case expects a bad name", bad)
		}
		wantErr(t, p.SetPaused(ctx, bad, true), queue.ErrInvalidArgument, fmt.Sprintf("SetPaused(%q)", bad))
	}
}

// testPauseCompleteAndClaim checks that CompleteAndClaim takes nothing from
// a paused queue and still completes its task.
func testPauseCompleteAndClaim(t *testing.T, b queue.Broker) {
	p := pauser(t, b)
	cc := optional[queue.CompleteClaimer](t, b, "queue.CompleteClaimer")
	ctx := ctxFor(t, waitFor)
	enqueue(t, b, "first", "default")
	_, token := claim(t, b, longLease, "default")
	enqueue(t, b, "next", "paused")
	must(t, p.SetPaused(ctx, "paused", true), "SetPaused")
	next, _, err := cc.CompleteAndClaim(ctx, "first", token, json.RawMessage(`1`), time.Minute, []string{"paused"}, longLease)
	must(t, err, "CompleteAndClaim")
	wantNoNext(t, next, "CompleteAndClaim on a paused queue")
	wantStates(t, b, "after CompleteAndClaim", map[string]queue.State{"first": queue.StateSuccess, "next": queue.StatePending})
	must(t, p.SetPaused(ctx, "paused", false), "resume")
	if got, _ := claim(t, b, longLease, "paused"); got.ID != "next" {
		t.Fatalf("after resume: got %q, want next", got.ID)
	}
}

// testPauseKeepsRunning checks that pausing a queue leaves its running
// tasks alone: they renew and complete.
func testPauseKeepsRunning(t *testing.T, b queue.Broker) {
	p := pauser(t, b)
	ctx := ctxFor(t, waitFor)
	enqueue(t, b, "running", "q")
	_, token := claim(t, b, longLease, "q")
	must(t, p.SetPaused(ctx, "q", true), "SetPaused")
	must(t, b.Renew(ctx, "running", token, longLease), "Renew in a paused queue")
	must(t, b.Complete(ctx, "running", token, nil, time.Minute), "Complete in a paused queue")
	if got := get(t, b, "running"); got.State != queue.StateSuccess {
		t.Fatalf("got %s, want SUCCESS", got.State)
	}
}
