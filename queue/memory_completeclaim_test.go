package queue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/resilience-go/resilience/queue"
	"github.com/stretchr/testify/require"
)

// The memory broker's CompleteAndClaim beyond the conformance suite: exact
// times, no waiting, the closed broker, watchers and concurrent chains.

var defaultQueue = []string{queue.QueueDefault}

// enqueueTask enqueues task id on the default queue of b.
func enqueueTask(t *testing.T, b *queue.MemoryBroker, id string, notBefore time.Time) {
	t.Helper()
	_, _, err := b.Enqueue(context.Background(), &queue.Task{ID: id, Name: "n", Queue: queue.QueueDefault, NotBefore: notBefore})
	require.NoError(t, err)
}

// claimTask claims the next task of the default queue of b, which must be want.
func claimTask(t *testing.T, b *queue.MemoryBroker, want string, lease time.Duration) string {
	t.Helper()
	task, token, err := b.Claim(context.Background(), defaultQueue, lease)
	require.NoError(t, err)
	require.Equal(t, want, task.ID)
	return token
}

func TestMemoryCompleteAndClaimDoesNotWaitForADelayedTask(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		ctx := context.Background()
		start := time.Now()
		enqueueTask(t, b, "a", time.Time{})
		enqueueTask(t, b, "b", time.Time{})
		enqueueTask(t, b, "later", start.Add(time.Minute))
		token := claimTask(t, b, "a", time.Hour)
		next, tokenB, err := b.CompleteAndClaim(ctx, "a", token, nil, time.Hour, defaultQueue, time.Hour)
		require.NoError(t, err)
		require.Equal(t, "b", next.ID)

		// Only "later" is left, due in a minute: a call that waited for it
		// would let the fake clock jump there and return it.
		next, nextToken, err := b.CompleteAndClaim(ctx, "b", tokenB, nil, time.Hour, defaultQueue, time.Hour)
		require.NoError(t, err)
		require.Nil(t, next, "nothing is ready: no task")
		require.Empty(t, nextToken)
		require.Equal(t, start, time.Now(), "CompleteAndClaim returned at once")
		done, err := b.Get(ctx, "b")
		require.NoError(t, err)
		require.Equal(t, queue.StateSuccess, done.State, "the completion is stored though nothing was claimed")

		enqueueTask(t, b, "c", time.Time{})
		tokenC := claimTask(t, b, "c", time.Hour)
		time.Sleep(time.Minute - time.Nanosecond)
		next, _, err = b.CompleteAndClaim(ctx, "c", tokenC, nil, time.Hour, defaultQueue, time.Hour)
		require.NoError(t, err)
		require.Nil(t, next, "a nanosecond before its NotBefore the delayed task is not claimable")

		enqueueTask(t, b, "d", time.Time{})
		tokenD := claimTask(t, b, "d", time.Hour)
		time.Sleep(time.Nanosecond)
		next, _, err = b.CompleteAndClaim(ctx, "d", tokenD, nil, time.Hour, defaultQueue, time.Hour)
		require.NoError(t, err)
		require.NotNil(t, next, "at its NotBefore the delayed task is claimed")
		require.Equal(t, "later", next.ID)
		require.Equal(t, start.Add(time.Minute), next.StartedAt)
	})
}

func TestMemoryCompleteAndClaimDoesNotWaitOnEmptyQueues(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		enqueueTask(t, b, "a", time.Time{})
		token := claimTask(t, b, "a", time.Hour)
		// With nothing queued or pending anywhere, a call that waited would
		// block for good: synctest reports that as a deadlock.
		next, _, err := b.CompleteAndClaim(context.Background(), "a", token, nil, time.Hour, []string{"default", "other"}, time.Hour)
		require.NoError(t, err)
		require.Nil(t, next)
	})
}

func TestMemoryCompleteAndClaimHoldsResultAndLeaseExactly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		ctx := context.Background()
		enqueueTask(t, b, "a", time.Time{})
		enqueueTask(t, b, "b", time.Time{})
		token := claimTask(t, b, "a", time.Hour)
		start := time.Now()
		result := []byte(`{"n":1}`)
		next, _, err := b.CompleteAndClaim(ctx, "a", token, result, 10*time.Second, defaultQueue, 30*time.Second)
		require.NoError(t, err)
		require.Equal(t, "b", next.ID)
		require.Equal(t, start, next.StartedAt)
		copy(result, `{"n":2}`) // the broker keeps its own copy

		done, err := b.Get(ctx, "a")
		require.NoError(t, err)
		require.Equal(t, `{"n":1}`, string(done.Result))
		require.Equal(t, start, done.FinishedAt)
		require.Equal(t, start.Add(10*time.Second), done.ExpiresAt)
		time.Sleep(10*time.Second - time.Nanosecond)
		_, err = b.Get(ctx, "a")
		require.NoError(t, err, "the result is kept for its TTL")
		time.Sleep(time.Nanosecond)
		_, err = b.Get(ctx, "a")
		require.ErrorIs(t, err, queue.ErrTaskNotFound, "the result is gone at its TTL")

		time.Sleep(20*time.Second - time.Nanosecond)
		n, err := b.Recover(ctx)
		require.NoError(t, err)
		require.Zero(t, n, "the lease of b holds for the lease given")
		time.Sleep(time.Nanosecond)
		n, err = b.Recover(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n, "the lease of b runs out at the lease given")
	})
}

