package resilience

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newTestRateLimiter(t *testing.T, cfg RateLimit) *RateLimiter {
	t.Helper()
	l, err := NewRateLimiter(cfg)
	require.NoError(t, err)
	return l
}

// waitTimes runs Wait for each token count in turn and returns when each
// returned, relative to the start.
func waitTimes(t *testing.T, l *RateLimiter, tokens ...int) []time.Duration {
	t.Helper()
	start := time.Now()
	var got []time.Duration
	for _, n := range tokens {
		require.NoError(t, l.Wait(t.Context(), n))
		got = append(got, time.Since(start))
	}
	return got
}

func TestRateLimiterSpacesCallsExactly(t *testing.T) {
	perSeventh := time.Duration(8571428572) // a minute / 7, rounded up
	tests := []struct {
		name   string
		cfg    RateLimit
		tokens []int
		want   []time.Duration
	}{
		{"60 RPM, burst 1: one a second", RateLimit{RequestsPerMinute: 60, RequestBurst: 1},
			[]int{0, 0, 0, 0}, []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second}},
		{"2 RPM, default burst: two at once, then one per 30 s", RateLimit{RequestsPerMinute: 2},
			[]int{0, 0, 0, 0}, []time.Duration{0, 0, 30 * time.Second, time.Minute}},
		{"7 RPM, burst 1: rounded up to the nanosecond", RateLimit{RequestsPerMinute: 7, RequestBurst: 1},
			[]int{0, 0, 0}, []time.Duration{0, perSeventh, 2 * perSeventh}},
		{"600 TPM: a full bucket, then 10 tokens a second", RateLimit{TokensPerMinute: 600},
			[]int{600, 100, 0, 50}, []time.Duration{0, 10 * time.Second, 10 * time.Second, 15 * time.Second}},
		{"both buckets: the later one decides", RateLimit{RequestsPerMinute: 60, RequestBurst: 1, TokensPerMinute: 600},
			[]int{600, 10, 100, 0}, []time.Duration{0, time.Second, 11 * time.Second, 12 * time.Second}},
		{"TPM unlimited: tokens are ignored", RateLimit{RequestsPerMinute: 60, RequestBurst: 1},
			[]int{1 << 40, 5}, []time.Duration{0, time.Second}},
		{"nothing limited", RateLimit{}, []int{0, 1000, 0}, []time.Duration{0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				got := waitTimes(t, newTestRateLimiter(t, tt.cfg), tt.tokens...)
				assert.Equal(t, tt.want, got, "got %v, want %v", got, tt.want)
			})
		})
	}
}

func TestRateLimiterConcurrentCallersFollowTheRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newTestRateLimiter(t, RateLimit{RequestsPerMinute: 600, RequestBurst: 10})
		start := time.Now()
		var mu sync.Mutex
		var got []time.Duration
		var wg sync.WaitGroup
		for range 30 {
			wg.Go(func() {
				assert.NoError(t, l.Wait(t.Context(), 0))
				mu.Lock()
				got = append(got, time.Since(start))
				mu.Unlock()
			})
		}
		wg.Wait()
		slices.Sort(got)
		for i, d := range got {
			want := time.Duration(max(0, i-9)) * 100 * time.Millisecond
			assert.Equal(t, want, d, "call %d: got %v, want %v", i, d, want)
		}
	})
}

func TestNewRateLimiterRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  RateLimit
	}{
		{"negative RPM", RateLimit{RequestsPerMinute: -1}},
		{"negative TPM", RateLimit{TokensPerMinute: -5}},
		{"RPM too large", RateLimit{RequestsPerMinute: MaxPerMinute + 1}},
		{"negative burst", RateLimit{RequestsPerMinute: 10, RequestBurst: -1}},
		{"burst above rate", RateLimit{TokensPerMinute: 10, TokenBurst: 11}},
		{"burst without rate", RateLimit{RequestBurst: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := NewRateLimiter(tt.cfg)
			assert.Nil(t, l)
			assert.ErrorIs(t, err, ErrInvalidArgument)
		})
	}
	l, err := NewRateLimiter(RateLimit{RequestsPerMinute: MaxPerMinute, TokensPerMinute: MaxPerMinute})
	require.NoError(t, err)
	require.NoError(t, l.Wait(context.Background(), MaxPerMinute))
}

