package queue_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/resilience-go/resilience/queue"
	"github.com/resilience-go/resilience/queue/queuetest"
	"github.com/stretchr/testify/require"
)

func TestMemoryBrokerConformance(t *testing.T) {
	queuetest.Run(t, func(t *testing.T) queue.Broker {
		b := queue.NewMemoryBroker()
		t.Cleanup(func() { _ = b.Close() })
		return b
	})
}

// TestMemoryBrokerPassesWakeupOn signals a waiting claim whose ctx has
// ended (but whose Done channel has not fired yet, the window in which a
// real cancellation races an Enqueue): the other waiting claim must get the
// task, not sleep through it.
func TestMemoryBrokerPassesWakeupOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		ctxA := &endedCtx{Context: context.Background()}
		errA := make(chan error, 1)
		go func() {
			_, _, err := b.Claim(ctxA, []string{"default"}, time.Minute)
			errA <- err
		}()
		synctest.Wait() // A waits first, so it is signaled first
		gotB := make(chan *queue.Task, 1)
		go func() {
			task, _, err := b.Claim(context.Background(), []string{"default"}, time.Minute)
			if err == nil {
				gotB <- task
			}
		}()
		synctest.Wait()
		ctxA.ended.Store(true)
		_, _, err := b.Enqueue(context.Background(), &queue.Task{ID: "t", Name: "n", Queue: "default"})
		require.NoError(t, err)
		require.ErrorIs(t, <-errA, context.Canceled)
		require.Equal(t, "t", (<-gotB).ID)
	})
}

// endedCtx reports Canceled once ended is set, without closing Done.
type endedCtx struct {
	context.Context
	ended atomic.Bool
}

func (c *endedCtx) Err() error {
	if c.ended.Load() {
		return context.Canceled
	}
	return nil
}

func TestMemoryBrokerCloseWakesClaims(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		errs := make(chan error, 2)
		for range 2 {
			go func() {
				_, _, err := b.Claim(context.Background(), []string{"default"}, time.Minute)
				errs <- err
			}()
		}
		synctest.Wait()
		require.NoError(t, b.Close())
		require.NoError(t, b.Close(), "Close is idempotent")
		require.ErrorIs(t, <-errs, queue.ErrClosed)
		require.ErrorIs(t, <-errs, queue.ErrClosed)
		_, _, err := b.Enqueue(context.Background(), &queue.Task{ID: "t", Name: "n", Queue: "default"})
		require.ErrorIs(t, err, queue.ErrClosed)
		_, err = b.Get(context.Background(), "t")
		require.ErrorIs(t, err, queue.ErrClosed)
		_, err = b.Recover(context.Background())
		require.ErrorIs(t, err, queue.ErrClosed)
	})
}

// TestMemoryBrokerExpiresResultsWithoutGoroutines completes many tasks
// and checks that their results go away after the TTL with no goroutine
// or timer per task.
func TestMemoryBrokerExpiresResultsWithoutGoroutines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		ctx := context.Background()
		before := runtime.NumGoroutine()
		for i := range 100 {
			_, _, err := b.Enqueue(ctx, &queue.Task{ID: fmt.Sprint(i), Name: "n", Queue: "default"})
			require.NoError(t, err)
			task, token, err := b.Claim(ctx, []string{"default"}, time.Minute)
			require.NoError(t, err)
			require.NoError(t, b.Complete(ctx, task.ID, token, nil, time.Duration(i+1)*time.Second))
		}
		// NumGoroutine counts the whole process: a goroutine left by an
		// earlier test may exit meanwhile, but none may be added.
		require.LessOrEqual(t, runtime.NumGoroutine(), before, "the broker starts no goroutine")
		require.Equal(t, 100, b.Len())
		time.Sleep(50 * time.Second)
		require.Equal(t, 50, b.Len(), "results past their TTL are gone")
		_, err := b.Get(ctx, "10")
		require.ErrorIs(t, err, queue.ErrTaskNotFound)
		_, err = b.Get(ctx, "60")
		require.NoError(t, err)
	})
}

// TestWeightedPriorityDoesNotStarveLow keeps the high queue full and
// checks that a weighted worker still runs low tasks, while a strict one
// runs none.
func TestWeightedPriorityDoesNotStarveLow(t *testing.T) {
	for _, tt := range []struct {
		priority queue.Priority
		wantLow  bool
	}{{queue.PriorityStrict, false}, {queue.PriorityWeighted, true}} {
		synctest.Test(t, func(t *testing.T) {
			b := queue.NewMemoryBroker()
			c := queue.NewClient(b)
			// A weighted claim takes low with probability about 1/7: over
			// 200 claims a worker that never does is a 1-in-10^13 chance, so
			// the test cannot fail by bad luck.
			for i := range 800 {
				q := "high"
				if i%2 == 0 {
					q = "low"
				}
				_, err := c.Enqueue(context.Background(), "job", q, queue.WithQueue(q))
				require.NoError(t, err)
			}
			w := newWorker(t, b, queue.WorkerConfig{Concurrency: 1, Priority: tt.priority})
			var ran []string
			w.Handle("job", queue.Typed(func(_ context.Context, q string) (any, error) {
				ran = append(ran, q)
				time.Sleep(time.Second)
				return nil, nil
			}))
			stop := start(w)
			time.Sleep(200 * time.Second) // 200 of the 400 high tasks
			require.NoError(t, stop())
			low := slices.Index(ran, "low") >= 0
			require.Equal(t, tt.wantLow, low, "priority %d: ran %v", tt.priority, ran)
		})
	}
}
