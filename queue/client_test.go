package queue_test

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/resilience-go/resilience/queue"
	"github.com/stretchr/testify/require"
)

func TestEnqueueRejectsBadInput(t *testing.T) {
	tests := []struct {
		name    string
		task    string
		payload any
		opts    []queue.EnqueueOption
		wantErr error
		wantMsg string
	}{
		{"empty name", "", nil, nil, queue.ErrInvalidArgument, "task name is empty"},
		{"name with a newline", "a\nb", nil, nil, queue.ErrInvalidArgument, "task name"},
		{"payload that does not marshal", "t", make(chan int), nil, queue.ErrInvalidArgument, "does not marshal to JSON"},
		{"payload with a NaN", "t", map[string]float64{"x": nan()}, nil, queue.ErrInvalidArgument, "does not marshal to JSON"},
		{"invalid raw JSON", "t", json.RawMessage(`{"a":`), nil, queue.ErrInvalidArgument, "does not marshal to JSON"},
		{"negative max retries", "t", nil, []queue.EnqueueOption{queue.WithMaxRetries(-1)}, queue.ErrInvalidArgument, "WithMaxRetries(-1)"},
		{"negative delay", "t", nil, []queue.EnqueueOption{queue.WithDelay(-time.Second)}, queue.ErrInvalidArgument, "WithDelay(-1s)"},
		{"unknown queue", "t", nil, []queue.EnqueueOption{queue.WithQueue("urgent")}, queue.ErrUnknownQueue, "known queues are high, default, low"},
		{"empty queue", "t", nil, []queue.EnqueueOption{queue.WithQueue("")}, queue.ErrUnknownQueue, `""`},
		{"empty task id", "t", nil, []queue.EnqueueOption{queue.WithTaskID("")}, queue.ErrInvalidArgument, "task id is empty"},
		{"task id with a slash", "t", nil, []queue.EnqueueOption{queue.WithTaskID("a/b")}, queue.ErrInvalidArgument, "'/'"},
		{"task id too long", "t", nil, []queue.EnqueueOption{queue.WithTaskID(strings.Repeat("x", 300))}, queue.ErrInvalidArgument, "at most 256"},
		{"nil option", "t", nil, []queue.EnqueueOption{nil}, queue.ErrInvalidArgument, "option 0 is nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := queue.NewMemoryBroker()
			task, err := queue.NewClient(b).Enqueue(context.Background(), tt.task, tt.payload, tt.opts...)
			require.ErrorIs(t, err, tt.wantErr)
			require.Contains(t, err.Error(), tt.wantMsg)
			require.True(t, strings.HasPrefix(err.Error(), "queue: "), "got %q, want it to start with queue: ", err)
			require.Nil(t, task)
			require.Zero(t, b.Len(), "nothing is enqueued on bad input")
		})
	}
	_, err := (&queue.Client{}).Enqueue(context.Background(), "t", nil)
	require.ErrorIs(t, err, queue.ErrInvalidArgument, "a client without a broker")
	_, err = queue.NewClient(nil).Get(context.Background(), "x")
	require.ErrorIs(t, err, queue.ErrInvalidArgument, "NewClient(nil)")
}

func nan() float64 {
	zero := 0.0
	return zero / zero
}

