package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/queue"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A broker that stops answering without closing its connection (a Redis or
// PostgreSQL behind a dead network path) must not hold a worker slot for
// good: each settling call ends with its lease, the slot takes the next
// task, and the hung task is redelivered when its lease runs out.

// hangingBroker wraps a broker; the first call of each armed operation
// waits until its context ends (or until giveUp is closed, so that a test
// of a worker that never bounds the call can still stop it) and returns
// that context's error, as a broker that got the call but never answers.
type hangingBroker struct {
	queue.Broker
	complete, fail, retry, completeAndClaim atomic.Bool // armed
	hung                                    atomic.Int64
	giveUp                                  chan struct{}
}

func newHangingBroker() *hangingBroker {
	return &hangingBroker{Broker: queue.NewMemoryBroker(), giveUp: make(chan struct{})}
}

var errGaveUp = errors.New("hanging broker: the test gave up waiting")

// stall hangs when armed was set, disarming it, and reports whether it did.
func (h *hangingBroker) stall(ctx context.Context, armed *atomic.Bool) (bool, error) {
	if !armed.Swap(false) {
		return false, nil
	}
	h.hung.Add(1)
	select {
	case <-ctx.Done():
		return true, ctx.Err()
	case <-h.giveUp:
		return true, errGaveUp
	}
}

func (h *hangingBroker) Complete(ctx context.Context, id, token string, result json.RawMessage, ttl time.Duration) error {
	if hung, err := h.stall(ctx, &h.complete); hung {
		return err
	}
	return h.Broker.Complete(ctx, id, token, result, ttl)
}

func (h *hangingBroker) Fail(ctx context.Context, id, token, msg string, ttl time.Duration) error {
	if hung, err := h.stall(ctx, &h.fail); hung {
		return err
	}
	return h.Broker.Fail(ctx, id, token, msg, ttl)
}

func (h *hangingBroker) Retry(ctx context.Context, id, token, msg string, at time.Time) error {
	if hung, err := h.stall(ctx, &h.retry); hung {
		return err
	}
	return h.Broker.Retry(ctx, id, token, msg, at)
}

// hangingClaimer is a hangingBroker that is a queue.CompleteClaimer.
type hangingClaimer struct{ *hangingBroker }

func (h hangingClaimer) CompleteAndClaim(ctx context.Context, id, token string, result json.RawMessage, ttl time.Duration,
	queues []string, lease time.Duration) (*queue.Task, string, error) {
	if hung, err := h.stall(ctx, &h.completeAndClaim); hung {
		return nil, "", err
	}
	return h.Broker.(queue.CompleteClaimer).CompleteAndClaim(ctx, id, token, result, ttl, queues, lease)
}

func TestWorkerSettlingCallThatHangsFreesTheSlot(t *testing.T) {
	const lease = 3 * time.Second
	errUpstream := errors.New("upstream 503")
	for _, tt := range []struct {
		name    string
		claimer bool
		arm     func(h *hangingBroker)
		handler queue.HandlerFunc
		// the hung task's end: state, attempt, retries, redeliveries
		state                         queue.State
		attempt, retries, redelivered int
	}{
		{
			name: "Complete", arm: func(h *hangingBroker) { h.complete.Store(true) },
			handler: func(context.Context, *queue.Task) (any, error) { return "ok", nil },
			state:   queue.StateSuccess, attempt: 2, redelivered: 1,
		},
		{
			name: "CompleteAndClaim", claimer: true, arm: func(h *hangingBroker) { h.completeAndClaim.Store(true) },
			handler: func(context.Context, *queue.Task) (any, error) { return "ok", nil },
			// The fallback Complete gets the rest of the same window: none.
			state: queue.StateSuccess, attempt: 2, redelivered: 1,
		},
		{
			name: "Fail", arm: func(h *hangingBroker) { h.fail.Store(true) },
			handler: func(context.Context, *queue.Task) (any, error) {
				return nil, resilience.Permanent(errors.New("bad input"))
			},
			state: queue.StateFailure, attempt: 2, redelivered: 1,
		},
		{
			name: "Retry", arm: func(h *hangingBroker) { h.retry.Store(true) },
			handler: func(_ context.Context, task *queue.Task) (any, error) {
				if task.Attempt == 1 {
					return nil, errUpstream
				}
				return "ok", nil
			},
			state: queue.StateSuccess, attempt: 2, redelivered: 1,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHangingBroker()
				var b queue.Broker = h
				if tt.claimer {
					b = hangingClaimer{h}
				}
				tt.arm(h)
				w := newWorker(t, b, queue.WorkerConfig{Concurrency: 1, Lease: lease, Retry: noJitter})
				w.Handle("job", tt.handler)
				c := queue.NewClient(b)
				first, err := c.Enqueue(context.Background(), "job", nil)
				require.NoError(t, err)
				second, err := c.Enqueue(context.Background(), "job", nil)
				require.NoError(t, err)
				stop := start(w)

				ctx, cancel := context.WithTimeout(context.Background(), 2*lease)
				_, err = c.Wait(ctx, second.ID)
				cancel()
				close(h.giveUp) // lets a worker that never bounds the call stop
				assert.NoError(t, err, "the only slot took the next task within two leases of the hung call")

				got := wait(t, c, first.ID)
				require.NoError(t, stop())
				require.EqualValues(t, 1, h.hung.Load(), "exactly one call hung")
				require.Equal(t, tt.state, got.State)
				require.Equal(t, tt.attempt, got.Attempt)
				require.Equal(t, tt.redelivered, got.Redeliveries, "the hung task came back when its lease ran out")
				if tt.state == queue.StateFailure {
					n, err := w.DeadLetters().Len(context.Background())
					require.NoError(t, err)
					require.Equal(t, 2, n, "one dead letter per failed task")
				}
			})
		})
	}
}

// cancellingBroker cancels a task just before the worker's Retry call
// reaches the broker, which then ends the task REVOKED (queue.ErrRevoked).
type cancellingBroker struct {
	*queue.MemoryBroker
	retries atomic.Int64
}

func (c *cancellingBroker) Retry(ctx context.Context, id, token, msg string, at time.Time) error {
	c.retries.Add(1)
	if _, err := c.MemoryBroker.Cancel(ctx, id, time.Hour); err != nil {
		return err
	}
	return c.MemoryBroker.Retry(ctx, id, token, msg, at)
}

// OnRetry reports only retries the broker scheduled: a task cancelled
// before its Retry call landed ends REVOKED and fires no OnRetry.
func TestOnRetryNotCalledForARetryTheBrokerRevoked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &cancellingBroker{MemoryBroker: queue.NewMemoryBroker()}
		var events atomic.Int64
		policy := noJitter
		policy.OnRetry = func(resilience.RetryEvent) { events.Add(1) }
		w := newWorker(t, b, queue.WorkerConfig{Concurrency: 1, Retry: policy})
		w.Handle("job", func(context.Context, *queue.Task) (any, error) { return nil, errors.New("upstream 503") })
		c := queue.NewClient(b)
		task, err := c.Enqueue(context.Background(), "job", nil)
		require.NoError(t, err)
		stop := start(w)
		got := wait(t, c, task.ID)
		synctest.Wait() // the worker has returned from settling the task
		require.NoError(t, stop())
		require.Equal(t, queue.StateRevoked, got.State)
		require.EqualValues(t, 1, b.retries.Load(), "the worker asked for one retry")
		require.Zero(t, events.Load(), "no retry was scheduled, so OnRetry must not fire")
	})
}
