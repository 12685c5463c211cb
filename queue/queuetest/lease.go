package queuetest

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/resilience-go/resilience/queue"
)

func testLeaseExpiry(t *testing.T, b queue.Broker) {
	enqueue(t, b, "t1", "default")
	first, token1 := claim(t, b, shortLease, "default")
	if first.Attempt != 1 || first.State != queue.StateStarted || first.StartedAt.IsZero() {
		t.Fatalf("claimed: got attempt %d, state %s, started %v; want 1, STARTED, set", first.Attempt, first.State, first.StartedAt)
	}
	recoverUntil(t, b, "t1", 1)
	second, token2 := claim(t, b, longLease, "default")
	if second.ID != "t1" || second.Attempt != 2 || second.Redeliveries != 1 {
		t.Fatalf("reclaimed: got %q with attempt %d, redeliveries %d; want t1, 2, 1", second.ID, second.Attempt, second.Redeliveries)
	}
	if token2 == token1 {
		t.Fatalf("reclaimed: got the same lease token %q twice, want a new one per claim", token1)
	}
	ctx := ctxFor(t, waitFor)
	must(t, b.Complete(ctx, "t1", token2, json.RawMessage(`"ok"`), time.Minute), "Complete with the new token")
	if got := get(t, b, "t1"); got.State != queue.StateSuccess {
		t.Fatalf("got state %s, want SUCCESS", got.State)
	}
}

// testStaleLease checks that every lease call with a stale token fails,
// both after the lease ran out and after the task was claimed again.
func testStaleLease(t *testing.T, b queue.Broker) {
	enqueue(t, b, "t1", "default")
	_, stale := claim(t, b, shortLease, "default")
	recoverUntil(t, b, "t1", 1)
	ctx := ctxFor(t, waitFor)
	calls := map[string]func(token string) error{
		"Renew":    func(tok string) error { return b.Renew(ctx, "t1", tok, time.Minute) },
		"Progress": func(tok string) error { return b.Progress(ctx, "t1", tok, queue.Progress{Current: 1}, time.Minute) },
		"Complete": func(tok string) error { return b.Complete(ctx, "t1", tok, nil, time.Minute) },
		"Retry":    func(tok string) error { return b.Retry(ctx, "t1", tok, "x", time.Time{}) },
		"Fail":     func(tok string) error { return b.Fail(ctx, "t1", tok, "x", time.Minute) },
		"Release":  func(tok string) error { return b.Release(ctx, "t1", tok) },
	}
	for name, call := range calls {
		wantErr(t, call(stale), queue.ErrLeaseLost, name+" with an expired lease")
	}
	_, fresh := claim(t, b, longLease, "default")
	for name, call := range calls {
		wantErr(t, call(stale), queue.ErrLeaseLost, name+" with the token of an earlier claim")
		wantErr(t, call(""), queue.ErrLeaseLost, name+" with an empty token")
	}
	got := get(t, b, "t1")
	if got.State != queue.StateStarted || got.Attempt != 2 {
		t.Fatalf("after stale calls: got state %s, attempt %d; want STARTED, 2 (unchanged)", got.State, got.Attempt)
	}
	must(t, b.Renew(ctx, "t1", fresh, time.Minute), "Renew with the current token")
}

// testRenewKeeps keeps a short lease alive for several lease lengths,
// first by Renew alone, then by Progress alone, while another claimer
// waits: it must get nothing.
func testRenewKeeps(t *testing.T, b queue.Broker) {
	// Long enough that a stall of the test's own goroutine (GC, a loaded
	// machine under -race) between two renewals does not let the lease
	// run out: the renewals come every lease/6.
	const lease = time.Second
	enqueue(t, b, "t1", "default")
	_, token := claim(t, b, lease, "default")
	ctx := ctxFor(t, waitFor)
	keepers := []struct {
		name string
		keep func(i int) error
	}{
		{"Renew", func(int) error { return b.Renew(ctx, "t1", token, lease) }},
		{"Progress", func(i int) error { return b.Progress(ctx, "t1", token, queue.Progress{Current: int64(i)}, lease) }},
	}
	for _, k := range keepers {
		other := make(chan error, 1)
		otherCtx, cancel := context.WithTimeout(context.Background(), 3*lease)
		go func() {
			got, _, err := b.Claim(otherCtx, []string{"default"}, lease)
			if err == nil {
				err = errors.New("claimed " + got.ID)
			}
			other <- err
		}()
		for i := 0; otherCtx.Err() == nil; i++ {
			if _, err := b.Recover(ctx); err != nil {
				t.Fatalf("Recover: %v", err)
			}
			must(t, k.keep(i), k.name)
			time.Sleep(lease / 6)
		}
		cancel()
		if err := <-other; !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("a second claimer while %s kept the lease: got %v, want its ctx to end with nothing claimed", k.name, err)
		}
	}
	if got := get(t, b, "t1"); got.Redeliveries != 0 || got.Attempt != 1 {
		t.Fatalf("got redeliveries %d, attempt %d; want 0, 1", got.Redeliveries, got.Attempt)
	}
}

