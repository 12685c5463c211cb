package redisq

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resilience-go/resilience/internal/redistest"
	"github.com/resilience-go/resilience/queue"
)

// The tests below stall a private Redis (DEBUG SLEEP from another
// connection) for longer than the broker's client waits for a reply. The
// client, with go-redis's default of three retries, gives up on its first
// try and sends the script again while the first run is still queued in
// Redis: Redis then runs the script twice and the caller reads the reply of
// the second run. Every state-changing script must answer that second run
// as it answered the first.

const (
	resendReadTimeout = 200 * time.Millisecond
	resendStall       = "0.35" // seconds: past one read timeout, within two
)

// resendSetup returns a broker whose client re-sends after a short read
// timeout, a normal client of the same server, and the server.
func resendSetup(t *testing.T) (*Broker, *redis.Client) {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{Debug: true})
	if !srv.Private() {
		t.Skip("needs a private redis-server to stall (DEBUG SLEEP)")
	}
	rdb := newClient(t, srv)
	short := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 8, ReadTimeout: resendReadTimeout})
	t.Cleanup(func() { _ = short.Close() })
	b, _ := newBroker(t, short)
	ctx := ctxFor(t, 10*time.Second)
	for _, s := range []*redis.Script{enqueueScript, takeScript, startScript, completeTakeScript, completeScript, failScript, retryScript, releaseScript} {
		if err := s.Load(ctx, rdb).Err(); err != nil {
			t.Fatalf("SCRIPT LOAD: %v", err)
		}
	}
	return b, rdb
}

var evalshaCalls = regexp.MustCompile(`cmdstat_evalsha:calls=(\d+)`)

// scriptRuns returns how many EVALSHA calls the server has run.
func scriptRuns(t *testing.T, rdb *redis.Client) int {
	t.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatalf("INFO commandstats: %v", err)
	}
	m := evalshaCalls.FindStringSubmatch(info)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// stalled runs call while the server sleeps past the client's read
// timeout, and fails the test unless the server ran the script more than
// once (the client re-sent it): otherwise the test would prove nothing.
func stalled(t *testing.T, rdb *redis.Client, call func()) {
	t.Helper()
	before := scriptRuns(t, rdb)
	slept := make(chan error, 1)
	go func() { slept <- rdb.Do(context.Background(), "DEBUG", "SLEEP", resendStall).Err() }()
	// Let DEBUG SLEEP reach the server first; if it did not, the run count
	// below fails the test rather than letting it pass vacuously.
	time.Sleep(50 * time.Millisecond)
	call()
	if err := <-slept; err != nil {
		t.Fatalf("DEBUG SLEEP: %v", err)
	}
	if runs := scriptRuns(t, rdb) - before; runs < 2 {
		t.Fatalf("the server ran the script %d times; want 2 or more (the client re-sent it)", runs)
	}
}

// TestClaimResentAfterTimeoutTakesOneTask: a re-sent Claim used to take a
// second task and return only that one, leaving the first STARTED under a
// token nobody holds.
func TestClaimResentAfterTimeoutTakesOneTask(t *testing.T) {
	b, rdb := resendSetup(t)
	ctx := ctxFor(t, 10*time.Second)
	mustEnqueue(t, b, "a", "default", time.Time{})
	mustEnqueue(t, b, "b", "default", time.Time{})
	var (
		got   *queue.Task
		token string
		err   error
	)
	stalled(t, rdb, func() { got, token, err = b.Claim(ctx, []string{"default"}, time.Minute) })
	if err != nil || got.ID != "a" {
		t.Fatalf("Claim: got %v, %v; want task a", got, err)
	}
	other, err := b.Get(ctx, "b")
	if err != nil || other.State != queue.StatePending {
		t.Fatalf("task b after one Claim: got %+v, %v; want PENDING (one claim takes one task)", other, err)
	}
	if err := b.Complete(ctx, "a", token, nil, time.Minute); err != nil {
		t.Fatalf("Complete with the token Claim returned: %v", err)
	}
}

// TestCompleteAndClaimResentAfterTimeout: a re-sent CompleteAndClaim used
// to answer "lease lost" (its completion had run) while its claim of the
// next task stood, so that task stayed STARTED under a token nobody held.
func TestCompleteAndClaimResentAfterTimeout(t *testing.T) {
	b, rdb := resendSetup(t)
	ctx := ctxFor(t, 10*time.Second)
	mustEnqueue(t, b, "a", "default", time.Time{})
	_, token, err := b.Claim(ctx, []string{"default"}, time.Minute)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	mustEnqueue(t, b, "b", "default", time.Time{})
	var (
		next      *queue.Task
		nextToken string
	)
	stalled(t, rdb, func() {
		next, nextToken, err = b.CompleteAndClaim(ctx, "a", token, nil, time.Minute, []string{"default"}, time.Minute)
	})
	if err != nil || next == nil || next.ID != "b" {
		t.Fatalf("CompleteAndClaim: got %v, %v; want task b and no error", next, err)
	}
	if a, err := b.Get(ctx, "a"); err != nil || a.State != queue.StateSuccess {
		t.Fatalf("task a: got %+v, %v; want SUCCESS", a, err)
	}
	if err := b.Complete(ctx, "b", nextToken, nil, time.Minute); err != nil {
		t.Fatalf("Complete of b with the token CompleteAndClaim returned: %v", err)
	}
}

