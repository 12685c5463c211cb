package resilience

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSemaphoreInvalidArgumentsFailFastInsteadOfHanging(t *testing.T) {
	noop := func(context.Context) error { return nil }
	var nilSem *Semaphore
	tests := []struct {
		name string
		call func() error
	}{
		{"capacity 0 Acquire", func() error { return NewSemaphore(0).Acquire(context.Background(), 1) }},
		{"capacity -1 Do", func() error { return NewSemaphore(-1).Do(context.Background(), noop) }},
		{"capacity 0 DoWeighted", func() error { return NewSemaphore(0).DoWeighted(context.Background(), 1, noop) }},
		{"zero value Acquire", func() error { return new(Semaphore).Acquire(context.Background(), 1) }},
		{"nil semaphore Do", func() error { return nilSem.Do(context.Background(), noop) }},
		{"weight 0", func() error { return NewSemaphore(2).Acquire(context.Background(), 0) }},
		{"weight -1", func() error { return NewSemaphore(2).Acquire(context.Background(), -1) }},
		{"weight above capacity", func() error { return NewSemaphore(2).Acquire(context.Background(), 3) }},
		{"DoWeighted above capacity", func() error { return NewSemaphore(2).DoWeighted(context.Background(), 3, noop) }},
		{"Do nil fn", func() error { return NewSemaphore(2).Do(context.Background(), nil) }},
		{"DoWeighted nil fn", func() error { return NewSemaphore(2).DoWeighted(context.Background(), 1, nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Inside a bubble, a call that blocked forever would be reported
			// as a deadlock instead of hanging the test binary.
			synctest.Test(t, func(t *testing.T) {
				err := tt.call()
				require.ErrorIs(t, err, ErrInvalidArgument, "got %v, want an ErrInvalidArgument error", err)
			})
		})
	}
}

func TestSemaphoreReleaseMoreThanHeldPanics(t *testing.T) {
	s := NewSemaphore(3)
	require.NoError(t, s.Acquire(context.Background(), 2))
	assert.PanicsWithValue(t, "resilience: Semaphore.Release of 3 exceeds the weight held (2)", func() { s.Release(3) })
	assert.Equal(t, int64(2), s.InFlight(), "a refused Release must not change InFlight")
	assert.Panics(t, func() { s.Release(-1) })
	s.Release(0) // no-op
	s.Release(2)
	assert.Equal(t, int64(0), s.InFlight())
	assert.Panics(t, func() { s.Release(1) })
	assert.Panics(t, func() { NewSemaphore(0).Release(1) })
}

func TestSemaphoreAcquireReturnsCtxErrWhenCtxEndsFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewSemaphore(1)
		require.NoError(t, s.Acquire(t.Context(), 1))

		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		start := time.Now()
		errc := make(chan error)
		go func() { errc <- s.Acquire(ctx, 1) }()
		synctest.Wait()
		assert.Equal(t, 1, s.Waiting(), "Waiting while blocked")
		err := <-errc
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, time.Second, time.Since(start), "Acquire gave up after")
		assert.Equal(t, 0, s.Waiting(), "Waiting after giving up")
		assert.Equal(t, int64(1), s.InFlight(), "InFlight after a failed Acquire")

		// An ended ctx fails even when the weight is free.
		s.Release(1)
		done, stop := context.WithCancel(t.Context())
		stop()
		assert.ErrorIs(t, s.Acquire(done, 1), context.Canceled)
		assert.Equal(t, int64(0), s.InFlight())
	})
}

func TestSemaphoreBigWaiterIsNotStarvedBySmallOnes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const capacity = 3
		s := NewSemaphore(capacity)
		start := time.Now()
		var (
			mu       sync.Mutex
			bigAt    time.Duration
			smallAts []time.Duration
		)
		var wg sync.WaitGroup
		// Three holders of weight 1 release at 1s, 2s and 3s and want the
		// permit back at once. An unfair semaphore would hand each freed
		// permit straight back, and the big request would never fit.
		for i := range capacity {
			require.NoError(t, s.Acquire(t.Context(), 1))
			wg.Go(func() {
				time.Sleep(time.Duration(i+1) * time.Second)
				s.Release(1)
				if err := s.Acquire(t.Context(), 1); err != nil {
					t.Errorf("small re-Acquire: %v", err)
					return
				}
				mu.Lock()
				smallAts = append(smallAts, time.Since(start))
				mu.Unlock()
				s.Release(1)
			})
		}
		wg.Go(func() {
			if err := s.Acquire(t.Context(), capacity); err != nil {
				t.Errorf("big Acquire: %v", err)
				return
			}
			mu.Lock()
			bigAt = time.Since(start)
			mu.Unlock()
			time.Sleep(time.Second)
			s.Release(capacity)
		})
		synctest.Wait()
		assert.Equal(t, 1, s.Waiting(), "Waiting with the big request queued")
		time.Sleep(1500 * time.Millisecond)
		synctest.Wait()
		assert.Equal(t, 2, s.Waiting(), "Waiting once a small holder queued behind the big request")
		wg.Wait()

		assert.Equal(t, 3*time.Second, bigAt, "big request acquired at")
		require.Len(t, smallAts, capacity)
		for _, at := range smallAts {
			assert.Equal(t, 4*time.Second, at, "small re-acquire must wait behind the big request")
		}
		assert.Equal(t, 0, s.Waiting())
		assert.Equal(t, int64(0), s.InFlight())
	})
}

