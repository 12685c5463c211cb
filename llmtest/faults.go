package llmtest

import (
	"fmt"
	"math"
	"net/http"
	"time"
)

// Fault is what goes wrong with one request. The zero Fault means nothing
// does. Fields combine: Fault{Delay: time.Second, Status: 503} answers a 503
// after a second. Build one as a literal or with the constructors below.
type Fault struct {
	// Delay is added latency before the response headers. It ends early,
	// without an answer, when the client gives up or the server closes.
	// Negative is an error.
	Delay time.Duration

	// Hang holds the request without answering until the client gives up
	// (its context ends or it closes the connection) or the server closes.
	Hang bool

	// Status, when not 0, answers with this status (400..599) and a
	// provider-shaped JSON error body instead of a completion: OpenAI's
	// {"error":{"message","type","param","code"}} on OpenAI routes,
	// Anthropic's {"type":"error","error":{"type","message"}} on /v1/messages.
	Status int

	// ErrorType, Code and Message override the error body's fields; empty
	// ones are derived from Status and the route (Anthropic: 429
	// rate_limit_error, 529 overloaded_error, ...; OpenAI: 429 code
	// rate_limit_exceeded, 5xx server_error, ...). Code only appears in
	// OpenAI's shape. ErrorType and Message also shape the in-band error
	// event of [StreamErrorEvent].
	ErrorType, Code, Message string

	// RetryAfter sends "Retry-After" as whole seconds, rounded up. 0 sends
	// none; negative is an error.
	RetryAfter time.Duration

	// PreciseRetryAfter sends "retry-after-ms" in milliseconds (rounded up),
	// as OpenAI does. 0 sends none; negative is an error.
	PreciseRetryAfter time.Duration

	// ShouldRetry sends "x-should-retry" with this value: "true", "false" or
	// "" for no header.
	ShouldRetry string

	// Header is set on the response, whatever its status, after every other
	// header, so it can override them. It is sent as given, unchecked: use
	// it for malformed values ("Retry-After: -5", "retry-after-ms: soon")
	// that a client must survive.
	Header http.Header

	// FirstTokenDelay, on a stream, is the pause between the response
	// headers and the first event; on a plain reply it acts like Delay.
	// Negative is an error.
	FirstTokenDelay time.Duration

	// Stream breaks the body after After content chunks (a plain reply's
	// JSON body is broken halfway instead). See [StreamFault].
	Stream StreamFault

	// After is how many content chunks a stream delivers before Stream
	// strikes. A value past the last chunk strikes just before the
	// stream's closing events. Negative is an error.
	After int
}

// StreamFault is a way a response body breaks after its headers were sent
// with status 200.
type StreamFault int

const (
	// StreamOK delivers the whole body.
	StreamOK StreamFault = iota
	// StreamCut closes the connection mid-way, without the terminator (half
	// an event is written first): clients read io.ErrUnexpectedEOF.
	StreamCut
	// StreamTruncate ends the body cleanly but without the stream's
	// terminator (OpenAI's "data: [DONE]", Anthropic's content_block_stop,
	// message_delta and message_stop). A plain reply's JSON ends halfway.
	StreamTruncate
	// StreamStall stops sending and holds the connection open until the
	// client gives up or the server closes: an idle watchdog must fire.
	StreamStall
	// StreamErrorEvent sends an in-band error event and ends the stream:
	// OpenAI's `data: {"error":{...}}`, Anthropic's `event: error`. The
	// error type defaults to server_error (OpenAI) or overloaded_error
	// (Anthropic). Plain replies ignore it.
	StreamErrorEvent
)

var streamFaultNames = [...]string{"StreamOK", "StreamCut", "StreamTruncate", "StreamStall", "StreamErrorEvent"}

// String returns the constant's name, such as "StreamCut".
func (f StreamFault) String() string {
	if f >= 0 && int(f) < len(streamFaultNames) {
		return streamFaultNames[f]
	}
	return fmt.Sprintf("StreamFault(%d)", int(f))
}

// Error answers with status and a provider-shaped error body.
func Error(status int) Fault { return Fault{Status: status} }

// RateLimited answers 429 with "Retry-After" set to retryAfter in whole
// seconds (none when 0), as a provider over its rate limit does.
func RateLimited(retryAfter time.Duration) Fault {
	return Fault{Status: http.StatusTooManyRequests, RetryAfter: retryAfter}
}

// InsufficientQuota answers 429 with OpenAI's insufficient_quota error:
// the account is out of credit, and waiting will not help.
func InsufficientQuota() Fault {
	return Fault{Status: http.StatusTooManyRequests, ErrorType: "insufficient_quota", Code: "insufficient_quota",
		Message: "You exceeded your current quota, please check your plan and billing details."}
}

// Overloaded answers Anthropic's 529 overloaded_error.
func Overloaded() Fault { return Fault{Status: 529} }

