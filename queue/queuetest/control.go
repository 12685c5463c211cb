package queuetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/resilience-go/resilience/queue"
)

// The cases of the optional [queue.Canceler]: each skips when the broker
// is not one.

// optional returns b as the optional interface I, named name, and skips
// the test when b does not implement it.
func optional[I any](t *testing.T, b queue.Broker, name string) I {
	t.Helper()
	i, ok := b.(I)
	if !ok {
		t.Skipf("broker %T is not a %s", b, name)
	}
	return i
}

func canceler(t *testing.T, b queue.Broker) queue.Canceler {
	t.Helper()
	return optional[queue.Canceler](t, b, "queue.Canceler")
}

// cancel cancels task id and returns the task as Cancel returned it.
func cancel(t *testing.T, c queue.Canceler, id string) *queue.Task {
	t.Helper()
	got, err := c.Cancel(ctxFor(t, waitFor), id, time.Minute)
	must(t, err, fmt.Sprintf("Cancel(%q)", id))
	if got == nil || got.ID != id {
		t.Fatalf("Cancel(%q): got task %v, want the task", id, got)
	}
	return got
}

// wantRevoked fails the test unless task got is REVOKED with its finish and
// expiry times set.
func wantRevoked(t *testing.T, got *queue.Task, what string) {
	t.Helper()
	if got.State != queue.StateRevoked || got.FinishedAt.IsZero() || got.ExpiresAt.IsZero() {
		t.Fatalf("%s: got state %s, finished %v, expires %v; want REVOKED with both times set",
			what, got.State, got.FinishedAt, got.ExpiresAt)
	}
}

// noClaim fails the test when a claim on queues gets a task within d.
func noClaim(t *testing.T, b queue.Broker, d time.Duration, queues ...string) {
	t.Helper()
	got, _, err := b.Claim(ctxFor(t, d), queues, longLease)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Claim(%v): got task %v and error %v, want none before the ctx ends", queues, got, err)
	}
}

// testCancelWaiting cancels a pending, a delayed and two retrying tasks
// (one waiting for its backoff, one claimable at once): each is REVOKED at
// once and never claimed, while a task enqueued after them is.
func testCancelWaiting(t *testing.T, b queue.Broker) {
	c := canceler(t, b)
	ctx := ctxFor(t, waitFor)
	enqueue(t, b, "retry-later", "default")
	enqueue(t, b, "retry-now", "default")
	_, tok1 := claim(t, b, longLease, "default")
	_, tok2 := claim(t, b, longLease, "default")
	must(t, b.Retry(ctx, "retry-later", tok1, "boom", time.Now().Add(time.Hour)), "Retry with a backoff")
	must(t, b.Retry(ctx, "retry-now", tok2, "boom", time.Time{}), "Retry at once")
	enqueue(t, b, "pending", "default")
	delayed := newTask("delayed", "work", "default")
	delayed.NotBefore = time.Now().Add(2 * shortLease)
	_, _, err := b.Enqueue(ctx, delayed)
	must(t, err, "Enqueue(delayed)")

	for _, id := range []string{"retry-later", "retry-now", "pending", "delayed"} {
		wantRevoked(t, cancel(t, c, id), "Cancel("+id+")")
		wantRevoked(t, get(t, b, id), "Get("+id+") after Cancel")
	}
	enqueue(t, b, "after", "default")
	if got, _ := claim(t, b, longLease, "default"); got.ID != "after" {
		t.Fatalf("Claim after cancelling every waiting task: got %q, want after", got.ID)
	}
	noClaim(t, b, 3*shortLease, "default") // the delayed task's time has passed by then
	if got := get(t, b, "retry-later"); got.Error != "boom" || got.Retries != 1 {
		t.Fatalf("revoked retrying task: got error %q, retries %d; want the last attempt's boom, 1", got.Error, got.Retries)
	}
}

