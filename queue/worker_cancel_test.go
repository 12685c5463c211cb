package queue_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/queue"
	"github.com/stretchr/testify/require"
)

// noWatch hides the Watcher of a memory broker (and its CompleteClaimer),
// as a broker that cannot announce changes would.
type noWatch struct {
	queue.Broker
	queue.Canceler
}

// cancelRunning enqueues a task whose handler blocks until its ctx ends,
// lets it run for after, cancels it, and returns how long (fake time) its
// ctx took to end after the Cancel, with the cause and the final task.
func cancelRunning(t *testing.T, b queue.Broker, cfg queue.WorkerConfig, after time.Duration) (time.Duration, error, *queue.Task) {
	t.Helper()
	w := newWorker(t, b, cfg)
	started := make(chan struct{})
	ended := make(chan error, 1)
	w.Handle("long", func(ctx context.Context, _ *queue.Task) (any, error) {
		close(started)
		<-ctx.Done()
		ended <- context.Cause(ctx)
		return "finished anyway", nil
	})
	stop := start(w)
	c := queue.NewClient(b)
	task, err := c.Enqueue(context.Background(), "long", nil)
	require.NoError(t, err)
	<-started
	time.Sleep(after)
	_, err = c.Cancel(context.Background(), task.ID)
	require.NoError(t, err)
	sent := time.Now()
	cause := <-ended
	took := time.Since(sent)
	final := wait(t, c, task.ID)
	require.NoError(t, stop())
	return took, cause, final
}

// TestWorkerCancelReachesHandlerWithin100ms cancels a running task on the
// memory broker (a Watcher) early in its run and late, with the default
// 30 s lease: the handler's ctx ends with cause ErrRevoked within 100 ms,
// far before the first renewal, and the task ends REVOKED although the
// handler returned a result.
func TestWorkerCancelReachesHandlerWithin100ms(t *testing.T) {
	for _, after := range []time.Duration{time.Millisecond, 5 * time.Second} {
		t.Run(after.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				took, cause, final := cancelRunning(t, queue.NewMemoryBroker(), queue.WorkerConfig{Concurrency: 1}, after)
				require.ErrorIs(t, cause, queue.ErrRevoked)
				require.LessOrEqual(t, took, 100*time.Millisecond, "the cancellation took %v to reach the handler", took)
				require.Equal(t, queue.StateRevoked, final.State)
				require.Empty(t, final.Result, "the discarded result is not stored")
			})
		})
	}
}

// TestWorkerCancelWithoutWatcherWithinOneRenewal cancels a running task on
// a broker that announces no changes: the renewal (every Lease/3) brings
// the cancellation.
func TestWorkerCancelWithoutWatcherWithinOneRenewal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := queue.NewMemoryBroker()
		b := noWatch{Broker: m, Canceler: m}
		const lease = 3 * time.Second
		took, cause, final := cancelRunning(t, b, queue.WorkerConfig{Concurrency: 1, Lease: lease}, 100*time.Millisecond)
		require.ErrorIs(t, cause, queue.ErrRevoked)
		require.LessOrEqual(t, took, lease/3)
		require.Greater(t, took, 100*time.Millisecond, "without a watch only the renewal can bring it")
		require.Equal(t, queue.StateRevoked, final.State)
	})
}

// cancelOnPush is a dead-letter store that cancels the task whose dead
// letter it is asked to store, just before storing it: a Cancel that lands
// between the worker's decision to fail the task and the broker's Fail.
type cancelOnPush struct {
	dlq.Store
	c      *queue.Client
	pushes atomic.Int64
}

func (s *cancelOnPush) Push(ctx context.Context, e dlq.Entry) error {
	if s.pushes.Add(1) == 1 {
		if _, err := s.c.Cancel(ctx, e.TaskID); err != nil {
			return err
		}
	}
	return s.Store.Push(ctx, e)
}

// TestRevokedTaskIsNeverDeadLettered cancels a task while its worker fails
// it for good: the dead letter is written first (so that no task is ever
// FAILURE without one), and the broker's Fail then ends the task REVOKED.
// The task must not stay in the dead letters and must raise no alert.
func TestRevokedTaskIsNeverDeadLettered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		c := queue.NewClient(b)
		store := &cancelOnPush{Store: dlq.NewMemoryStore(), c: c}
		var alerts atomic.Int64
		w := newWorker(t, b, queue.WorkerConfig{Concurrency: 1, DeadLetters: store,
			Alerts: dlq.AlertConfig{Threshold: 1, OnAlert: func(dlq.Alert) { alerts.Add(1) }}})
		w.Handle("bad", func(context.Context, *queue.Task) (any, error) {
			return nil, resilience.Permanent(errors.New("bad input"))
		})
		stop := start(w)
		task, err := c.Enqueue(context.Background(), "bad", nil)
		require.NoError(t, err)
		final := wait(t, c, task.ID)
		require.NoError(t, stop())
		require.Equal(t, queue.StateRevoked, final.State)
		n, err := store.Len(context.Background())
		require.NoError(t, err)
		require.Zero(t, n, "a revoked task was left in the dead letters")
		require.Zero(t, alerts.Load(), "a revoked task raised an alert")
	})
}

// TestRevokedTaskIsNotRetried cancels a task while its worker schedules a
// retry after a failed attempt that did not see the cancellation: the
// broker ends it REVOKED, logged at info level, never run again.
func TestRevokedTaskIsNotRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		c := queue.NewClient(b)
		logs := &logRecorder{}
		w := newWorkerLogging(t, b, queue.WorkerConfig{Concurrency: 1}, logs)
		var runs atomic.Int64
		w.Handle("flaky", func(ctx context.Context, task *queue.Task) (any, error) {
			runs.Add(1)
			_, err := c.Cancel(ctx, task.ID) // lands as the attempt fails
			require.NoError(t, err)
			return nil, errors.New("transient")
		})
		stop := start(w)
		task, err := c.Enqueue(context.Background(), "flaky", nil)
		require.NoError(t, err)
		final := wait(t, c, task.ID)
		time.Sleep(time.Minute) // any retry would have run by now
		require.NoError(t, stop())
		require.Equal(t, queue.StateRevoked, final.State)
		require.EqualValues(t, 1, runs.Load(), "a revoked task ran again")
		require.Zero(t, final.Retries)
		require.Empty(t, logs.at(slog.LevelWarn), "a revoked task is an expected end, logged below warning")
		require.Contains(t, logs.at(slog.LevelInfo), "queue: task revoked; its outcome is discarded")
	})
}

func newWorkerLogging(t *testing.T, b queue.Broker, cfg queue.WorkerConfig, h slog.Handler) *queue.Worker {
	t.Helper()
	cfg.Logger = slog.New(h)
	cfg.Alerts.Logger = discard
	w, err := queue.NewWorker(b, cfg)
	require.NoError(t, err)
	return w
}