// TestSettleResentAfterTimeout: a re-sent Complete, Fail, Retry or Release
// used to answer "lease lost" although its first run had settled the task.
func TestSettleResentAfterTimeout(t *testing.T) {
	for _, tc := range []struct {
		name string
		call func(b *Broker, ctx context.Context, token string) error
		want queue.State
	}{
		{"Complete", func(b *Broker, ctx context.Context, token string) error {
			return b.Complete(ctx, "a", token, []byte(`1`), time.Minute)
		}, queue.StateSuccess},
		{"Fail", func(b *Broker, ctx context.Context, token string) error {
			return b.Fail(ctx, "a", token, "boom", time.Minute)
		}, queue.StateFailure},
		{"Retry", func(b *Broker, ctx context.Context, token string) error {
			return b.Retry(ctx, "a", token, "again", time.Now().Add(time.Hour))
		}, queue.StateRetry},
		{"Release", func(b *Broker, ctx context.Context, token string) error {
			return b.Release(ctx, "a", token)
		}, queue.StatePending},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, rdb := resendSetup(t)
			ctx := ctxFor(t, 10*time.Second)
			mustEnqueue(t, b, "a", "default", time.Time{})
			_, token, err := b.Claim(ctx, []string{"default"}, time.Minute)
			if err != nil {
				t.Fatalf("Claim: %v", err)
			}
			stalled(t, rdb, func() { err = tc.call(b, ctx, token) })
			if err != nil {
				t.Fatalf("%s: %v; want nil (the first run settled the task)", tc.name, err)
			}
			if got, err := b.Get(ctx, "a"); err != nil || got.State != tc.want {
				t.Fatalf("after %s: got %+v, %v; want state %s", tc.name, got, err, tc.want)
			}
			if err := tc.call(b, ctx, token); err == nil {
				t.Fatalf("a second %s with the same token: got nil, want the lease lost", tc.name)
			}
		})
	}
}

// TestEnqueueResentAfterTimeoutReportsCreated: a re-sent Enqueue used to
// find the task its first run had stored and answer "not created", so the
// call that stored the task was told it was a duplicate. A second Enqueue
// of the same id, a call of its own, must still find the duplicate, even
// when it is re-sent too.
func TestEnqueueResentAfterTimeoutReportsCreated(t *testing.T) {
	b, rdb := resendSetup(t)
	ctx := ctxFor(t, 10*time.Second)
	// EnqueuedAt is left zero, so the first run takes it from Redis's
	// clock: a second run that took it again would answer another time.
	task := &queue.Task{ID: "a", Name: "work", Queue: "default", Payload: []byte(`{"n":1}`), MaxRetries: 2}
	var (
		got     *queue.Task
		created bool
		err     error
	)
	// Put a connection in the broker's pool: a connection dialled while the
	// server sleeps fails its handshake, which go-redis does not retry.
	if _, err := b.Get(ctx, "none"); !errors.Is(err, queue.ErrTaskNotFound) {
		t.Fatalf("Get of no task: got %v, want queue.ErrTaskNotFound", err)
	}
	stalled(t, rdb, func() { got, created, err = b.Enqueue(ctx, task) })
	if err != nil || !created {
		t.Fatalf("Enqueue: got created %v, error %v; want true, nil (its first run stored the task)", created, err)
	}
	stored, err := b.Get(ctx, "a")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if !sameTask(got, stored) {
		t.Fatalf("Enqueue returned %+v, the broker holds %+v; want the same task", got, stored)
	}
	qk := b.k.q("default")
	if n, err := rdb.LLen(ctx, qk.ready).Result(); err != nil || n != 1 {
		t.Fatalf("ready list: %d entries, %v; want the task once", n, err)
	}
	if n, err := rdb.ZCard(ctx, qk.idx[0]).Result(); err != nil || n != 1 {
		t.Fatalf("PENDING index: %d entries, %v; want the task once", n, err)
	}
	listed, err := b.List(ctx, queue.ListOptions{Queue: "default", Limit: 10})
	if err != nil || len(listed) != 1 || !sameTask(listed[0], stored) {
		t.Fatalf("List: got %v, %v; want the one task", listed, err)
	}

	other := &queue.Task{ID: "a", Name: "other", Queue: "default", Payload: []byte(`{"n":2}`)}
	again, created, err := b.Enqueue(ctx, other)
	if err != nil || created || !sameTask(again, stored) {
		t.Fatalf("a second Enqueue of id a: got %+v, created %v, %v; want the stored task, not created", again, created, err)
	}
	stalled(t, rdb, func() { again, created, err = b.Enqueue(ctx, other) })
	if err != nil || created || !sameTask(again, stored) {
		t.Fatalf("a second Enqueue of id a, re-sent: got %+v, created %v, %v; want the stored task, not created", again, created, err)
	}
}
