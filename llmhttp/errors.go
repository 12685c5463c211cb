package llmhttp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/resilience-go/resilience"
)

// AttemptsHeader is set on every response [Transport] returns: the number
// of attempts the transport made for the request, "1" when it was not
// retried. See also [Attempts].
const AttemptsHeader = "X-Resilience-Attempts"

// Attempts returns the attempt count [Transport] recorded on resp, or 0 when
// resp is nil or did not come through a Transport.
func Attempts(resp *http.Response) int {
	if resp == nil {
		return 0
	}
	n, err := strconv.Atoi(resp.Header.Get(AttemptsHeader))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// ErrAttemptTimeout is wrapped by the error of an attempt whose response
// headers did not arrive within Config.AttemptTimeout. That error also
// matches [resilience.ErrTimeout] and [context.DeadlineExceeded], and has
// a method Timeout() reporting true.
var ErrAttemptTimeout = errors.New("llmhttp: no response headers within the attempt timeout")

// attemptTimeoutError is the error of an attempt cut by AttemptTimeout.
type attemptTimeoutError struct {
	d   time.Duration
	err error // what the base transport returned, if anything
}

func (e *attemptTimeoutError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("%v (%v)", ErrAttemptTimeout, e.d)
	}
	return fmt.Sprintf("%v (%v): %v", ErrAttemptTimeout, e.d, e.err)
}

func (e *attemptTimeoutError) Is(target error) bool {
	return target == ErrAttemptTimeout || target == resilience.ErrTimeout || target == context.DeadlineExceeded
}

func (e *attemptTimeoutError) Unwrap() error { return e.err }
func (e *attemptTimeoutError) Timeout() bool { return true }

// StreamError is returned by the body of a streaming response (content type
// text/event-stream) that stalled: a Read waited
// Config.StreamFirstByteTimeout for the first byte, or
// Config.StreamIdleTimeout for data after an earlier byte. It wraps [resilience.ErrFirstItemTimeout] or
// [resilience.ErrIdleTimeout] respectively, matches [resilience.ErrTimeout],
// and has a method Timeout() reporting true. The request is cancelled.
type StreamError struct {
	Waited   time.Duration // how long no byte came
	Received int64         // bytes received before the stall
	err      error
}

// Error says which limit the stream missed, and after how many bytes.
func (e *StreamError) Error() string {
	if errors.Is(e.err, resilience.ErrFirstItemTimeout) {
		return fmt.Sprintf("llmhttp: stream stalled: no first byte within %v", e.Waited)
	}
	return fmt.Sprintf("llmhttp: stream stalled: no data for %v after %d bytes", e.Waited, e.Received)
}

// Unwrap returns [resilience.ErrFirstItemTimeout] or [resilience.ErrIdleTimeout].
func (e *StreamError) Unwrap() error { return e.err }

// Is reports whether target is [resilience.ErrTimeout].
func (e *StreamError) Is(target error) bool { return target == resilience.ErrTimeout }

// Timeout reports true: the stream stalled.
func (e *StreamError) Timeout() bool { return true }

// APIError is an LLM provider's error response: its HTTP status and the
// error object of its JSON body, in OpenAI's or Anthropic's shape
// ({"error": {"type", "code", "message"}}). [Transport] returns it only with
// Config.ReturnErrors set; otherwise it hands the response itself over, so
// an SDK builds its own error type. A Config.Classify, RetryPolicy.RetryIf
// or OnRetry sees it as the error of a failed attempt.
type APIError struct {
	Status   int    // the HTTP status code
	Type     string // the provider's error type, such as "rate_limit_error" or "insufficient_quota"
	Code     string // the provider's error code, such as "context_length_exceeded"; may be empty
	Message  string // the provider's message
	Attempts int    // attempts made; 0 while the attempts go on

	resp *http.Response
}

// StatusCode returns the HTTP status code, so that
// [resilience.IsOverload] and other status-aware code see it.
func (e *APIError) StatusCode() int { return e.Status }

// Error describes the status, type, code and message.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "llmhttp: HTTP %d", e.Status)
	if t := http.StatusText(e.Status); t != "" {
		b.WriteString(" " + t)
	}
	for _, s := range []string{e.Type, e.Code} {
		if s != "" {
			b.WriteString(": " + s)
		}
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Attempts > 0 {
		fmt.Fprintf(&b, " (%d attempt(s))", e.Attempts)
	}
	return b.String()
}

// newAPIError builds the error of a response from its status and the start
// of its body.
func newAPIError(resp *http.Response, body []byte) *APIError {
	e := &APIError{Status: resp.StatusCode, resp: resp}
	var doc struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &doc) != nil || len(doc.Error) == 0 {
		return e
	}
	var obj struct {
		Type    string          `json:"type"`
		Code    json.RawMessage `json:"code"`
		Message string          `json:"message"`
	}
	if json.Unmarshal(doc.Error, &obj) != nil {
		// Some servers send "error": "text".
		var s string
		if json.Unmarshal(doc.Error, &s) == nil {
			e.Message = s
		}
		return e
	}
	e.Type, e.Message = obj.Type, obj.Message
	var code string
	switch {
	case json.Unmarshal(obj.Code, &code) == nil:
		e.Code = code
	case len(obj.Code) > 0 && string(obj.Code) != "null":
		e.Code = string(obj.Code) // a number
	}
	return e
}

// uncounted marks the error of an attempt that says nothing about the
// upstream's health (a 4xx, a 429, the caller's cancellation), on its way
// through a [resilience.Breaker]: its Uncounted method is the mark
// [resilience.Uncounted] documents, so every breaker ignores the call,
// whatever its IsFailure says. The transport removes the mark as soon as
// the breaker returns.
type uncounted struct{ err error }

func (e uncounted) Error() string   { return e.err.Error() }
func (e uncounted) Unwrap() error   { return e.err }
func (e uncounted) Uncounted() bool { return true }

// unmark removes an uncounted mark.
func unmark(err error) error {
	if u, ok := err.(uncounted); ok {
		return u.err
	}
	return err
}
