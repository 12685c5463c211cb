package redisq

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/dlq/dlqtest"
	"github.com/resilience-go/resilience/internal/redistest"
	"github.com/resilience-go/resilience/queue"
	"github.com/resilience-go/resilience/queue/queuetest"
)

// newClusterClient returns a cluster client of c, closed when t ends.
func newClusterClient(t testing.TB, c *redistest.Cluster) *redis.ClusterClient {
	t.Helper()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs, PoolSize: 64})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// TestCluster runs the queue and dead-letter conformance suites against a
// real three-master Redis Cluster. Every subtest has its own prefix, so
// the subtests' hash tags land on all three masters.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node Redis Cluster")
	}
	c := redistest.StartCluster(t, 3, redistest.Options{})
	rdb := newClusterClient(t, c)
	t.Run("QueueConformance", func(t *testing.T) {
		queuetest.Run(t, func(t *testing.T) queue.Broker {
			b, _ := newBroker(t, rdb)
			return b
		})
	})
	t.Run("DeadLetterConformance", func(t *testing.T) {
		dlqtest.Run(t, func(t *testing.T) dlq.Store {
			return NewDeadLetterStore(rdb, Options{Prefix: uniquePrefix(t)})
		})
	})
}

// TestClusterMasterKilledAndRestarted kills, with SIGKILL, the master that
// serves a broker's hash tag (append-only file, fsync always) while a
// worker runs tasks through a cluster client, and restarts it: enqueue
// fails with a clear error meanwhile, and every task enqueued before the
// crash ends SUCCESS once the node is back.
func TestClusterMasterKilledAndRestarted(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node Redis Cluster")
	}
	c := redistest.StartCluster(t, 3, redistest.Options{AppendOnly: true})
	rdb := newClusterClient(t, c)
	b, opts := newBroker(t, rdb)
	client := queue.NewClient(b)

	var ran atomic.Int64
	w, err := queue.NewWorker(b, queue.WorkerConfig{Concurrency: 4, Lease: 2 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	w.Handle("job", func(ctx context.Context, _ *queue.Task) (any, error) {
		ran.Add(1)
		select {
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
		return "ok", nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Worker.Run: %v", err)
		}
	})

	ectx := ctxFor(t, 10*time.Second)
	var ids []string
	for range 200 {
		task, err := client.Enqueue(ectx, "job", nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, task.ID)
	}
	for ran.Load() < 20 {
		if ectx.Err() != nil {
			t.Fatal("the worker did not start running tasks")
		}
		time.Sleep(5 * time.Millisecond)
	}
	node := c.NodeFor("{" + opts.Prefix + "}:x")
	node.Kill()
	_, err = client.Enqueue(ctxFor(t, 10*time.Second), "job", nil)
	if err == nil {
		t.Fatal("Enqueue while the master of the broker's slot is down: got nil error, want one")
	}
	if errors.Is(err, queue.ErrInvalidArgument) {
		t.Fatalf("Enqueue while the master is down: got %v, want a backend error", err)
	}
	t.Logf("Enqueue while the master is down: %v", err)
	node.Restart()
	c.WaitOK(30 * time.Second)

	wctx := ctxFor(t, 60*time.Second)
	for i, id := range ids {
		task, err := client.Wait(wctx, id)
		if err != nil {
			t.Fatalf("task %d: %v", i, err)
		}
		if task.State != queue.StateSuccess {
			t.Fatalf("task %d: got state %s (%s), want SUCCESS", i, task.State, task.Error)
		}
	}
	t.Logf("%d tasks completed across the master's crash; %d handler runs", len(ids), ran.Load())
}
