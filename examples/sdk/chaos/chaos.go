package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/llmhttp"
	"github.com/resilience-go/resilience/llmtest"
)

// The workload, in provider time: the durations a real provider and client
// would see. A run divides every one of them by Scenario.Scale.
const (
	Latency        = 400 * time.Millisecond // an answered request's time to headers
	RetryAfter     = time.Second            // what a drawn 429 asks to wait
	AttemptTimeout = 20 * time.Second       // time to headers, per attempt: cuts hangs
	CallDeadline   = 2 * time.Minute        // per call, all attempts and waits included
	BaseDelay      = 500 * time.Millisecond // llmhttp's backoff before the first retry
	MaxDelay       = 8 * time.Second        // llmhttp's backoff cap
	MaxAttempts    = 20                     // llmhttp's attempts per call, the first included; the deadline bounds them too
	BreakerWindow  = 10 * time.Second       // the breaker's failure-rate window
	BreakerRate    = 0.5                    // the failure share that opens the breaker
	BreakerMin     = 20                     // calls the window needs before it may open
	BreakerWait    = 30 * time.Second       // how long an open breaker rejects calls
)

// The faults the server draws for each request it admits. The rest of the
// requests are answered after Latency.
const (
	P429  = 0.20 // 429 with Retry-After (and retry-after-ms)
	P5xx  = 0.05 // 503
	PHang = 0.02 // no answer until the client gives up
)

// Floor is the lowest amplification any client can reach while completing
// every call: each request draws a fault with probability P429+P5xx+PHang,
// whatever the client does, so a success costs 1/(1-p) requests on average.
var Floor = 1 / (1 - (P429 + P5xx + PHang))

// Scenario is one benchmark: the calls to make and how time is scaled.
type Scenario struct {
	Calls       int     // chat completions to make
	Concurrency int     // calls in flight at once
	Seed        uint64  // seeds the server's fault draws
	Scale       float64 // time runs this many times faster than at a real provider
	RPM         int     // the server's requests-per-minute limit, in provider time
	Burst       int     // the RateLimiter's burst; 0 means PerSecond, one second's share
	InMemory    bool    // serve over in-process pipes (for testing/synctest)
}

func (s Scenario) validate() error {
	switch {
	case s.Calls < 1:
		return fmt.Errorf("chaos: Calls must be >= 1, got %d", s.Calls)
	case s.Concurrency < 1:
		return fmt.Errorf("chaos: Concurrency must be >= 1, got %d", s.Concurrency)
	case math.IsNaN(s.Scale) || s.Scale < 1 || s.Scale > 1000:
		return fmt.Errorf("chaos: Scale must be in [1, 1000], got %v", s.Scale)
	case s.RPM < 60 || s.RPM > 1_000_000:
		return fmt.Errorf("chaos: RPM must be in [60, 1000000], got %d", s.RPM)
	case s.Burst < 0 || s.Burst > s.RPM:
		return fmt.Errorf("chaos: Burst must be in [0, RPM=%d], got %d", s.RPM, s.Burst)
	}
	return nil
}

// real converts a provider-time duration to the run's real time.
func (s Scenario) real(d time.Duration) time.Duration {
	return time.Duration(float64(d) / s.Scale)
}

// Provider converts a real duration measured in a run to provider time.
func (s Scenario) Provider(d time.Duration) time.Duration {
	return time.Duration(float64(d) * s.Scale)
}

// PerSecond is the server's RPM limit as it enforces it: requests per
// fixed window of one provider second.
func (s Scenario) PerSecond() int { return max(1, s.RPM/60) }

// burst is the RateLimiter's burst.
func (s Scenario) burst() int {
	if s.Burst == 0 {
		return s.PerSecond()
	}
	return s.Burst
}

// Client is one of the configurations compared.
type Client int

