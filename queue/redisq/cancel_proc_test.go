package redisq

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resilience-go/resilience/internal/redistest"
	"github.com/resilience-go/resilience/queue"
)

// TestCancelRunningTaskInAnotherProcess: a worker process runs a task
// that blocks; this process cancels it. The handler's context ends with
// cause ErrRevoked (through the changed channel, well within a renewal
// interval) and the task ends REVOKED.
func TestCancelRunningTaskInAnotherProcess(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := newClient(t, srv)
	b, opts := newBroker(t, rdb)
	client := queue.NewClient(b)
	const lease = 3 * time.Second
	workers := newFleet(t, srv, opts.Prefix, 1, lease)
	tag := "{" + opts.Prefix + "}"

	ids := enqueueJobs(t, client, []job{{Block: true}})
	workers.Start(0)
	if got, err := rdb.BLPop(ctxFor(t, 30*time.Second), 20*time.Second, tag+":test:started").Result(); err != nil || got[1] != ids[0] {
		t.Fatalf("waiting for the task to start: got %v, %v", got, err)
	}
	cancelled := time.Now()
	task, err := client.Cancel(ctxFor(t, 10*time.Second), ids[0])
	if err != nil || !task.CancelRequested {
		t.Fatalf("Cancel of a running task: got %+v, %v; want it with CancelRequested", task, err)
	}
	waitEnded(t, rdb, tag, ids[0], "Cancel returned", cancelled, lease/3)
	if done := waitDone(t, client, ids, 20*time.Second); done[0].State != queue.StateRevoked {
		t.Fatalf("the cancelled task: got state %s, want REVOKED", done[0].State)
	}
}

// TestCancelReachesWorkerCutOffFromRedis: the worker process talks to
// Redis through a proxy, which is cut (its connections and subscription
// drop, and it cannot reconnect) when the task is cancelled. Once it is
// back, the worker learns of the cancellation within one renewal interval
// (Lease/3), from its next renewal or from the re-read its new
// subscription triggers, and the task ends REVOKED.
func TestCancelReachesWorkerCutOffFromRedis(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := newClient(t, srv)
	b, opts := newBroker(t, rdb)
	client := queue.NewClient(b)
	const lease = 3 * time.Second
	proxy := redistest.StartProxy(t, srv.Addr)
	workers := newFleet(t, &redistest.Server{Addr: proxy.Addr}, opts.Prefix, 1, lease)
	tag := "{" + opts.Prefix + "}"

	ids := enqueueJobs(t, client, []job{{Block: true}})
	workers.Start(0)
	if got, err := rdb.BLPop(ctxFor(t, 30*time.Second), 20*time.Second, tag+":test:started").Result(); err != nil || got[1] != ids[0] {
		t.Fatalf("waiting for the task to start: got %v, %v", got, err)
	}
	proxy.Cut()
	if _, err := client.Cancel(ctxFor(t, 10*time.Second), ids[0]); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	time.Sleep(lease / 6) // the worker stays cut off for a while after Cancel
	if n := rdb.LLen(ctxFor(t, time.Second), tag+":test:ended").Val(); n != 0 {
		t.Fatal("the handler's context ended while its worker was cut off from Redis")
	}
	proxy.Restore()
	restored := time.Now()
	waitEnded(t, rdb, tag, ids[0], "the worker could reach Redis again", restored, lease/3+time.Second) // plus the reconnection backoff
	if done := waitDone(t, client, ids, 20*time.Second); done[0].State != queue.StateRevoked {
		t.Fatalf("the cancelled task: got state %s, want REVOKED", done[0].State)
	}
}

// waitEnded waits for the worker to report that task id's handler context
// ended, and checks the cause is the revocation and that it came within
// bound of the cancellation (a bound the contract sets, far above the
// usual milliseconds; the measured delay is logged).
func waitEnded(t *testing.T, rdb *redis.Client, tag, id, event string, since time.Time, bound time.Duration) {
	t.Helper()
	got, err := rdb.BLPop(ctxFor(t, 30*time.Second), 20*time.Second, tag+":test:ended").Result()
	took := time.Since(since)
	if err != nil {
		t.Fatalf("waiting for the handler's context to end: %v", err)
	}
	if want := id + " " + queue.ErrRevoked.Error(); got[1] != want {
		t.Fatalf("handler's context ended with %q, want %q", got[1], want)
	}
	t.Logf("the handler's context ended %v after %s", took.Round(time.Millisecond), event)
	if took > bound {
		t.Fatalf("the handler's context ended %v after %s; want within %v", took, event, bound)
	}
}