// testCancelLeased cancels claimed tasks: each keeps its lease with
// CancelRequested set; Renew and Progress renew it but report ErrRevoked;
// every settling call ends the task REVOKED with ErrRevoked.
func testCancelLeased(t *testing.T, b queue.Broker) {
	c := canceler(t, b)
	ctx := ctxFor(t, waitFor)
	calls := []struct {
		name string
		call func(id, token string) error
	}{
		{"Complete", func(id, tok string) error { return b.Complete(ctx, id, tok, json.RawMessage(`1`), time.Minute) }},
		{"Fail", func(id, tok string) error { return b.Fail(ctx, id, tok, "x", time.Minute) }},
		{"Retry", func(id, tok string) error { return b.Retry(ctx, id, tok, "x", time.Time{}) }},
		{"Release", func(id, tok string) error { return b.Release(ctx, id, tok) }},
	}
	if cc, ok := b.(queue.CompleteClaimer); ok {
		calls = append(calls, struct {
			name string
			call func(id, token string) error
		}{"CompleteAndClaim", func(id, tok string) error {
			next, _, err := cc.CompleteAndClaim(ctx, id, tok, nil, time.Minute, []string{"other"}, longLease)
			wantNoNext(t, next, "CompleteAndClaim of a cancelled task")
			return err
		}})
		enqueue(t, b, "bystander", "other")
	}
	for _, tc := range calls {
		id := "t-" + tc.name
		enqueue(t, b, id, "default")
		_, token := claim(t, b, longLease, "default")
		got := cancel(t, c, id)
		if got.State != queue.StateStarted || !got.CancelRequested {
			t.Fatalf("Cancel of a leased task: got state %s, CancelRequested %v; want STARTED, true", got.State, got.CancelRequested)
		}
		if again := cancel(t, c, id); again.State != queue.StateStarted || !again.CancelRequested {
			t.Fatalf("second Cancel: got state %s, CancelRequested %v; want it unchanged", again.State, again.CancelRequested)
		}
		wantErr(t, b.Renew(ctx, id, token, longLease), queue.ErrRevoked, "Renew of a cancelled task")
		wantErr(t, b.Progress(ctx, id, token, queue.Progress{Current: 1}, longLease), queue.ErrRevoked, "Progress of a cancelled task")
		wantErr(t, tc.call(id, token), queue.ErrRevoked, tc.name+" of a cancelled task")
		wantRevoked(t, get(t, b, id), "after "+tc.name)
		if got := get(t, b, id); got.Attempt != 1 {
			t.Fatalf("after %s: got attempt %d, want 1", tc.name, got.Attempt)
		}
		wantErr(t, tc.call(id, token), queue.ErrLeaseLost, tc.name+" again after the task ended")
		wantRevoked(t, cancel(t, c, id), "Cancel of a revoked task")
	}
	noClaim(t, b, shortLease, "default")
	if _, ok := b.(queue.CompleteClaimer); ok {
		if got := get(t, b, "bystander"); got.State != queue.StatePending {
			t.Fatalf("a CompleteAndClaim that was revoked claimed the next task: got %s, want PENDING", got.State)
		}
	}
}

// testCancelLeaseExpiry checks that a cancelled task whose lease runs out
// ends REVOKED instead of being redelivered.
func testCancelLeaseExpiry(t *testing.T, b queue.Broker) {
	c := canceler(t, b)
	enqueue(t, b, "t1", "default")
	_, token := claim(t, b, shortLease, "default")
	cancel(t, c, "t1")
	eventually(t, "the cancelled task whose lease ran out to be REVOKED", func() bool {
		_, err := b.Recover(ctxFor(t, waitFor))
		must(t, err, "Recover")
		return get(t, b, "t1").State == queue.StateRevoked
	})
	noClaim(t, b, shortLease, "default")
	wantErr(t, b.Complete(ctxFor(t, waitFor), "t1", token, nil, time.Minute), queue.ErrLeaseLost, "Complete after the lease ran out")
	if got := get(t, b, "t1"); got.Redeliveries != 0 || got.State != queue.StateRevoked {
		t.Fatalf("got state %s, redeliveries %d; want REVOKED, 0", got.State, got.Redeliveries)
	}
}