func TestRateLimiterRejectsBadTokensWithoutWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newTestRateLimiter(t, RateLimit{RequestsPerMinute: 1, RequestBurst: 1, TokensPerMinute: 100, TokenBurst: 50})
		start := time.Now()
		for _, n := range []int{-1, 51, 1 << 50} {
			err := l.Wait(t.Context(), n)
			assert.ErrorIs(t, err, ErrInvalidArgument, "tokens %d", n)
		}
		assert.Equal(t, time.Duration(0), time.Since(start))
		// Nothing was reserved: the single request is still there.
		assert.Equal(t, []time.Duration{0}, waitTimes(t, l, 50))
		req, tok := l.Capacity()
		assert.Equal(t, 1, req)
		assert.Equal(t, 50, tok)
	})
}

func TestRateLimiterCancelGivesTheReservationBack(t *testing.T) {
	t.Run("one bucket", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := newTestRateLimiter(t, RateLimit{RequestsPerMinute: 1, RequestBurst: 1})
			start := time.Now()
			require.NoError(t, l.Wait(t.Context(), 0))
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error)
			go func() { done <- l.Wait(ctx, 0) }()
			time.Sleep(10 * time.Second)
			cancel()
			err := <-done
			assert.ErrorIs(t, err, context.Canceled)
			assert.Equal(t, 10*time.Second, time.Since(start))
			// The cancelled reservation is back: the next call gets the
			// slot at 60 s, not 120 s.
			require.NoError(t, l.Wait(t.Context(), 0))
			assert.Equal(t, time.Minute, time.Since(start))
		})
	})
	t.Run("request granted at once, tokens waited for", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := newTestRateLimiter(t, RateLimit{RequestsPerMinute: 2, TokensPerMinute: 60})
			start := time.Now()
			require.NoError(t, l.Wait(t.Context(), 60)) // the token bucket is empty
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error)
			go func() { done <- l.Wait(ctx, 30) }() // 30 s for the tokens
			time.Sleep(5 * time.Second)
			cancel()
			assert.ErrorIs(t, <-done, context.Canceled)
			// Both the request and the tokens came back: a request
			// without tokens goes at once, and 5 tokens are there at 5 s.
			require.NoError(t, l.Wait(t.Context(), 5))
			assert.Equal(t, 5*time.Second, time.Since(start))
		})
	})
}

func TestRateLimiterFailsFastWhenTheWaitPassesTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newTestRateLimiter(t, RateLimit{RequestsPerMinute: 1, RequestBurst: 1})
		start := time.Now()
		require.NoError(t, l.Wait(t.Context(), 0))
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		err := l.Wait(ctx, 0)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.NoError(t, ctx.Err(), "the context must still be live")
		assert.Equal(t, time.Duration(0), time.Since(start), "got a wait, want an immediate error")
		// Nothing was reserved.
		require.NoError(t, l.Wait(t.Context(), 0))
		assert.Equal(t, time.Minute, time.Since(start))
	})
}

