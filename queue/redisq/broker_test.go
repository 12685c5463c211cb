package redisq

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resilience-go/resilience/internal/redistest"
	"github.com/resilience-go/resilience/queue"
)

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func mustEnqueue(t *testing.T, b *Broker, id, q string, notBefore time.Time) {
	t.Helper()
	_, created, err := b.Enqueue(ctxFor(t, 5*time.Second), &queue.Task{
		ID: id, Name: "work", Queue: q, Payload: []byte(`{}`), MaxRetries: -1, NotBefore: notBefore,
	})
	if err != nil || !created {
		t.Fatalf("Enqueue(%s): got created %v, error %v; want true, nil", id, created, err)
	}
}

func TestNewBrokerBadArguments(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := newClient(t, srv)
	for _, tt := range []struct {
		name string
		rdb  redis.UniversalClient
		opts Options
	}{
		{"nil client", nil, Options{}},
		{"prefix with brace", rdb, Options{Prefix: "a{b"}},
		{"prefix with closing brace", rdb, Options{Prefix: "a}"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBroker(tt.rdb, tt.opts)
			defer b.Close()
			ctx := ctxFor(t, time.Second)
			_, err := b.Get(ctx, "x")
			if !errors.Is(err, queue.ErrInvalidArgument) {
				t.Fatalf("Get: got %v, want an error wrapping queue.ErrInvalidArgument", err)
			}
			if _, _, err := b.Claim(ctx, []string{"default"}, time.Second); !errors.Is(err, queue.ErrInvalidArgument) {
				t.Fatalf("Claim: got %v, want an error wrapping queue.ErrInvalidArgument", err)
			}
			ch, stop := b.Changed("x")
			defer stop()
			select {
			case <-ch:
			default:
				t.Fatal("Changed on a broker with a bad argument: got an open channel, want a closed one")
			}
			s := NewDeadLetterStore(tt.rdb, tt.opts)
			if _, err := s.Len(ctx); err == nil || !strings.Contains(err.Error(), "invalid argument") {
				t.Fatalf("DeadLetterStore.Len: got %v, want an invalid-argument error", err)
			}
		})
	}
}

// TestCloseWakesBlockedClaims checks that Close ends a blocked Claim with
// ErrClosed at once (not after WakeTimeout) and that later calls fail too.
func TestCloseWakesBlockedClaims(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	b, _ := newBroker(t, newClient(t, srv))
	done := make(chan error, 1)
	go func() {
		_, _, err := b.Claim(ctxFor(t, time.Minute), []string{"default"}, time.Second)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // let it block on Redis
	start := time.Now()
	_ = b.Close()
	if err := <-done; !errors.Is(err, queue.ErrClosed) {
		t.Fatalf("blocked Claim after Close: got %v, want ErrClosed", err)
	}
	if waited := time.Since(start); waited >= WakeTimeout {
		t.Fatalf("blocked Claim returned %v after Close, want well before the %v safety net", waited, WakeTimeout)
	}
	if _, _, err := b.Enqueue(ctxFor(t, time.Second), &queue.Task{ID: "x", Name: "n", Queue: "q"}); !errors.Is(err, queue.ErrClosed) {
		t.Fatalf("Enqueue after Close: got %v, want ErrClosed", err)
	}
}

// TestClaimWakesOnEnqueue checks that pickup does not follow a polling
// interval: a claim blocked on an empty queue returns a small fraction of
// WakeTimeout after the enqueue, every time.
func TestClaimWakesOnEnqueue(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	b, _ := newBroker(t, newClient(t, srv))
	var lat []time.Duration
	for i := range 20 {
		got := make(chan time.Time, 1)
		go func() {
			if _, _, err := b.Claim(ctxFor(t, 10*time.Second), []string{"default"}, time.Minute); err == nil {
				got <- time.Now()
			}
			close(got)
		}()
		time.Sleep(20 * time.Millisecond) // the claim is blocked by now
		start := time.Now()
		mustEnqueue(t, b, "t"+string(rune('a'+i)), "default", time.Time{})
		at, ok := <-got
		if !ok {
			t.Fatalf("claim %d failed", i)
		}
		lat = append(lat, at.Sub(start))
	}
	slices.Sort(lat)
	if p50 := lat[len(lat)/2]; p50 > WakeTimeout/10 {
		t.Fatalf("median pickup of a blocked claim: got %v, want far below the %v safety net (latencies %v)", p50, WakeTimeout, lat)
	}
	t.Logf("pickup latency of a blocked claim: min %v, median %v, max %v", lat[0], lat[len(lat)/2], lat[len(lat)-1])
}

// TestBlockedClaimWakesForDelayedTask checks that a claim blocked while
// only a delayed task exists wakes when the delay ends, without a poll and
// without an enqueue.
func TestBlockedClaimWakesForDelayedTask(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	b, _ := newBroker(t, newClient(t, srv))
	due := time.Now().Add(WakeTimeout + 300*time.Millisecond) // beyond one safety-net round
	mustEnqueue(t, b, "later", "default", due)
	got, _, err := b.Claim(ctxFor(t, 10*time.Second), []string{"default"}, time.Minute)
	if err != nil || got.ID != "later" {
		t.Fatalf("Claim: got %v, %v; want the delayed task", got, err)
	}
	late := time.Since(due)
	if late < 0 || late > WakeTimeout/2 {
		t.Fatalf("claimed %v after the task fell due, want at or after it and well within %v", late, WakeTimeout/2)
	}
}

// TestNotBeforeOutsideStoredRange checks a NotBefore that a task hash
// cannot hold as is: past the year 9999 the task waits for good (it used
// to be stored as an undecodable time, and one past the year 294,246
// wrapped into the past), before the year 1 it is due at once.
func TestNotBeforeOutsideStoredRange(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	b, _ := newBroker(t, newClient(t, srv))
	mustEnqueue(t, b, "year10000", "default", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))
	mustEnqueue(t, b, "wraps", "default", time.Unix(1<<62, 0))
	mustEnqueue(t, b, "ancient", "default", time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC))
	ctx := ctxFor(t, 10*time.Second)
	for _, id := range []string{"year10000", "wraps"} {
		got, err := b.Get(ctx, id)
		if err != nil || got.State != queue.StatePending || got.NotBefore.Year() != 9999 {
			t.Fatalf("Get(%s): got %+v, %v; want PENDING with NotBefore in the year 9999", id, got, err)
		}
	}
	got, _, err := b.Claim(ctx, []string{"default"}, time.Minute)
	if err != nil || got.ID != "ancient" {
		t.Fatalf("Claim: got %v, %v; want the task due since the year 1", got, err)
	}
	if got, _, err := b.Claim(ctxFor(t, 300*time.Millisecond), []string{"default"}, time.Minute); err == nil {
		t.Fatalf("Claim: got task %s; want none (the others wait for good)", got.ID)
	}
}