// testCancelDoneAndUnknown checks that cancelling a finished task changes
// nothing, and the errors of an unknown id and a bad ttl.
func testCancelDoneAndUnknown(t *testing.T, b queue.Broker) {
	c := canceler(t, b)
	ctx := ctxFor(t, waitFor)
	enqueue(t, b, "ok", "default")
	enqueue(t, b, "bad", "default")
	_, tok1 := claim(t, b, longLease, "default")
	_, tok2 := claim(t, b, longLease, "default")
	must(t, b.Complete(ctx, "ok", tok1, json.RawMessage(`"r"`), time.Minute), "Complete")
	must(t, b.Fail(ctx, "bad", tok2, "boom", time.Minute), "Fail")
	for id, want := range map[string]queue.State{"ok": queue.StateSuccess, "bad": queue.StateFailure} {
		before := get(t, b, id)
		got := cancel(t, c, id)
		if got.State != want || got.CancelRequested || !got.FinishedAt.Equal(before.FinishedAt) {
			t.Fatalf("Cancel(%q) of a finished task: got state %s, CancelRequested %v; want %s unchanged", id, got.State, got.CancelRequested, want)
		}
		if after := get(t, b, id); after.State != want || !after.ExpiresAt.Equal(before.ExpiresAt) {
			t.Fatalf("Get(%q) after Cancel: got state %s, expires %v; want %s, %v", id, after.State, after.ExpiresAt, want, before.ExpiresAt)
		}
	}
	_, err := c.Cancel(ctx, "no-such-task", time.Minute)
	wantErr(t, err, queue.ErrTaskNotFound, "Cancel of an unknown id")
	enqueue(t, b, "p", "default")
	_, err = c.Cancel(ctx, "p", 0)
	wantErr(t, err, queue.ErrInvalidArgument, "Cancel with ttl 0")
	if got := get(t, b, "p"); got.State != queue.StatePending {
		t.Fatalf("Cancel with a bad ttl changed the task: got %s, want PENDING", got.State)
	}
}

// testCancelRace races cancellations against the completion of claimed
// tasks and against claims of waiting ones, from many goroutines: each task
// has exactly one outcome, and Get agrees with what Cancel returned.
func testCancelRace(t *testing.T, b queue.Broker) {
	c := canceler(t, b)
	const n = 40
	tokens := make([]string, n)
	for i := range n {
		enqueue(t, b, fmt.Sprintf("r%02d", i), "default")
	}
	for i := range n / 2 { // the first half is claimed, the rest waits
		_, tokens[i] = claim(t, b, longLease, "default")
	}
	ctx := ctxFor(t, waitFor)
	type result struct {
		cancelled []*queue.Task
		settleErr error
		claimed   bool
	}
	results := make([]result, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		id := fmt.Sprintf("r%02d", i)
		for range 3 {
			wg.Go(func() {
				got, err := c.Cancel(ctx, id, time.Minute)
				if err != nil {
					t.Errorf("Cancel(%q): %v", id, err)
					return
				}
				mu.Lock()
				results[i].cancelled = append(results[i].cancelled, got)
				mu.Unlock()
			})
		}
		if i < n/2 {
			wg.Go(func() { results[i].settleErr = b.Complete(ctx, id, tokens[i], nil, time.Minute) })
		}
	}
	for range n / 4 { // claims racing the cancellations of waiting tasks
		wg.Go(func() {
			got, token, err := b.Claim(ctxFor(t, shortLease), []string{"default"}, longLease)
			if err != nil {
				return
			}
			i := 0
			_, _ = fmt.Sscanf(got.ID, "r%02d", &i)
			mu.Lock()
			results[i].claimed = true
			mu.Unlock()
			results[i].settleErr = b.Complete(ctx, got.ID, token, nil, time.Minute)
		})
	}
	wg.Wait()
	for i, r := range results {
		checkRaceOutcome(t, get(t, b, fmt.Sprintf("r%02d", i)), r.cancelled, r.settleErr, i < n/2 || r.claimed)
	}
}

// checkRaceOutcome checks one task of testCancelRace: final is the task
// after the race, cancelled what each Cancel returned, settleErr the error
// of the completion when the task was leased.
func checkRaceOutcome(t *testing.T, final *queue.Task, cancelled []*queue.Task, settleErr error, leased bool) {
	t.Helper()
	id := final.ID
	switch final.State {
	case queue.StateSuccess:
		if !leased || settleErr != nil {
			t.Fatalf("%s: SUCCESS, but leased %v and completion error %v", id, leased, settleErr)
		}
		for _, got := range cancelled {
			if got.State != queue.StateSuccess || got.CancelRequested {
				t.Fatalf("%s ended SUCCESS, but a Cancel returned state %s, CancelRequested %v; want SUCCESS, false", id, got.State, got.CancelRequested)
			}
		}
	case queue.StateRevoked:
		if leased && !errors.Is(settleErr, queue.ErrRevoked) {
			t.Fatalf("%s: REVOKED, but its completion returned %v; want ErrRevoked", id, settleErr)
		}
		for _, got := range cancelled {
			if got.State != queue.StateRevoked && !(got.State.Leased() && got.CancelRequested) {
				t.Fatalf("%s ended REVOKED, but a Cancel returned state %s, CancelRequested %v", id, got.State, got.CancelRequested)
			}
		}
	default:
		t.Fatalf("%s: got state %s after the race, want SUCCESS or REVOKED", id, final.State)
	}
}