func TestEnqueueDefaults(t *testing.T) {
	c := queue.NewClient(queue.NewMemoryBroker())
	task, err := c.Enqueue(context.Background(), "chat.completion", map[string]any{"model": "gpt-4o-mini"})
	require.NoError(t, err)
	require.Regexp(t, regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`), task.ID)
	require.Equal(t, "chat.completion", task.Name)
	require.Equal(t, queue.DefaultQueue, task.Queue)
	require.Equal(t, queue.StatePending, task.State)
	require.Equal(t, queue.DefaultRetries, task.MaxRetries)
	require.JSONEq(t, `{"model":"gpt-4o-mini"}`, string(task.Payload))
	require.True(t, task.NotBefore.IsZero())

	other, err := c.Enqueue(context.Background(), "chat.completion", nil)
	require.NoError(t, err)
	require.NotEqual(t, task.ID, other.ID, "ids are random")
	require.JSONEq(t, `null`, string(other.Payload))
}

func TestEnqueueWithTaskIDIsIdempotent(t *testing.T) {
	b := queue.NewMemoryBroker()
	c := queue.NewClient(b)
	first, err := c.Enqueue(context.Background(), "embed", []string{"a"}, queue.WithTaskID("doc-42"), queue.WithQueue("low"))
	require.NoError(t, err)
	second, err := c.Enqueue(context.Background(), "embed", []string{"b"}, queue.WithTaskID("doc-42"))
	require.NoError(t, err)
	require.Equal(t, "doc-42", second.ID)
	require.Equal(t, "low", second.Queue, "the existing task is returned")
	require.JSONEq(t, `["a"]`, string(second.Payload))
	require.Equal(t, first.EnqueuedAt, second.EnqueuedAt)
	require.Equal(t, 1, b.Len(), "no duplicate")
}

func TestEnqueueWithDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		c := queue.NewClient(b)
		task, err := c.Enqueue(context.Background(), "later", nil, queue.WithDelay(time.Minute))
		require.NoError(t, err)
		require.Equal(t, time.Now().Add(time.Minute), task.NotBefore)
		w := newWorker(t, b, queue.WorkerConfig{})
		var ranAt time.Time
		w.Handle("later", func(context.Context, *queue.Task) (any, error) { ranAt = time.Now(); return nil, nil })
		stop := start(w)
		done := wait(t, c, task.ID)
		require.NoError(t, stop())
		require.Equal(t, queue.StateSuccess, done.State)
		require.Equal(t, task.NotBefore, ranAt, "the task ran when its delay ended, not before")
	})
}

func TestAddQueues(t *testing.T) {
	c := queue.NewClient(queue.NewMemoryBroker())
	require.Equal(t, []string{"high", "default", "low"}, c.Queues())
	require.NoError(t, c.AddQueues("emails", "high"))
	require.Equal(t, []string{"high", "default", "low", "emails"}, c.Queues())
	task, err := c.Enqueue(context.Background(), "send", nil, queue.WithQueue("emails"))
	require.NoError(t, err)
	require.Equal(t, "emails", task.Queue)

	err = c.AddQueues("ok", "bad name")
	require.ErrorIs(t, err, queue.ErrInvalidArgument)
	require.NotContains(t, c.Queues(), "ok", "nothing is added when a name is bad")
}

func TestGetUnknownTask(t *testing.T) {
	_, err := queue.NewClient(queue.NewMemoryBroker()).Get(context.Background(), "missing")
	require.ErrorIs(t, err, queue.ErrTaskNotFound)
	require.Contains(t, err.Error(), `"missing"`)
}

func TestWaitEndsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := queue.NewClient(queue.NewMemoryBroker())
		task, err := c.Enqueue(context.Background(), "nobody.runs.this", nil)
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		begin := time.Now()
		_, err = c.Wait(ctx, task.ID)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Equal(t, time.Minute, time.Since(begin))

		_, err = c.Wait(context.Background(), "missing")
		require.ErrorIs(t, err, queue.ErrTaskNotFound)
	})
}

// TestWaitPollsBrokersWithoutWatcher uses a broker that cannot announce
// changes: Wait polls with a backoff and still sees the result, and the
// poll interval stays bounded.
func TestWaitPollsBrokersWithoutWatcher(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &flakyBroker{Broker: queue.NewMemoryBroker()} // hides Watcher
		_, isWatcher := queue.Broker(b).(queue.Watcher)
		require.False(t, isWatcher)
		w := newWorker(t, b, queue.WorkerConfig{})
		w.Handle("job", func(context.Context, *queue.Task) (any, error) {
			time.Sleep(10 * time.Second)
			return "done", nil
		})
		stop := start(w)
		c := queue.NewClient(b)
		task, err := c.Enqueue(context.Background(), "job", nil)
		require.NoError(t, err)
		begin := time.Now()
		done := wait(t, c, task.ID)
		require.Equal(t, queue.StateSuccess, done.State)
		waited := time.Since(begin)
		require.GreaterOrEqual(t, waited, 10*time.Second)
		require.LessOrEqual(t, waited, 11*time.Second, "polls are at most 1 s apart")
		require.NoError(t, stop())
	})
}

func TestWatchReportsProgress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		w := newWorker(t, b, queue.WorkerConfig{})
		w.Handle("embed", queue.Typed(func(ctx context.Context, docs []string) (int, error) {
			for i := range docs {
				if err := queue.ReportProgress(ctx, queue.Progress{Current: int64(i + 1), Total: int64(len(docs)), Status: "batch"}); err != nil {
					return 0, err
				}
				time.Sleep(time.Second) // embed the batch
			}
			return len(docs), nil
		}))
		c := queue.NewClient(b)
		task, err := c.Enqueue(context.Background(), "embed", []string{"a", "b", "c"})
		require.NoError(t, err)
		var states []queue.State
		var progress []int64
		var stop func() error
		for snap, err := range c.Watch(context.Background(), task.ID) {
			require.NoError(t, err)
			if stop == nil {
				stop = start(w) // after the first snapshot, which is PENDING
			}
			states = append(states, snap.State)
			if snap.State == queue.StateProcessing {
				progress = append(progress, snap.Progress.Current)
			}
		}
		require.NoError(t, stop())
		require.Equal(t, queue.StatePending, states[0])
		require.Equal(t, queue.StateSuccess, states[len(states)-1])
		require.Contains(t, states, queue.StateProcessing)
		require.Equal(t, []int64{1, 2, 3}, progress, "every progress report is seen")
	})
}

func TestWatchStopsWhenTheLoopBreaks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := queue.NewClient(queue.NewMemoryBroker())
		task, err := c.Enqueue(context.Background(), "never.run", nil)
		require.NoError(t, err)
		seen := 0
		for snap, err := range c.Watch(context.Background(), task.ID) {
			require.NoError(t, err)
			require.Equal(t, queue.StatePending, snap.State)
			seen++
			break
		}
		require.Equal(t, 1, seen)
		// synctest.Test fails if the watch left anything running.
	})
}
