package redisq

import (
	"testing"
	"time"

	"github.com/resilience-go/resilience/internal/redistest"
	"github.com/resilience-go/resilience/queue"
)

// TestCancelAndPauseWithRedisDown: with Redis unreachable, Cancel and
// SetPaused return an error and change nothing: once Redis is back the
// task is still PENDING and claimable, and the queue is not paused.
func TestCancelAndPauseWithRedisDown(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	rdb := newClient(t, srv)
	b, _ := newBroker(t, rdb)
	ctx := ctxFor(t, 20*time.Second)
	mustEnqueue(t, b, "a", "default", time.Time{})
	srv.Kill()
	if _, err := b.Cancel(ctxFor(t, 5*time.Second), "a", time.Minute); err == nil {
		t.Fatal("Cancel with Redis down: got nil error")
	}
	if err := b.SetPaused(ctxFor(t, 5*time.Second), "default", true); err == nil {
		t.Fatal("SetPaused with Redis down: got nil error")
	}
	srv.Restart()
	var st []queue.QueueStats
	var err error
	for range 100 { // the client reconnects
		if st, err = b.Stats(ctx); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || len(st) != 1 || st[0].Paused || st[0].Pending != 1 || st[0].Revoked != 0 {
		t.Fatalf("Stats after the failed calls: got %+v, %v; want default with one pending task, not paused", st, err)
	}
	if got, _, err := b.Claim(ctx, []string{"default"}, time.Minute); err != nil || got.ID != "a" {
		t.Fatalf("Claim: got %v, %v; want task a", got, err)
	}
}

// TestCancelWaitingTaskKeepsCounts: a waiting task revoked by Cancel moves
// from the pending count to the revoked one, and the entry it leaves in
// the ready list is dropped by the next claim, which takes the next task.
func TestCancelWaitingTaskKeepsCounts(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := newClient(t, srv)
	b, _ := newBroker(t, rdb)
	ctx := ctxFor(t, 10*time.Second)
	mustEnqueue(t, b, "a", "default", time.Time{})
	got, err := b.Cancel(ctx, "a", time.Minute)
	if err != nil || got.State != queue.StateRevoked {
		t.Fatalf("Cancel: got %+v, %v; want REVOKED", got, err)
	}
	st, err := b.Stats(ctx)
	if err != nil || len(st) != 1 || st[0].Revoked != 1 || st[0].Pending != 0 {
		t.Fatalf("Stats: got %+v, %v; want one revoked, none pending", st, err)
	}
	// The stale ready-list entry is dropped by the next claim.
	mustEnqueue(t, b, "b", "default", time.Time{})
	if next, _, err := b.Claim(ctx, []string{"default"}, time.Minute); err != nil || next.ID != "b" {
		t.Fatalf("Claim after the cancel: got %v, %v; want task b", next, err)
	}
}
