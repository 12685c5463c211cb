package resilience

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHedgeStartsTheNextCallExactlyAfterTheDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var startedAt [3]time.Duration
		var firstCancelled time.Duration
		call := func(i int, d time.Duration, v string, ended *time.Duration) func(context.Context) (string, error) {
			inner := fbSlow(start, d, v, ended)
			return func(ctx context.Context) (string, error) {
				startedAt[i] = time.Since(start)
				return inner(ctx)
			}
		}
		got, err := Hedge(t.Context(), 2*time.Second,
			call(0, time.Hour, "replica-1", &firstCancelled),
			call(1, time.Second, "replica-2", nil),
			call(2, time.Hour, "replica-3", nil))
		require.NoError(t, err)
		assert.Equal(t, "replica-2", got)
		assert.Equal(t, [3]time.Duration{0, 2 * time.Second, 0}, startedAt, "start times (the third never started)")
		assert.Equal(t, 3*time.Second, time.Since(start), "returned at")
		assert.Equal(t, 3*time.Second, firstCancelled, "the loser's context cancelled at")
	})
}

func TestHedgeSchedule(t *testing.T) {
	type step struct {
		d   time.Duration
		err error
	}
	tests := []struct {
		name      string
		delay     time.Duration
		steps     []step
		wantStart []time.Duration // -1: never started
		want      string
		wantAt    time.Duration
	}{
		{
			name: "first answers before the delay", delay: 2 * time.Second,
			steps:     []step{{d: time.Second}, {d: time.Second}},
			wantStart: []time.Duration{0, -1}, want: "0", wantAt: time.Second,
		},
		{
			name: "a failure starts the next at once and re-arms the delay", delay: 5 * time.Second,
			steps:     []step{{d: time.Second, err: errPrimary}, {d: time.Hour}, {d: time.Second}},
			wantStart: []time.Duration{0, time.Second, 6 * time.Second}, want: "2", wantAt: 7 * time.Second,
		},
		{
			name: "delay 0 starts every call at once", delay: 0,
			steps:     []step{{d: 3 * time.Second}, {d: 2 * time.Second}, {d: time.Hour}},
			wantStart: []time.Duration{0, 0, 0}, want: "1", wantAt: 2 * time.Second,
		},
		{
			name: "a failure of the last keeps waiting for the running ones", delay: time.Second,
			steps:     []step{{d: 3 * time.Second}, {d: 0, err: errPrimary}},
			wantStart: []time.Duration{0, time.Second}, want: "0", wantAt: 3 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				started := make([]time.Duration, len(tt.steps))
				fns := make([]func(context.Context) (string, error), len(tt.steps))
				for i, s := range tt.steps {
					started[i] = -1
					fns[i] = func(ctx context.Context) (string, error) {
						started[i] = time.Since(start)
						select {
						case <-time.After(s.d):
							return string(rune('0' + i)), s.err
						case <-ctx.Done():
							return "", ctx.Err()
						}
					}
				}
				got, err := Hedge(t.Context(), tt.delay, fns...)
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
				assert.Equal(t, tt.wantStart, started, "start times")
				assert.Equal(t, tt.wantAt, time.Since(start), "returned at")
			})
		})
	}
}

func TestHedgeAllFailWrapsEveryError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errs := []error{errors.New("a"), errors.New("b"), errors.New("c")}
		fns := make([]func(context.Context) (int, error), len(errs))
		for i, e := range errs {
			fns[i] = func(context.Context) (int, error) { time.Sleep(time.Second); return 0, e }
		}
		start := time.Now()
		_, err := Hedge(t.Context(), 10*time.Second, fns...)
		for _, e := range errs {
			assert.ErrorIs(t, err, e)
		}
		assert.Equal(t, 3*time.Second, time.Since(start), "each failure starts the next at once")
	})
}

func TestHedgeCallerCancellationJoinsEveryCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(1500*time.Millisecond, cancel)
		start := time.Now()
		var deafDone atomic.Bool
		_, err := Hedge(ctx, time.Second,
			fbSlow(start, time.Hour, "a", nil),
			func(context.Context) (string, error) {
				time.Sleep(4 * time.Second) // deaf to its context
				deafDone.Store(true)
				return "b", nil
			})
		assert.Equal(t, context.Canceled, err)
		assert.True(t, deafDone.Load(), "Hedge returned while a call was still running")
		assert.Equal(t, 5*time.Second, time.Since(start), "returned at")
	})
}

func TestHedgeRepanicsAfterEveryCallReturned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var otherDone atomic.Bool
		r := panicOf(func() {
			_, _ = Hedge(t.Context(), time.Second,
				func(context.Context) (int, error) {
					time.Sleep(3 * time.Second)
					otherDone.Store(true)
					return 1, nil
				},
				func(context.Context) (int, error) { panic("hedge boom") })
		})
		require.IsType(t, &PanicError{}, r)
		assert.Equal(t, "hedge boom", r.(*PanicError).Value)
		assert.True(t, otherDone.Load(), "re-panicked before the other call returned")
		assert.Equal(t, 3*time.Second, time.Since(start))
	})
}