// Latency delays the response headers by d.
func Latency(d time.Duration) Fault { return Fault{Delay: d} }

// Hang never answers: the request is held until the client gives up.
func Hang() Fault { return Fault{Hang: true} }

// SlowFirstToken sends the headers at once and the first event after d.
func SlowFirstToken(d time.Duration) Fault { return Fault{FirstTokenDelay: d} }

// CutStream closes the connection after n content chunks. See [StreamCut].
func CutStream(n int) Fault { return Fault{Stream: StreamCut, After: n} }

// TruncateStream ends the body cleanly after n content chunks without the
// stream's terminator. See [StreamTruncate].
func TruncateStream(n int) Fault { return Fault{Stream: StreamTruncate, After: n} }

// StallStream stops sending after n content chunks and holds the
// connection. See [StreamStall].
func StallStream(n int) Fault { return Fault{Stream: StreamStall, After: n} }

// ErrorEvent sends an in-band error event after n content chunks. See
// [StreamErrorEvent].
func ErrorEvent(n int) Fault { return Fault{Stream: StreamErrorEvent, After: n} }

func (f Fault) isZero() bool {
	return f.Delay == 0 && !f.Hang && f.Status == 0 && f.ErrorType == "" && f.Code == "" &&
		f.Message == "" && f.RetryAfter == 0 && f.PreciseRetryAfter == 0 && f.ShouldRetry == "" &&
		len(f.Header) == 0 && f.FirstTokenDelay == 0 && f.Stream == StreamOK && f.After == 0
}

func (f Fault) validate() error {
	switch {
	case f.Delay < 0:
		return invalid("Fault.Delay is %v; want >= 0", f.Delay)
	case f.FirstTokenDelay < 0:
		return invalid("Fault.FirstTokenDelay is %v; want >= 0", f.FirstTokenDelay)
	case f.RetryAfter < 0:
		return invalid("Fault.RetryAfter is %v; want >= 0", f.RetryAfter)
	case f.PreciseRetryAfter < 0:
		return invalid("Fault.PreciseRetryAfter is %v; want >= 0", f.PreciseRetryAfter)
	case f.Status != 0 && (f.Status < 400 || f.Status > 599):
		return invalid("Fault.Status is %d; want 0 or 400..599", f.Status)
	case f.ShouldRetry != "" && f.ShouldRetry != "true" && f.ShouldRetry != "false":
		return invalid(`Fault.ShouldRetry is %q; want "", "true" or "false"`, f.ShouldRetry)
	case f.Stream < StreamOK || f.Stream > StreamErrorEvent:
		return invalid("Fault.Stream is %v; want StreamOK..StreamErrorEvent", f.Stream)
	case f.After < 0:
		return invalid("Fault.After is %d; want >= 0", f.After)
	}
	return nil
}

// Rate is a fault drawn with probability P in [0, 1].
type Rate struct {
	P     float64
	Fault Fault
}

// Rates lists faults drawn at random: for each request one number u is drawn
// uniformly from [0, 1) and the first Rate whose cumulative P exceeds u
// applies; above their sum the request goes through. The P values must add
// up to at most 1. Example: 20% 429s and 5% 503s:
//
//	llmtest.Rates{{P: 0.20, Fault: llmtest.RateLimited(time.Second)}, {P: 0.05, Fault: llmtest.Error(503)}}
type Rates []Rate

func (rs Rates) validate() error {
	sum := 0.0
	for i, r := range rs {
		if math.IsNaN(r.P) || r.P < 0 || r.P > 1 {
			return invalid("Rates[%d].P is %v; want 0..1", i, r.P)
		}
		if err := r.Fault.validate(); err != nil {
			return fmt.Errorf("in Rates[%d]: %w", i, err)
		}
		sum += r.P
	}
	if sum > 1+1e-9 {
		return invalid("Rates add up to %v; want at most 1", sum)
	}
	return nil
}

// pick returns the fault that the draw u in [0, 1) selects.
func (rs Rates) pick(u float64) Fault {
	acc := 0.0
	for _, r := range rs {
		acc += r.P
		if u < acc {
			return r.Fault
		}
	}
	return Fault{}
}

// applyHeaders sets the retry-related headers of f, then f.Header.
func (f Fault) applyHeaders(h http.Header) {
	if f.RetryAfter > 0 {
		h.Set("Retry-After", fmt.Sprint(ceilSeconds(f.RetryAfter)))
	}
	if f.PreciseRetryAfter > 0 {
		h.Set("retry-after-ms", fmt.Sprint(int64((f.PreciseRetryAfter+time.Millisecond-1)/time.Millisecond)))
	}
	if f.ShouldRetry != "" {
		h.Set("x-should-retry", f.ShouldRetry)
	}
	for k, vs := range f.Header {
		h[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
}
