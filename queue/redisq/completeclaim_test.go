package redisq

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/resilience-go/resilience/internal/redistest"
	"github.com/resilience-go/resilience/queue"
)

// TestCompleteAndClaim checks the one-step completion and claim: the
// completed task is SUCCESS with its result, the next one is claimed in
// queue order exactly as Claim would, a stale token claims nothing, and an
// empty queue gives no next task.
func TestCompleteAndClaim(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	b, _ := newBroker(t, newClient(t, srv))
	ctx := ctxFor(t, 10*time.Second)
	mustEnqueue(t, b, "a", "default", time.Time{})
	mustEnqueue(t, b, "low", "low", time.Time{})
	mustEnqueue(t, b, "high", "high", time.Time{})
	queues := []string{"high", "default", "low"}

	first, token, err := b.Claim(ctx, []string{"default"}, time.Minute)
	if err != nil || first.ID != "a" {
		t.Fatalf("Claim: got %v, %v; want a", first, err)
	}
	if _, _, err := b.CompleteAndClaim(ctx, "a", "stale", nil, time.Minute, queues, time.Minute); !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatalf("CompleteAndClaim with a stale token: got %v, want ErrLeaseLost", err)
	}
	if got, _ := b.Get(ctx, "high"); got.State != queue.StatePending {
		t.Fatalf("after a failed CompleteAndClaim: high is %s, want PENDING (nothing claimed)", got.State)
	}

	next, token2, err := b.CompleteAndClaim(ctx, "a", token, json.RawMessage(`{"ok":true}`), time.Minute, queues, time.Minute)
	if err != nil || next == nil || next.ID != "high" || token2 == "" || token2 == token {
		t.Fatalf("CompleteAndClaim: got %+v, %q, %v; want task high with a new token", next, token2, err)
	}
	if next.State != queue.StateStarted || next.Attempt != 1 || next.StartedAt.IsZero() {
		t.Fatalf("claimed: got state %s, attempt %d, started %v; want STARTED, 1, set", next.State, next.Attempt, next.StartedAt)
	}
	if done, _ := b.Get(ctx, "a"); done.State != queue.StateSuccess || string(done.Result) != `{"ok":true}` {
		t.Fatalf("completed: got state %s, result %s; want SUCCESS, {\"ok\":true}", done.State, done.Result)
	}
	next2, token3, err := b.CompleteAndClaim(ctx, "high", token2, nil, time.Minute, queues, time.Minute)
	if err != nil || next2 == nil || next2.ID != "low" {
		t.Fatalf("second CompleteAndClaim: got %+v, %v; want task low", next2, err)
	}
	last, _, err := b.CompleteAndClaim(ctx, "low", token3, nil, time.Minute, queues, time.Minute)
	if err != nil || last != nil {
		t.Fatalf("CompleteAndClaim on empty queues: got %+v, %v; want no task and no error", last, err)
	}
	if done, _ := b.Get(ctx, "low"); done.State != queue.StateSuccess {
		t.Fatalf("last task: got state %s, want SUCCESS", done.State)
	}
	for _, bad := range []struct {
		queues []string
		lease  time.Duration
		ttl    time.Duration
	}{{nil, time.Minute, time.Minute}, {queues, 0, time.Minute}, {queues, time.Minute, 0}} {
		if _, _, err := b.CompleteAndClaim(ctx, "x", "y", nil, bad.ttl, bad.queues, bad.lease); !errors.Is(err, queue.ErrInvalidArgument) {
			t.Fatalf("CompleteAndClaim(queues %v, lease %v, ttl %v): got %v, want ErrInvalidArgument", bad.queues, bad.lease, bad.ttl, err)
		}
	}
}