func TestRateLimiterDoneContext(t *testing.T) {
	l := newTestRateLimiter(t, RateLimit{RequestsPerMinute: 1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, l.Wait(ctx, 0), context.Canceled)
	assert.NoError(t, l.Wait(context.Background(), 0), "the done context must not have taken the only request")
}

func TestRateLimiterCooldown(t *testing.T) {
	t.Run("new callers wait", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := newTestRateLimiter(t, RateLimit{})
			start := time.Now()
			l.Cooldown(start.Add(5 * time.Second))
			l.Cooldown(start.Add(2 * time.Second)) // earlier: ignored
			assert.Equal(t, []time.Duration{5 * time.Second, 5 * time.Second}, waitTimes(t, l, 0, 0))
		})
	})
	t.Run("callers already waiting wait longer", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := newTestRateLimiter(t, RateLimit{RequestsPerMinute: 60, RequestBurst: 1})
			start := time.Now()
			require.NoError(t, l.Wait(t.Context(), 0))
			done := make(chan time.Duration)
			go func() {
				assert.NoError(t, l.Wait(t.Context(), 0)) // due at 1 s
				done <- time.Since(start)
			}()
			time.Sleep(500 * time.Millisecond)
			l.Cooldown(start.Add(3 * time.Second))
			assert.Equal(t, 3*time.Second, <-done)
		})
	})
	t.Run("a past cooldown does nothing", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := newTestRateLimiter(t, RateLimit{})
			l.Cooldown(time.Now().Add(-time.Hour))
			assert.Equal(t, []time.Duration{0}, waitTimes(t, l, 0))
		})
	})
}

func TestReservationSettle(t *testing.T) {
	tests := []struct {
		name     string
		reserve  int
		settle   []int
		next     int
		wantNext time.Duration
	}{
		{"unused tokens come back", 600, []int{100}, 500, 0},
		{"only the first Settle counts", 600, []int{100, 600}, 500, 0},
		{"extra tokens are charged", 100, []int{400}, 300, 10 * time.Second},                // 200 left, 100 missing
		{"extra is capped at one bucket", 600, []int{1 << 40}, 1, 60100 * time.Millisecond}, // 600 owed, then 1
		{"negative counts as zero", 600, []int{-5}, 600, 0},
		{"exact estimate changes nothing", 300, []int{300}, 400, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newTestRateLimiter(t, RateLimit{TokensPerMinute: 600})
				start := time.Now()
				r, err := l.Reserve(t.Context(), tt.reserve)
				require.NoError(t, err)
				assert.Equal(t, tt.reserve, r.Tokens())
				for _, n := range tt.settle {
					r.Settle(n)
				}
				require.NoError(t, l.Wait(t.Context(), tt.next))
				assert.Equal(t, tt.wantNext, time.Since(start))
			})
		})
	}
	t.Run("no token bucket", func(t *testing.T) {
		l := newTestRateLimiter(t, RateLimit{RequestsPerMinute: 5})
		r, err := l.Reserve(context.Background(), 100)
		require.NoError(t, err)
		assert.Equal(t, 0, r.Tokens())
		r.Settle(1000) // no-op
		var zero Reservation
		zero.Settle(10) // no-op
	})
}

