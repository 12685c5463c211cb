package resilience

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// adStatus is an error carrying an HTTP status, as an SDK's error does.
type adStatus int

func (s adStatus) Error() string   { return fmt.Sprintf("status %d", int(s)) }
func (s adStatus) StatusCode() int { return int(s) }

var errAdOther = errors.New("bad request")

func newTestAdaptive(t *testing.T, cfg AdaptiveConfig) *AdaptiveLimiter {
	t.Helper()
	l, err := NewAdaptiveLimiter(cfg)
	require.NoError(t, err)
	return l
}

// adHeld is a call started through an AdaptiveLimiter that runs until
// finished with an error.
type adHeld struct {
	ran    atomic.Bool
	finish chan error
	done   chan error
}

// adStart starts a call under l in its own goroutine and waits (in the
// synctest bubble) until it runs or blocks waiting for a slot.
func adStart(ctx context.Context, l *AdaptiveLimiter) *adHeld {
	h := &adHeld{finish: make(chan error), done: make(chan error, 1)}
	go func() {
		h.done <- l.Do(ctx, func(context.Context) error {
			h.ran.Store(true)
			return <-h.finish
		})
	}()
	synctest.Wait()
	return h
}

// end finishes a running call with err and returns Do's result.
func (h *adHeld) end(err error) error {
	h.finish <- err
	got := <-h.done
	synctest.Wait()
	return got
}

// adRun runs one call to completion with err as its result.
func adRun(t *testing.T, l *AdaptiveLimiter, err error) {
	t.Helper()
	got := l.Do(t.Context(), func(context.Context) error { return err })
	require.ErrorIs(t, got, err)
}

// limitChanges records OnLimitChange calls (made by one goroutine at a
// time in these tests).
type limitChanges struct{ got [][2]int }

func (c *limitChanges) record(from, to int) { c.got = append(c.got, [2]int{from, to}) }

func TestAdaptiveLimiterHalvesOncePerBurstOfOverloads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ch limitChanges
		l := newTestAdaptive(t, AdaptiveConfig{Initial: 8, Max: 16, OnLimitChange: ch.record})
		var calls []*adHeld
		for range 8 {
			calls = append(calls, adStart(t.Context(), l))
		}
		assert.Equal(t, 8, l.InFlight())
		for _, c := range calls {
			assert.Equal(t, adStatus(429), c.end(adStatus(429)))
		}
		assert.Equal(t, 4, l.Limit(), "eight simultaneous 429s: got limit %d, want 4 (halved once)", l.Limit())

		// A new generation: its first overload halves again, the rest of
		// the generation's overloads do not.
		calls = calls[:0]
		for range 4 {
			calls = append(calls, adStart(t.Context(), l))
		}
		for _, c := range calls {
			c.end(adStatus(503))
		}
		assert.Equal(t, 2, l.Limit())
		assert.Equal(t, [][2]int{{8, 4}, {4, 2}}, ch.got)
		assert.Equal(t, 0, l.InFlight())
	})
}

func TestAdaptiveLimiterAIMDSequence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ch limitChanges
		l := newTestAdaptive(t, AdaptiveConfig{Min: 2, Initial: 2, Max: 4, SuccessesToGrow: 2, OnLimitChange: ch.record})
		// Limit 2, one call at a time uses half of it: successes count.
		adRun(t, l, nil)
		assert.Equal(t, 2, l.Limit())
		adRun(t, l, nil)
		assert.Equal(t, 3, l.Limit())
		// Limit 3, one call at a time uses less than half: no growth.
		for range 5 {
			adRun(t, l, nil)
		}
		assert.Equal(t, 3, l.Limit(), "an unused limit must not grow")
		// Three at once: the second and third start with at least half of
		// the limit in use, and their successes count.
		a, b, c := adStart(t.Context(), l), adStart(t.Context(), l), adStart(t.Context(), l)
		a.end(nil)
		b.end(nil)
		assert.Equal(t, 3, l.Limit())
		c.end(nil)
		assert.Equal(t, 4, l.Limit())
		// At Max: no further growth.
		for range 3 {
			a, b = adStart(t.Context(), l), adStart(t.Context(), l)
			a.end(nil)
			b.end(nil)
		}
		assert.Equal(t, 4, l.Limit())
		// Overload halves down to Min, no lower.
		adRun(t, l, adStatus(529))
		adRun(t, l, context.DeadlineExceeded)
		assert.Equal(t, 2, l.Limit())
		assert.Equal(t, [][2]int{{2, 3}, {3, 4}, {4, 2}}, ch.got)
	})
}

func TestAdaptiveLimiterDefaultGrowthIsOnePerLimitOfSuccesses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newTestAdaptive(t, AdaptiveConfig{Initial: 1, Max: 3})
		adRun(t, l, nil) // limit 1: one success grows it
		assert.Equal(t, 2, l.Limit())
		adRun(t, l, nil) // limit 2: needs two
		assert.Equal(t, 2, l.Limit())
		adRun(t, l, nil)
		assert.Equal(t, 3, l.Limit())
	})
}