func testProgress(t *testing.T, b queue.Broker) {
	enqueue(t, b, "t1", "default")
	_, token := claim(t, b, longLease, "default")
	ctx := ctxFor(t, waitFor)
	for _, p := range []queue.Progress{{Current: 0, Total: 10, Status: "batch 1"}, {Current: 5, Total: 10, Status: "batch 2"}} {
		must(t, b.Progress(ctx, "t1", token, p, longLease), "Progress")
		got := get(t, b, "t1")
		if got.State != queue.StateProcessing || got.Progress == nil || *got.Progress != p {
			t.Fatalf("got state %s, progress %+v; want PROCESSING, %+v", got.State, got.Progress, p)
		}
	}
	must(t, b.Complete(ctx, "t1", token, nil, time.Minute), "Complete")
	if got := get(t, b, "t1"); got.State != queue.StateSuccess {
		t.Fatalf("got state %s, want SUCCESS", got.State)
	}
}

func testComplete(t *testing.T, b queue.Broker) {
	enqueue(t, b, "t1", "default")
	_, token := claim(t, b, longLease, "default")
	ctx := ctxFor(t, waitFor)
	must(t, b.Complete(ctx, "t1", token, json.RawMessage(`{"answer":42}`), shortTTL), "Complete")
	got := get(t, b, "t1")
	var res struct{ Answer int }
	if got.State != queue.StateSuccess || json.Unmarshal(got.Result, &res) != nil || res.Answer != 42 {
		t.Fatalf("got state %s, result %s; want SUCCESS, {\"answer\":42}", got.State, got.Result)
	}
	if got.FinishedAt.IsZero() || got.Error != "" {
		t.Fatalf("got finished %v, error %q; want a finish time and no error", got.FinishedAt, got.Error)
	}
	expectExpiry(t, b, "t1")
}

func testFail(t *testing.T, b queue.Broker) {
	enqueue(t, b, "t1", "default")
	_, token := claim(t, b, longLease, "default")
	ctx := ctxFor(t, waitFor)
	must(t, b.Fail(ctx, "t1", token, "boom", shortTTL), "Fail")
	got := get(t, b, "t1")
	if got.State != queue.StateFailure || got.Error != "boom" || got.FinishedAt.IsZero() {
		t.Fatalf("got state %s, error %q, finished %v; want FAILURE, boom, set", got.State, got.Error, got.FinishedAt)
	}
	expectExpiry(t, b, "t1")
}

// expectExpiry waits for a done task's result to expire and checks that
// its id can then be enqueued afresh.
func expectExpiry(t *testing.T, b queue.Broker, id string) {
	t.Helper()
	eventually(t, "the result of "+id+" to expire", func() bool {
		_, err := b.Get(ctxFor(t, waitFor), id)
		if err != nil && !errors.Is(err, queue.ErrTaskNotFound) {
			t.Fatalf("Get: got %v, want nil or ErrTaskNotFound", err)
		}
		return err != nil
	})
	if got := enqueue(t, b, id, "default"); got.State != queue.StatePending {
		t.Fatalf("enqueue after expiry: got state %s, want PENDING", got.State)
	}
}

func testRetry(t *testing.T, b queue.Broker) {
	enqueue(t, b, "t1", "default")
	_, token := claim(t, b, longLease, "default")
	ctx := ctxFor(t, waitFor)
	notBefore := time.Now().Add(300 * time.Millisecond)
	must(t, b.Retry(ctx, "t1", token, "flaky", notBefore), "Retry")
	got := get(t, b, "t1")
	if got.State != queue.StateRetry || got.Retries != 1 || got.Error != "flaky" {
		t.Fatalf("got state %s, retries %d, error %q; want RETRY, 1, flaky", got.State, got.Retries, got.Error)
	}
	again, token2 := claim(t, b, longLease, "default")
	if now := time.Now(); now.Before(notBefore) || again.Attempt != 2 {
		t.Fatalf("reclaimed at %v with attempt %d; want at or after %v with attempt 2", now, again.Attempt, notBefore)
	}
	must(t, b.Retry(ctx, "t1", token2, "again", time.Time{}), "Retry at once")
	if third, _ := claim(t, b, longLease, "default"); third.Retries != 2 || third.Attempt != 3 {
		t.Fatalf("got retries %d, attempt %d; want 2, 3", third.Retries, third.Attempt)
	}
}