func TestRateLimiterUpdate(t *testing.T) {
	tests := []struct {
		name   string
		cfg    RateLimit
		status func(now time.Time) LimitStatus
		tokens []int
		want   []time.Duration
	}{
		{"server has fewer requests left: bucket lowered",
			RateLimit{RequestsPerMinute: 60},
			func(time.Time) LimitStatus { return LimitStatus{Requests: BucketStatus{Known: true, Remaining: 1}} },
			[]int{0, 0, 0}, []time.Duration{0, time.Second, 2 * time.Second}},
		{"server has more left: bucket unchanged",
			RateLimit{RequestsPerMinute: 2},
			func(time.Time) LimitStatus { return LimitStatus{Requests: BucketStatus{Known: true, Remaining: 500}} },
			[]int{0, 0, 0}, []time.Duration{0, 0, 30 * time.Second}},
		{"token bucket lowered",
			RateLimit{TokensPerMinute: 600},
			func(time.Time) LimitStatus { return LimitStatus{Tokens: BucketStatus{Known: true, Remaining: 100}} },
			[]int{100, 50}, []time.Duration{0, 5 * time.Second}},
		{"unknown remaining is ignored",
			RateLimit{RequestsPerMinute: 60},
			func(now time.Time) LimitStatus {
				return LimitStatus{Requests: BucketStatus{Remaining: 0, Reset: now.Add(time.Minute)}}
			},
			[]int{0}, []time.Duration{0}},
		{"empty unlimited bucket: cooldown of one unit's refill",
			RateLimit{},
			func(now time.Time) LimitStatus {
				return LimitStatus{Requests: BucketStatus{Known: true, Remaining: 0, Limit: 60, Reset: now.Add(time.Minute)}}
			},
			[]int{0, 0}, []time.Duration{time.Second, time.Second}},
		{"empty bucket, limit unknown: cooldown until reset",
			RateLimit{},
			func(now time.Time) LimitStatus {
				return LimitStatus{Tokens: BucketStatus{Known: true, Remaining: 0, Reset: now.Add(7 * time.Second)}}
			},
			[]int{0}, []time.Duration{7 * time.Second}},
		{"reset hours away: capped",
			RateLimit{},
			func(now time.Time) LimitStatus {
				return LimitStatus{Requests: BucketStatus{Known: true, Remaining: 0, Reset: now.Add(5 * time.Hour)}}
			},
			[]int{0}, []time.Duration{MaxUpdateCooldown}},
		{"reset in the past and nonsense counts ignored",
			RateLimit{RequestsPerMinute: 60},
			func(now time.Time) LimitStatus {
				return LimitStatus{
					Requests: BucketStatus{Known: true, Remaining: -3, Reset: now.Add(time.Hour)},
					Tokens:   BucketStatus{Known: true, Remaining: 0, Reset: now.Add(-time.Hour)},
				}
			},
			[]int{0}, []time.Duration{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newTestRateLimiter(t, tt.cfg)
				l.Update(tt.status(time.Now()))
				got := waitTimes(t, l, tt.tokens...)
				assert.Equal(t, tt.want, got, "got %v, want %v", got, tt.want)
			})
		})
	}
}

func TestRateLimiterIsAPolicy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newTestRateLimiter(t, RateLimit{RequestsPerMinute: 60, RequestBurst: 1})
		start := time.Now()
		var ran []time.Duration
		fn := func(context.Context) error { ran = append(ran, time.Since(start)); return nil }
		require.NoError(t, l.Do(t.Context(), fn))
		require.NoError(t, Pipeline(l).Do(t.Context(), fn))
		v, err := Execute(t.Context(), Pipeline(l, Timeout(time.Second)), func(context.Context) (int, error) { return 7, nil })
		require.NoError(t, err)
		assert.Equal(t, 7, v)
		assert.Equal(t, []time.Duration{0, time.Second}, ran)
		assert.Equal(t, 2*time.Second, time.Since(start))

		boom := errors.New("boom")
		assert.ErrorIs(t, l.Do(t.Context(), func(context.Context) error { return boom }), boom)
		assert.ErrorIs(t, l.Do(t.Context(), nil), ErrInvalidArgument)
	})
}

func TestRateLimiterDoesNotAllocateWhenNotWaiting(t *testing.T) {
	l := newTestRateLimiter(t, RateLimit{RequestsPerMinute: MaxPerMinute, TokensPerMinute: MaxPerMinute})
	ctx := context.Background()
	fn := func(context.Context) error { return nil }
	allocs := testing.AllocsPerRun(100, func() {
		_ = l.Wait(ctx, 10)
		_ = l.Do(ctx, fn)
	})
	assert.Equal(t, 0.0, allocs, "got %v allocations per call, want 0", allocs)

	al, err := NewAdaptiveLimiter(AdaptiveConfig{})
	require.NoError(t, err)
	p := Pipeline(l, al, RetryPolicy{})
	call := func(context.Context) (int, error) { return 1, nil }
	allocs = testing.AllocsPerRun(100, func() { _, _ = Execute(ctx, p, call) })
	assert.Equal(t, 1.0, allocs, "Execute through Pipeline(rate, adaptive, retry): got %v allocations, want 1", allocs)
}

func BenchmarkRateLimiterWait(b *testing.B) {
	l, err := NewRateLimiter(RateLimit{RequestsPerMinute: MaxPerMinute, TokensPerMinute: MaxPerMinute})
	require.NoError(b, err)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = l.Wait(ctx, 100)
		}
	})
}
