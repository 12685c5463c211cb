package redisq

import (
	"strings"
	"testing"
	"time"

	"github.com/resilience-go/resilience/internal/redistest"
	"github.com/resilience-go/resilience/queue"
)

// TestWorkerKilledMidTask kills a worker process with SIGKILL while it
// runs a task: a second worker process takes the task over once the lease
// runs out and completes it; the other tasks are not lost either.
func TestWorkerKilledMidTask(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := newClient(t, srv)
	b, opts := newBroker(t, rdb)
	client := queue.NewClient(b)
	const lease = time.Second
	workers := newFleet(t, srv, opts.Prefix, 2, lease)

	ids := enqueueJobs(t, client, []job{{N: 0, Block: true}})
	workers.Start(0)
	started, err := rdb.BLPop(ctxFor(t, 30*time.Second), 20*time.Second, "{"+opts.Prefix+"}:test:started").Result()
	if err != nil || started[1] != ids[0] {
		t.Fatalf("waiting for the blocking task to start: got %v, %v; want its id", started, err)
	}
	more := enqueueJobs(t, client, make([]job, 20)) // queued behind it
	workers.Kill(0)
	killed := time.Now()
	workers.Start(1)

	done := waitDone(t, client, append(ids, more...), 30*time.Second)
	took := time.Since(killed)
	first := done[0]
	if first.State != queue.StateSuccess || first.Redeliveries != 1 || first.Attempt != 2 {
		t.Fatalf("the killed task: got state %s, redeliveries %d, attempt %d; want SUCCESS, 1, 2",
			first.State, first.Redeliveries, first.Attempt)
	}
	for i, task := range done[1:] {
		if task.State != queue.StateSuccess {
			t.Fatalf("task %d: got state %s (%s), want SUCCESS", i+1, task.State, task.Error)
		}
	}
	if execs := executions(t, rdb, opts.Prefix); execs[ids[0]] != 2 {
		t.Fatalf("the killed task ran %d times, want 2 (the killed attempt and the redelivery)", execs[ids[0]])
	}
	t.Logf("task recovered and done %v after its worker was killed (lease %v; bound 1.5 leases + pickup)", took.Round(time.Millisecond), lease)
}

// TestRedisKilledAndRestarted kills redis-server (append-only file, fsync
// always) with SIGKILL while two worker processes run tasks, enqueues
// during the outage (which must fail with a clear error), and restarts it:
// every task enqueued before the crash, in flight or waiting, survives and
// is completed by the same workers, which reconnect by themselves.
func TestRedisKilledAndRestarted(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	rdb := newClient(t, srv)
	b, opts := newBroker(t, rdb)
	client := queue.NewClient(b)
	workers := newFleet(t, srv, opts.Prefix, 4, 2*time.Second)

	jobs := make([]job, 300)
	for i := range jobs {
		jobs[i] = job{N: i, SleepMS: 20}
	}
	ids := enqueueJobs(t, client, jobs)
	workers.Start(0)
	workers.Start(1)
	// Crash Redis once some tasks are done and others are in flight.
	ctx := ctxFor(t, 30*time.Second)
	for rdb.HLen(ctx, "{"+opts.Prefix+"}:test:execs").Val() < 50 {
		if ctx.Err() != nil {
			t.Fatal("workers did not start running tasks")
		}
		time.Sleep(5 * time.Millisecond)
	}
	srv.Kill()
	_, err := client.Enqueue(ctxFor(t, 10*time.Second), "job", job{})
	if err == nil || !strings.Contains(err.Error(), "redisq: enqueue") {
		t.Fatalf("Enqueue while Redis is down: got %v, want a redisq enqueue error", err)
	}
	t.Logf("Enqueue while Redis is down: %v", err)
	time.Sleep(500 * time.Millisecond)
	srv.Restart()

	done := waitDone(t, client, ids, 60*time.Second)
	redelivered := 0
	for i, task := range done {
		if task.State != queue.StateSuccess {
			t.Fatalf("task %d: got state %s (%s), want SUCCESS", i, task.State, task.Error)
		}
		redelivered += task.Redeliveries
	}
	dups := 0
	for _, n := range executions(t, rdb, opts.Prefix) {
		dups += n - 1
	}
	t.Logf("%d tasks survived the crash and were completed; %d redeliveries, %d duplicate executions", len(ids), redelivered, dups)
}
