package queue_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/queue"
	"github.com/stretchr/testify/require"
)

// noJitter retries after exactly 1 s, 2 s, 4 s, ...
var noJitter = resilience.RetryPolicy{Jitter: resilience.JitterNone}

// attemptLog records when each attempt of a handler started.
type attemptLog struct {
	mu    sync.Mutex
	start time.Time
	at    []time.Duration
}

func (l *attemptLog) record() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.at = append(l.at, time.Since(l.start))
	return len(l.at)
}

func (l *attemptLog) times() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Duration(nil), l.at...)
}

func TestRetryBackoffSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		var events []resilience.RetryEvent
		policy := noJitter
		policy.OnRetry = func(e resilience.RetryEvent) { events = append(events, e) }
		w := newWorker(t, b, queue.WorkerConfig{Retry: policy})
		log := &attemptLog{start: time.Now()}
		w.Handle("flaky", func(ctx context.Context, task *queue.Task) (any, error) {
			if n := log.record(); n <= 3 {
				return nil, fmt.Errorf("failure %d", n)
			}
			return "ok", nil
		})
		stop := start(w)
		c := queue.NewClient(b)
		task, err := c.Enqueue(context.Background(), "flaky", nil)
		require.NoError(t, err)
		done := wait(t, c, task.ID)
		require.NoError(t, stop())

		require.Equal(t, []time.Duration{0, time.Second, 3 * time.Second, 7 * time.Second}, log.times(),
			"attempts at 0, then after 1 s, 2 s, 4 s of backoff")
		require.Equal(t, queue.StateSuccess, done.State)
		require.Equal(t, 4, done.Attempt)
		require.Equal(t, 3, done.Retries)
		require.JSONEq(t, `"ok"`, string(done.Result))
		require.Len(t, events, 3, "OnRetry is called once per retry")
		for i, e := range events {
			require.Equal(t, i+1, e.Attempt)
			require.Equal(t, time.Second<<i, e.Delay)
			require.EqualError(t, e.Err, fmt.Sprintf("failure %d", i+1))
		}
		n, err := w.DeadLetters().Len(context.Background())
		require.NoError(t, err)
		require.Zero(t, n, "a task that succeeded leaves no dead letter")
	})
}

func TestRetryStatesVisible(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		w := newWorker(t, b, queue.WorkerConfig{Retry: noJitter})
		w.Handle("fail", func(context.Context, *queue.Task) (any, error) { return nil, errors.New("nope") })
		stop := start(w)
		c := queue.NewClient(b)
		task, err := c.Enqueue(context.Background(), "fail", nil, queue.WithMaxRetries(1))
		require.NoError(t, err)
		synctest.Wait() // the first attempt failed; the retry waits 1 s
		got, err := c.Get(context.Background(), task.ID)
		require.NoError(t, err)
		require.Equal(t, queue.StateRetry, got.State)
		require.Equal(t, "nope", got.Error)
		require.Equal(t, 1, got.Retries)
		require.Equal(t, time.Now().Add(time.Second), got.NotBefore)
		done := wait(t, c, task.ID)
		require.Equal(t, queue.StateFailure, done.State)
		require.Equal(t, 2, done.Attempt)
		require.NoError(t, stop())
	})
}

func TestRetryAfterIsHonored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		w := newWorker(t, b, queue.WorkerConfig{Retry: noJitter})
		log := &attemptLog{start: time.Now()}
		w.Handle("limited", func(context.Context, *queue.Task) (any, error) {
			if log.record() == 1 {
				return nil, resilience.RetryAfter(errors.New("429 too many requests"), 30*time.Second)
			}
			return nil, nil
		})
		stop := start(w)
		c := queue.NewClient(b)
		task, err := c.Enqueue(context.Background(), "limited", nil)
		require.NoError(t, err)
		require.Equal(t, queue.StateSuccess, wait(t, c, task.ID).State)
		require.NoError(t, stop())
		require.Equal(t, []time.Duration{0, 30 * time.Second}, log.times(), "the retry waits the 30 s the server asked, not the 1 s backoff")
	})
}

func TestPermanentErrorFailsAtOnceIntoDeadLetters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		w := newWorker(t, b, queue.WorkerConfig{})
		calls := 0
		w.Handle("bad", func(context.Context, *queue.Task) (any, error) {
			calls++
			return nil, resilience.Permanent(errors.New("invalid prompt"))
		})
		stop := start(w)
		c := queue.NewClient(b)
		task, err := c.Enqueue(context.Background(), "bad", map[string]string{"prompt": ""}, queue.WithQueue("high"))
		require.NoError(t, err)
		done := wait(t, c, task.ID)
		require.NoError(t, stop())
		require.Equal(t, queue.StateFailure, done.State)
		require.Equal(t, "invalid prompt", done.Error)
		require.Equal(t, 1, calls, "a permanent error is not retried")
		entries, err := w.DeadLetters().List(context.Background(), 0, 10)
		require.NoError(t, err)
		require.Len(t, entries, 1)
		e := entries[0]
		require.Equal(t, task.ID, e.TaskID)
		require.Equal(t, "bad", e.TaskName)
		require.Equal(t, "high", e.Queue)
		require.JSONEq(t, `{"prompt":""}`, string(e.Payload))
		require.Equal(t, "invalid prompt", e.Error)
		require.Equal(t, 0, e.Retries)
		require.Equal(t, done.FinishedAt, e.FailedAt)
	})
}

