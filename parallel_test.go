package resilience

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// parSleepy returns a Parallel function that sleeps d ignoring its context
// and returns its item doubled.
func parSleepy(d time.Duration) func(context.Context, int) (int, error) {
	return func(_ context.Context, v int) (int, error) {
		time.Sleep(d)
		return 2 * v, nil
	}
}

func parItems(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

func TestParallelTakesExactlyTheRoundsOfTheLimit(t *testing.T) {
	tests := []struct {
		items, limit int
		want         time.Duration
	}{
		{items: 3, limit: 3, want: time.Second},
		{items: 3, limit: 1, want: 3 * time.Second},
		{items: 3, limit: 2, want: 2 * time.Second},
		{items: 3, limit: 100, want: time.Second},
		{items: 10_000, limit: 10_000, want: time.Second}, // 10,000 calls of 1 s in about 1 s
		{items: 1_000, limit: 100, want: 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("items=%d/limit=%d", tt.items, tt.limit), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				got, err := Parallel(t.Context(), parItems(tt.items), tt.limit, parSleepy(time.Second))
				require.NoError(t, err)
				assert.Equal(t, tt.want, time.Since(start), "fake time taken")
				require.Len(t, got, tt.items)
				for i, v := range got {
					if v != 2*i {
						t.Fatalf("result %d: got %d, want %d", i, v, 2*i)
					}
				}
			})
		})
	}
}

func TestParallelKeepsInputOrderAndNeverExceedsLimit(t *testing.T) {
	for _, limit := range []int{1, 2, 7, 64} {
		t.Run(fmt.Sprint("limit=", limit), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(limit), 1))
				delays := make([]time.Duration, 200)
				for i := range delays {
					delays[i] = time.Duration(rng.IntN(1000)) * time.Millisecond
				}
				var cur, peak atomic.Int64
				got, err := Parallel(t.Context(), parItems(len(delays)), limit, func(_ context.Context, i int) (string, error) {
					raiseHighWater(&peak, cur.Add(1))
					time.Sleep(delays[i])
					cur.Add(-1)
					return fmt.Sprint("r", i), nil
				})
				require.NoError(t, err)
				for i, v := range got {
					require.Equal(t, fmt.Sprint("r", i), v, "result %d out of order", i)
				}
				assert.Equal(t, int64(limit), peak.Load(), "peak in-flight calls")
			})
		})
	}
}

func TestParallelFailsFastCancellingTheOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("boom")
		var calls, cancelled atomic.Int64
		start := time.Now()
		got, err := Parallel(t.Context(), parItems(10), 3, func(ctx context.Context, i int) (int, error) {
			calls.Add(1)
			if i == 1 {
				time.Sleep(time.Second)
				return 0, boom
			}
			select {
			case <-time.After(time.Hour):
				return i, nil
			case <-ctx.Done():
				if errors.Is(context.Cause(ctx), boom) {
					cancelled.Add(1)
				}
				return 0, ctx.Err()
			}
		})
		assert.Nil(t, got, "results on error")
		require.ErrorIs(t, err, boom)
		assert.Contains(t, err.Error(), "item 1", "error should name the failing index")
		assert.Equal(t, time.Second, time.Since(start), "returned after")
		assert.Equal(t, int64(3), calls.Load(), "calls started (no launch after the failure)")
		assert.Equal(t, int64(2), cancelled.Load(), "others cancelled with the failure as cause")
	})
}

func TestParallelCancellationStopsLaunchingAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(1500*time.Millisecond, cancel)
		var calls atomic.Int64
		start := time.Now()
		got, err := Parallel(ctx, parItems(5), 1, func(_ context.Context, v int) (int, error) {
			calls.Add(1)
			time.Sleep(time.Second) // ignores ctx: the running call finishes
			return v, nil
		})
		assert.Nil(t, got)
		assert.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, 2*time.Second, time.Since(start), "returned after")
		assert.Equal(t, int64(2), calls.Load(), "calls started")

		// An ended ctx runs nothing.
		got, err = Parallel(ctx, parItems(5), 2, parSleepy(time.Second))
		assert.Nil(t, got)
		assert.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, int64(2), calls.Load(), "calls after an ended ctx")
	})
}

