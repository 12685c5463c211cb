package resilience

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBreakerOnStateChangeAddsListenersAfterConstruction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var cfgLog, first, second changeLog
		b, err := NewBreaker(BreakerConfig{FailureThreshold: 2, RecoveryTimeout: time.Second, OnStateChange: cfgLog.record})
		require.NoError(t, err)
		var order []string
		removeFirst := b.OnStateChange(func(from, to State) { first.record(from, to); order = append(order, "first") })
		b.OnStateChange(func(from, to State) { second.record(from, to); order = append(order, "second") })

		ctx := context.Background()
		_ = b.Do(ctx, fail)
		_ = b.Do(ctx, fail)
		time.Sleep(time.Second)
		require.NoError(t, b.Do(ctx, succeed))
		want := []string{"CLOSED>OPEN", "OPEN>HALF_OPEN", "HALF_OPEN>CLOSED"}
		assert.Equal(t, want, cfgLog.take(), "the config's callback still sees every change")
		assert.Equal(t, want, first.take())
		assert.Equal(t, want, second.take())
		assert.Equal(t, []string{"first", "second", "first", "second", "first", "second"}, order, "listeners run in the order added")

		removeFirst()
		removeFirst() // a second call does nothing
		b.Trip(time.Second)
		b.Reset()
		assert.Empty(t, first.take(), "a removed listener is not called")
		assert.Equal(t, []string{"CLOSED>OPEN", "OPEN>CLOSED"}, second.take())
	})
}

func TestBreakerOnStateChangeNilIsNoOp(t *testing.T) {
	b, err := NewBreaker(BreakerConfig{})
	require.NoError(t, err)
	remove := b.OnStateChange(nil)
	remove()
	b.Trip(time.Second) // must not call a nil listener
	assert.Equal(t, StateOpen, b.State())
}

func TestBreakerOnStateChangeListenerMayCallBreaker(t *testing.T) {
	b, err := NewBreaker(BreakerConfig{})
	require.NoError(t, err)
	var seen []State
	b.OnStateChange(func(_, _ State) { seen = append(seen, b.State()) })
	b.Trip(time.Minute)
	assert.Equal(t, []State{StateOpen}, seen, "no lock is held while a listener runs")
}

func TestBreakerOnStateChangeConcurrentWithChanges(t *testing.T) {
	b, err := NewBreaker(BreakerConfig{})
	require.NoError(t, err)
	var (
		mu    sync.Mutex
		calls int
		wg    sync.WaitGroup
	)
	for range 4 {
		wg.Go(func() {
			for range 100 {
				remove := b.OnStateChange(func(_, _ State) { mu.Lock(); calls++; mu.Unlock() })
				b.Trip(time.Minute)
				b.Reset()
				remove()
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	assert.Positive(t, calls, "listeners added concurrently with changes are called")
}