func TestSemaphoreDoNeverExceedsCapacity(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const capacity, calls = 3, 20
		s := NewSemaphore(capacity)
		var cur, peak atomic.Int64
		start := time.Now()
		var wg sync.WaitGroup
		for range calls {
			wg.Go(func() {
				err := s.Do(t.Context(), func(context.Context) error {
					raiseHighWater(&peak, cur.Add(1))
					if got := s.InFlight(); got < 1 || got > capacity {
						t.Errorf("InFlight inside Do: got %d, want 1..%d", got, capacity)
					}
					time.Sleep(time.Second)
					cur.Add(-1)
					return nil
				})
				if err != nil {
					t.Errorf("Do: %v", err)
				}
			})
		}
		wg.Wait()
		assert.Equal(t, int64(capacity), peak.Load(), "peak concurrent calls")
		// 20 one-second calls, 3 at a time: ceil(20/3) = 7 rounds.
		assert.Equal(t, 7*time.Second, time.Since(start), "total time")
		assert.Equal(t, int64(0), s.InFlight())
	})
}

func TestSemaphoreDoReturnsFnErrorAndReleasesOnPanic(t *testing.T) {
	s := NewSemaphore(2)
	boom := errors.New("boom")
	err := s.Do(context.Background(), func(context.Context) error { return boom })
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, int64(0), s.InFlight(), "InFlight after an error")

	assert.PanicsWithValue(t, "fn panicked", func() {
		_ = s.DoWeighted(context.Background(), 2, func(context.Context) error { panic("fn panicked") })
	})
	assert.Equal(t, int64(0), s.InFlight(), "InFlight after a panic")
	// The whole capacity is free again: this would block otherwise.
	require.True(t, s.sem.TryAcquire(2), "weight not returned after a panic")
	s.sem.Release(2)
}

func TestSemaphoreDoWeightedHoldsTheWeight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewSemaphore(10)
		start := time.Now()
		var wg sync.WaitGroup
		// 6 + 6 > 10: the second waits for the first; 4 fits beside it.
		for _, w := range []int64{6, 6, 4} {
			wg.Go(func() {
				err := s.DoWeighted(t.Context(), w, func(context.Context) error {
					time.Sleep(time.Second)
					return nil
				})
				if err != nil {
					t.Errorf("DoWeighted(%d): %v", w, err)
				}
			})
			synctest.Wait() // queue in order
		}
		assert.Equal(t, int64(6), s.InFlight(), "InFlight with one 6 in and a 6 queued")
		assert.Equal(t, 2, s.Waiting(), "the 4 queues behind the 6 (FIFO)")
		wg.Wait()
		assert.Equal(t, 2*time.Second, time.Since(start))
	})
}

func TestSemaphoreIsAnAllocationFreePolicy(t *testing.T) {
	s := NewSemaphore(4)
	ctx := context.Background()
	fn := func(context.Context) error { return nil }
	allocs := testing.AllocsPerRun(100, func() {
		if err := s.Do(ctx, fn); err != nil {
			t.Fatal(err)
		}
	})
	assert.Equal(t, 0.0, allocs, "allocations per Do")

	p := Pipeline(s)
	got, err := Execute(ctx, p, func(context.Context) (string, error) {
		assert.Equal(t, int64(1), s.InFlight(), "InFlight inside Execute")
		return "ok", nil
	})
	require.NoError(t, err)
	assert.Equal(t, "ok", got)
	assert.Equal(t, int64(0), s.InFlight())

	call := func(context.Context) (int, error) { return 1, nil }
	allocs = testing.AllocsPerRun(100, func() {
		if _, err := Execute(ctx, p, call); err != nil {
			t.Fatal(err)
		}
	})
	assert.LessOrEqual(t, allocs, 1.0, "allocations per Execute through Pipeline(semaphore)")
}

// raiseHighWater records v in peak if it is the highest seen.
func raiseHighWater(peak *atomic.Int64, v int64) {
	for {
		p := peak.Load()
		if v <= p || peak.CompareAndSwap(p, v) {
			return
		}
	}
}
