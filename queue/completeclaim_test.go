package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/resilience-go/resilience/queue"
	"github.com/stretchr/testify/require"
)

// chainBroker is a memory broker that is also a queue.CompleteClaimer:
// CompleteAndClaim completes, then claims what is ready (it waits only
// until the synctest bubble is idle, so "nothing ready" is exact).
type chainBroker struct {
	flakyBroker
	chained   atomic.Int64 // CompleteAndClaim calls that returned a next task
	cacCalls  atomic.Int64
	cacErr    atomic.Pointer[error] // returned once, before doing anything
	beforeCAC func()                // runs at the start of every call
}

var _ queue.CompleteClaimer = (*chainBroker)(nil)

func newChainBroker() *chainBroker {
	return &chainBroker{flakyBroker: flakyBroker{Broker: queue.NewMemoryBroker()}}
}

func (c *chainBroker) CompleteAndClaim(ctx context.Context, id, token string, result json.RawMessage, ttl time.Duration,
	queues []string, lease time.Duration) (*queue.Task, string, error) {
	c.cacCalls.Add(1)
	if c.beforeCAC != nil {
		c.beforeCAC()
	}
	if err := c.cacErr.Swap(nil); err != nil {
		return nil, "", *err
	}
	if err := c.Broker.Complete(ctx, id, token, result, ttl); err != nil {
		return nil, "", err
	}
	now, cancel := context.WithTimeout(ctx, time.Nanosecond)
	defer cancel()
	next, nextToken, err := c.Broker.Claim(now, queues, lease)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, "", nil
	}
	if next != nil {
		c.chained.Add(1)
	}
	return next, nextToken, err
}

// enqueueN enqueues n tasks named name and returns their ids.
func enqueueN(t *testing.T, c *queue.Client, name string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		task, err := c.Enqueue(context.Background(), name, i)
		require.NoError(t, err)
		ids[i] = task.ID
	}
	return ids
}

func TestWorkerCompletesAndClaimsInOneCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newChainBroker()
		c := queue.NewClient(b)
		ids := enqueueN(t, c, "double", 20)
		w := newWorker(t, b, queue.WorkerConfig{Concurrency: 2})
		var mu sync.Mutex
		runs := make(map[string]int)
		w.Handle("double", func(_ context.Context, task *queue.Task) (any, error) {
			mu.Lock()
			runs[task.ID]++
			mu.Unlock()
			var n int
			if err := json.Unmarshal(task.Payload, &n); err != nil {
				return nil, err
			}
			return 2 * n, nil
		})
		stop := start(w)
		for i, id := range ids {
			done := wait(t, c, id)
			require.Equal(t, queue.StateSuccess, done.State)
			require.JSONEq(t, fmt.Sprint(2*i), string(done.Result))
		}
		require.NoError(t, stop())
		for _, id := range ids {
			require.Equal(t, 1, runs[id], "task %s runs once", id)
		}
		require.EqualValues(t, 20, b.cacCalls.Load(), "every completion goes through CompleteAndClaim")
		require.Zero(t, b.completes.Load(), "no plain Complete when CompleteAndClaim works")
		require.GreaterOrEqual(t, b.chained.Load(), int64(18),
			"with the tasks queued up front, every completion but the last of each slot claims the next")
	})
}

func TestWorkerFallsBackToCompleteWhenCompleteAndClaimFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newChainBroker()
		err := error(errFlaky)
		b.cacErr.Store(&err)
		c := queue.NewClient(b)
		ids := enqueueN(t, c, "noop", 2)
		w := newWorker(t, b, queue.WorkerConfig{Concurrency: 1})
		w.Handle("noop", func(context.Context, *queue.Task) (any, error) { return "ok", nil })
		stop := start(w)
		for _, id := range ids {
			done := wait(t, c, id)
			require.Equal(t, queue.StateSuccess, done.State)
			require.Equal(t, 1, done.Attempt, "a failed CompleteAndClaim neither loses nor repeats a task")
		}
		require.NoError(t, stop())
		require.EqualValues(t, 1, b.completes.Load(), "the failed CompleteAndClaim is followed by one Complete")
	})
}

func TestWorkerDoesNotCompleteAgainAfterLeaseLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newChainBroker()
		err := fmt.Errorf("%w: token is stale", queue.ErrLeaseLost)
		b.cacErr.Store(&err)
		c := queue.NewClient(b)
		ids := enqueueN(t, c, "noop", 1)
		w := newWorker(t, b, queue.WorkerConfig{Concurrency: 1})
		ran := make(chan struct{}, 1)
		w.Handle("noop", func(context.Context, *queue.Task) (any, error) { ran <- struct{}{}; return nil, nil })
		stop := start(w)
		<-ran
		synctest.Wait()
		require.NoError(t, stop())
		require.Zero(t, b.completes.Load(), "a lost lease is not completed by a second call")
		got, gerr := c.Get(context.Background(), ids[0])
		require.NoError(t, gerr)
		require.Equal(t, queue.StateStarted, got.State, "the completion was refused: the task waits for its lease to run out")
	})
}

func TestWorkerClaimsNothingWithTheCompletionWhenShuttingDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newChainBroker()
		c := queue.NewClient(b)
		ids := enqueueN(t, c, "noop", 2)
		w := newWorker(t, b, queue.WorkerConfig{Concurrency: 1})
		ctx, cancel := context.WithCancel(context.Background())
		w.Handle("noop", func(context.Context, *queue.Task) (any, error) {
			cancel() // the worker starts to shut down while the task runs
			return "ok", nil
		})
		require.NoError(t, w.Run(ctx))
		first, err := c.Get(context.Background(), ids[0])
		require.NoError(t, err)
		require.Equal(t, queue.StateSuccess, first.State, "the running task is completed during the shutdown")
		second, err := c.Get(context.Background(), ids[1])
		require.NoError(t, err)
		require.Equal(t, queue.StatePending, second.State, "nothing more is claimed once the shutdown began")
		require.Zero(t, second.Attempt)
		require.Zero(t, b.cacCalls.Load(), "a completion during the shutdown claims nothing")
		require.EqualValues(t, 1, b.completes.Load())
	})
}

func TestWorkerReleasesTaskClaimedWithTheCompletionAsItShutsDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newChainBroker()
		c := queue.NewClient(b)
		ids := enqueueN(t, c, "noop", 2)
		w := newWorker(t, b, queue.WorkerConfig{Concurrency: 1})
		ctx, cancel := context.WithCancel(context.Background())
		b.beforeCAC = cancel // the shutdown begins during the call
		var runs atomic.Int64
		w.Handle("noop", func(context.Context, *queue.Task) (any, error) { runs.Add(1); return "ok", nil })
		require.NoError(t, w.Run(ctx))
		require.EqualValues(t, 1, runs.Load(), "the task claimed with the completion does not run")
		require.EqualValues(t, 1, b.chained.Load())
		first, err := c.Get(context.Background(), ids[0])
		require.NoError(t, err)
		require.Equal(t, queue.StateSuccess, first.State)
		second, err := c.Get(context.Background(), ids[1])
		require.NoError(t, err)
		require.Equal(t, queue.StatePending, second.State, "the task claimed with the completion is handed back")
		require.Zero(t, second.Attempt, "and its attempt is not counted")
	})
}
