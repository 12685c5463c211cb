package resilience

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFailureWindowBuckets(t *testing.T) {
	s := int64(time.Second)
	type event struct {
		at     int64
		failed bool
	}
	for _, tc := range []struct {
		name          string
		events        []event
		at            int64
		calls, failed int64
	}{
		{"empty", nil, 0, 0, 0},
		{"counts within the window", []event{{0, true}, {s / 2, false}, {9 * s, true}}, 9*s + s/2, 3, 2},
		{"the oldest bucket expires when the tenth newer begins", []event{{s / 2, true}, {s, false}}, 10*s - 1, 2, 1},
		{"exactly at the boundary", []event{{s / 2, true}, {s, false}}, 10 * s, 1, 0},
		{"all expire after a long gap", []event{{0, true}, {5 * s, true}}, 15 * s, 0, 0},
		{"a gap of more than the window resets", []event{{0, true}, {30 * s, false}}, 30 * s, 1, 0},
		{"a late time counts in the newest bucket", []event{{5 * s, true}, {2 * s, false}}, 14*s + s/2, 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newFailureWindow(10 * time.Second)
			for _, e := range tc.events {
				w.add(e.at, e.failed)
			}
			calls, failed := w.counts(tc.at)
			assert.Equal(t, tc.calls, calls, "calls")
			assert.Equal(t, tc.failed, failed, "failures")
		})
	}
}

func TestFailureWindowWidthRoundsUp(t *testing.T) {
	for window, want := range map[time.Duration]int64{
		10 * time.Second: int64(time.Second),
		time.Nanosecond:  1,
		25:               3,
		30:               3,
	} {
		assert.Equal(t, want, newFailureWindow(window).width, "width of %v", window)
	}
}

func TestFailureWindowTrips(t *testing.T) {
	for _, tc := range []struct {
		calls, failed, minCalls int64
		rate                    float64
		want                    bool
	}{
		{10, 5, 10, 0.5, true},
		{9, 5, 10, 0.5, false}, // too few calls
		{10, 4, 10, 0.5, false},
		{10, 3, 10, 0.3, true}, // 3/10 reaches 0.3 exactly
		{3, 1, 1, 1.0 / 3, true},
		{3, 3, 1, 1, true},
		{3, 2, 1, 1, false},
	} {
		w := &failureWindow{calls: tc.calls, failures: tc.failed}
		assert.Equal(t, tc.want, w.trips(tc.rate, tc.minCalls), "%d/%d failed, rate %v, min %d", tc.failed, tc.calls, tc.rate, tc.minCalls)
	}
}

func TestBreakerFailureRate(t *testing.T) {
	okFn, failFn := succeed, fail
	for _, tc := range []struct {
		name    string
		cfg     BreakerConfig
		calls   []func(context.Context) error
		gaps    time.Duration // sleep before each call
		want    State
		wantWin [2]int // window calls, failures when still closed
	}{
		{"below MinCalls stays closed",
			BreakerConfig{FailureRate: 0.5, Window: 10 * time.Second, MinCalls: 4},
			[]func(context.Context) error{failFn, failFn, failFn}, 0, StateClosed, [2]int{3, 3}},
		{"MinCalls reached at the rate opens (even on a success)",
			BreakerConfig{FailureRate: 0.5, Window: 10 * time.Second, MinCalls: 4},
			[]func(context.Context) error{failFn, failFn, okFn, okFn}, 0, StateOpen, [2]int{}},
		{"rate below FailureRate stays closed",
			BreakerConfig{FailureRate: 0.5, Window: 10 * time.Second, MinCalls: 4},
			[]func(context.Context) error{failFn, okFn, okFn, okFn, failFn, okFn}, 0, StateClosed, [2]int{6, 2}},
		{"old outcomes expire",
			BreakerConfig{FailureRate: 0.5, Window: 10 * time.Second, MinCalls: 3},
			[]func(context.Context) error{failFn, failFn, failFn, okFn}, 5 * time.Second, StateClosed, [2]int{2, 1}},
		{"consecutive trigger off by default in rate mode",
			BreakerConfig{FailureRate: 1, Window: time.Minute, MinCalls: 100},
			repeatCall(failFn, 20), 0, StateClosed, [2]int{20, 20}},
		{"an explicit FailureThreshold still applies",
			BreakerConfig{FailureRate: 1, Window: time.Minute, MinCalls: 100, FailureThreshold: 3},
			repeatCall(failFn, 3), 0, StateOpen, [2]int{}},
		{"cancelled calls are not in the window",
			BreakerConfig{FailureRate: 0.5, Window: time.Minute, MinCalls: 2},
			[]func(context.Context) error{failFn, func(context.Context) error { return context.Canceled }}, 0, StateClosed, [2]int{1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newTestBreaker(t, tc.cfg)
				for _, call := range tc.calls {
					time.Sleep(tc.gaps)
					_ = b.Do(t.Context(), call)
				}
				c := b.Counts()
				assert.Equal(t, tc.want, c.State)
				assert.Equal(t, tc.wantWin, [2]int{c.WindowCalls, c.WindowFailures}, "window calls, failures")
			})
		})
	}
}

func repeatCall(fn func(context.Context) error, n int) []func(context.Context) error {
	s := make([]func(context.Context) error, n)
	for i := range s {
		s[i] = fn
	}
	return s
}

func TestBreakerFailureRateExactExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBreaker(t, BreakerConfig{FailureRate: 0.5, Window: 10 * time.Second, MinCalls: 2})
		time.Sleep(500 * time.Millisecond)
		_ = b.Do(t.Context(), fail) // bucket [0s, 1s)
		time.Sleep(9500*time.Millisecond - 1)
		assert.Equal(t, 1, b.Counts().WindowCalls, "at 10s-1ns the failure is still in the window")
		time.Sleep(time.Nanosecond)
		assert.Equal(t, 0, b.Counts().WindowCalls, "at 10s its bucket has expired")
		_ = b.Do(t.Context(), fail)
		assert.Equal(t, StateClosed, b.State(), "one failure is below MinCalls")
		_ = b.Do(t.Context(), succeed)
		assert.Equal(t, StateOpen, b.State(), "1 of 2 failed reaches 0.5")
	})
}

func TestBreakerWindowClearedOnStateChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBreaker(t, BreakerConfig{FailureRate: 0.75, Window: time.Minute, MinCalls: 4, RecoveryTimeout: time.Second})
		for _, fn := range []func(context.Context) error{fail, fail, succeed, fail} {
			_ = b.Do(t.Context(), fn)
		}
		require.Equal(t, StateOpen, b.State())
		time.Sleep(time.Second)
		require.NoError(t, b.Do(t.Context(), succeed))
		c := b.Counts()
		assert.Equal(t, StateClosed, c.State)
		assert.Equal(t, [2]int{0, 0}, [2]int{c.WindowCalls, c.WindowFailures}, "closing starts an empty window")
		for range 3 {
			_ = b.Do(t.Context(), fail)
		}
		assert.Equal(t, StateClosed, b.State(), "three new failures are below MinCalls")
		_ = b.Do(t.Context(), fail)
		assert.Equal(t, StateOpen, b.State())
	})
}
