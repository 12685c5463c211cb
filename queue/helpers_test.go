package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resilience-go/resilience/queue"
	"github.com/stretchr/testify/require"
)

var discard = slog.New(slog.DiscardHandler)

// quiet returns cfg with a discarding logger, so tests do not print.
func quiet(cfg queue.WorkerConfig) queue.WorkerConfig {
	cfg.Logger = discard
	cfg.Alerts.Logger = discard
	return cfg
}

// newWorker returns a worker of b with cfg (quiet) or fails the test.
func newWorker(t *testing.T, b queue.Broker, cfg queue.WorkerConfig) *queue.Worker {
	t.Helper()
	w, err := queue.NewWorker(b, quiet(cfg))
	require.NoError(t, err)
	return w
}

// start runs w in a goroutine; stop cancels it and returns Run's error.
func start(w *queue.Worker) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	return func() error {
		cancel()
		return <-done
	}
}

// wait returns the task once done, failing the test after a minute of
// (fake or real) time.
func wait(t *testing.T, c *queue.Client, id string) *queue.Task {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	task, err := c.Wait(ctx, id)
	require.NoError(t, err)
	return task
}

// flakyBroker wraps a broker and lets a test inject faults into its calls.
type flakyBroker struct {
	queue.Broker
	dropRenew  atomic.Bool  // Renew and Progress succeed without renewing
	claimErrs  atomic.Int64 // the next n Claims fail with errFlaky
	renewCalls atomic.Int64
	completes  atomic.Int64
}

var errFlaky = errors.New("flaky broker: connection refused")

func (f *flakyBroker) Claim(ctx context.Context, queues []string, lease time.Duration) (*queue.Task, string, error) {
	if f.claimErrs.Add(-1) >= 0 {
		return nil, "", errFlaky
	}
	return f.Broker.Claim(ctx, queues, lease)
}

func (f *flakyBroker) Renew(ctx context.Context, id, token string, lease time.Duration) error {
	f.renewCalls.Add(1)
	if f.dropRenew.Load() {
		return nil
	}
	return f.Broker.Renew(ctx, id, token, lease)
}

func (f *flakyBroker) Complete(ctx context.Context, id, token string, result json.RawMessage, ttl time.Duration) error {
	f.completes.Add(1)
	return f.Broker.Complete(ctx, id, token, result, ttl)
}
