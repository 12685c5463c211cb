package main

import (
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/llmhttp"
)

// AdaptiveLatency is (e)'s Config.AdaptiveLatency, in provider time: an
// answer slower than this counts as overload. The server answers in
// Latency or not at all, so here only 429s, 503s and timeouts move the
// limit.
const AdaptiveLatency = 4 * Latency

// client is one configuration, built.
type client struct {
	sdk    openai.Client
	around *resilience.AdaptiveLimiter // (d): wraps every SDK call
	limits *limitTracker               // (d), (e): follows the adaptive limit
}

// newClient builds openai-go configured as c over base.
func newClient(sc Scenario, c Client, url string, base http.RoundTripper) (client, error) {
	opts := []option.RequestOption{option.WithBaseURL(url + "/v1/"), option.WithAPIKey("sk-chaos")}
	if c == SDKRetries {
		opts = append(opts, option.WithHTTPClient(&http.Client{Transport: base}),
			option.WithRequestTimeout(sc.real(AttemptTimeout)))
		return client{sdk: openai.NewClient(opts...)}, nil
	}
	breaker, err := resilience.NewBreaker(resilience.BreakerConfig{
		FailureRate:     BreakerRate,
		Window:          sc.real(BreakerWindow),
		MinCalls:        BreakerMin,
		RecoveryTimeout: sc.real(BreakerWait),
	})
	if err != nil {
		return client{}, err
	}
	cfg := llmhttp.Config{
		Base:           base,
		Retry:          resilience.RetryPolicy{MaxAttempts: MaxAttempts, BaseDelay: sc.real(BaseDelay), MaxDelay: sc.real(MaxDelay)},
		Breaker:        breaker,
		AttemptTimeout: sc.real(AttemptTimeout),
	}
	var cl client
	if c == Limited || c == Adaptive || c == InTransport {
		// The server's RPM in real time, with by default a burst of one
		// provider second's share: the server counts per second, not per
		// minute.
		cfg.Limiter, err = resilience.NewRateLimiter(resilience.RateLimit{
			RequestsPerMinute: int(float64(sc.RPM) * sc.Scale),
			RequestBurst:      sc.burst(),
		})
		if err != nil {
			return client{}, err
		}
	}
	if c == Adaptive || c == InTransport {
		cl.limits = &limitTracker{limit: sc.Concurrency, low: sc.Concurrency}
		adaptive, err := resilience.NewAdaptiveLimiter(resilience.AdaptiveConfig{
			Min: 1, Max: sc.Concurrency, Initial: sc.Concurrency, OnLimitChange: cl.limits.change,
		})
		if err != nil {
			return client{}, err
		}
		if c == Adaptive {
			cl.around = adaptive
		} else {
			cfg.Adaptive, cfg.AdaptiveLatency = adaptive, sc.real(AdaptiveLatency)
		}
	}
	t, err := llmhttp.NewTransport(cfg)
	if err != nil {
		return client{}, err
	}
	opts = append(opts, option.WithHTTPClient(&http.Client{Transport: t}), option.WithMaxRetries(0))
	cl.sdk = openai.NewClient(opts...)
	return cl, nil
}

// LimitTrace is how an AdaptiveLimiter's limit moved during a run.
type LimitTrace struct {
	Last, Low         int // the limit at the end, and the lowest it went
	Decreases, Raises int // changes down and up
}

// limitTracker records an AdaptiveLimiter's changes (its OnLimitChange).
type limitTracker struct {
	mu         sync.Mutex
	limit, low int
	down, up   int
}

func (l *limitTracker) change(from, to int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.limit, l.low = to, min(l.low, to)
	if to < from {
		l.down++
	} else {
		l.up++
	}
}

func (l *limitTracker) snapshot() LimitTrace {
	l.mu.Lock()
	defer l.mu.Unlock()
	return LimitTrace{Last: l.limit, Low: l.low, Decreases: l.down, Raises: l.up}
}

// countingTransport counts the requests it passes on: the attempts the
// client side sent.
type countingTransport struct {
	next http.RoundTripper
	n    atomic.Int64
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.next.RoundTrip(req)
}
