package llmhttp

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/resilience-go/resilience"
)

// Defaults of [Config], used where a field is 0.
const (
	// DefaultMaxRetryAfter caps the server-requested wait before a retry.
	DefaultMaxRetryAfter = 60 * time.Second
	// DefaultQuotaCooldown is how long the breaker stays open after a
	// response said the quota is exhausted.
	DefaultQuotaCooldown = 10 * time.Minute
	// DefaultMaxBodyBuffer is the largest request body kept in memory to be
	// sent again on a retry.
	DefaultMaxBodyBuffer = 8 << 20
)

// maxErrorBody is how much of an error response's body is read to classify
// it.
const maxErrorBody = 64 << 10

// Config configures a [Transport]. The zero value is usable: 3 attempts
// with jittered exponential backoff from 1 s, no breaker, no rate limiter,
// no timeouts.
type Config struct {
	// Base sends each attempt. nil means http.DefaultTransport. It must
	// end a request when the request's context ends (every net/http
	// transport does): the attempt timeout and the stream watchdog rely on
	// it. The context of an attempt answered with a 101 Switching
	// Protocols ends as soon as the response is handed back, so the
	// upgraded connection must not depend on it (net/http's does not: it
	// hands the connection over to the caller).
	Base http.RoundTripper

	// Retry is the retry policy over attempts. Its zero value makes 3
	// attempts; an upgrade request (a WebSocket handshake) gets one. The
	// transport decides which attempts may be retried (Classify); a
	// RetryIf set here can only refuse more retries. A
	// server's wait (Retry-After) lengthens the delay, capped by
	// MaxRetryAfter; when the wait cannot fit before the request's
	// deadline, the transport gives up at once with the last response.
	Retry resilience.RetryPolicy

	// Breaker, when set, guards every attempt. Attempts Classify marks as
	// failures count; successes count as successes; the rest (429s, other
	// 4xx, the caller's cancellation) reach the breaker marked
	// [resilience.Uncounted], so it ignores them whatever its IsFailure
	// says. An open breaker fails the request at once with an error wrapping
	// resilience.ErrOpen.
	Breaker *resilience.Breaker

	// Breakers, when set instead of Breaker, keeps one breaker per
	// BreakerKey (by default per host and model), so one failing model
	// does not block the others. Setting both is an error.
	Breakers *resilience.BreakerGroup

	// BreakerKey names the breaker of Breakers that guards req; model is
	// the "model" field of the JSON request body, or "" when there is
	// none. nil means the host, a space and the model.
	BreakerKey func(req *http.Request, model string) string

	// Limiter, when set, is waited on before every attempt for one request
	// and the request's estimated tokens (EstimateTokens, capped at the
	// limiter's token capacity). Every response's rate-limit headers
	// update it (resilience.RateLimiter.Update). The wait a 429 asks for
	// becomes a cooldown for every caller (resilience.RateLimiter.Cooldown)
	// only when the 429 says the account, not this request, is out of
	// budget: a rate-limit header reports 0 remaining
	// (x-ratelimit-remaining-requests or -tokens,
	// anthropic-ratelimit-*-remaining), or the body reports an exhausted
	// quota ([Decision].Quota). Any other 429 delays only its own
	// request's retry.
	Limiter *resilience.RateLimiter

	// Adaptive, when set, bounds how many attempts are in flight at once,
	// with a limit that adapts to the provider (see [resilience.AdaptiveLimiter]):
	// each attempt takes a slot before the Limiter and the breaker, and
	// gives it back, with a verdict, as soon as its response headers
	// arrive (a streamed body does not hold it) or it fails; a retry's
	// wait holds no slot. The verdict is the attempt's error as the
	// limiter's IsOverload judges it: by default a 503 or 529, an attempt
	// timeout, and a 429 whose rate-limit headers say a bucket is empty
	// halve the limit; a success grows it; an answer slower than
	// AdaptiveLatency counts as an overload (an error matching
	// [resilience.ErrTimeout]). Attempts that say nothing about the
	// provider's load leave the limit alone: refused by the breaker or the
	// Limiter, ended by the caller, or a 429 without an empty bucket (an
	// exhausted quota, or a refusal of that request alone, as for the
	// Limiter's cooldown). One AdaptiveLimiter may be shared by several
	// transports to the same provider.
	Adaptive *resilience.AdaptiveLimiter

	// AdaptiveLatency, with Adaptive, is the time to response headers
	// above which a successful attempt counts as a sign of overload. 0
	// means latency alone never shrinks the limit. Allowed only with
	// Adaptive.
	AdaptiveLatency time.Duration

	// EstimateTokens estimates the tokens a request will use from its
	// body, for the Limiter. nil means [DefaultEstimateTokens].
	EstimateTokens func(body []byte) int

	// AttemptTimeout bounds the wait for each attempt's response headers
	// (and for the body of an error response). An attempt cut by it is
	// retried and counted as a failure; its error wraps
	// [ErrAttemptTimeout]. 0 means none.
	AttemptTimeout time.Duration

	// MaxRetryAfter caps the wait a server asks for before a retry
	// (retry-after-ms, Retry-After). 0 means DefaultMaxRetryAfter (60 s).
	MaxRetryAfter time.Duration

	// QuotaCooldown is how long the breaker is forced open after a
	// response said the quota is exhausted (see [Decision].Quota). 0 means
	// DefaultQuotaCooldown (10 min).
	QuotaCooldown time.Duration

	// StreamFirstByteTimeout bounds how long a Read of a streaming
	// response's body (text/event-stream) may wait for the body's first
	// byte. 0 means none.
	StreamFirstByteTimeout time.Duration

	// StreamIdleTimeout bounds how long a Read of a streaming response's
	// body may wait for data once a byte has arrived. 0 means none.
	//
	// Both limits time only a Read that is blocked waiting for the server:
	// the time the caller spends between Reads (a slow consumer) never
	// counts. A stalled stream's body returns a [*StreamError] and its
	// request is cancelled.
	StreamIdleTimeout time.Duration

	// MaxBodyBuffer is the largest request body kept in memory to be sent
	// again on a retry. A larger body is replayed with the request's
	// GetBody when it has one, and is otherwise sent once, without retries.
	// 0 means DefaultMaxBodyBuffer (8 MiB).
	MaxBodyBuffer int

	// Classify decides what follows an attempt. nil means
	// [DefaultClassify].
	Classify func(Attempt) Decision

	// ReturnErrors makes RoundTrip return an [*APIError] (with its body
	// read and closed) instead of the last response when the attempts end
	// on an HTTP error status. Leave it false with an SDK: the SDK builds
	// its own error type from the response.
	ReturnErrors bool

	// Logger receives a warning when the SDK retries on its own, a warning
	// when a quota error trips the breaker, and debug lines for retries
	// and for headers ignored as nonsense. nil means no logging.
	Logger *slog.Logger
}

