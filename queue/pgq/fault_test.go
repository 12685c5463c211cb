package pgq

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/resilience-go/resilience/internal/pgtest"
	"github.com/resilience-go/resilience/queue"
)

// waitRow polls until the query returns a row, or fails t after within.
func waitRow(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s; it did not happen", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWorkerKilledMidTaskRedelivered kills a worker process with SIGKILL
// while its handler runs: the task is redelivered after the lease (one
// redelivery, no retry counted) to the next worker, and succeeds.
func TestWorkerKilledMidTaskRedelivered(t *testing.T) {
	pool := pgtest.Pool(t, 8)
	b, opts := newBroker(t, pool)
	workers := newFleet(t, pool, pgtest.URL(), opts.Schema, 2, time.Second)
	c := queue.NewClient(b)
	ids := enqueueJobs(t, c, []job{{N: 7, Block: true}})
	workers.Start(0)
	waitRow(t, "the worker to start the task", 30*time.Second, func() bool {
		var n int
		_ = pool.QueryRow(context.Background(), `SELECT count(*) FROM "`+opts.Schema+`".test_started`).Scan(&n)
		return n > 0
	})
	workers.Kill(0)
	workers.Start(1)
	task := waitDone(t, c, ids, 30*time.Second)[0]
	if task.State != queue.StateSuccess || task.Redeliveries != 1 || task.Retries != 0 || task.Attempt != 2 {
		t.Fatalf("got state %s, redeliveries %d, retries %d, attempt %d; want SUCCESS, 1, 0, 2",
			task.State, task.Redeliveries, task.Retries, task.Attempt)
	}
	if n := executions(t, pool, opts.Schema)[ids[0]]; n != 2 {
		t.Fatalf("the task ran %d times, want 2 (killed once, then done)", n)
	}
}

// TestServerKilledAndRestarted kills the whole PostgreSQL server with
// SIGKILL while two worker processes run tasks, and starts it again: a
// client call meanwhile fails with a clear error, the workers reconnect,
// and every task ends SUCCESS or, for the permanent failures, FAILURE with
// a dead letter.
func TestServerKilledAndRestarted(t *testing.T) {
	srv := pgtest.Start(t)
	pool := pgtest.PoolURL(t, srv.URL, 8)
	b, opts := newBroker(t, pool)
	workers := newFleet(t, pool, srv.URL, opts.Schema, 4, time.Second)
	c := queue.NewClient(b)
	const n = 400
	jobs := make([]job, n)
	for i := range jobs {
		jobs[i] = job{N: i, SleepMS: 5, Transient: i%7 == 1, Permanent: i%50 == 0}
	}
	ids := enqueueJobs(t, c, jobs)
	workers.Start(0)
	workers.Start(1)
	waitRow(t, "a third of the tasks to finish", time.Minute, func() bool {
		var done int
		_ = pool.QueryRow(context.Background(), `SELECT count(*) FROM "`+opts.Schema+`".tasks WHERE state IN ('SUCCESS', 'FAILURE')`).Scan(&done)
		return done >= n/3
	})
	srv.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	_, err := c.Enqueue(ctx, "job", job{N: -1})
	cancel()
	if err == nil || !strings.Contains(err.Error(), "pgq: enqueue") {
		t.Fatalf("Enqueue while the server is down: got %v, want an error from pgq naming the enqueue", err)
	}
	srv.Restart()
	done := waitDone(t, c, ids, 2*time.Minute)
	store := NewDeadLetterStore(pool, opts)
	for i, task := range done {
		switch {
		case task.State == queue.StateSuccess && !jobs[i].Permanent:
		case task.State == queue.StateFailure && jobs[i].Permanent:
			if _, err := store.Get(context.Background(), task.ID); err != nil {
				t.Fatalf("task %d is FAILURE without a dead letter: %v", i, err)
			}
		default:
			t.Fatalf("task %d (permanent %v): got state %s (%s), want SUCCESS, or FAILURE for a permanent one",
				i, jobs[i].Permanent, task.State, task.Error)
		}
	}
}

// TestListenerReconnects: a claim blocked while the server is killed and
// restarted gets a task enqueued after the restart on its notification,
// well before the WakeTimeout safety net: the broker's listening
// connection came back.
func TestListenerReconnects(t *testing.T) {
	srv := pgtest.Start(t)
	pool := pgtest.PoolURL(t, srv.URL, 8)
	b, _ := newBroker(t, pool)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := b.Recover(ctx); err != nil { // migrate first
		t.Fatal(err)
	}
	claimed := make(chan *queue.Task, 1)
	go func() {
		for ctx.Err() == nil {
			got, _, err := b.Claim(ctx, []string{"default"}, time.Minute)
			if err == nil {
				claimed <- got
				return
			}
			time.Sleep(50 * time.Millisecond) // the server is down: try again
		}
	}()
	time.Sleep(200 * time.Millisecond)
	srv.Kill()
	srv.Restart()
	// Let the listener reconnect (it wakes waiting claims when it does),
	// then wait for claims to block again.
	time.Sleep(3 * time.Second)
	enqueueN(t, b, "default", "after-restart")
	select {
	case got := <-claimed:
		if got.ID != "after-restart" {
			t.Fatalf("got %s, want after-restart", got.ID)
		}
	case <-time.After(WakeTimeout / 2):
		t.Fatalf("a claim did not get a task enqueued after the restart within %v; the listener did not reconnect", WakeTimeout/2)
	}
	if err := ctx.Err(); errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
}
