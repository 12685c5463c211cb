package pgq

import (
	"flag"
	"os"
	"testing"
	"time"

	"github.com/resilience-go/resilience/internal/pgtest"
	"github.com/resilience-go/resilience/internal/proctest"
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

	jobs := proctest.SoakJobs(n, 5)
	start := time.Now()
	for i := range processes {
		workers.Start(i)
	}
	ids := enqueueJobs(t, client, jobs)
	stop := workers.KillRandomly(processes, time.Second)
	done := waitDone(t, client, ids, within)
	kills := stop()
	proctest.CheckSoak(t, proctest.SoakRun{
		Jobs: jobs, Done: done, Executions: executions(t, pool, opts.Schema),
		Kills: kills, Concurrency: concurrency, DeadLetters: store, Elapsed: time.Since(start),
	})
}