const (
	// SDKRetries is openai-go alone: its default 2 retries (3 attempts)
	// and a per-request timeout of AttemptTimeout, which ends hangs.
	SDKRetries Client = iota
	// Transport is llmhttp with retries and a breaker, no rate limiter,
	// and the SDK's retries off.
	Transport
	// Limited is Transport with a RateLimiter at the server's RPM.
	Limited
	// Adaptive is Limited with an AdaptiveLimiter around every call, as a
	// user would wrap the SDK call in a resilience policy.
	Adaptive
	// InTransport is Limited with an AdaptiveLimiter in llmhttp.Config,
	// which learns from every attempt instead of every call.
	InTransport
)

// Clients lists the configurations in the order the benchmark runs them.
var Clients = []Client{SDKRetries, Transport, Limited, Adaptive, InTransport}

// String names the configuration.
func (c Client) String() string {
	switch c {
	case SDKRetries:
		return "(a) openai-go retries"
	case Transport:
		return "(b) llmhttp"
	case Limited:
		return "(c) llmhttp + RateLimiter"
	case Adaptive:
		return "(d) (c) + AdaptiveLimiter"
	case InTransport:
		return "(e) (c) + Config.Adaptive"
	}
	return fmt.Sprintf("Client(%d)", int(c))
}

// Result is what one configuration's run observed, in real time.
type Result struct {
	Client    Client
	Calls, OK int
	Failures  map[string]int  // failed calls by reason
	Attempts  int             // requests the client side sent, counted under the SDK or llmhttp
	Stats     llmtest.Stats   // what the server saw
	Limited   int             // 429s from the server's RPM limit
	Latencies []time.Duration // per call, failed ones included, sorted
	Wall      time.Duration
	Limits    LimitTrace // the AdaptiveLimiter's limit, for (d) and (e)
}

// Run makes sc.Calls chat completions through openai-go, configured as c,
// against a fresh llmtest server, and collects what both sides counted.
// Run returns an error only when the benchmark cannot run; failed calls are
// in the Result.
func Run(ctx context.Context, sc Scenario, c Client) (Result, error) {
	if err := sc.validate(); err != nil {
		return Result{}, err
	}
	window := &rpmWindow{start: time.Now(), span: sc.real(time.Second), capacity: sc.PerSecond(), rpm: sc.RPM}
	retryAfter := sc.real(RetryAfter)
	srv, err := llmtest.NewServer(llmtest.Config{
		Seed:     sc.Seed,
		InMemory: sc.InMemory,
		FaultFor: window.fault,
		Rates: llmtest.Rates{
			{P: P429, Fault: llmtest.Fault{Status: http.StatusTooManyRequests, RetryAfter: retryAfter, PreciseRetryAfter: retryAfter}},
			{P: P5xx, Fault: llmtest.Error(http.StatusServiceUnavailable)},
			{P: PHang, Fault: llmtest.Hang()},
			{P: 1 - P429 - P5xx - PHang, Fault: llmtest.Latency(sc.real(Latency))},
		},
	})
	if err != nil {
		return Result{}, err
	}
	defer srv.Close()

	var base http.RoundTripper
	if sc.InMemory {
		base = srv.Transport()
	} else {
		dt := http.DefaultTransport.(*http.Transport).Clone() // the SDK's default, fresh per run
		defer dt.CloseIdleConnections()
		base = dt
	}
	counter := &countingTransport{next: base}
	client, err := newClient(sc, c, srv.URL, counter)
	if err != nil {
		return Result{}, err
	}

	res := Result{Client: c, Calls: sc.Calls, Failures: map[string]int{}, Latencies: make([]time.Duration, sc.Calls)}
	errs := make([]error, sc.Calls)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range min(sc.Concurrency, sc.Calls) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= sc.Calls {
					return
				}
				res.Latencies[i], errs[i] = call(ctx, sc, client.sdk, client.around)
			}
		})
	}
	wg.Wait()
	res.Wall = time.Since(start)
	if err := srv.WaitIdle(ctx); err != nil {
		return Result{}, fmt.Errorf("chaos: waiting for the server: %w", err)
	}
	for _, err := range errs {
		if err == nil {
			res.OK++
		} else {
			res.Failures[reason(err)]++
		}
	}
	slices.Sort(res.Latencies)
	res.Attempts = int(counter.n.Load())
	res.Stats = srv.Stats()
	res.Limited = window.rejected()
	if client.limits != nil {
		res.Limits = client.limits.snapshot()
	}
	return res, nil
}