func (c *Config) validate() error {
	bad := func(field string, v any) error {
		return fmt.Errorf("llmhttp: Config.%s must be >= 0, got %v: %w", field, v, resilience.ErrInvalidArgument)
	}
	switch {
	case c.AttemptTimeout < 0:
		return bad("AttemptTimeout", c.AttemptTimeout)
	case c.MaxRetryAfter < 0:
		return bad("MaxRetryAfter", c.MaxRetryAfter)
	case c.QuotaCooldown < 0:
		return bad("QuotaCooldown", c.QuotaCooldown)
	case c.StreamFirstByteTimeout < 0:
		return bad("StreamFirstByteTimeout", c.StreamFirstByteTimeout)
	case c.StreamIdleTimeout < 0:
		return bad("StreamIdleTimeout", c.StreamIdleTimeout)
	case c.MaxBodyBuffer < 0:
		return bad("MaxBodyBuffer", c.MaxBodyBuffer)
	case c.AdaptiveLatency < 0:
		return bad("AdaptiveLatency", c.AdaptiveLatency)
	case c.AdaptiveLatency > 0 && c.Adaptive == nil:
		return fmt.Errorf("llmhttp: Config.AdaptiveLatency needs Config.Adaptive: %w", resilience.ErrInvalidArgument)
	case c.Breaker != nil && c.Breakers != nil:
		return fmt.Errorf("llmhttp: set Config.Breaker or Config.Breakers, not both: %w", resilience.ErrInvalidArgument)
	case c.BreakerKey != nil && c.Breakers == nil:
		return fmt.Errorf("llmhttp: Config.BreakerKey needs Config.Breakers: %w", resilience.ErrInvalidArgument)
	}
	if err := c.Retry.Validate(); err != nil {
		return fmt.Errorf("llmhttp: Config.Retry: %w", err)
	}
	return nil
}