func TestAdaptiveLimiterNeutralErrorsLeaveTheLimitAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newTestAdaptive(t, AdaptiveConfig{Initial: 1, SuccessesToGrow: 2})
		adRun(t, l, nil)
		adRun(t, l, errAdOther)
		adRun(t, l, adStatus(400))
		adRun(t, l, context.Canceled)
		assert.Equal(t, 1, l.Limit())
		adRun(t, l, nil) // the run of successes was not broken
		assert.Equal(t, 2, l.Limit())
	})
}

func TestAdaptiveLimiterStaleSuccessesDoNotGrowAfterADecrease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newTestAdaptive(t, AdaptiveConfig{Initial: 4, SuccessesToGrow: 1})
		calls := []*adHeld{adStart(t.Context(), l), adStart(t.Context(), l), adStart(t.Context(), l)}
		calls[0].end(adStatus(429))
		assert.Equal(t, 2, l.Limit())
		calls[1].end(nil) // started before the decrease
		calls[2].end(nil)
		assert.Equal(t, 2, l.Limit(), "successes of an older generation must not grow the new limit")
	})
}

func TestAdaptiveLimiterQueuesFirstComeFirstServed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newTestAdaptive(t, AdaptiveConfig{Initial: 1, Max: 1})
		a := adStart(t.Context(), l)
		b := adStart(t.Context(), l)
		c := adStart(t.Context(), l)
		assert.True(t, a.ran.Load())
		assert.False(t, b.ran.Load(), "b must wait for a slot")
		assert.False(t, c.ran.Load(), "c must wait for a slot")
		require.NoError(t, a.end(nil))
		assert.True(t, b.ran.Load(), "b came first")
		assert.False(t, c.ran.Load())
		assert.Equal(t, 1, l.InFlight())
		require.NoError(t, b.end(nil))
		assert.True(t, c.ran.Load())
		require.NoError(t, c.end(nil))
		assert.Equal(t, 0, l.InFlight())
	})
}

func TestAdaptiveLimiterDecreaseBlocksNewCallsUntilInFlightDrops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newTestAdaptive(t, AdaptiveConfig{Initial: 4})
		var calls []*adHeld
		for range 4 {
			calls = append(calls, adStart(t.Context(), l))
		}
		calls[0].end(adStatus(429)) // limit 2, 3 in flight
		d := adStart(t.Context(), l)
		assert.False(t, d.ran.Load())
		calls[1].end(errAdOther) // 2 in flight: still not below 2
		assert.False(t, d.ran.Load())
		calls[2].end(errAdOther) // 1 in flight
		assert.True(t, d.ran.Load())
		calls[3].end(nil)
		d.end(nil)
		assert.Equal(t, 0, l.InFlight())
	})
}

func TestAdaptiveLimiterContextEndWhileWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newTestAdaptive(t, AdaptiveConfig{Initial: 1, Max: 1})
		a := adStart(t.Context(), l)

		ctx, cancel := context.WithCancel(t.Context())
		b := adStart(ctx, l)
		cancel()
		assert.ErrorIs(t, <-b.done, context.Canceled)
		assert.False(t, b.ran.Load())

		start := time.Now()
		tctx, tcancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer tcancel()
		err := l.Do(tctx, func(context.Context) error { t.Error("must not run"); return nil })
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 3*time.Second, time.Since(start))

		assert.Equal(t, 1, l.InFlight())
		a.end(nil)
		assert.Equal(t, 0, l.InFlight(), "no slot may leak from the cancelled waiters")
		adRun(t, l, nil)

		done, dcancel := context.WithCancel(t.Context())
		dcancel()
		assert.ErrorIs(t, l.Do(done, func(context.Context) error { t.Error("must not run"); return nil }), context.Canceled)
	})
}

func TestAdaptiveLimiterPanicFreesTheSlot(t *testing.T) {
	l := newTestAdaptive(t, AdaptiveConfig{Initial: 1, Max: 1})
	got := func() (v any) {
		defer func() { v = recover() }()
		_ = l.Do(context.Background(), func(context.Context) error { panic("boom") })
		return nil
	}()
	assert.Equal(t, "boom", got)
	assert.Equal(t, 0, l.InFlight())
	assert.Equal(t, 1, l.Limit())
}

func TestNewAdaptiveLimiter(t *testing.T) {
	bad := []struct {
		name string
		cfg  AdaptiveConfig
	}{
		{"negative Min", AdaptiveConfig{Min: -1}},
		{"negative Max", AdaptiveConfig{Max: -1}},
		{"Max below Min", AdaptiveConfig{Min: 5, Max: 4}},
		{"Min too large", AdaptiveConfig{Min: MaxAdaptiveLimit + 1}},
		{"Initial below Min", AdaptiveConfig{Min: 5, Initial: 4}},
		{"Initial above Max", AdaptiveConfig{Max: 5, Initial: 6}},
		{"negative SuccessesToGrow", AdaptiveConfig{SuccessesToGrow: -1}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			l, err := NewAdaptiveLimiter(tt.cfg)
			assert.Nil(t, l)
			assert.ErrorIs(t, err, ErrInvalidArgument)
		})
	}
	good := []struct {
		name string
		cfg  AdaptiveConfig
		want int
	}{
		{"zero value", AdaptiveConfig{}, DefaultAdaptiveInitial},
		{"default initial moved up to Min", AdaptiveConfig{Min: 20}, 20},
		{"default initial moved down to Max", AdaptiveConfig{Max: 4}, 4},
		{"Min above the default Max", AdaptiveConfig{Min: 150}, 150},
		{"explicit", AdaptiveConfig{Min: 2, Max: 9, Initial: 7}, 7},
	}
	for _, tt := range good {
		t.Run(tt.name, func(t *testing.T) {
			l, err := NewAdaptiveLimiter(tt.cfg)
			require.NoError(t, err)
			assert.Equal(t, tt.want, l.Limit())
		})
	}
}

