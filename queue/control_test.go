package queue_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/resilience-go/resilience/queue"
	"github.com/stretchr/testify/require"
)

// plainBroker hides every optional interface of a memory broker.
type plainBroker struct{ queue.Broker }

func TestClientControlNeedsTheBrokerInterface(t *testing.T) {
	ctx := context.Background()
	c := queue.NewClient(plainBroker{queue.NewMemoryBroker()})
	_, err := c.Cancel(ctx, "x")
	require.ErrorIs(t, err, queue.ErrUnsupported)
	require.ErrorContains(t, err, "Cancel needs a broker that implements it")
	require.ErrorIs(t, c.PauseQueue(ctx, queue.QueueDefault), queue.ErrUnsupported)
	require.ErrorIs(t, c.ResumeQueue(ctx, queue.QueueDefault), queue.ErrUnsupported)
	_, err = c.Stats(ctx)
	require.ErrorIs(t, err, queue.ErrUnsupported)
	_, err = c.List(ctx, queue.ListOptions{})
	require.ErrorIs(t, err, queue.ErrUnsupported)
}

func TestClientControlBadInput(t *testing.T) {
	ctx := context.Background()
	b := queue.NewMemoryBroker()
	c := queue.NewClient(b)
	_, err := c.Cancel(ctx, "")
	require.ErrorIs(t, err, queue.ErrInvalidArgument)
	_, err = c.Cancel(ctx, "no-such-task")
	require.ErrorIs(t, err, queue.ErrTaskNotFound)
	require.ErrorIs(t, c.PauseQueue(ctx, "nightly"), queue.ErrUnknownQueue)
	require.ErrorIs(t, c.PauseQueue(ctx, ""), queue.ErrInvalidArgument)
	require.ErrorIs(t, c.ResumeQueue(ctx, "a b"), queue.ErrInvalidArgument)
	for _, opts := range []queue.ListOptions{
		{Limit: -1}, {Limit: queue.MaxListLimit + 1}, {Offset: -1},
		{Offset: queue.MaxListOffset + 1}, {State: "DONE"}, {Queue: "a/b"},
	} {
		_, err := c.List(ctx, opts)
		require.ErrorIs(t, err, queue.ErrInvalidArgument, "List(%+v)", opts)
	}
	for i := range queue.DefaultListLimit + 5 {
		_, err := c.Enqueue(ctx, "n", i)
		require.NoError(t, err)
	}
	got, err := c.List(ctx, queue.ListOptions{})
	require.NoError(t, err)
	require.Len(t, got, queue.DefaultListLimit, "a Limit of 0 means DefaultListLimit")
	st, err := c.Stats(ctx)
	require.NoError(t, err)
	require.Equal(t, []queue.QueueStats{
		{Queue: "default", Pending: queue.DefaultListLimit + 5}, {Queue: "high"}, {Queue: "low"},
	}, st, "every known queue is listed, sorted, with zero counts when empty")
}

// TestPausedQueueIsNotRun pauses a queue under a running worker: its tasks
// wait while another queue's run, and run once it is resumed.
func TestPausedQueueIsNotRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		b := queue.NewMemoryBroker()
		c := queue.NewClient(b)
		w := newWorker(t, b, queue.WorkerConfig{Concurrency: 2})
		w.Handle("n", func(context.Context, *queue.Task) (any, error) { return "ok", nil })
		stop := start(w)
		synctest.Wait() // the worker waits in Claim
		require.NoError(t, c.PauseQueue(ctx, queue.QueueDefault))
		held, err := c.Enqueue(ctx, "n", nil)
		require.NoError(t, err)
		other, err := c.Enqueue(ctx, "n", nil, queue.WithQueue(queue.QueueLow))
		require.NoError(t, err)
		require.Equal(t, queue.StateSuccess, wait(t, c, other.ID).State)
		time.Sleep(time.Hour)
		got, err := c.Get(ctx, held.ID)
		require.NoError(t, err)
		require.Equal(t, queue.StatePending, got.State, "a task of a paused queue ran")
		require.NoError(t, c.ResumeQueue(ctx, queue.QueueDefault))
		require.Equal(t, queue.StateSuccess, wait(t, c, held.ID).State)
		require.NoError(t, stop())
	})
}

// TestCancelledDelayedTaskLeavesStats checks on the memory broker that the
// counts follow a cancelled task to REVOKED and drop it when its result
// expires (after DefaultResultTTL), with the queue then listed with zeros.
func TestCancelledDelayedTaskLeavesStats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := queue.NewClient(queue.NewMemoryBroker())
		task, err := c.Enqueue(ctx, "n", nil, queue.WithDelay(time.Minute))
		require.NoError(t, err)
		statsOf := func() queue.QueueStats {
			st, err := c.Stats(ctx)
			require.NoError(t, err)
			return st[0] // default sorts first
		}
		require.Equal(t, queue.QueueStats{Queue: "default", Scheduled: 1}, statsOf())
		_, err = c.Cancel(ctx, task.ID)
		require.NoError(t, err)
		require.Equal(t, queue.QueueStats{Queue: "default", Revoked: 1}, statsOf())
		time.Sleep(queue.DefaultResultTTL + time.Second)
		require.Equal(t, queue.QueueStats{Queue: "default"}, statsOf())
		_, err = c.Get(ctx, task.ID)
		require.ErrorIs(t, err, queue.ErrTaskNotFound)
	})
}

// TestWaitReturnsOnRevoked checks that Client.Wait ends when the task is
// revoked, as on any final state.
func TestWaitReturnsOnRevoked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := queue.NewClient(queue.NewMemoryBroker())
		task, err := c.Enqueue(ctx, "n", nil, queue.WithDelay(time.Hour))
		require.NoError(t, err)
		done := make(chan *queue.Task, 1)
		go func() { done <- wait(t, c, task.ID) }()
		synctest.Wait()
		_, err = c.Cancel(ctx, task.ID)
		require.NoError(t, err)
		got := <-done
		require.Equal(t, queue.StateRevoked, got.State)
		require.True(t, got.State.Done())
	})
}

func TestWithHeadersBadInput(t *testing.T) {
	ctx := context.Background()
	b := queue.NewMemoryBroker()
	c := queue.NewClient(b)
	for name, h := range map[string]map[string]string{
		"empty key":    {"": "v"},
		"key w/ space": {"trace parent": "v"},
		"too large":    {"k": strings.Repeat("x", queue.MaxHeaderBytes)},
	} {
		_, err := c.Enqueue(ctx, "n", nil, queue.WithHeaders(h))
		require.ErrorIs(t, err, queue.ErrInvalidArgument, name)
	}
	require.Zero(t, b.Len(), "a bad header enqueues nothing")
	h := map[string]string{"tenant": "acme"}
	task, err := c.Enqueue(ctx, "n", nil, queue.WithHeaders(h))
	require.NoError(t, err)
	h["tenant"] = "changed"
	got, err := c.Get(ctx, task.ID)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"tenant": "acme"}, got.Headers, "WithHeaders copies its map")
	require.Equal(t, fmt.Sprint(got.Headers), fmt.Sprint(task.Headers))
}