func TestParallelSettledKeepsEveryOutcome(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		got, err := ParallelSettled(t.Context(), parItems(6), 2, func(_ context.Context, v int) (int, error) {
			time.Sleep(time.Second)
			if v%3 == 0 {
				return 0, fmt.Errorf("item %d failed", v)
			}
			return v * 10, nil
		})
		require.NoError(t, err)
		assert.Equal(t, 3*time.Second, time.Since(start), "a failure must not stop the others")
		require.Len(t, got, 6)
		for i, r := range got {
			if i%3 == 0 {
				assert.EqualError(t, r.Err, fmt.Sprintf("item %d failed", i))
			} else {
				assert.NoError(t, r.Err)
				assert.Equal(t, i*10, r.Value)
			}
		}
	})
}

func TestParallelSettledGivesUnstartedItemsTheCtxError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
		defer cancel()
		got, err := ParallelSettled(ctx, parItems(5), 2, parSleepy(time.Second))
		require.NoError(t, err)
		require.Len(t, got, 5)
		for i := range 4 { // two rounds of two started before the deadline
			assert.NoError(t, got[i].Err, "item %d", i)
			assert.Equal(t, 2*i, got[i].Value, "item %d", i)
		}
		assert.ErrorIs(t, got[4].Err, context.DeadlineExceeded, "item never started")
	})
}

func TestParallelInvalidArguments(t *testing.T) {
	fn := func(_ context.Context, v int) (int, error) { return v, nil }
	ctx := context.Background()
	for _, limit := range []int{0, -1} {
		_, err := Parallel(ctx, parItems(3), limit, fn)
		assert.ErrorIs(t, err, ErrInvalidArgument, "Parallel limit %d", limit)
		_, err = ParallelSettled(ctx, parItems(3), limit, fn)
		assert.ErrorIs(t, err, ErrInvalidArgument, "ParallelSettled limit %d", limit)
	}
	_, err := Parallel[int, int](ctx, parItems(3), 1, nil)
	assert.ErrorIs(t, err, ErrInvalidArgument, "Parallel nil fn")
	_, err = ParallelSettled[int, int](ctx, parItems(3), 1, nil)
	assert.ErrorIs(t, err, ErrInvalidArgument, "ParallelSettled nil fn")

	got, err := Parallel(ctx, nil, 4, fn)
	assert.NoError(t, err)
	assert.NotNil(t, got)
	assert.Empty(t, got)
	settled, err := ParallelSettled(ctx, []int{}, 4, fn)
	assert.NoError(t, err)
	assert.NotNil(t, settled)
	assert.Empty(t, settled)
}

func TestParallelRepanicsInCallerAfterOthersReturn(t *testing.T) {
	type runner func(ctx context.Context, items []int, limit int, fn func(context.Context, int) (int, error))
	runners := map[string]runner{
		"Parallel": func(ctx context.Context, items []int, limit int, fn func(context.Context, int) (int, error)) {
			_, _ = Parallel(ctx, items, limit, fn)
		},
		"ParallelSettled": func(ctx context.Context, items []int, limit int, fn func(context.Context, int) (int, error)) {
			_, _ = ParallelSettled(ctx, items, limit, fn)
		},
	}
	for name, run := range runners {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				boom := errors.New("boom")
				var calls, running atomic.Int64
				start := time.Now()
				recovered := func() (r any) {
					defer func() { r = recover() }()
					run(t.Context(), parItems(20), 4, func(ctx context.Context, v int) (int, error) {
						calls.Add(1)
						running.Add(1)
						defer running.Add(-1)
						if v == 2 {
							time.Sleep(time.Second)
							panic(boom)
						}
						time.Sleep(3 * time.Second) // ignores ctx: must be waited for
						return v, nil
					})
					return nil
				}()
				require.IsType(t, &PanicError{}, recovered)
				pe := recovered.(*PanicError)
				assert.Equal(t, boom, pe.Value)
				assert.ErrorIs(t, pe, boom, "PanicError unwraps an error value")
				assert.True(t, strings.Contains(string(pe.Stack), "parallel_test.go"),
					"stack should show where the panic happened, got:\n%s", pe.Stack)
				assert.Contains(t, pe.Error(), "boom")
				assert.Equal(t, int64(0), running.Load(), "calls still running when the panic reached the caller")
				assert.Equal(t, 3*time.Second, time.Since(start), "re-panicked after the others returned")
				assert.Equal(t, int64(4), calls.Load(), "calls started (none after the panic)")
			})
		})
	}
}