// SDK-style errors carry their status in a field, not a method.
type (
	adSDKError      struct{ StatusCode int }
	adGoOpenAIError struct{ HTTPStatusCode int }
	adEmbedded      struct{ *adSDKError }
	adPrivate       struct{ statusCode int }
	adStringStatus  struct{ StatusCode string }
	adTimeoutErr    struct{}
)

func (e *adSDKError) Error() string     { return "sdk" }
func (e adGoOpenAIError) Error() string { return "go-openai" }
func (e adPrivate) Error() string       { return "private" }
func (e adStringStatus) Error() string  { return "string status" }
func (adTimeoutErr) Error() string      { return "i/o timeout" }
func (adTimeoutErr) Timeout() bool      { return true }

func TestIsOverload(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errAdOther, false},
		{adStatus(429), true},
		{fmt.Errorf("wrapped: %w", adStatus(503)), true},
		{adStatus(529), true},
		{adStatus(500), false},
		{adStatus(400), false},
		{ErrTimeout, true},
		{context.DeadlineExceeded, true},
		{context.Canceled, false},
		{fmt.Errorf("%w and %w", context.Canceled, adStatus(429)), false},
		{&net.OpError{Op: "read", Err: adTimeoutErr{}}, true},
		{&RetryError{Attempts: 3, Last: adStatus(429)}, true},
		{&adSDKError{StatusCode: 429}, true},
		{fmt.Errorf("POST /v1/chat/completions: %w", &adSDKError{StatusCode: 529}), true},
		{&adSDKError{StatusCode: 400}, false},
		{adGoOpenAIError{HTTPStatusCode: 503}, true},
		{adEmbedded{&adSDKError{StatusCode: 429}}, true},
		{adEmbedded{}, false},
		{adPrivate{statusCode: 429}, false},
		{adStringStatus{StatusCode: "429"}, false},
		{(*adSDKError)(nil), false},
		{errors.Join(errAdOther, &adSDKError{StatusCode: 503}), true},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, IsOverload(tt.err), "IsOverload(%v)", tt.err)
	}
}

func TestAdaptiveLimiterCustomIsOverload(t *testing.T) {
	l := newTestAdaptive(t, AdaptiveConfig{Initial: 8, IsOverload: func(err error) bool { return errors.Is(err, errAdOther) }})
	adRun(t, l, adStatus(429))
	assert.Equal(t, 8, l.Limit())
	adRun(t, l, errAdOther)
	assert.Equal(t, 4, l.Limit())
}

func TestAdaptiveLimiterIsAPolicy(t *testing.T) {
	l := newTestAdaptive(t, AdaptiveConfig{})
	v, err := Execute(context.Background(), Pipeline(l, RetryPolicy{MaxAttempts: 1}), func(context.Context) (string, error) { return "ok", nil })
	require.NoError(t, err)
	assert.Equal(t, "ok", v)
	assert.ErrorIs(t, l.Do(context.Background(), nil), ErrInvalidArgument)

	fn := func(context.Context) error { return nil }
	ctx := context.Background()
	allocs := testing.AllocsPerRun(100, func() { _ = l.Do(ctx, fn) })
	assert.Equal(t, 0.0, allocs, "got %v allocations per call, want 0", allocs)
}

func TestAdaptiveLimiterConcurrentCallsStayWithinMax(t *testing.T) {
	l := newTestAdaptive(t, AdaptiveConfig{Initial: 4, Max: 8, SuccessesToGrow: 1})
	var cur, peak atomic.Int64
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			_ = l.Do(context.Background(), func(context.Context) error {
				n := cur.Add(1)
				defer cur.Add(-1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				if i%17 == 0 {
					return adStatus(429)
				}
				return nil
			})
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, peak.Load(), int64(8), "got peak concurrency %d, want at most Max 8", peak.Load())
	assert.Equal(t, 0, l.InFlight())
	assert.GreaterOrEqual(t, l.Limit(), 1)
	assert.LessOrEqual(t, l.Limit(), 8)
}

func BenchmarkAdaptiveLimiterDo(b *testing.B) {
	l, err := NewAdaptiveLimiter(AdaptiveConfig{Initial: 1000, Max: 1000})
	require.NoError(b, err)
	ctx := context.Background()
	fn := func(context.Context) error { return nil }
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = l.Do(ctx, fn)
		}
	})
}
