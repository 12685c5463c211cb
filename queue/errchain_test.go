package queue_test

import (
	"context"
	"testing"

	"github.com/resilience-go/resilience/queue"
	"github.com/stretchr/testify/require"
)

// An error of this package that wraps one of its own sentinels says
// "queue:" once, in front, and still matches the sentinel.
func TestErrorsSayQueueOnce(t *testing.T) {
	b := queue.NewMemoryBroker()
	c := queue.NewClient(b)
	require.NoError(t, b.Close())
	ctx := context.Background()
	errOf := func(_ any, err error) error { return err }
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"Get", errOf(c.Get(ctx, "t1")), `queue: get task "t1": broker closed`},
		{"Cancel", errOf(c.Cancel(ctx, "t1")), `queue: cancel task "t1": broker closed`},
		{"PauseQueue", c.PauseQueue(ctx, queue.DefaultQueue), `queue: PauseQueue "default": broker closed`},
		{"Stats", errOf(c.Stats(ctx)), `queue: stats: broker closed`},
		{"List", errOf(c.List(ctx, queue.ListOptions{})), `queue: list: broker closed`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorIs(t, tc.err, queue.ErrClosed)
			require.EqualError(t, tc.err, tc.want)
		})
	}

	sched, err := queue.NewScheduler(queue.NewClient(queue.NewMemoryBroker()), queue.SchedulerConfig{})
	require.NoError(t, err)
	err = sched.Add("nightly", "@every 1h", "job", nil, queue.WithQueue("urgent"))
	require.ErrorIs(t, err, queue.ErrUnknownQueue)
	require.Regexp(t, `^queue: Scheduler.Add\("nightly"\): unknown queue`, err.Error())
}
