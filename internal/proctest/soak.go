package proctest

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/internal/proctest/faultjob"
	"github.com/resilience-go/resilience/queue"
)

// SoakJobs returns n jobs of sleepMS each, numbered 0 to n-1, of which
// every fifth (i%5 == 1) fails once with a transient error and every
// hundredth (i%100 == 0) fails for good.
func SoakJobs(n, sleepMS int) []faultjob.Job {
	jobs := make([]faultjob.Job, n)
	for i := range jobs {
		jobs[i] = faultjob.Job{N: i, SleepMS: sleepMS, Transient: i%5 == 1, Permanent: i%100 == 0}
	}
	return jobs
}

// KillRandomly kills one of processes 0 to processes-1, picked at random,
// with SIGKILL and starts it again, every interval, until the returned stop
// is called; stop returns how many kills there were.
func (f *Fleet) KillRandomly(processes int, every time.Duration) (stop func() (kills int)) {
	done := make(chan struct{})
	var kills int
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				i := rand.IntN(processes)
				f.Kill(i)
				f.Start(i)
				kills++
			}
		}
	})
	return func() int {
		close(done)
		wg.Wait()
		return kills
	}
}

// SoakRun is what a soak ran and saw, for [CheckSoak].
type SoakRun struct {
	// Jobs are the payloads, in the order of Done.
	Jobs []faultjob.Job
	// Done are the finished tasks.
	Done []*queue.Task
	// Executions counts the handler's runs of each task id, across
	// processes.
	Executions map[string]int
	// Kills is how many processes were killed; Concurrency is the worker
	// slots of each.
	Kills, Concurrency int
	// DeadLetters is where the failed tasks must be.
	DeadLetters dlq.Store
	// Elapsed is the soak's duration, for the log.
	Elapsed time.Duration
}

// CheckSoak fails t unless every task of r is SUCCESS, or FAILURE with a
// dead letter, none is lost, at least the permanent ones failed, and the
// duplicate executions (beyond one per task and a second run of each
// transient one) stay within what the kills can explain: each kill
// interrupts at most Concurrency tasks. It logs a summary and any
// non-permanent task that failed for good.
func CheckSoak(t testing.TB, r SoakRun) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var succeeded, failed, redelivered, total, transient, permanent int
	for i, task := range r.Done {
		j := r.Jobs[i]
		if j.Transient {
			transient++
		}
		if j.Permanent {
			permanent++
		}
		total += r.Executions[task.ID]
		redelivered += task.Redeliveries
		switch {
		case task.State == queue.StateSuccess && !j.Permanent:
			succeeded++
		case task.State == queue.StateFailure:
			if _, err := r.DeadLetters.Get(ctx, task.ID); err != nil {
				t.Fatalf("task %d is FAILURE (%s) without a dead letter: %v", i, task.Error, err)
			}
			if !j.Permanent {
				t.Logf("task %d failed for good although not permanent: %s", i, task.Error)
			}
			failed++
		default:
			t.Fatalf("task %d: got state %s, want SUCCESS or FAILURE", i, task.State)
		}
	}
	n := len(r.Jobs)
	if succeeded+failed != n {
		t.Fatalf("got %d SUCCESS + %d FAILURE, want all %d tasks accounted for", succeeded, failed, n)
	}
	if failed < permanent {
		t.Fatalf("got %d failed tasks, want at least the %d permanent ones", failed, permanent)
	}
	expected := n + transient // a transient task runs twice
	dups := total - expected
	if dups < 0 || dups > r.Kills*r.Concurrency {
		t.Fatalf("duplicate executions: got %d (%d runs for %d expected), want 0 to %d (%d kills x %d slots)",
			dups, total, expected, r.Kills*r.Concurrency, r.Kills, r.Concurrency)
	}
	t.Logf("soak: %d tasks in %v with %d kills: %d SUCCESS, %d FAILURE in the dead letters, %d redeliveries, %d duplicate executions",
		n, r.Elapsed.Round(time.Millisecond), r.Kills, succeeded, failed, redelivered, dups)
}
