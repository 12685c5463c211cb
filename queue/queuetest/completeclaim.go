package queuetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/resilience-go/resilience/queue"
)

// testCompleteAndClaim checks the optional [queue.CompleteClaimer]: calls
// that fail (bad arguments, a stale, empty or settled token, an unknown id,
// an ended ctx) claim nothing; a good call completes its task and claims the
// next one in strict queue order, leased for the lease it was given, with a
// fresh token that settles that task in turn; on empty queues it still
// completes and returns no task and no error.
func testCompleteAndClaim(t *testing.T, b queue.Broker) {
	cc, ok := b.(queue.CompleteClaimer)
	if !ok {
		t.Log("the broker does not implement queue.CompleteClaimer; workers complete and claim in two calls")
		return
	}
	ctx := ctxFor(t, waitFor)
	queues := []string{queue.QueueHigh, queue.QueueDefault, queue.QueueLow}
	// Enqueued against the order of queues, so that only strict priority
	// gives high1, def2, low1.
	enqueue(t, b, "low1", queue.QueueLow)
	enqueue(t, b, "def1", queue.QueueDefault)
	enqueue(t, b, "def2", queue.QueueDefault)
	enqueue(t, b, "high1", queue.QueueHigh)
	first, token1 := claim(t, b, longLease, queue.QueueDefault)
	if first.ID != "def1" {
		t.Fatalf("Claim(default): got %q, want def1", first.ID)
	}

	for _, bad := range []struct {
		name   string
		result json.RawMessage
		queues []string
		lease  time.Duration
		ttl    time.Duration
	}{
		{"no queues", nil, nil, longLease, time.Minute},
		{"an empty queue list", nil, []string{}, longLease, time.Minute},
		{"an empty queue name", nil, []string{queue.QueueHigh, ""}, longLease, time.Minute},
		{"lease 0", nil, queues, 0, time.Minute},
		{"lease < 0", nil, queues, -time.Second, time.Minute},
		{"TTL 0", nil, queues, longLease, 0},
		{"TTL < 0", nil, queues, longLease, -time.Second},
		{"a result that is not JSON", json.RawMessage(`{"a":`), queues, longLease, time.Minute},
	} {
		next, _, err := cc.CompleteAndClaim(ctx, "def1", token1, bad.result, bad.ttl, bad.queues, bad.lease)
		wantErr(t, err, queue.ErrInvalidArgument, "CompleteAndClaim with "+bad.name)
		wantNoNext(t, next, "CompleteAndClaim with "+bad.name)
	}
	for what, token := range map[string]string{"a stale token": "stale", "an empty token": ""} {
		next, _, err := cc.CompleteAndClaim(ctx, "def1", token, nil, time.Minute, queues, longLease)
		wantErr(t, err, queue.ErrLeaseLost, "CompleteAndClaim with "+what)
		wantNoNext(t, next, "CompleteAndClaim with "+what)
	}
	next, _, err := cc.CompleteAndClaim(ctx, "nope", token1, nil, time.Minute, queues, longLease)
	if !errors.Is(err, queue.ErrTaskNotFound) && !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatalf("CompleteAndClaim of an unknown id: got %v, want ErrTaskNotFound or ErrLeaseLost", err)
	}
	wantNoNext(t, next, "CompleteAndClaim of an unknown id")
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	next, _, err = cc.CompleteAndClaim(ended, "def1", token1, nil, time.Minute, queues, longLease)
	wantErr(t, err, context.Canceled, "CompleteAndClaim with an ended ctx")
	wantNoNext(t, next, "CompleteAndClaim with an ended ctx")
	wantStates(t, b, "after the failed calls", map[string]queue.State{
		"def1": queue.StateStarted, "high1": queue.StatePending, "def2": queue.StatePending, "low1": queue.StatePending,
	})

	// A good call: def1 is done, high1 (the first queue) is claimed.
	high1, token2 := completeAndClaim(t, cc, "def1", token1, json.RawMessage(`{"ok":true}`), queues, longLease, "high1")
	if token2 == token1 {
		t.Fatalf("CompleteAndClaim: got the completed task's token %q for the next task, want a new one", token2)
	}
	if high1.State != queue.StateStarted || high1.Attempt != 1 || high1.StartedAt.IsZero() || high1.Redeliveries != 0 {
		t.Fatalf("claimed high1: got state %s, attempt %d, started %v, redeliveries %d; want STARTED, 1, set, 0",
			high1.State, high1.Attempt, high1.StartedAt, high1.Redeliveries)
	}
	done := get(t, b, "def1")
	var res struct{ OK bool }
	if done.State != queue.StateSuccess || json.Unmarshal(done.Result, &res) != nil || !res.OK {
		t.Fatalf("completed def1: got state %s, result %s; want SUCCESS, {\"ok\":true}", done.State, done.Result)
	}
	if done.FinishedAt.IsZero() || done.Error != "" {
		t.Fatalf("completed def1: got finished %v, error %q; want a finish time and no error", done.FinishedAt, done.Error)
	}
	if got := get(t, b, "high1"); got.State != queue.StateStarted || got.Attempt != 1 {
		t.Fatalf("Get(high1) after it was claimed: got state %s, attempt %d; want STARTED, 1", got.State, got.Attempt)
	}
	next, _, err = cc.CompleteAndClaim(ctx, "def1", token1, nil, time.Minute, queues, longLease)
	wantErr(t, err, queue.ErrLeaseLost, "CompleteAndClaim with the token of a completed task")
	wantNoNext(t, next, "CompleteAndClaim with the token of a completed task")

	// The new token settles high1; def2 is claimed for a short lease, which
	// must run out (the lease given is the one used).
	_, token3 := completeAndClaim(t, cc, "high1", token2, nil, queues, shortLease, "def2")
	recoverUntil(t, b, "def2", 1)
	next, _, err = cc.CompleteAndClaim(ctx, "def2", token3, nil, time.Minute, queues, longLease)
	wantErr(t, err, queue.ErrLeaseLost, "CompleteAndClaim after the lease ran out")
	wantNoNext(t, next, "CompleteAndClaim after the lease ran out")
	if got := get(t, b, "low1"); got.State != queue.StatePending {
		t.Fatalf("low1 after a CompleteAndClaim with an expired lease: got state %s, want PENDING (nothing claimed)", got.State)
	}
	again, token4 := claim(t, b, longLease, queue.QueueDefault)
	if again.ID != "def2" || again.Attempt != 2 || again.Redeliveries != 1 {
		t.Fatalf("reclaimed: got %q with attempt %d, redeliveries %d; want def2, 2, 1", again.ID, again.Attempt, again.Redeliveries)
	}

	_, token5 := completeAndClaim(t, cc, "def2", token4, nil, queues, longLease, "low1")
	last, lastToken, err := cc.CompleteAndClaim(ctx, "low1", token5, json.RawMessage(`7`), time.Minute, queues, longLease)
	if err != nil || last != nil || lastToken != "" {
		t.Fatalf("CompleteAndClaim on empty queues: got task %v, token %q, error %v; want none, \"\", nil", last, lastToken, err)
	}
	wantStates(t, b, "at the end", map[string]queue.State{
		"def1": queue.StateSuccess, "high1": queue.StateSuccess, "def2": queue.StateSuccess, "low1": queue.StateSuccess,
	})
	if got := get(t, b, "low1"); string(got.Result) != "7" {
		t.Fatalf("low1, completed on empty queues: got result %s, want 7", got.Result)
	}
}

