package pgq

import (
	"context"
	"flag"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/resilience-go/resilience/internal/pgtest"
	"github.com/resilience-go/resilience/queue"
)

var soak = flag.Bool("soak", false, "run the long soak (30,000 tasks; also RESILIENCE_SOAK=1)")

// TestSoakWorkersKilledAndRestarted runs tasks (20% failing once with a
// transient error, 1% failing permanently) through three worker processes
// while one of them, picked at random, is killed with SIGKILL and started
// again every second. It stops by itself when every task is done, and
// checks that every task is SUCCESS, or FAILURE with a dead letter, that
// none is lost, and that duplicate executions stay within what the kills
// can explain (each kill interrupts at most Concurrency tasks). The default
// run has 10,000 tasks; -soak or RESILIENCE_SOAK=1 runs 30,000.
func TestSoakWorkersKilledAndRestarted(t *testing.T) {
	n, within := 10_000, 5*time.Minute
	if *soak || os.Getenv("RESILIENCE_SOAK") == "1" {
		n, within = 30_000, 20*time.Minute
	}
	const processes, concurrency = 3, 4
	pool := pgtest.Pool(t, 16)
	b, opts := newBroker(t, pool)
	client := queue.NewClient(b)
	store := NewDeadLetterStore(pool, opts)
	workers := newFleet(t, pool, pgtest.URL(), opts.Schema, concurrency, time.Second)

	jobs := make([]job, n)
	transient, permanent := 0, 0
	for i := range jobs {
		jobs[i] = job{N: i, SleepMS: 5, Transient: i%5 == 1, Permanent: i%100 == 0}
		if jobs[i].Transient {
			transient++
		}
		if jobs[i].Permanent {
			permanent++
		}
	}
	start := time.Now()
	for i := range processes {
		workers.Start(i)
	}
	ids := enqueueJobs(t, client, jobs)

	stop := make(chan struct{})
	var kills int
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				i := rand.IntN(processes)
				workers.Kill(i)
				workers.Start(i)
				kills++
			}
		}
	})
	done := waitDone(t, client, ids, within)
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)

	execs := executions(t, pool, opts.Schema)
	var succeeded, failed, redelivered, total int
	for i, task := range done {
		total += execs[task.ID]
		redelivered += task.Redeliveries
		switch {
		case task.State == queue.StateSuccess && !jobs[i].Permanent:
			succeeded++
		case task.State == queue.StateFailure:
			if _, err := store.Get(context.Background(), task.ID); err != nil {
				t.Fatalf("task %d is FAILURE (%s) without a dead letter: %v", i, task.Error, err)
			}
			failed++
		default:
			t.Fatalf("task %d: got state %s, want SUCCESS or FAILURE", i, task.State)
		}
	}
	if succeeded+failed != n || failed < permanent {
		t.Fatalf("got %d SUCCESS + %d FAILURE, want all %d tasks, at least %d failed", succeeded, failed, n, permanent)
	}
	dups := total - (n + transient) // a transient task runs twice
	if dups < 0 || dups > kills*concurrency {
		t.Fatalf("duplicate executions: got %d (%d runs), want 0 to %d (%d kills x %d slots)",
			dups, total, kills*concurrency, kills, concurrency)
	}
	t.Logf("soak: %d tasks in %v with %d kills: %d SUCCESS, %d FAILURE in the dead letters, %d redeliveries, %d duplicate executions",
		n, elapsed.Round(time.Millisecond), kills, succeeded, failed, redelivered, dups)
}
