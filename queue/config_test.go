package queue_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/queue"
	"github.com/stretchr/testify/require"
)

func TestNewWorkerRejectsBadConfig(t *testing.T) {
	budget, err := resilience.NewRetryBudget(resilience.RetryBudgetConfig{})
	require.NoError(t, err)
	tests := []struct {
		name string
		cfg  queue.WorkerConfig
		want string // in the message
	}{
		{"negative concurrency", queue.WorkerConfig{Concurrency: -1}, "Concurrency"},
		{"time limit below soft limit", queue.WorkerConfig{SoftTimeLimit: time.Minute, TimeLimit: time.Second}, "TimeLimit"},
		{"soft limit above default time limit", queue.WorkerConfig{SoftTimeLimit: time.Hour}, "TimeLimit"},
		{"negative soft limit", queue.WorkerConfig{SoftTimeLimit: -time.Second}, "SoftTimeLimit"},
		{"negative time limit", queue.WorkerConfig{TimeLimit: -time.Second}, "TimeLimit"},
		{"negative result TTL", queue.WorkerConfig{ResultTTL: -time.Second}, "ResultTTL"},
		{"negative lease", queue.WorkerConfig{Lease: -time.Second}, "Lease"},
		{"lease too short", queue.WorkerConfig{Lease: time.Microsecond}, "Lease"},
		{"negative shutdown timeout", queue.WorkerConfig{ShutdownTimeout: -1}, "ShutdownTimeout"},
		{"negative max redeliveries", queue.WorkerConfig{MaxRedeliveries: -1}, "MaxRedeliveries"},
		{"empty queue name", queue.WorkerConfig{Queues: []string{"high", ""}}, "Queues[1]"},
		{"duplicate queue", queue.WorkerConfig{Queues: []string{"high", "low", "high"}}, "twice"},
		{"weights with strict priority", queue.WorkerConfig{Weights: map[string]int{"high": 2}}, "Weights"},
		{"weight of unknown queue", queue.WorkerConfig{Priority: queue.PriorityWeighted, Weights: map[string]int{"hihg": 2}}, "hihg"},
		{"zero weight", queue.WorkerConfig{Priority: queue.PriorityWeighted, Weights: map[string]int{"low": 0}}, "Weights"},
		{"unknown priority", queue.WorkerConfig{Priority: 7}, "Priority"},
		{"invalid retry policy", queue.WorkerConfig{Retry: resilience.RetryPolicy{MaxAttempts: -1}}, "MaxAttempts"},
		{"retry budget", queue.WorkerConfig{Retry: resilience.RetryPolicy{Budget: budget}}, "Budget"},
		{"negative alert threshold", queue.WorkerConfig{Alerts: dlq.AlertConfig{Threshold: -1}}, "Threshold"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := queue.NewWorker(queue.NewMemoryBroker(), tt.cfg)
			require.ErrorIs(t, err, queue.ErrInvalidArgument)
			require.Nil(t, w)
			require.Contains(t, err.Error(), tt.want)
			require.True(t, strings.HasPrefix(err.Error(), "queue: "), "got message %q, want it to start with queue: ", err)
		})
	}
	_, err = queue.NewWorker(nil, queue.WorkerConfig{})
	require.ErrorIs(t, err, queue.ErrInvalidArgument, "nil broker")
}

func TestNewWorkerDefaults(t *testing.T) {
	w, err := queue.NewWorker(queue.NewMemoryBroker(), queue.WorkerConfig{})
	require.NoError(t, err)
	require.IsType(t, &dlq.MemoryStore{}, w.DeadLetters(), "nil DeadLetters gives an in-memory store")
	store := dlq.NewMemoryStore()
	w, err = queue.NewWorker(queue.NewMemoryBroker(), queue.WorkerConfig{DeadLetters: store})
	require.NoError(t, err)
	require.Same(t, store, w.DeadLetters())
}

func TestRunRejectsBadHandlers(t *testing.T) {
	for _, tt := range []struct {
		name    string
		handle  func(w *queue.Worker)
		wantMsg string
	}{
		{"nil handler", func(w *queue.Worker) { w.Handle("x", nil) }, `Handle("x"): handler is nil`},
		{"nil typed handler", func(w *queue.Worker) { w.Handle("x", queue.Typed[int, int](nil)) }, "handler is nil"},
		{"empty name", func(w *queue.Worker) {
			w.Handle("", func(context.Context, *queue.Task) (any, error) { return nil, nil })
		}, "task name is empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorker(t, queue.NewMemoryBroker(), queue.WorkerConfig{})
			tt.handle(w)
			// ctx never ends: Run must return at once.
			err := w.Run(context.Background())
			require.ErrorIs(t, err, queue.ErrInvalidArgument)
			require.Contains(t, err.Error(), tt.wantMsg)
		})
	}
}

func TestRunTwiceAtOnce(t *testing.T) {
	b := queue.NewMemoryBroker()
	w := newWorker(t, b, queue.WorkerConfig{ShutdownTimeout: time.Millisecond})
	started := make(chan struct{})
	w.Handle("block", func(ctx context.Context, _ *queue.Task) (any, error) {
		close(started)
		<-ctx.Done()
		return nil, nil
	})
	_, err := queue.NewClient(b).Enqueue(context.Background(), "block", nil)
	require.NoError(t, err)
	stop := start(w)
	<-started // the first Run is running
	err = w.Run(context.Background())
	require.ErrorIs(t, err, queue.ErrInvalidArgument)
	require.Contains(t, err.Error(), "already running")
	require.NoError(t, stop())
	// After Run returned, the worker can run again.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, w.Run(ctx))
}