// Transport is an [http.RoundTripper] that makes LLM API calls resilient:
// per request it waits for the rate limiter, asks the circuit breaker,
// sends the attempt with a time-to-headers timeout, classifies the outcome
// ([DefaultClassify]) and retries with backoff, honouring the server's
// Retry-After. Use it as the transport of the http.Client given to any SDK,
// with the SDK's own retries turned off:
//
//	t, err := llmhttp.NewTransport(llmhttp.Config{AttemptTimeout: 30 * time.Second})
//	client := openai.NewClient(option.WithHTTPClient(&http.Client{Transport: t}), option.WithMaxRetries(0))
//
// What RoundTrip returns:
//   - a response with status < 400: at once, as soon as its headers
//     arrive; a streaming body is watched for stalls;
//   - a 101 Switching Protocols: exactly as Base returned it, its Body the
//     upgraded connection (see the package's WebSocket notes); an upgrade
//     request (Connection: Upgrade) is never retried;
//   - a response with an error status, once no retry is left or allowed:
//     the last response, unchanged and readable, so the SDK reports its
//     own typed error (or an [*APIError] with Config.ReturnErrors);
//   - an error, when no response can be returned: the caller's context
//     ended (the error wraps ctx.Err()), the last attempt failed to
//     connect or timed out, the breaker is open (wraps resilience.ErrOpen),
//     or the limiter refused. It is a [*resilience.RetryError] holding the
//     attempt count, except when the request body could not be read.
//
// Every returned response carries the attempt count in [AttemptsHeader].
// Responses of abandoned attempts are closed. A Transport is safe for
// concurrent use.
type Transport struct {
	cfg      Config
	base     http.RoundTripper
	classify func(Attempt) Decision
	log      *slog.Logger
	warned   atomic.Bool                 // the SDK-retry warning was logged
	obs      atomic.Pointer[observerBox] // set by Observe; nil: none
}

var _ http.RoundTripper = (*Transport)(nil)

