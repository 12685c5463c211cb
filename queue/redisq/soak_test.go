package redisq

import (
	"flag"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/resilience-go/resilience/internal/redistest"
	"github.com/resilience-go/resilience/queue"
)

var soak = flag.Bool("soak", false, "run the long soak (50,000 tasks; also RESILIENCE_SOAK=1)")

// TestSoakWorkersKilledAndRestarted runs tasks (20% failing once with a
// transient error, 1% failing permanently) through three worker processes
// while one of them, picked at random, is killed with SIGKILL and started
// again at a steady cadence. It stops by itself when every task is done,
// and checks that every task is SUCCESS, or FAILURE with a dead letter,
// that none is lost, and that duplicate executions (reported) stay within
// what the kills can explain: each kill can interrupt at most Concurrency
// tasks. The default run has 10,000 tasks and a kill every second (about
// 15 s); -soak or RESILIENCE_SOAK=1 runs 50,000 tasks with a kill every 2 s.
func TestSoakWorkersKilledAndRestarted(t *testing.T) {
	n, every, within := 10_000, time.Second, 5*time.Minute
	if *soak || os.Getenv("RESILIENCE_SOAK") == "1" {
		n, every, within = 50_000, 2*time.Second, 30*time.Minute
	}
	const processes, concurrency = 3, 4
	srv := redistest.Start(t, redistest.Options{})
	rdb := newClient(t, srv)
	b, opts := newBroker(t, rdb)
	client := queue.NewClient(b)
	store := NewDeadLetterStore(rdb, opts)
	workers := newFleet(t, srv, opts.Prefix, concurrency, time.Second)

	jobs := make([]job, n)
	transient, permanent := 0, 0
	for i := range jobs {
		jobs[i] = job{N: i, SleepMS: 10, Transient: i%5 == 1, Permanent: i%100 == 0}
		if jobs[i].Transient {
			transient++
		}
		if jobs[i].Permanent {
			permanent++
		}
	}
	start := time.Now()
	for i := range processes {
		workers.start(i)
	}
	ids := enqueueJobs(t, client, jobs)

	stop := make(chan struct{})
	var kills int
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				i := rand.IntN(processes)
				workers.kill(i)
				workers.start(i)
				kills++
			}
		}
	})
	done := waitDone(t, client, ids, within)
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)

	ctx := ctxFor(t, time.Minute)
	execs := executions(t, rdb, opts.Prefix)
	var succeeded, failed, redelivered, total int
	for i, task := range done {
		total += execs[task.ID]
		redelivered += task.Redeliveries
		switch {
		case task.State == queue.StateSuccess && !jobs[i].Permanent:
			succeeded++
		case task.State == queue.StateFailure:
			if _, err := store.Get(ctx, task.ID); err != nil {
				t.Fatalf("task %d is FAILURE (%s) without a dead letter: %v", i, task.Error, err)
			}
			if !jobs[i].Permanent {
				t.Logf("task %d failed for good although not permanent: %s", i, task.Error)
			}
			failed++
		default:
			t.Fatalf("task %d: got state %s, want SUCCESS or FAILURE", i, task.State)
		}
	}
	if succeeded+failed != n {
		t.Fatalf("got %d SUCCESS + %d FAILURE, want all %d tasks accounted for", succeeded, failed, n)
	}
	if failed < permanent {
		t.Fatalf("got %d failed tasks, want at least the %d permanent ones", failed, permanent)
	}
	expected := n + transient // a transient task runs twice
	dups := total - expected
	if dups < 0 || dups > kills*concurrency {
		t.Fatalf("duplicate executions: got %d (%d runs for %d expected), want 0 to %d (%d kills x %d slots)",
			dups, total, expected, kills*concurrency, kills, concurrency)
	}
	t.Logf("soak: %d tasks in %v with %d kills: %d SUCCESS, %d FAILURE in the dead letters, %d redeliveries, %d duplicate executions",
		n, elapsed.Round(time.Millisecond), kills, succeeded, failed, redelivered, dups)
}
