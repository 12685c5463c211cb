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

// A nil handler registered while Run runs is a mistake Run reports: it
// stops claiming, lets the task in flight finish, and returns the mistake
// (before, the task name was silently left without a handler and Run went
// on until its ctx ended, then returned nil).
func TestHandleMistakeWhileRunningStopsRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		defer b.Close()
		w := newWorker(t, b, queue.WorkerConfig{})
		started, release := make(chan struct{}), make(chan struct{})
		w.Handle("slow", func(ctx context.Context, _ *queue.Task) (any, error) {
			close(started)
			<-release
			return "done", nil
		})
		c := queue.NewClient(b)
		slow, err := c.Enqueue(t.Context(), "slow", nil)
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { done <- w.Run(context.Background()) }() // a ctx that never ends
		<-started

		w.Handle("summarise", nil)
		close(release)
		select {
		case err = <-done:
		case <-time.After(time.Hour): // fake time: passes at once if Run never returns
			t.Fatal("Run went on after Handle was given a nil handler; want it to return the mistake")
		}
		require.ErrorIs(t, err, queue.ErrInvalidArgument)
		require.EqualError(t, err, `queue: Worker.Run: invalid argument: Handle("summarise"): handler is nil`)
		require.Equal(t, queue.StateSuccess, wait(t, c, slow.ID).State, "the task in flight finishes")

		// The mistake is kept: running again returns it at once.
		require.EqualError(t, w.Run(context.Background()), `queue: Worker.Run: invalid argument: Handle("summarise"): handler is nil`)
	})
}

// Errors of the queue package name it once, whatever the operation adds.
func TestQueueErrorsSayThePrefixOnce(t *testing.T) {
	t.Run("bad handler before Run", func(t *testing.T) {
		w := newWorker(t, queue.NewMemoryBroker(), queue.WorkerConfig{})
		w.Handle("", func(context.Context, *queue.Task) (any, error) { return nil, nil })
		err := w.Run(context.Background())
		require.ErrorIs(t, err, queue.ErrInvalidArgument)
		require.EqualError(t, err, "queue: Worker.Run: invalid argument: Handle: task name is empty; want 1 to 256 printable characters")
	})
	t.Run("broker closed under Run", func(t *testing.T) {
		b := queue.NewMemoryBroker()
		w := newWorker(t, b, queue.WorkerConfig{ShutdownTimeout: time.Millisecond})
		done := make(chan error, 1)
		go func() { done <- w.Run(context.Background()) }()
		require.NoError(t, b.Close())
		err := <-done
		require.ErrorIs(t, err, queue.ErrClosed)
		require.EqualError(t, err, "queue: Worker.Run: broker closed")
	})
	t.Run("enqueue on a closed broker", func(t *testing.T) {
		b := queue.NewMemoryBroker()
		require.NoError(t, b.Close())
		_, err := queue.NewClient(b).Enqueue(t.Context(), "chat", nil, queue.WithTaskID("t1"))
		require.True(t, errors.Is(err, queue.ErrClosed), "got %v, want ErrClosed", err)
		require.EqualError(t, err, `queue: enqueue task "chat": broker closed`)
	})
}
