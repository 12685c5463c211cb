package redisq

import (
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resilience-go/resilience/internal/proctest"
	"github.com/resilience-go/resilience/internal/proctest/faultjob"
	"github.com/resilience-go/resilience/internal/redistest"
	"github.com/resilience-go/resilience/queue"
)

// job is the payload of the fault worker's "job" tasks.
type job = faultjob.Job

// newFleet builds internal/faultworker and returns a fleet of it on srv
// and prefix.
func newFleet(t *testing.T, srv *redistest.Server, prefix string, concurrency int, lease time.Duration) *proctest.Fleet {
	t.Helper()
	bin := proctest.Build(t, "github.com/resilience-go/resilience/queue/redisq/internal/faultworker")
	return proctest.NewFleet(t, bin, "-addr", srv.Addr, "-prefix", prefix,
		"-concurrency", strconv.Itoa(concurrency), "-lease", lease.String())
}

// enqueueJobs enqueues jobs in order and returns their ids.
func enqueueJobs(t *testing.T, c *queue.Client, jobs []job) []string {
	t.Helper()
	return proctest.Enqueue(t, c, faultjob.Name, jobs, 1, time.Minute)
}

// waitDone waits for every task to be done, retrying through outages, and
// returns them in order.
func waitDone(t *testing.T, c *queue.Client, ids []string, within time.Duration) []*queue.Task {
	t.Helper()
	return proctest.WaitDone(t, c, ids, within)
}

// executions returns how often each task's handler ran, across processes.
func executions(t *testing.T, rdb redis.UniversalClient, prefix string) map[string]int {
	t.Helper()
	m, err := rdb.HGetAll(ctxFor(t, 10*time.Second), "{"+prefix+"}:test:execs").Result()
	if err != nil {
		t.Fatalf("read executions: %v", err)
	}
	out := make(map[string]int, len(m))
	for id, v := range m {
		n, _ := strconv.Atoi(v)
		out[id] = n
	}
	return out
}