func testRelease(t *testing.T, b queue.Broker) {
	enqueue(t, b, "t1", "default")
	enqueue(t, b, "t2", "default")
	_, token := claim(t, b, longLease, "default")
	ctx := ctxFor(t, waitFor)
	must(t, b.Progress(ctx, "t1", token, queue.Progress{Current: 1}, longLease), "Progress")
	must(t, b.Release(ctx, "t1", token), "Release")
	got := get(t, b, "t1")
	if got.State != queue.StatePending || got.Attempt != 0 || got.Progress != nil || got.Redeliveries != 0 {
		t.Fatalf("released: got state %s, attempt %d, progress %v, redeliveries %d; want PENDING, 0, nil, 0",
			got.State, got.Attempt, got.Progress, got.Redeliveries)
	}
	wantErr(t, b.Renew(ctx, "t1", token, longLease), queue.ErrLeaseLost, "Renew after Release")
	again, _ := claim(t, b, longLease, "default")
	if again.ID != "t1" || again.Attempt != 1 {
		t.Fatalf("after Release: got %q with attempt %d, want t1 (back at the front) with attempt 1", again.ID, again.Attempt)
	}
}

func testSettledToken(t *testing.T, b queue.Broker) {
	enqueue(t, b, "t1", "default")
	_, token := claim(t, b, longLease, "default")
	ctx := ctxFor(t, waitFor)
	must(t, b.Complete(ctx, "t1", token, nil, time.Minute), "Complete")
	wantErr(t, b.Complete(ctx, "t1", token, nil, time.Minute), queue.ErrLeaseLost, "second Complete")
	wantErr(t, b.Fail(ctx, "t1", token, "late", time.Minute), queue.ErrLeaseLost, "Fail after Complete")
	wantErr(t, b.Renew(ctx, "t1", token, time.Minute), queue.ErrLeaseLost, "Renew after Complete")
	if got := get(t, b, "t1"); got.State != queue.StateSuccess {
		t.Fatalf("got state %s, want SUCCESS (unchanged)", got.State)
	}
	err := b.Renew(ctx, "unknown", token, time.Minute)
	if !errors.Is(err, queue.ErrTaskNotFound) && !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatalf("Renew of an unknown id: got %v, want ErrTaskNotFound or ErrLeaseLost", err)
	}
}

func testWatcher(t *testing.T, b queue.Broker) {
	w, ok := b.(queue.Watcher)
	if !ok {
		t.Skip("the broker does not implement queue.Watcher; clients poll it")
	}
	enqueue(t, b, "t1", "default")
	changed, stop := w.Changed("t1")
	defer stop()
	_, token := claim(t, b, longLease, "default")
	select {
	case <-changed:
	case <-time.After(waitFor):
		t.Fatal("Changed: the channel was not closed after the task was claimed")
	}
	changed2, stop2 := w.Changed("t1")
	stop2() // a stopped subscription must not break later changes
	_ = changed2
	changed3, stop3 := w.Changed("t1")
	defer stop3()
	must(t, b.Complete(ctxFor(t, waitFor), "t1", token, nil, time.Minute), "Complete")
	select {
	case <-changed3:
	case <-time.After(waitFor):
		t.Fatal("Changed: the channel was not closed after the task completed")
	}
}

// testHugeDurations checks that durations near the largest time.Duration
// mean "practically forever" and never wrap into the past: a task delayed
// by one stays PENDING and unclaimable, a lease of one is not recovered,
// and a result kept for one stays readable.
func testHugeDurations(t *testing.T, b queue.Broker) {
	const forever = time.Duration(math.MaxInt64)
	far := newTask("far", "work", "default")
	far.NotBefore = time.Now().Add(forever)
	_, _, err := b.Enqueue(ctxFor(t, waitFor), far)
	must(t, err, "Enqueue with a NotBefore centuries away")
	if got, _, err := b.Claim(ctxFor(t, 200*time.Millisecond), []string{"default"}, longLease); err == nil {
		t.Fatalf("Claim: got task %q, want none (its NotBefore is centuries away)", got.ID)
	}
	if got := get(t, b, "far"); got.State != queue.StatePending {
		t.Fatalf("far task: got state %s, want PENDING", got.State)
	}

	enqueue(t, b, "held", "high")
	_, token := claim(t, b, forever, "high")
	ctx := ctxFor(t, waitFor)
	must(t, b.Renew(ctx, "held", token, forever), "Renew for the largest Duration")
	must(t, b.Progress(ctx, "held", token, queue.Progress{Current: 1, Total: 2}, forever), "Progress for the largest Duration")
	if _, err := b.Recover(ctx); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if got := get(t, b, "held"); got.State != queue.StateProcessing {
		t.Fatalf("task leased for the largest Duration: got state %s after Recover, want PROCESSING (the lease has not run out)", got.State)
	}
	must(t, b.Complete(ctx, "held", token, json.RawMessage(`1`), forever), "Complete with the largest TTL")
	if _, err := b.Recover(ctx); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	got := get(t, b, "held")
	if got.State != queue.StateSuccess {
		t.Fatalf("task kept for the largest TTL: got state %s, want SUCCESS", got.State)
	}
	if !got.ExpiresAt.IsZero() && got.ExpiresAt.Before(time.Now().AddDate(100, 0, 0)) {
		t.Fatalf("task kept for the largest TTL: ExpiresAt %v, want a century away or more", got.ExpiresAt)
	}
}