func TestExhaustedRetries(t *testing.T) {
	tests := []struct {
		name         string
		policy       resilience.RetryPolicy
		opts         []queue.EnqueueOption
		wantAttempts int
	}{
		{"default policy: 3 retries", noJitter, nil, 4},
		{"policy MaxAttempts 2", resilience.RetryPolicy{MaxAttempts: 2}, nil, 2},
		{"WithMaxRetries overrides the policy", resilience.RetryPolicy{MaxAttempts: 2}, []queue.EnqueueOption{queue.WithMaxRetries(4)}, 5},
		{"WithMaxRetries(0)", noJitter, []queue.EnqueueOption{queue.WithMaxRetries(0)}, 1},
		{"RetryIf rejects", resilience.RetryPolicy{RetryIf: func(error) bool { return false }}, nil, 1},
		// Attempts at 0 and 1 s; the next would start at 3 s, past MaxElapsed.
		{"MaxElapsed", resilience.RetryPolicy{Jitter: resilience.JitterNone, MaxElapsed: 2 * time.Second}, nil, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := queue.NewMemoryBroker()
				w := newWorker(t, b, queue.WorkerConfig{Retry: tt.policy})
				calls := 0
				w.Handle("fail", func(context.Context, *queue.Task) (any, error) {
					calls++
					return nil, fmt.Errorf("failure %d", calls)
				})
				stop := start(w)
				c := queue.NewClient(b)
				task, err := c.Enqueue(context.Background(), "fail", nil, tt.opts...)
				require.NoError(t, err)
				done := wait(t, c, task.ID)
				require.NoError(t, stop())
				require.Equal(t, queue.StateFailure, done.State)
				require.Equal(t, tt.wantAttempts, calls)
				require.Equal(t, tt.wantAttempts, done.Attempt)
				require.True(t, strings.HasPrefix(done.Error, fmt.Sprintf("failure %d", calls)),
					"got error %q, want the last attempt's error", done.Error)
				e, err := w.DeadLetters().Get(context.Background(), task.ID)
				require.NoError(t, err)
				require.Equal(t, tt.wantAttempts-1, e.Retries)
				n, err := w.DeadLetters().Len(context.Background())
				require.NoError(t, err)
				require.Equal(t, 1, n, "exactly one dead letter per failed task")
			})
		})
	}
}

func TestPanicIsRecoveredAndRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		w := newWorker(t, b, queue.WorkerConfig{Retry: noJitter})
		w.Handle("explode", func(context.Context, *queue.Task) (any, error) { explode(); return nil, nil })
		w.Handle("fine", func(context.Context, *queue.Task) (any, error) { return 1, nil })
		stop := start(w)
		c := queue.NewClient(b)
		boom, err := c.Enqueue(context.Background(), "explode", nil, queue.WithMaxRetries(1))
		require.NoError(t, err)
		done := wait(t, c, boom.ID)
		require.Equal(t, queue.StateFailure, done.State)
		require.Equal(t, 2, done.Attempt, "a panic counts as a failed attempt and is retried")
		require.Contains(t, done.Error, "handler panicked: model exploded")

		e, err := w.DeadLetters().Get(context.Background(), boom.ID)
		require.NoError(t, err)
		require.Contains(t, e.Trace, "explode", "the trace holds the panicking function")
		require.Contains(t, e.Trace, "goroutine")

		// The worker is still running.
		fine, err := c.Enqueue(context.Background(), "fine", nil)
		require.NoError(t, err)
		require.Equal(t, queue.StateSuccess, wait(t, c, fine.ID).State)
		require.NoError(t, stop())
	})
}

func explode() { panic("model exploded") }

func TestTaskWithoutHandlerFailsIntoDeadLetters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		w := newWorker(t, b, queue.WorkerConfig{})
		stop := start(w)
		c := queue.NewClient(b)
		task, err := c.Enqueue(context.Background(), "unknown.task", []int{1})
		require.NoError(t, err)
		done := wait(t, c, task.ID)
		require.NoError(t, stop())
		require.Equal(t, queue.StateFailure, done.State)
		require.Equal(t, 1, done.Attempt)
		require.Contains(t, done.Error, `no handler registered for task "unknown.task"`)
		e, err := w.DeadLetters().Get(context.Background(), task.ID)
		require.NoError(t, err)
		require.Equal(t, done.Error, e.Error)
		require.JSONEq(t, `[1]`, string(e.Payload))
	})
}

func TestAlertAfterRepeatedFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		var alerts []dlq.Alert
		w := newWorker(t, b, queue.WorkerConfig{Concurrency: 1, Alerts: dlq.AlertConfig{
			Threshold: 3, OnAlert: func(a dlq.Alert) { alerts = append(alerts, a) },
		}})
		w.Handle("bad", func(context.Context, *queue.Task) (any, error) {
			return nil, resilience.Permanent(errors.New("bad"))
		})
		stop := start(w)
		c := queue.NewClient(b)
		var last *queue.Task
		for range 5 {
			task, err := c.Enqueue(context.Background(), "bad", nil)
			require.NoError(t, err)
			last = wait(t, c, task.ID)
		}
		require.NoError(t, stop())
		require.Equal(t, queue.StateFailure, last.State)
		require.Len(t, alerts, 1, "one alert per window at the threshold")
		require.Equal(t, "bad", alerts[0].TaskName)
		require.EqualValues(t, 3, alerts[0].Count)
	})
}