// completeAndClaim completes task id and fails the test unless the call
// claims task want with a token; it returns the claimed task and token.
func completeAndClaim(t *testing.T, cc queue.CompleteClaimer, id, token string, result json.RawMessage,
	queues []string, lease time.Duration, want string) (*queue.Task, string) {
	t.Helper()
	next, nextToken, err := cc.CompleteAndClaim(ctxFor(t, waitFor), id, token, result, time.Minute, queues, lease)
	must(t, err, fmt.Sprintf("CompleteAndClaim(%q)", id))
	if next == nil || next.ID != want || nextToken == "" {
		t.Fatalf("CompleteAndClaim(%q): got task %v and token %q, want %s and a token", id, next, nextToken, want)
	}
	return next, nextToken
}

// wantNoNext fails the test when a call that failed returned a task.
func wantNoNext(t *testing.T, next *queue.Task, what string) {
	t.Helper()
	if next != nil {
		t.Fatalf("%s: got task %q with the error, want none", what, next.ID)
	}
}

// wantStates fails the test unless each task is in its state.
func wantStates(t *testing.T, b queue.Broker, when string, want map[string]queue.State) {
	t.Helper()
	got := make(map[string]queue.State, len(want))
	for id := range want {
		got[id] = get(t, b, id).State
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: got states %v, want %v", when, got, want)
	}
}
