package redisq

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/internal/redistest"
	"github.com/resilience-go/resilience/queue"
)

// DeadLetterStore.List takes any offset and limit: ranks near the largest
// int used to reach ZRANGE in exponent notation (Lua numbers are doubles).
func TestDeadLetterListHugeOffsetOrLimit(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := newClient(t, srv)
	_, opts := newBroker(t, rdb)
	s := NewDeadLetterStore(rdb, opts)
	ctx := ctxFor(t, 5*time.Second)
	if err := s.Push(ctx, dlq.Entry{TaskID: "a", TaskName: "n"}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.List(ctx, math.MaxInt, 10); err != nil || len(got) != 0 {
		t.Errorf("List(MaxInt, 10): got %v, %v; want an empty slice, nil", got, err)
	}
	if got, err := s.List(ctx, 0, math.MaxInt); err != nil || len(got) != 1 {
		t.Errorf("List(0, MaxInt): got %v, %v; want 1 entry, nil", got, err)
	}
}

// Recover recovers every expired lease, not only the first script batch.
func TestRecoverRecoversEveryExpiredLease(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := newClient(t, srv)
	b, _ := newBroker(t, rdb)
	ctx := ctxFor(t, 60*time.Second)
	const n = 1001
	for i := range n {
		mustEnqueue(t, b, fmt.Sprint("t", i), "default", time.Time{})
	}
	for range n {
		if _, _, err := b.Claim(ctx, []string{"default"}, 2*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2100 * time.Millisecond)
	got, err := b.Recover(ctx)
	if err != nil || got != n {
		t.Fatalf("Recover after %d leases ran out: got %d, %v; want %d, nil", n, got, err, n)
	}
}

// A lease that ran out but was not recovered yet still holds in redisq
// (lease.go): Renew succeeds, and the task stays with its worker.
func TestRenewAfterLeaseRanOutBeforeRecovery(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	b, _ := newBroker(t, newClient(t, srv))
	ctx := ctxFor(t, 5*time.Second)
	mustEnqueue(t, b, "t1", "default", time.Time{})
	_, tok, err := b.Claim(ctx, []string{"default"}, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := b.Renew(ctx, "t1", tok, time.Minute); err != nil {
		t.Fatalf("Renew after the lease ran out, before a recovery: got %v, want nil", err)
	}
	if n, err := b.Recover(ctx); err != nil || n != 0 {
		t.Fatalf("Recover after the renewal: got %d, %v; want 0, nil", n, err)
	}
}

// slowPipelines delays every pipeline (the poke of a blocked claim is one)
// as a slow network would.
type slowPipelines struct{ d time.Duration }

func (slowPipelines) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (slowPipelines) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h slowPipelines) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && cmds[0].Name() == "rpush" { // the poke only
			time.Sleep(h.d)
		}
		return next(ctx, cmds)
	}
}

// A blocked Claim whose ctx ends as its BLPOP takes a queue's wake token
// passes the token on: another claim blocked on that queue wakes for the
// task at once instead of after WakeTimeout. The poke that ends the first
// claim's BLPOP is delayed by a hook, so that the race (one round trip
// wide) happens every time.
func TestCancelledClaimPassesItsWakeTokenOn(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := newClient(t, srv)
	b, opts := newBroker(t, rdb)

	slow := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 64})
	slow.AddHook(slowPipelines{300 * time.Millisecond})
	t.Cleanup(func() { _ = slow.Close() })
	bx := NewBroker(slow, opts)
	t.Cleanup(func() { _ = bx.Close() })

	xctx, cancelX := context.WithCancel(context.Background())
	defer cancelX()
	xdone := make(chan error, 1)
	go func() {
		_, _, err := bx.Claim(xctx, []string{"default"}, time.Minute)
		xdone <- err
	}()
	time.Sleep(100 * time.Millisecond) // X blocks first, so BLPOP serves it first
	ydone := make(chan time.Time, 1)
	go func() {
		if _, _, err := b.Claim(ctxFor(t, 10*time.Second), []string{"default"}, time.Minute); err == nil {
			ydone <- time.Now()
		}
		close(ydone)
	}()
	time.Sleep(100 * time.Millisecond)
	cancelX() // X's poke is on its way (300 ms)
	time.Sleep(20 * time.Millisecond)
	start := time.Now()
	mustEnqueue(t, b, "t1", "default", time.Time{})
	if err := <-xdone; !errors.Is(err, context.Canceled) {
		t.Fatalf("claim X: got %v, want context.Canceled", err)
	}
	at, ok := <-ydone
	if !ok {
		t.Fatal("claim Y failed")
	}
	if d := at.Sub(start); d > time.Second {
		t.Fatalf("claim Y picked up the ready task after %v; want well under WakeTimeout (%v): X swallowed the wake token", d, WakeTimeout)
	}
}

