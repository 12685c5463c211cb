package queue_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/queue"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A dead-letter store that stops answering (a network call without a
// deadline) must not hold a worker slot for good: each store call on the
// failure path ends with one lease, and a dead letter that could not be
// written leaves its task in RETRY, never FAILURE without its entry.

// hangingStore wraps a dead-letter store; while an operation is armed its
// calls wait until their context ends (or until giveUp is closed, so that
// a test of a worker that never bounds the call can still stop it).
type hangingStore struct {
	dlq.Store
	push, count, del atomic.Bool // armed
	hung             atomic.Int64
	giveUp           chan struct{}
}

func newHangingStore() *hangingStore {
	return &hangingStore{Store: dlq.NewMemoryStore(), giveUp: make(chan struct{})}
}

func (s *hangingStore) stall(ctx context.Context, armed *atomic.Bool) (bool, error) {
	if !armed.Load() {
		return false, nil
	}
	s.hung.Add(1)
	select {
	case <-ctx.Done():
		return true, ctx.Err()
	case <-s.giveUp:
		return true, errGaveUp
	}
}

func (s *hangingStore) Push(ctx context.Context, e dlq.Entry) error {
	if hung, err := s.stall(ctx, &s.push); hung {
		return err
	}
	return s.Store.Push(ctx, e)
}

func (s *hangingStore) CountFailure(ctx context.Context, name string, window time.Duration) (int64, error) {
	if hung, err := s.stall(ctx, &s.count); hung {
		return 0, err
	}
	return s.Store.CountFailure(ctx, name, window)
}

func (s *hangingStore) Delete(ctx context.Context, id string) error {
	if hung, err := s.stall(ctx, &s.del); hung {
		return err
	}
	return s.Store.Delete(ctx, id)
}

// hungStoreRig runs a worker with one slot over b and store: a task "bad"
// that fails for good, then a task "good". It returns both tasks once the
// good one is done, or reports that the slot stayed busy.
type hungStoreRig struct {
	c         *queue.Client
	w         *queue.Worker
	stop      func() error
	bad, good *queue.Task
	badRuns   atomic.Int64
}

const hungLease = 3 * time.Second

func newHungStoreRig(t *testing.T, b queue.Broker, store *hangingStore) *hungStoreRig {
	r := &hungStoreRig{c: queue.NewClient(b)}
	r.w = newWorker(t, b, queue.WorkerConfig{Concurrency: 1, Lease: hungLease, DeadLetters: store, Retry: noJitter})
	r.w.Handle("bad", func(context.Context, *queue.Task) (any, error) {
		r.badRuns.Add(1)
		return nil, resilience.Permanent(errors.New("bad input"))
	})
	r.w.Handle("good", func(context.Context, *queue.Task) (any, error) { return "ok", nil })
	var err error
	r.bad, err = r.c.Enqueue(context.Background(), "bad", nil)
	require.NoError(t, err)
	r.good, err = r.c.Enqueue(context.Background(), "good", nil)
	require.NoError(t, err)
	r.stop = start(r.w)
	return r
}

// goodDone reports whether the good task was done within two leases of
// the start: the only slot was free again.
func (r *hungStoreRig) goodDone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*hungLease)
	got, err := r.c.Wait(ctx, r.good.ID)
	cancel()
	if assert.NoError(t, err, "the only slot took the next task within two leases of the hung store call") {
		assert.Equal(t, queue.StateSuccess, got.State)
	}
}

func TestDeadLetterPushThatHangsLeavesTheTaskInRetryAndFreesTheSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newHangingStore()
		store.push.Store(true)
		r := newHungStoreRig(t, queue.NewMemoryBroker(), store)
		r.goodDone(t)

		bad, err := r.c.Get(context.Background(), r.bad.ID)
		require.NoError(t, err)
		assert.Equal(t, queue.StateRetry, bad.State, "a dead letter that could not be written leaves its task in RETRY")
		assert.True(t, strings.HasSuffix(bad.Error, ": bad input"), "the task keeps its own error: %q", bad.Error)
		n, err := store.Len(context.Background())
		require.NoError(t, err)
		assert.Zero(t, n)

		store.push.Store(false) // the store answers again
		close(store.giveUp)     // lets a worker that never bounds the push stop
		got := wait(t, r.c, r.bad.ID)
		require.NoError(t, r.stop())
		require.Equal(t, queue.StateFailure, got.State)
		require.Equal(t, "bad input", got.Error)
		e, err := store.Get(context.Background(), r.bad.ID)
		require.NoError(t, err, "a failed task has its dead letter")
		require.Equal(t, "bad input", e.Error)
		require.EqualValues(t, 1, r.badRuns.Load(), "the handler ran once; only its dead letter was tried again")
		require.EqualValues(t, 1, store.hung.Load(), "one push hung, bounded by one lease (no tries after it)")
	})
}

// The failure is counted (dlq.Recorder.Record) after the broker recorded
// FAILURE: a store that hangs then leaves the task failed with its entry
// and frees the slot; the count is lost and logged.
func TestDeadLetterCountThatHangsFreesTheSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newHangingStore()
		store.count.Store(true)
		r := newHungStoreRig(t, queue.NewMemoryBroker(), store)
		r.goodDone(t)
		close(store.giveUp)
		got := wait(t, r.c, r.bad.ID)
		require.NoError(t, r.stop())
		require.Equal(t, queue.StateFailure, got.State)
		_, err := store.Get(context.Background(), r.bad.ID)
		require.NoError(t, err, "a failed task has its dead letter")
		require.EqualValues(t, 1, store.hung.Load())
	})
}

// failCancellingBroker cancels a task just before the worker's Fail call
// reaches the broker, which then ends the task REVOKED (queue.ErrRevoked)
// and the worker takes its dead letter back.
type failCancellingBroker struct{ *queue.MemoryBroker }

func (c failCancellingBroker) Fail(ctx context.Context, id, token, msg string, ttl time.Duration) error {
	if _, err := c.MemoryBroker.Cancel(ctx, id, time.Hour); err != nil {
		return err
	}
	return c.MemoryBroker.Fail(ctx, id, token, msg, ttl)
}

// Taking back the dead letter of a task revoked while it failed is bounded
// too: a store whose Delete hangs frees the slot after one lease (the
// entry stays, and the worker logs it).
func TestDeadLetterDeleteThatHangsFreesTheSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newHangingStore()
		store.del.Store(true)
		r := newHungStoreRig(t, failCancellingBroker{queue.NewMemoryBroker()}, store)
		r.goodDone(t)
		close(store.giveUp)
		synctest.Wait()
		require.NoError(t, r.stop())
		got, err := r.c.Get(context.Background(), r.bad.ID)
		require.NoError(t, err)
		require.Equal(t, queue.StateRevoked, got.State)
		require.EqualValues(t, 1, store.hung.Load())
	})
}