// NewTransport returns a Transport configured by cfg. A negative duration
// or size, an invalid Retry policy, or both Breaker and Breakers set is an
// error wrapping [resilience.ErrInvalidArgument].
func NewTransport(cfg Config) (*Transport, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	t := &Transport{cfg: cfg, base: cfg.Base, classify: cfg.Classify, log: cfg.Logger}
	if t.base == nil {
		t.base = http.DefaultTransport
	}
	if t.classify == nil {
		t.classify = DefaultClassify
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if t.cfg.MaxRetryAfter == 0 {
		t.cfg.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if t.cfg.QuotaCooldown == 0 {
		t.cfg.QuotaCooldown = DefaultQuotaCooldown
	}
	if t.cfg.MaxBodyBuffer == 0 {
		t.cfg.MaxBodyBuffer = DefaultMaxBodyBuffer
	}
	return t, nil
}

// RoundTrip sends req with rate limiting, a breaker, attempt timeouts and
// retries; see [Transport] for what it returns. It does not modify req and
// always closes req.Body.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.noteSDKRetry(req)
	c, err := t.newCall(req)
	if err != nil {
		return nil, err
	}
	p := t.cfg.Retry
	if !c.replayable || c.upgrade {
		p.MaxAttempts = 1
	}
	userRetryIf, userOnRetry := p.RetryIf, p.OnRetry
	p.RetryIf = func(err error) bool { return c.retry && (userRetryIf == nil || userRetryIf(err)) }
	p.OnRetry = func(ev resilience.RetryEvent) {
		c.abandon()
		t.log.Debug("llmhttp: retrying", "url", req.URL.Redacted(), "attempt", ev.Attempt, "delay", ev.Delay, "err", ev.Err)
		if userOnRetry != nil {
			userOnRetry(ev)
		}
	}
	attempt := c.attempt
	if t.cfg.Adaptive != nil {
		attempt = c.adaptiveAttempt
	}
	_, err = resilience.Retry(req.Context(), p, attempt)
	return c.finish(err)
}

// CloseIdleConnections closes the idle connections of Base, when it has
// such a method (as http.Client.CloseIdleConnections expects).
func (t *Transport) CloseIdleConnections() {
	if ci, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// noteSDKRetry logs, once per Transport, that the SDK retries on its own:
// its retries multiply ours.
func (t *Transport) noteSDKRetry(req *http.Request) {
	v := req.Header.Get("X-Stainless-Retry-Count")
	if v == "" || t.warned.Load() {
		return
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 && t.warned.CompareAndSwap(false, true) {
		t.log.Warn("llmhttp: the SDK is retrying on its own (X-Stainless-Retry-Count > 0): turn its retries off "+
			"(for example option.WithMaxRetries(0)) or each of its retries repeats all of the transport's attempts",
			"url", req.URL.Redacted(), "retry_count", n)
	}
}

// updateLimiter feeds a response's rate-limit headers to the limiter.
func (t *Transport) updateLimiter(h http.Header, now time.Time) {
	if t.cfg.Limiter == nil {
		return
	}
	s, errs := parseLimitStatus(h, now)
	for _, err := range errs {
		t.log.Debug("llmhttp: ignoring a rate-limit header", "err", err)
	}
	if s.Requests.Known || s.Tokens.Known {
		t.cfg.Limiter.Update(s)
	}
}

// serverWait returns the wait a response asks for, capped at MaxRetryAfter.
func (t *Transport) serverWait(h http.Header, now time.Time) (time.Duration, bool) {
	d, err := parseRetryAfter(h, now)
	if err != nil {
		if err != errNoHeader {
			t.log.Debug("llmhttp: ignoring a retry-after header", "err", err)
		}
		return 0, false
	}
	return min(d, t.cfg.MaxRetryAfter), true
}

// DefaultEstimateTokens estimates the tokens of a JSON LLM request: its
// "max_tokens" (or "max_completion_tokens", "max_output_tokens") plus a
// quarter of the body's length for the prompt, the usual rule of thumb of
// four bytes per token. Bodies that are not JSON count by length alone.
func DefaultEstimateTokens(body []byte) int {
	return len(body)/4 + readMeta(body).maxTokens
}

// meta is what the transport reads from a JSON request body.
type meta struct {
	model     string
	maxTokens int
}

func readMeta(body []byte) meta {
	var v struct {
		Model               string `json:"model"`
		MaxTokens           *int   `json:"max_tokens"`
		MaxCompletionTokens *int   `json:"max_completion_tokens"`
		MaxOutputTokens     *int   `json:"max_output_tokens"`
	}
	if len(body) == 0 || json.Unmarshal(body, &v) != nil {
		return meta{}
	}
	m := meta{model: v.Model}
	for _, p := range []*int{v.MaxTokens, v.MaxCompletionTokens, v.MaxOutputTokens} {
		if p != nil && *p > 0 {
			m.maxTokens = max(m.maxTokens, min(*p, resilience.MaxPerMinute))
		}
	}
	return m
}

// readUpTo reads r until EOF or n bytes, reporting whether it reached EOF.
func readUpTo(r io.Reader, n int) ([]byte, bool, error) {
	buf, err := io.ReadAll(io.LimitReader(r, int64(n)+1))
	if err != nil {
		return nil, false, err
	}
	if len(buf) > n {
		return buf, false, nil
	}
	return buf, true, nil
}
