package queue_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/resilience-go/resilience/queue"
	"github.com/stretchr/testify/require"
)

func TestSoftTimeLimitCancelsHandlerWithCause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		w := newWorker(t, b, queue.WorkerConfig{SoftTimeLimit: 9 * time.Second, TimeLimit: 10 * time.Second})
		var cause error
		var after time.Duration
		var deadline, begin time.Time
		var progressErr error
		w.Handle("long", func(ctx context.Context, _ *queue.Task) (any, error) {
			begin = time.Now()
			deadline, _ = ctx.Deadline()
			<-ctx.Done()
			cause, after = context.Cause(ctx), time.Since(begin)
			// Save partial work and return it, as a Celery task catching SoftTimeLimitExceeded does.
			progressErr = queue.ReportProgress(ctx, queue.Progress{Current: 1, Total: 2, Status: "saving"})
			return map[string]string{"status": "timeout"}, nil
		})
		stop := start(w)
		c := queue.NewClient(b)
		task, err := c.Enqueue(context.Background(), "long", nil)
		require.NoError(t, err)
		done := wait(t, c, task.ID)
		require.NoError(t, stop())
		require.ErrorIs(t, cause, queue.ErrSoftTimeLimit)
		require.Equal(t, 9*time.Second, after)
		require.Equal(t, begin.Add(9*time.Second), deadline, "ctx reports the soft limit as its deadline")
		require.NoError(t, progressErr, "progress can still be reported after the soft limit")
		require.Equal(t, queue.StateSuccess, done.State)
		require.JSONEq(t, `{"status":"timeout"}`, string(done.Result))
	})
}

func TestTimeLimitFreesTheSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		w := newWorker(t, b, queue.WorkerConfig{Concurrency: 1, SoftTimeLimit: 5 * time.Second, TimeLimit: 10 * time.Second})
		release := make(chan struct{})
		handlerDone := make(chan struct{})
		w.Handle("stuck", func(ctx context.Context, _ *queue.Task) (any, error) {
			defer close(handlerDone)
			<-release // ignores ctx
			return "too late", nil
		})
		w.Handle("quick", func(context.Context, *queue.Task) (any, error) { return "quick", nil })
		stop := start(w)
		c := queue.NewClient(b)
		begin := time.Now()
		stuck, err := c.Enqueue(context.Background(), "stuck", nil, queue.WithMaxRetries(0))
		require.NoError(t, err)
		quick, err := c.Enqueue(context.Background(), "quick", nil)
		require.NoError(t, err)

		done := wait(t, c, stuck.ID)
		require.Equal(t, queue.StateFailure, done.State)
		require.ErrorContains(t, errors.New(done.Error), "time limit exceeded")
		require.Equal(t, 10*time.Second, time.Since(begin))
		require.Equal(t, queue.StateSuccess, wait(t, c, quick.ID).State, "the only slot was freed for the next task")
		e, err := w.DeadLetters().Get(context.Background(), stuck.ID)
		require.NoError(t, err)
		require.Contains(t, e.Error, "time limit exceeded")
		require.NoError(t, stop())

		// The abandoned handler returns later; its result is discarded.
		close(release)
		<-handlerDone
		synctest.Wait()
		got, err := c.Get(context.Background(), stuck.ID)
		require.NoError(t, err)
		require.Equal(t, queue.StateFailure, got.State)
		require.Empty(t, got.Result)
	})
}

func TestLeaseRenewedWhileHandlerRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := queue.NewMemoryBroker()
		b := &flakyBroker{Broker: mem}
		w := newWorker(t, b, queue.WorkerConfig{Lease: 3 * time.Second})
		w.Handle("slow", func(ctx context.Context, _ *queue.Task) (any, error) {
			time.Sleep(20 * time.Second) // far past the 3 s lease
			return nil, nil
		})
		stop := start(w)
		c := queue.NewClient(b)
		task, err := c.Enqueue(context.Background(), "slow", nil)
		require.NoError(t, err)
		done := wait(t, c, task.ID)
		require.NoError(t, stop())
		require.Equal(t, queue.StateSuccess, done.State)
		require.Equal(t, 1, done.Attempt)
		require.Zero(t, done.Redeliveries, "renewals kept the lease")
		require.EqualValues(t, 20, b.renewCalls.Load(), "one renewal per Lease/3 = 1 s of the 20 s")
	})
}