// A leased task whose hash has no queue cannot be made claimable again when
// its lease runs out; it goes to the dead letters, also when an idle Claim
// (which wakes when the earliest lease runs out) finds the expired lease
// before Recover does. It used to drop the lease entry only, Recover's
// sweep leased the task again, and the task stayed STARTED for good.
func TestIdleClaimDeadLettersALeasedTaskWithoutQueue(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := newClient(t, srv)
	b, opts := newBroker(t, rdb)
	store := NewDeadLetterStore(rdb, opts)
	ctx := ctxFor(t, 30*time.Second)
	key := b.k.task + "s"
	if err := rdb.HSet(ctx, key, "name", "work", "payload", "{}", "state", "STARTED", "attempt", "1",
		"max_retries", "0", "enqueued_at", time.Now().UnixMicro(), "token", "tok", "lease_us", "50000").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ZAdd(ctx, b.k.leases, redis.Z{Score: float64(time.Now().Add(-time.Second).UnixMicro()), Member: "s"}).Err(); err != nil {
		t.Fatal(err)
	}
	// An idle claim reaches the expired lease first.
	cctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	_, _, err := b.Claim(cctx, []string{"default"}, time.Minute)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("idle Claim: got %v, want DeadlineExceeded", err)
	}
	if st := rdb.HGet(ctx, key, "state").Val(); st != "FAILURE" {
		t.Fatalf("after the idle claim the task without a queue is in state %q; want FAILURE", st)
	}
	e, err := store.Get(ctx, "s")
	if err != nil || !strings.Contains(e.Error, "queue") {
		t.Fatalf("dead letter of the task: got %+v, %v; want one whose error names the missing queue", e, err)
	}
	if n, err := store.Len(ctx); err != nil || n != 1 {
		t.Fatalf("dead letters: got %d, %v; want 1", n, err)
	}
}

// A task key that holds another type than a hash is reported as
// ErrCorruptTask by Get and by every lease call, as Enqueue reports it,
// not as a raw WRONGTYPE error.
func TestNonHashTaskKeyIsCorrupt(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := newClient(t, srv)
	b, _ := newBroker(t, rdb)
	ctx := ctxFor(t, 5*time.Second)
	if err := rdb.Set(ctx, b.k.task+"x", "junk", 0).Err(); err != nil {
		t.Fatal(err)
	}
	_, _, err := b.Enqueue(ctx, &queue.Task{ID: "x", Name: "n", Queue: "q"})
	wantCorrupt(t, "Enqueue", err)
	_, err = b.Get(ctx, "x")
	wantCorrupt(t, "Get", err)
	wantCorrupt(t, "Renew", b.Renew(ctx, "x", "tok", time.Minute))
	wantCorrupt(t, "Progress", b.Progress(ctx, "x", "tok", queue.Progress{}, time.Minute))
	wantCorrupt(t, "Complete", b.Complete(ctx, "x", "tok", nil, time.Minute))
	wantCorrupt(t, "Fail", b.Fail(ctx, "x", "tok", "boom", time.Minute))
	wantCorrupt(t, "Retry", b.Retry(ctx, "x", "tok", "boom", time.Time{}))
	wantCorrupt(t, "Release", b.Release(ctx, "x", "tok"))
	_, _, err = b.CompleteAndClaim(ctx, "x", "tok", nil, time.Minute, []string{"q"}, time.Minute)
	wantCorrupt(t, "CompleteAndClaim", err)
}

func wantCorrupt(t *testing.T, op string, err error) {
	t.Helper()
	if !errors.Is(err, ErrCorruptTask) {
		t.Errorf("%s of a task key that is not a hash: got %v, want an error wrapping ErrCorruptTask", op, err)
	}
}
