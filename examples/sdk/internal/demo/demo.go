// Package demo runs the same resilience scenarios through any LLM SDK. Each
// SDK's program supplies a [Chat] built on the *http.Client it is handed;
// demo supplies the fake provider (llmtest), the resilient transport
// (llmhttp) under that client, and a ledger that proves retries did not
// multiply. Nothing here is specific to one SDK: that is the point of
// making SDKs resilient through their HTTP client.
package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/llmhttp"
	"github.com/resilience-go/resilience/llmtest"
)

// The models the scenarios ask for. The fake provider answers
// "<model>: <prompt>", so an answer names the model that gave it.
const (
	PrimaryModel  = "primary-model"
	FallbackModel = "fallback-model"
)

// Settings of the resilient transport. They are short so that the programs
// run in a few seconds of real time; the tests run the same scenarios on
// testing/synctest's fake clock, where they take no time at all.
const (
	MaxAttempts       = 3                      // per call, the first included
	BaseDelay         = 100 * time.Millisecond // backoff before the first retry
	MaxDelay          = 2 * time.Second        // backoff cap
	AttemptTimeout    = time.Second            // per attempt, to response headers
	StreamIdleTimeout = time.Second            // longest silence inside a stream
	BreakerThreshold  = 3                      // consecutive failures that open a model's breaker
	BreakerRecovery   = 30 * time.Second       // how long an open breaker rejects calls
	FallbackTimeout   = 10 * time.Second       // how long the primary model may take before the fallback
	RetryAfter        = time.Second            // the wait the fake provider's 429 asks for
)

// Chat sends one prompt to model through an SDK and returns the reply's
// text; stream selects the SDK's streaming API, read to its end.
type Chat func(ctx context.Context, model, prompt string, stream bool) (string, error)

// NewChat builds a Chat on an SDK client whose base URL is baseURL (the
// fake provider's root, without /v1) and whose HTTP client is hc, with the
// SDK's own retries turned off.
type NewChat func(baseURL string, hc *http.Client) Chat

// Env says how scenarios run.
type Env struct {
	// NewChat wires the SDK under test.
	NewChat NewChat
	// InMemory serves the fake provider over in-process pipes; set it when
	// running inside a testing/synctest bubble.
	InMemory bool
	// Logger receives the transport's warnings and debug lines; nil means none.
	Logger *slog.Logger
}

// NewTransport returns the resilient transport the scenarios put under the
// SDK: one circuit breaker per host and model, so a failing model does not
// block its fallback; a rate limiter that follows the provider's headers
// and 429s; MaxAttempts attempts with jittered backoff and the server's
// Retry-After; a time-to-headers timeout per attempt; a stream watchdog.
func NewTransport(base http.RoundTripper, logger *slog.Logger) (*llmhttp.Transport, error) {
	breakers, err := resilience.NewBreakerGroup(resilience.BreakerGroupConfig{
		Breaker: resilience.BreakerConfig{FailureThreshold: BreakerThreshold, RecoveryTimeout: BreakerRecovery},
	})
	if err != nil {
		return nil, err
	}
	limiter, err := resilience.NewRateLimiter(resilience.RateLimit{RequestsPerMinute: 600, TokensPerMinute: 1_000_000})
	if err != nil {
		return nil, err
	}
	return llmhttp.NewTransport(llmhttp.Config{
		Base:                   base,
		Retry:                  resilience.RetryPolicy{MaxAttempts: MaxAttempts, BaseDelay: BaseDelay, MaxDelay: MaxDelay},
		Breakers:               breakers,
		Limiter:                limiter,
		AttemptTimeout:         AttemptTimeout,
		StreamFirstByteTimeout: AttemptTimeout,
		StreamIdleTimeout:      StreamIdleTimeout,
		Logger:                 logger,
	})
}

// Meter sits between an SDK and the resilient transport and keeps the
// ledger: how many requests the SDK handed over, and how many attempts the
// transport reports having sent for them. Safe for concurrent use.
type Meter struct {
	Next        http.RoundTripper
	calls, sent atomic.Int64
}

// RoundTrip passes req to Next and books its attempts.
func (m *Meter) RoundTrip(req *http.Request) (*http.Response, error) {
	m.calls.Add(1)
	resp, err := m.Next.RoundTrip(req)
	m.sent.Add(int64(SentAttempts(resp, err)))
	return resp, err
}

// CloseIdleConnections closes Next's idle connections.
func (m *Meter) CloseIdleConnections() {
	if ci, ok := m.Next.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// Calls is the number of requests the SDK made.
func (m *Meter) Calls() int { return int(m.calls.Load()) }

// Sent is the number of attempts the transport sent to the server.
func (m *Meter) Sent() int { return int(m.sent.Load()) }

// SentAttempts reads how many attempts llmhttp sent for one request: the
// count it writes on every response ([llmhttp.Attempts]) or, when it
// returned an error, the [resilience.RetryError]'s count, less a last
// attempt that an open breaker rejected before sending.
func SentAttempts(resp *http.Response, err error) int {
	if resp != nil {
		return llmhttp.Attempts(resp)
	}
	var re *resilience.RetryError
	if !errors.As(err, &re) {
		return 0
	}
	n := re.Attempts
	if errors.Is(re.Last, resilience.ErrOpen) || errors.Is(re.Last, resilience.ErrHalfOpenLimit) {
		n--
	}
	return n
}

// Answer is one call of the storm scenario.
type Answer struct {
	Text       string // the reply, from whichever model gave it
	Err        error  // the call's error when both models failed
	PrimaryErr error  // why the primary model did not answer, or nil
}

// Result is what a scenario observed.
type Result struct {
	Name    string
	Text    string        // the reply's text (partial for a broken stream)
	Err     error         // the SDK's error, or nil
	Answers []Answer      // the storm scenario's calls
	Calls   int           // requests the SDK made to the transport
	Sent    int           // attempts the transport sent to the server
	Stats   llmtest.Stats // the server's counters at the end
	Elapsed time.Duration // from the first call to the last result
}

// Scenario is one situation, run through an SDK.
type Scenario struct {
	Name string
	Run  func(ctx context.Context, env Env) (Result, error)
}

// run starts a fake provider configured by cfg with script queued, builds
// the SDK's Chat over the metered resilient transport, times body, and
// collects the ledger once the server is idle.
func run(ctx context.Context, env Env, name string, cfg llmtest.Config, script []llmtest.Fault,
	body func(ctx context.Context, chat Chat, res *Result)) (Result, error) {
	cfg.InMemory = env.InMemory
	if cfg.Reply == nil {
		cfg.Reply = func(req *llmtest.Request) string { return req.Model + ": " + llmtest.Echo(req) }
	}
	srv, err := llmtest.NewServer(cfg)
	if err != nil {
		return Result{}, err
	}
	defer srv.Close()
	if err := srv.Script(script...); err != nil {
		return Result{}, err
	}
	t, err := NewTransport(srv.Transport(), env.Logger)
	if err != nil {
		return Result{}, err
	}
	m := &Meter{Next: t}
	hc := &http.Client{Transport: m}
	defer hc.CloseIdleConnections()
	chat := env.NewChat(srv.URL, hc)

	res := Result{Name: name}
	start := time.Now()
	body(ctx, chat, &res)
	res.Elapsed = time.Since(start)
	if err := srv.WaitIdle(ctx); err != nil {
		return Result{}, fmt.Errorf("waiting for the fake provider: %w", err)
	}
	res.Calls, res.Sent, res.Stats = m.Calls(), m.Sent(), srv.Stats()
	return res, nil
}