// call makes one chat completion within CallDeadline, under adaptive
// when it is not nil.
func call(ctx context.Context, sc Scenario, client openai.Client, adaptive *resilience.AdaptiveLimiter) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, sc.real(CallDeadline))
	defer cancel()
	chat := func(ctx context.Context) error {
		_, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    "gpt-4.1-mini",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("say hello")},
		})
		return err
	}
	start := time.Now()
	var err error
	if adaptive != nil {
		err = adaptive.Do(ctx, chat)
	} else {
		err = chat(ctx)
	}
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w (%w)", errCallDeadline, err)
	}
	return time.Since(start), err
}

var errCallDeadline = errors.New("call deadline passed")

// reason sorts a failed call's error into a few kinds.
func reason(err error) string {
	var apiErr *openai.Error
	switch {
	case errors.Is(err, errCallDeadline):
		return "call deadline"
	case errors.As(err, &apiErr):
		return fmt.Sprintf("HTTP %d after retries", apiErr.StatusCode)
	case errors.Is(err, resilience.ErrOpen):
		return "breaker open"
	case errors.Is(err, llmhttp.ErrAttemptTimeout):
		return "attempt timeout after retries"
	case errors.Is(err, context.DeadlineExceeded):
		return "SDK request timeout (not retried by the SDK)"
	}
	return "other: " + err.Error()
}

// rpmWindow is the server's own RPM limit, enforced as OpenAI documents it
// does ("quantized": 6,000 RPM may be enforced as 100 requests per second):
// fixed windows of one provider second, each admitting RPM/60 requests. It
// answers the requests beyond with a 429 whose Retry-After is the rest of
// the window, and whose rate-limit headers say no request is left.
// llmtest's own Limits count fixed windows of a real minute, which a run
// of a few seconds never fills; hence this FaultFor. A request it admits
// goes on to the server's seeded draw (llmtest.Config.Rates).
type rpmWindow struct {
	start    time.Time
	span     time.Duration
	capacity int
	rpm      int

	mu    sync.Mutex
	index int64
	used  int
	over  int
}

func (w *rpmWindow) fault(*llmtest.Request) llmtest.Fault {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	idx := int64(max(now.Sub(w.start), 0) / w.span)
	if idx != w.index {
		w.index, w.used = idx, 0
	}
	if w.used < w.capacity {
		w.used++
		return llmtest.Fault{}
	}
	w.over++
	wait := w.start.Add(time.Duration(idx+1) * w.span).Sub(now)
	return llmtest.Fault{
		Status:            http.StatusTooManyRequests,
		ErrorType:         "requests",
		Code:              "rate_limit_exceeded",
		Message:           fmt.Sprintf("Rate limit reached for requests per min (RPM): Limit %d. Please try again in %v.", w.rpm, wait.Round(time.Millisecond)),
		RetryAfter:        wait,
		PreciseRetryAfter: wait,
		// As OpenAI's 429s do: the bucket is empty until the window ends.
		Header: http.Header{
			"X-Ratelimit-Limit-Requests":     {strconv.Itoa(w.rpm)},
			"X-Ratelimit-Remaining-Requests": {"0"},
			"X-Ratelimit-Reset-Requests":     {((wait + time.Millisecond - 1) / time.Millisecond * time.Millisecond).String()},
		},
	}
}

func (w *rpmWindow) rejected() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.over
}
