package queue_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/queue"
	"github.com/stretchr/testify/require"
)

// slowRenewBroker makes its first Renew take hold (or until its ctx ends)
// and then fail with errFlaky, as go-redis does against an unreachable
// server; later renewals pass through.
type slowRenewBroker struct {
	queue.Broker
	hold  time.Duration
	calls atomic.Int64
}

func (s *slowRenewBroker) Renew(ctx context.Context, id, token string, lease time.Duration) error {
	if s.calls.Add(1) == 1 {
		select {
		case <-time.After(s.hold):
		case <-ctx.Done():
		}
		return errFlaky
	}
	return s.Broker.Renew(ctx, id, token, lease)
}

// A renewal that takes 12 s of a 30 s lease and fails is tried again
// before the lease runs out: the handler runs once and is not redelivered.
func TestSlowFailingRenewDoesNotLetTheLeaseLapse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &slowRenewBroker{Broker: queue.NewMemoryBroker(), hold: 12 * time.Second}
		w := newWorker(t, b, queue.WorkerConfig{Concurrency: 2, Lease: 30 * time.Second})
		var runs atomic.Int64
		w.Handle("embed", func(ctx context.Context, _ *queue.Task) (any, error) {
			runs.Add(1)
			select {
			case <-time.After(time.Minute):
				return "done", nil
			case <-ctx.Done():
				return nil, context.Cause(ctx)
			}
		})
		stop := start(w)
		c := queue.NewClient(b)
		task, err := c.Enqueue(context.Background(), "embed", nil)
		require.NoError(t, err)
		done := wait(t, c, task.ID)
		require.NoError(t, stop())
		require.Equal(t, queue.StateSuccess, done.State)
		require.EqualValues(t, 1, runs.Load(), "handler runs")
		require.Zero(t, done.Redeliveries, "redeliveries")
	})
}

// A Renew that hangs until its ctx ends does not hold the time limits: the
// attempt ends at its hard limit, to the second.
func TestHungRenewDoesNotStallTimeLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &slowRenewBroker{Broker: queue.NewMemoryBroker(), hold: 1000 * time.Hour}
		w := newWorker(t, b, queue.WorkerConfig{Concurrency: 1, Lease: 30 * time.Second,
			SoftTimeLimit: 12 * time.Second, TimeLimit: 15 * time.Second})
		release := make(chan struct{})
		defer close(release)
		w.Handle("stuck", func(context.Context, *queue.Task) (any, error) {
			<-release // ignores its ctx
			return nil, nil
		})
		stop := start(w)
		c := queue.NewClient(b)
		task, err := c.Enqueue(context.Background(), "stuck", nil, queue.WithMaxRetries(0))
		require.NoError(t, err)
		done := wait(t, c, task.ID)
		require.NoError(t, stop())
		require.Equal(t, queue.StateFailure, done.State)
		require.Contains(t, done.Error, queue.ErrTimeLimit.Error())
		require.Equal(t, 15*time.Second, done.FinishedAt.Sub(done.StartedAt), "the attempt ends at its 15 s limit")
	})
}

// slowStore is a dead-letter store whose Push takes delay, and fails the
// first fails times (after the delay), as a slow and flaky store.
type slowStore struct {
	dlq.Store
	delay time.Duration
	fails atomic.Int64
}

func (s *slowStore) Push(ctx context.Context, e dlq.Entry) error {
	time.Sleep(s.delay)
	if s.fails.Add(-1) >= 0 {
		return errors.New("store: i/o timeout")
	}
	return s.Store.Push(ctx, e)
}

// The lease stays renewed while the worker records a dead letter, however
// long the alert hook takes, and while it tries a slow store again (each
// try is bounded by one lease, but the tries together take longer): the
// handler runs once, the task ends FAILURE, with one dead letter.
func TestSlowDeadLetterKeepsTheLease(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store func() dlq.Store
		alert func(dlq.Alert)
	}{
		{"slow alert hook", func() dlq.Store { return dlq.NewMemoryStore() }, func(dlq.Alert) { time.Sleep(10 * time.Second) }},
		{"slow store", func() dlq.Store {
			s := &slowStore{Store: dlq.NewMemoryStore(), delay: 2 * time.Second} // two tries: 4.1 s, more than a lease
			s.fails.Store(1)
			return s
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := queue.NewMemoryBroker()
				store := tc.store()
				w := newWorker(t, b, queue.WorkerConfig{Concurrency: 2, Lease: 3 * time.Second, DeadLetters: store,
					Alerts: dlq.AlertConfig{Threshold: 1, OnAlert: tc.alert}})
				var runs atomic.Int64
				w.Handle("bad", func(context.Context, *queue.Task) (any, error) {
					if runs.Add(1) > 1 {
						return "ran again", nil
					}
					return nil, resilience.Permanent(errors.New("bad input"))
				})
				stop := start(w)
				c := queue.NewClient(b)
				task, err := c.Enqueue(context.Background(), "bad", nil)
				require.NoError(t, err)
				done := wait(t, c, task.ID)
				synctest.Wait()
				require.NoError(t, stop())
				require.EqualValues(t, 1, runs.Load(), "handler runs")
				require.Equal(t, queue.StateFailure, done.State)
				require.Zero(t, done.Redeliveries)
				entries, err := store.List(context.Background(), 0, 10)
				require.NoError(t, err)
				require.Len(t, entries, 1, "dead letters")
			})
		})
	}
}

