package redisq

import (
	"flag"
	"os"
	"testing"
	"time"

	"github.com/resilience-go/resilience/internal/proctest"
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

	jobs := proctest.SoakJobs(n, 10)
	start := time.Now()
	for i := range processes {
		workers.Start(i)
	}
	ids := enqueueJobs(t, client, jobs)
	stop := workers.KillRandomly(processes, every)
	done := waitDone(t, client, ids, within)
	kills := stop()
	proctest.CheckSoak(t, proctest.SoakRun{
		Jobs: jobs, Done: done, Executions: executions(t, rdb, opts.Prefix),
		Kills: kills, Concurrency: concurrency, DeadLetters: store, Elapsed: time.Since(start),
	})
}
