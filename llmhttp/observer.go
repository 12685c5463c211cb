package llmhttp

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/resilience-go/resilience"
)

// Observer watches the calls a [Transport] makes, for tracing and metrics
// (the resilienceotel module implements one). Set it with
// [Transport.Observe]. A transport without an observer pays one atomic load
// per call for the possibility.
type Observer interface {
	// StartCall is called once per RoundTrip, after the request body was
	// read and before the first attempt. It returns the observer of this
	// call, or nil to leave the call unobserved. ctx is the request's.
	StartCall(ctx context.Context, info CallInfo) CallObserver
}

// CallObserver watches one call ([Observer.StartCall]). Its methods are
// called one at a time, in this order: StartAttempt and EndAttempt once per
// attempt, then End once. It is not called concurrently with itself.
type CallObserver interface {
	// StartAttempt is called before attempt number n (1 for the first)
	// waits for the limiter and the breaker (after it took its slot of
	// Config.Adaptive, whose wait is outside the attempt; an attempt
	// that gets no slot is not observed). The context it returns is the
	// attempt's: the request sent to Config.Base carries it, so a tracing
	// base transport nests its spans under the attempt. It must return ctx
	// or a context derived from it.
	StartAttempt(ctx context.Context, n int) context.Context

	// EndAttempt is called when the attempt has a response's headers or
	// has failed.
	EndAttempt(ctx context.Context, a AttemptOutcome)

	// End is called once the call is over: when RoundTrip returns an error
	// or an error response, and for a success when the caller has read the
	// response body to its end or closed it (so a stream's duration and
	// usage are known). A body that is never closed never ends its call.
	End(c CallOutcome)
}

// CallInfo describes a call to [Observer.StartCall].
type CallInfo struct {
	// Request is the caller's request. Its body has been consumed; read
	// nothing from it.
	Request *http.Request
	// Operation is the GenAI operation the URL path names: "chat" (OpenAI
	// chat completions and responses, Anthropic messages), "embeddings",
	// "text_completion", or "" when the path is none of these.
	Operation string
	// Provider is "openai" or "anthropic" when the path or host names one,
	// else "".
	Provider string
	// Model is the "model" field of the JSON request body, or "".
	Model string
}

// AttemptOutcome is the result of one attempt, for
// [CallObserver.EndAttempt].
type AttemptOutcome struct {
	Number     int   // 1 for the first attempt
	StatusCode int   // the response's status; 0 when none arrived
	Err        error // nil for a success (status < 400)
	// ErrorType names the failure in few words ([ErrorType]); "" for a
	// success.
	ErrorType string
	// Duration is the time from StartAttempt to the response's headers or
	// the failure.
	Duration time.Duration
}

// CallOutcome is the result of a whole call, for [CallObserver.End].
type CallOutcome struct {
	Attempts   int   // attempts made
	StatusCode int   // the returned response's status; 0 when RoundTrip returned an error
	Err        error // RoundTrip's error, an error response's [*APIError], or a body read error
	// ErrorType names the failure ([ErrorType]); "" for a success.
	ErrorType string
	// ResponseModel is the "model" field of the response (of a stream's
	// events), or "" when it had none.
	ResponseModel string
	// Usage is the token usage the response reported.
	Usage Usage
	// Duration is the time from StartCall to the end of the call.
	Duration time.Duration
}

// Usage is the token usage a provider reported in a response: the "usage"
// object of an OpenAI chat completion, an OpenAI response or an Anthropic
// message, plain or streamed (the last chunk of an OpenAI chat stream with
// stream_options.include_usage, the response.completed event of an OpenAI
// responses stream, Anthropic's message_start and message_delta events).
type Usage struct {
	// InputTokens is prompt_tokens (OpenAI chat) or input_tokens.
	InputTokens int64
	// OutputTokens is completion_tokens (OpenAI chat) or output_tokens.
	OutputTokens int64
	// HasInput and HasOutput report whether the response gave each count.
	HasInput, HasOutput bool
}

// observerBox holds the Observer in an atomic.Pointer.
type observerBox struct{ o Observer }

// Observe makes o watch every call the transport starts from now on,
// replacing any earlier observer; nil removes it. Calls already running
// keep the observer they started with. Observe is safe for concurrent use.
func (t *Transport) Observe(o Observer) {
	if o == nil {
		t.obs.Store(nil)
		return
	}
	t.obs.Store(&observerBox{o: o})
}

// observedCall is the observer of one call and the time it started.
type observedCall struct {
	CallObserver
	start time.Time
}

// startObserving asks the transport's observer, if any, to watch c.
func (c *call) startObserving() {
	box := c.t.obs.Load()
	if box == nil {
		return
	}
	m := readMeta(c.buf)
	op, provider := describePath(c.req)
	start := time.Now()
	if o := box.o.StartCall(c.ctx, CallInfo{Request: c.req, Operation: op, Provider: provider, Model: m.model}); o != nil {
		c.obs = &observedCall{CallObserver: o, start: start}
	}
}