func TestMemoryCompleteAndClaimHugeDurationsSaturate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		ctx := context.Background()
		const forever = time.Duration(math.MaxInt64)
		enqueueTask(t, b, "a", time.Time{})
		enqueueTask(t, b, "b", time.Time{})
		token := claimTask(t, b, "a", time.Hour)
		// The bubble's clock starts in 2000: now+forever is past 2262, the
		// last instant the broker can count, and must not wrap into the past.
		next, _, err := b.CompleteAndClaim(ctx, "a", token, nil, forever, defaultQueue, forever)
		require.NoError(t, err)
		require.Equal(t, "b", next.ID)
		time.Sleep(100 * 365 * 24 * time.Hour)
		n, err := b.Recover(ctx)
		require.NoError(t, err)
		require.Zero(t, n, "a lease of the largest Duration has not run out after a century")
		got, err := b.Get(ctx, "b")
		require.NoError(t, err)
		require.Equal(t, queue.StateStarted, got.State)
		got, err = b.Get(ctx, "a")
		require.NoError(t, err, "a result kept for the largest Duration is there after a century")
		require.Equal(t, queue.StateSuccess, got.State)
	})
}

func TestMemoryCompleteAndClaimChangesNothingWhenItCannotStart(t *testing.T) {
	b := queue.NewMemoryBroker()
	enqueueTask(t, b, "a", time.Time{})
	enqueueTask(t, b, "b", time.Time{})
	token := claimTask(t, b, "a", time.Hour)

	ended, cancel := context.WithCancel(context.Background())
	cancel()
	next, _, err := b.CompleteAndClaim(ended, "a", token, nil, time.Hour, defaultQueue, time.Hour)
	require.ErrorIs(t, err, context.Canceled)
	require.Nil(t, next)
	for id, want := range map[string]queue.State{"a": queue.StateStarted, "b": queue.StatePending} {
		got, err := b.Get(context.Background(), id)
		require.NoError(t, err)
		require.Equal(t, want, got.State, "task %s after a call with an ended ctx", id)
	}

	require.NoError(t, b.Close())
	next, _, err = b.CompleteAndClaim(context.Background(), "a", token, nil, time.Hour, defaultQueue, time.Hour)
	require.ErrorIs(t, err, queue.ErrClosed)
	require.Nil(t, next)
}

func TestMemoryCompleteAndClaimNotifiesWatchersOfBothTasks(t *testing.T) {
	b := queue.NewMemoryBroker()
	enqueueTask(t, b, "a", time.Time{})
	enqueueTask(t, b, "b", time.Time{})
	token := claimTask(t, b, "a", time.Hour)
	changedA, stopA := b.Changed("a")
	defer stopA()
	changedB, stopB := b.Changed("b")
	defer stopB()
	_, _, err := b.CompleteAndClaim(context.Background(), "a", token, nil, time.Hour, defaultQueue, time.Hour)
	require.NoError(t, err)
	for id, ch := range map[string]<-chan struct{}{"a (completed)": changedA, "b (claimed)": changedB} {
		select {
		case <-ch:
		default:
			t.Fatalf("the watcher of %s was not notified by CompleteAndClaim", id)
		}
	}
}

// TestMemoryCompleteAndClaimChainsNeverShareATask runs chains of
// CompleteAndClaim calls side by side until the queue is empty: every task
// is claimed exactly once and completed.
func TestMemoryCompleteAndClaimChainsNeverShareATask(t *testing.T) {
	const tasks, chains = 300, 6
	b := queue.NewMemoryBroker()
	ctx := context.Background()
	for i := range tasks {
		enqueueTask(t, b, fmt.Sprint(i), time.Time{})
	}
	// Every chain starts from a task claimed before any chain runs, so that
	// none of these Claims finds the queue drained and waits.
	firsts := make([]*queue.Task, chains)
	tokens := make([]string, chains)
	for i := range chains {
		var err error
		firsts[i], tokens[i], err = b.Claim(ctx, defaultQueue, time.Hour)
		require.NoError(t, err)
	}
	var mu sync.Mutex
	claims := make(map[string]int)
	var wg sync.WaitGroup
	for i := range chains {
		wg.Go(func() {
			for task, token := firsts[i], tokens[i]; task != nil; {
				mu.Lock()
				claims[task.ID]++
				mu.Unlock()
				next, nextToken, err := b.CompleteAndClaim(ctx, task.ID, token, json.RawMessage(`true`), time.Hour, defaultQueue, time.Hour)
				if err != nil {
					t.Errorf("CompleteAndClaim(%s): %v", task.ID, err)
					return
				}
				task, token = next, nextToken
			}
		})
	}
	wg.Wait()
	require.Len(t, claims, tasks)
	for id, n := range claims {
		require.Equal(t, 1, n, "claims of task %s", id)
		got, err := b.Get(ctx, id)
		require.NoError(t, err)
		require.Equal(t, queue.StateSuccess, got.State, "task %s", id)
		require.Equal(t, 1, got.Attempt, "task %s", id)
	}
}