// OnRetry runs once the broker has scheduled the retry, on the slot of the
// attempt that failed. A slow hook therefore holds that slot, not the task:
// with a second slot the retry starts on time, while the hook still runs,
// and with one slot it starts when the hook returns. Either way the task
// runs once per attempt, is never redelivered (the stale lease of the
// failed attempt, which its keeper may still try to renew, does not touch
// the retry), and OnRetry reports the delay the broker was given.
func TestSlowOnRetryHookDoesNotDelayTheScheduledRetry(t *testing.T) {
	const hook = 10 * time.Second
	for _, tc := range []struct {
		concurrency int
		second      time.Duration // when the retry starts, from the first attempt
		hookRunning bool          // whether the hook still runs when the task is done
	}{
		{concurrency: 2, second: time.Second, hookRunning: true},
		{concurrency: 1, second: hook, hookRunning: false},
	} {
		t.Run(fmt.Sprintf("concurrency %d", tc.concurrency), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := queue.NewMemoryBroker()
				var (
					events      []resilience.RetryEvent
					hookRunning atomic.Bool
				)
				retry := noJitter // 1 s before the first retry
				retry.OnRetry = func(e resilience.RetryEvent) {
					hookRunning.Store(true)
					events = append(events, e)
					time.Sleep(hook)
					hookRunning.Store(false)
				}
				w := newWorker(t, b, queue.WorkerConfig{Concurrency: tc.concurrency, Lease: 3 * time.Second, Retry: retry})
				log := &attemptLog{start: time.Now()}
				w.Handle("flaky", func(context.Context, *queue.Task) (any, error) {
					if log.record() == 1 {
						return nil, errors.New("upstream 503")
					}
					return "ok", nil
				})
				stop := start(w)
				c := queue.NewClient(b)
				task, err := c.Enqueue(context.Background(), "flaky", nil)
				require.NoError(t, err)
				done := wait(t, c, task.ID)
				require.Equal(t, tc.hookRunning, hookRunning.Load(), "hook still running when the task was done")
				synctest.Wait()
				require.NoError(t, stop())
				require.Equal(t, queue.StateSuccess, done.State)
				require.Equal(t, []time.Duration{0, tc.second}, log.times(), "start of each attempt")
				require.Equal(t, 1, done.Retries)
				require.Zero(t, done.Redeliveries)
				require.Len(t, events, 1)
				require.Equal(t, 1, events[0].Attempt)
				require.Equal(t, time.Second, events[0].Delay)
			})
		})
	}
}

// pushLog is a dead-letter store that is down until up is set, and
// records when each push was tried.
type pushLog struct {
	dlq.Store
	up    atomic.Bool
	tries []time.Time
}

func (s *pushLog) Push(ctx context.Context, e dlq.Entry) error {
	s.tries = append(s.tries, time.Now())
	if !s.up.Load() {
		return errors.New("store: connection refused")
	}
	return s.Store.Push(ctx, e)
}

// A task that fails for good while the dead-letter store is down waits in
// RETRY, and the worker tries its dead letter again with a doubling wait
// (1 s, 2 s, 4 s, ...) without running the handler again; once the store
// is back the task ends FAILURE with its own error and one dead letter.
func TestDeadLetterStoreDownKeepsTaskInRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		store := &pushLog{Store: dlq.NewMemoryStore()}
		w := newWorker(t, b, queue.WorkerConfig{Concurrency: 1, DeadLetters: store})
		var runs atomic.Int64
		w.Handle("bad", func(context.Context, *queue.Task) (any, error) {
			runs.Add(1)
			return nil, resilience.Permanent(errors.New("bad input"))
		})
		stop := start(w)
		c := queue.NewClient(b)
		task, err := c.Enqueue(context.Background(), "bad", nil)
		require.NoError(t, err)
		begin := time.Now()
		time.Sleep(20 * time.Second)
		synctest.Wait()
		got, err := c.Get(context.Background(), task.ID)
		require.NoError(t, err)
		require.Equal(t, queue.StateRetry, got.State, "waits for its dead letter")
		require.True(t, strings.HasSuffix(got.Error, ": bad input"), "error %q", got.Error)
		require.EqualValues(t, 1, runs.Load(), "the handler does not run again")

		store.up.Store(true)
		done := wait(t, c, task.ID)
		require.NoError(t, stop())
		require.Equal(t, queue.StateFailure, done.State)
		require.Equal(t, "bad input", done.Error)
		require.EqualValues(t, 1, runs.Load(), "handler runs")
		_, err = store.Get(context.Background(), task.ID)
		require.NoError(t, err, "one dead letter")

		// Each round tries 3 times, each failure followed by a pause of
		// 0.1 s, 0.2 s and 0.4 s; then the task waits 1 s, 2 s, 4 s, 8 s,
		// 16 s before the next round. The sixth round, at 34.5 s, finds
		// the store back.
		var rounds []time.Duration
		for i, at := range store.tries {
			if i%3 == 0 {
				rounds = append(rounds, at.Sub(begin))
			}
		}
		want := []time.Duration{0}
		for i, wait := 0, time.Second; len(want) < len(rounds); i, wait = i+1, 2*wait {
			want = append(want, want[i]+700*time.Millisecond+wait)
		}
		require.Equal(t, want, rounds, "start of each round of tries")
		require.Len(t, rounds, 6, "rounds until the store came back at 20 s")
	})
}
