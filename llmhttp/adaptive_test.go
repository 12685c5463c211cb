package llmhttp

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resilience-go/resilience"
)

// newAdaptive returns a limiter starting at initial (also its maximum)
// that records its changes.
func newAdaptive(t *testing.T, initial int) (*resilience.AdaptiveLimiter, func() [][2]int) {
	t.Helper()
	var mu sync.Mutex
	var changes [][2]int
	a, err := resilience.NewAdaptiveLimiter(resilience.AdaptiveConfig{Min: 1, Max: initial, Initial: initial,
		OnLimitChange: func(from, to int) {
			mu.Lock()
			defer mu.Unlock()
			changes = append(changes, [2]int{from, to})
		}})
	require.NoError(t, err)
	return a, func() [][2]int {
		mu.Lock()
		defer mu.Unlock()
		return append([][2]int(nil), changes...)
	}
}

func TestAdaptiveLimiterLearnsFromEachAttempt(t *testing.T) {
	soon := map[string]string{"retry-after-ms": "1"}
	tests := []struct {
		name    string
		first   func(r *http.Request) (*http.Response, error) // the first attempt; later ones get a 200
		latency time.Duration                                 // AdaptiveLatency
		want    [][2]int
	}{
		{"429 with an empty bucket halves", func(r *http.Request) (*http.Response, error) {
			return respond(r, 429, map[string]string{"retry-after-ms": "1", "x-ratelimit-remaining-requests": "0"}, rateBody), nil
		}, 0, [][2]int{{8, 4}}},
		{"429 alone: no change", func(r *http.Request) (*http.Response, error) { return respond(r, 429, soon, rateBody), nil }, 0, nil},
		{"429 quota error: no change", func(r *http.Request) (*http.Response, error) { return respond(r, 429, nil, quotaBody), nil }, 0, nil},
		{"503 halves", func(r *http.Request) (*http.Response, error) { return respond(r, 503, nil, ""), nil }, 0, [][2]int{{8, 4}}},
		{"529 halves", func(r *http.Request) (*http.Response, error) { return respond(r, 529, nil, overloadAnt), nil }, 0, [][2]int{{8, 4}}},
		{"attempt timeout halves", hang, 0, [][2]int{{8, 4}}},
		{"slow answer halves", func(r *http.Request) (*http.Response, error) {
			time.Sleep(3 * time.Second)
			return respond(r, 200, nil, "ok"), nil
		}, 2 * time.Second, [][2]int{{8, 4}}},
		{"answer within AdaptiveLatency: no change", func(r *http.Request) (*http.Response, error) {
			time.Sleep(time.Second)
			return respond(r, 200, nil, "ok"), nil
		}, 2 * time.Second, nil},
		{"400: no change", func(r *http.Request) (*http.Response, error) { return respond(r, 400, nil, ctxLenBody), nil }, 0, nil},
		{"500: no change", func(r *http.Request) (*http.Response, error) { return respond(r, 500, nil, ""), nil }, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, changes := newAdaptive(t, 8)
				base := newFakeBase(func(n int, r *http.Request) (*http.Response, error) {
					if n == 1 {
						return tt.first(r)
					}
					return respond(r, 200, nil, "ok"), nil
				})
				tr := newTestTransport(t, Config{Base: base, Retry: fastRetry, AttemptTimeout: 10 * time.Second,
					Adaptive: a, AdaptiveLatency: tt.latency})
				resp, err := post(t, tr, t.Context(), "http://llm.test/", `{}`)
				require.NoError(t, err)
				readAll(t, resp)
				assert.Equal(t, tt.want, changes(), "limit changes (from, to)")
				assert.Zero(t, a.InFlight(), "slots held after the call")
			})
		})
	}
}

func TestAdaptiveLimiterBoundsAttemptsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, _ := newAdaptive(t, 2)
		base := newFakeBase(func(_ int, r *http.Request) (*http.Response, error) {
			time.Sleep(time.Second)
			return respond(r, 200, nil, "ok"), nil
		})
		tr := newTestTransport(t, Config{Base: base, Adaptive: a})
		callsApart(t, tr, 5, 0)
		assert.Equal(t, []time.Duration{0, 0, time.Second, time.Second, 2 * time.Second}, base.sent(),
			"two attempts at a time")
	})
}

func TestAdaptiveLimiterSlotIsFreeDuringARetryWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, _ := newAdaptive(t, 1)
		base := newFakeBase(func(n int, r *http.Request) (*http.Response, error) {
			if n == 1 {
				return respond(r, 429, map[string]string{"Retry-After": "5"}, rateBody), nil
			}
			return respond(r, 200, nil, "ok"), nil
		})
		tr := newTestTransport(t, Config{Base: base, Retry: exactRetry, Adaptive: a})
		// The only slot is free while the first call waits out its 429.
		callsApart(t, tr, 2, time.Second)
		assert.Equal(t, []time.Duration{0, time.Second, 5 * time.Second}, base.sent())
	})
}

func TestAdaptiveLimiterIgnoresAttemptsThatSayNothingAboutLoad(t *testing.T) {
	t.Run("open breaker", func(t *testing.T) {
		a, changes := newAdaptive(t, 8)
		br := countingBreaker(t)
		br.Trip(time.Hour)
		tr := newTestTransport(t, Config{Base: newFakeBase(nil), Retry: fastRetry, Breaker: br, Adaptive: a})
		_, err := post(t, tr, t.Context(), "http://llm.test/", `{}`)
		require.ErrorIs(t, err, resilience.ErrOpen)
		assert.Empty(t, changes())
	})
	t.Run("limiter wait past the deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, changes := newAdaptive(t, 8)
			lim, err := resilience.NewRateLimiter(resilience.RateLimit{RequestsPerMinute: 60})
			require.NoError(t, err)
			lim.Cooldown(time.Now().Add(time.Hour))
			base := newFakeBase(nil)
			tr := newTestTransport(t, Config{Base: base, Retry: fastRetry, Limiter: lim, Adaptive: a})
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			_, err = post(t, tr, ctx, "http://llm.test/", `{}`)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Empty(t, base.sent())
			assert.Empty(t, changes())
		})
	})
	t.Run("caller cancels", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, changes := newAdaptive(t, 8)
			ctx, cancel := context.WithCancel(t.Context())
			base := newFakeBase(func(_ int, r *http.Request) (*http.Response, error) {
				time.AfterFunc(time.Second, cancel)
				return hang(r)
			})
			tr := newTestTransport(t, Config{Base: base, Retry: fastRetry, Adaptive: a})
			_, err := post(t, tr, ctx, "http://llm.test/", `{}`)
			require.ErrorIs(t, err, context.Canceled)
			assert.Empty(t, changes())
			assert.Zero(t, a.InFlight())
		})
	})
}

func TestAdaptiveLimiterWaitEndsWithTheContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, _ := newAdaptive(t, 1)
		base := newFakeBase(hangFor(time.Hour))
		tr := newTestTransport(t, Config{Base: base, Adaptive: a})
		go func() { _, _ = post(t, tr, t.Context(), "http://llm.test/", `{}`) }() // holds the only slot
		synctest.Wait()
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_, err := post(t, tr, ctx, "http://llm.test/", `{}`)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Contains(t, err.Error(), "adaptive limiter")
		assert.Len(t, base.sent(), 1, "the second call never reached Base")
	})
}

// hangFor answers after d, or fails when the request ends first.
func hangFor(d time.Duration) func(int, *http.Request) (*http.Response, error) {
	return func(_ int, r *http.Request) (*http.Response, error) {
		select {
		case <-time.After(d):
			return respond(r, 200, nil, "ok"), nil
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
}