func TestLostLeaseCancelsHandlerAndBlocksCompletion(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := queue.NewMemoryBroker()
		b := &flakyBroker{Broker: mem}
		// One slot: no idle slot of this worker reclaims the task itself.
		w := newWorker(t, b, queue.WorkerConfig{Concurrency: 1, Lease: 3 * time.Second})
		started := make(chan struct{})
		var cause error
		w.Handle("work", func(ctx context.Context, _ *queue.Task) (any, error) {
			close(started)
			<-ctx.Done()
			cause = context.Cause(ctx)
			return "stale result", nil
		})
		stop := start(w)
		c := queue.NewClient(b)
		task, err := c.Enqueue(context.Background(), "work", nil)
		require.NoError(t, err)
		<-started

		// The worker stalls (its renewals do not arrive) and the lease runs
		// out; another claimer takes the task.
		b.dropRenew.Store(true)
		time.Sleep(3 * time.Second)
		thief, token, err := mem.Claim(context.Background(), []string{queue.QueueDefault}, time.Minute)
		require.NoError(t, err)
		require.Equal(t, task.ID, thief.ID)
		require.Equal(t, 1, thief.Redeliveries, "a lost lease is counted as a redelivery")
		require.Equal(t, 2, thief.Attempt)

		// The worker's next renewal learns of the loss and cancels the handler.
		b.dropRenew.Store(false)
		time.Sleep(time.Second)
		synctest.Wait()
		require.ErrorIs(t, cause, queue.ErrLeaseLost)
		require.Zero(t, b.completes.Load(), "a worker that lost the lease does not try to complete")

		require.NoError(t, mem.Complete(context.Background(), task.ID, token, []byte(`"thief"`), time.Hour))
		done := wait(t, c, task.ID)
		require.JSONEq(t, `"thief"`, string(done.Result))
		require.NoError(t, stop())
	})
}

func TestRedeliveryLimitEndsInDeadLetters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		c := queue.NewClient(b)
		task, err := c.Enqueue(context.Background(), "crashy", nil)
		require.NoError(t, err)
		// Three workers die holding the task: their leases run out.
		for range 3 {
			_, _, err := b.Claim(context.Background(), []string{queue.QueueDefault}, time.Second)
			require.NoError(t, err)
			time.Sleep(time.Second)
		}
		calls := 0
		w := newWorker(t, b, queue.WorkerConfig{MaxRedeliveries: 2})
		w.Handle("crashy", func(context.Context, *queue.Task) (any, error) { calls++; return nil, nil })
		stop := start(w)
		done := wait(t, c, task.ID)
		require.NoError(t, stop())
		require.Equal(t, queue.StateFailure, done.State)
		require.Equal(t, 3, done.Redeliveries)
		require.Zero(t, calls, "the handler is not run again past the cap")
		require.Contains(t, done.Error, "redelivery limit exceeded")
		e, err := w.DeadLetters().Get(context.Background(), task.ID)
		require.NoError(t, err)
		require.Contains(t, e.Error, "MaxRedeliveries 2")
	})
}

func TestShutdownWaitsForTasksInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		w := newWorker(t, b, queue.WorkerConfig{ShutdownTimeout: 10 * time.Second})
		started := make(chan struct{})
		w.Handle("five", func(ctx context.Context, _ *queue.Task) (any, error) {
			close(started)
			time.Sleep(5 * time.Second)
			return ctx.Err() == nil, nil
		})
		stop := start(w)
		c := queue.NewClient(b)
		task, err := c.Enqueue(context.Background(), "five", nil)
		require.NoError(t, err)
		<-started
		begin := time.Now()
		require.NoError(t, stop())
		require.Equal(t, 5*time.Second, time.Since(begin), "Run returned when the task finished")
		got, err := c.Get(context.Background(), task.ID)
		require.NoError(t, err)
		require.Equal(t, queue.StateSuccess, got.State)
		require.JSONEq(t, "true", string(got.Result), "the handler's ctx stayed live during the grace")
	})
}

func TestShutdownTimeoutHandsTasksBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		w := newWorker(t, b, queue.WorkerConfig{Concurrency: 2, ShutdownTimeout: 10 * time.Second})
		started := make(chan struct{}, 2)
		w.Handle("forever", func(ctx context.Context, _ *queue.Task) (any, error) {
			started <- struct{}{}
			<-ctx.Done()
			return nil, context.Cause(ctx)
		})
		stop := start(w)
		c := queue.NewClient(b)
		var ids []string
		for range 3 {
			task, err := c.Enqueue(context.Background(), "forever", nil)
			require.NoError(t, err)
			ids = append(ids, task.ID)
		}
		<-started
		<-started
		begin := time.Now()
		require.NoError(t, stop())
		require.Equal(t, 10*time.Second, time.Since(begin), "Run returned at the end of the grace")
		for _, id := range ids {
			got, err := c.Get(context.Background(), id)
			require.NoError(t, err)
			require.Equal(t, queue.StatePending, got.State, "every task is claimable again")
			require.Zero(t, got.Attempt, "a handed-back attempt is not counted")
			require.Zero(t, got.Redeliveries)
		}
		n, err := w.DeadLetters().Len(context.Background())
		require.NoError(t, err)
		require.Zero(t, n)
	})
}

func TestPrefetchIsOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		w := newWorker(t, b, queue.WorkerConfig{Concurrency: 2})
		release := make(chan struct{})
		w.Handle("block", func(context.Context, *queue.Task) (any, error) { <-release; return nil, nil })
		stop := start(w)
		c := queue.NewClient(b)
		var ids []string
		for range 5 {
			task, err := c.Enqueue(context.Background(), "block", nil)
			require.NoError(t, err)
			ids = append(ids, task.ID)
		}
		synctest.Wait()
		states := map[queue.State]int{}
		for _, id := range ids {
			got, err := c.Get(context.Background(), id)
			require.NoError(t, err)
			states[got.State]++
		}
		require.Equal(t, map[queue.State]int{queue.StateStarted: 2, queue.StatePending: 3}, states,
			"a worker with 2 slots holds 2 tasks, not more")
		close(release)
		for _, id := range ids {
			require.Equal(t, queue.StateSuccess, wait(t, c, id).State)
		}
		require.NoError(t, stop())
	})
}

func TestStrictPriorityAcrossQueues(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		c := queue.NewClient(b)
		for _, q := range []string{"low", "default", "high", "low", "high"} {
			_, err := c.Enqueue(context.Background(), "job", q, queue.WithQueue(q))
			require.NoError(t, err)
		}
		w := newWorker(t, b, queue.WorkerConfig{Concurrency: 1})
		var order []string
		w.Handle("job", queue.Typed(func(_ context.Context, q string) (any, error) {
			order = append(order, q)
			return nil, nil
		}))
		stop := start(w)
		synctest.Wait()
		require.NoError(t, stop())
		require.Equal(t, []string{"high", "high", "default", "low", "low"}, order)
	})
}

func TestClaimErrorsAreRetriedWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := queue.NewMemoryBroker()
		b := &flakyBroker{Broker: mem}
		b.claimErrs.Store(5)
		w := newWorker(t, b, queue.WorkerConfig{Concurrency: 1})
		w.Handle("x", func(context.Context, *queue.Task) (any, error) { return nil, nil })
		begin := time.Now()
		stop := start(w)
		c := queue.NewClient(mem)
		task, err := c.Enqueue(context.Background(), "x", nil)
		require.NoError(t, err)
		require.Equal(t, queue.StateSuccess, wait(t, c, task.ID).State, "the worker rode out the outage")
		// Backoff 10, 20, 40, 80, 160 ms after the five failures.
		require.Equal(t, 310*time.Millisecond, time.Since(begin))
		require.NoError(t, stop())
	})
}

func TestRunReturnsWhenBrokerCloses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		w := newWorker(t, b, queue.WorkerConfig{})
		done := make(chan error, 1)
		go func() { done <- w.Run(context.Background()) }()
		synctest.Wait()
		require.NoError(t, b.Close())
		require.ErrorIs(t, <-done, queue.ErrClosed)
	})
}