// observeAttempt runs one attempt under the call observer.
func (c *call) observeAttempt(ctx context.Context) (struct{}, error) {
	actx := c.obs.StartAttempt(ctx, int(c.n)+1)
	start := time.Now()
	_, err := c.attemptOnce(actx)
	a := AttemptOutcome{Number: int(c.n), Err: err, Duration: time.Since(start)}
	if c.resp != nil {
		a.StatusCode = c.resp.StatusCode
	}
	a.ErrorType = ErrorType(a.StatusCode, err)
	c.obs.EndAttempt(actx, a)
	return struct{}{}, err
}

// observeFinish reports the end of the call, or arranges for the body of a
// successful response to report it.
func (c *call) observeFinish(resp *http.Response, err error) {
	out := CallOutcome{Attempts: int(c.n), Err: err}
	if resp == nil {
		out.ErrorType = ErrorType(0, err)
		out.Duration = time.Since(c.obs.start)
		c.obs.End(out)
		return
	}
	out.StatusCode = resp.StatusCode
	if resp.StatusCode >= 400 {
		out.Err = c.apiErr
		if c.apiErr == nil {
			out.Err = newAPIError(resp, nil)
		}
		out.ErrorType = ErrorType(resp.StatusCode, nil)
		out.Duration = time.Since(c.obs.start)
		c.obs.End(out)
		return
	}
	if _, rw := resp.Body.(io.Writer); rw || resp.StatusCode == http.StatusSwitchingProtocols {
		// An upgraded connection (a WebSocket) is the caller's to keep:
		// its body must stay writable, so the call ends here.
		out.Duration = time.Since(c.obs.start)
		c.obs.End(out)
		return
	}
	resp.Body = &observedBody{rc: resp.Body, obs: c.obs, start: c.obs.start, out: out, sniff: newUsageSniffer(isStream(resp))}
}

// observedBody reports the end of a successful call when its body ends.
// Close may run while a Read is blocked (net/http allows it), so the usage
// reader is guarded.
type observedBody struct {
	rc    io.ReadCloser
	obs   CallObserver
	start time.Time
	out   CallOutcome

	mu    sync.Mutex
	sniff *usageSniffer
	ended bool
}

func (b *observedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.mu.Lock()
		if !b.ended {
			b.sniff.write(p[:n])
		}
		b.mu.Unlock()
	}
	switch {
	case err == io.EOF:
		b.end(nil)
	case err != nil:
		b.end(err)
	}
	return n, err
}

func (b *observedBody) Close() error {
	err := b.rc.Close()
	b.end(nil)
	return err
}

// end reports the call's end once.
func (b *observedBody) end(readErr error) {
	b.mu.Lock()
	if b.ended {
		b.mu.Unlock()
		return
	}
	b.ended = true
	out := b.out
	out.Duration = time.Since(b.start)
	out.Usage, out.ResponseModel = b.sniff.result()
	b.mu.Unlock()
	if readErr != nil {
		out.Err, out.ErrorType = readErr, ErrorType(0, readErr)
	}
	b.obs.End(out)
}

// ErrorType names the failure of an attempt or a call in a few words, for
// the error.type attribute of OpenTelemetry: the status code ("429",
// "503") for an HTTP error status; otherwise, from err, "timeout" (an
// attempt timeout or any [resilience.ErrTimeout]), "stream_stalled" (a
// [*StreamError]), "breaker_open" ([resilience.ErrOpen],
// [resilience.ErrHalfOpenLimit]), "canceled" (the caller's context ended),
// "retry_budget_exhausted", or "_OTHER" (a connection error, say). It returns "" for
// status < 400 and a nil err.
func ErrorType(status int, err error) string {
	if status >= 400 {
		return strconv.Itoa(status)
	}
	if err == nil {
		return ""
	}
	var se *StreamError
	var api *APIError
	switch {
	case errors.As(err, &api):
		return strconv.Itoa(api.Status)
	case errors.As(err, &se):
		return "stream_stalled"
	case errors.Is(err, ErrAttemptTimeout), errors.Is(err, resilience.ErrTimeout),
		errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, resilience.ErrOpen), errors.Is(err, resilience.ErrHalfOpenLimit):
		return "breaker_open"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, resilience.ErrRetryBudgetExhausted):
		return "retry_budget_exhausted"
	}
	return "_OTHER"
}

// describePath names the GenAI operation and provider of req from its URL.
func describePath(req *http.Request) (op, provider string) {
	p := strings.TrimSuffix(req.URL.Path, "/")
	switch {
	case strings.HasSuffix(p, "/chat/completions"):
		op, provider = "chat", "openai"
	case strings.HasSuffix(p, "/responses"):
		op, provider = "chat", "openai"
	case strings.HasSuffix(p, "/messages"):
		op, provider = "chat", "anthropic"
	case strings.HasSuffix(p, "/embeddings"):
		op, provider = "embeddings", "openai"
	case strings.HasSuffix(p, "/completions"):
		op, provider = "text_completion", "openai"
	}
	host := req.URL.Hostname()
	switch {
	case strings.HasSuffix(host, "anthropic.com"):
		provider = "anthropic"
	case strings.HasSuffix(host, "openai.com"):
		provider = "openai"
	}
	return op, provider
}