// TestBlockedClaimRecoversExpiredLease checks that a claim blocked on an
// empty queue takes over a task whose lease ran out, with no call to
// Recover: it wakes when the lease ends and recovers it itself.
func TestBlockedClaimRecoversExpiredLease(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	b, _ := newBroker(t, newClient(t, srv))
	mustEnqueue(t, b, "t1", "default", time.Time{})
	first, _, err := b.Claim(ctxFor(t, 5*time.Second), []string{"default"}, 200*time.Millisecond)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	again, _, err := b.Claim(ctxFor(t, 5*time.Second), []string{"default"}, time.Minute)
	if err != nil || again.ID != first.ID || again.Redeliveries != 1 || again.Attempt != 2 {
		t.Fatalf("second Claim: got %+v, %v; want t1 with 1 redelivery and attempt 2", again, err)
	}
}

// TestKeyLayout pins the documented key names, and that every key is
// under the one hash tag.
func TestKeyLayout(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := newClient(t, srv)
	b, opts := newBroker(t, rdb)
	ctx := ctxFor(t, 5*time.Second)
	tag := "{" + opts.Prefix + "}"
	mustEnqueue(t, b, "a", "default", time.Time{})
	mustEnqueue(t, b, "b", "low", time.Now().Add(time.Hour))
	if _, _, err := b.Claim(ctx, []string{"default"}, time.Minute); err != nil {
		t.Fatalf("Claim: %v", err)
	}
	if _, err := NewDeadLetterStore(rdb, opts).CountFailure(ctx, "work", time.Hour); err != nil {
		t.Fatalf("CountFailure: %v", err)
	}
	mustEnqueue(t, b, "c", "default", time.Time{})
	want := map[string]string{
		tag + ":task:a": "hash", tag + ":task:b": "hash", tag + ":leases": "zset",
		tag + ":queue:low:delayed": "zset", tag + ":queue:default:ready": "list", tag + ":queue:default:wake": "list",
		tag + ":queue:default:idx:STARTED": "zset", tag + ":queue:default:idx:PENDING": "zset",
		tag + ":queue:low:idx:SCHEDULED": "zset", tag + ":queues": "set",
		tag + ":dlq:fail:3600000000:work": "hash",
	}
	for key, typ := range want {
		if got := rdb.Type(ctx, key).Val(); got != typ {
			t.Errorf("key %s: got type %q, want %q", key, got, typ)
		}
	}
	keys, err := rdb.Keys(ctx, "*"+opts.Prefix+"*").Result() // on a shared REDIS_ADDR server too
	if err != nil {
		t.Fatalf("KEYS: %v", err)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, tag+":") {
			t.Errorf("key %q is not under the hash tag %s", k, tag)
		}
	}
}

// TestChangedAfterRedisRestart checks the watcher across a lost
// subscription: a channel from Changed is closed when Redis goes away (the
// caller must read again, as changes may be missed), and after Redis is
// back the broker subscribes again by itself and Client.Wait still wakes
// on the change.
func TestChangedAfterRedisRestart(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	b, _ := newBroker(t, newClient(t, srv))
	mustEnqueue(t, b, "t1", "default", time.Time{})
	ch, stop := b.Changed("t1")
	defer stop()
	srv.Restart()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("Changed: channel still open 10s after Redis restarted, want it closed when the subscription was lost")
	}
	ctx := ctxFor(t, 20*time.Second)
	waited := make(chan error, 1)
	go func() {
		got, err := queue.NewClient(b).Wait(ctx, "t1")
		if err == nil && got.State != queue.StateSuccess {
			err = errors.New("state " + string(got.State))
		}
		waited <- err
	}()
	var task *queue.Task
	var token string
	var err error
	for task, token, err = b.Claim(ctx, []string{"default"}, time.Minute); err != nil && ctx.Err() == nil; {
		time.Sleep(50 * time.Millisecond) // the client reconnects
		task, token, err = b.Claim(ctx, []string{"default"}, time.Minute)
	}
	if err != nil {
		t.Fatalf("Claim after restart: %v", err)
	}
	if err := b.Complete(ctx, task.ID, token, nil, time.Minute); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if err := <-waited; err != nil {
		t.Fatalf("Client.Wait across the restart: got %v, want SUCCESS", err)
	}
}
