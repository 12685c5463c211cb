package llmhttp

import (
	"bytes"
	"net/http"
	"strings"
)

// Attempt is one finished attempt, as Config.Classify sees it. Either
// Response or Err is set.
type Attempt struct {
	// Request is the caller's request.
	Request *http.Request
	// Number counts the attempts of the request, from 1.
	Number int
	// Response is the attempt's response, its headers read. Classify must
	// not read or close its Body; use Body.
	Response *http.Response
	// Body is the start of the body of a response with status >= 400 (up
	// to 64 KiB), read for classification; nil for other responses. The
	// response's Body still yields the whole body.
	Body []byte
	// Err is the error of an attempt that got no response: a connection
	// error, or one wrapping [ErrAttemptTimeout].
	Err error
}

// Decision says what [Transport] does after an attempt. The zero Decision
// hands the response (or error) to the caller as it is; for a response with
// status < 400 that is a success.
type Decision struct {
	// Retry asks for another attempt, within the retry policy's attempts,
	// delays and deadlines.
	Retry bool
	// Failure counts the attempt as a failure for the circuit breaker. An
	// attempt that is neither a success (status < 400, no Retry) nor a
	// failure is not counted at all.
	Failure bool
	// Quota reports that the account is out of quota or credit: the
	// breaker, when there is one, is forced open for Config.QuotaCooldown
	// so no call is wasted until then. Not counted as a failure.
	Quota bool
}

// DefaultClassify is the classification [Transport] uses when
// Config.Classify is nil. Override Classify to change a row, and call
// DefaultClassify for the rest.
//
//	connection error, attempt timeout    Retry, Failure
//	408, 409, 5xx, 529                   Retry, Failure
//	429                                  Retry (after the server's wait); never a Failure
//	429 (or 400, 402) for exhausted      Quota: not retried, the breaker is tripped
//	  quota, credit or spend limit
//	other 4xx (400, 401, 403, 404, 413,  returned at once, not counted
//	  422, ...)
//	1xx, 2xx, 3xx                        success
//
// A "x-should-retry: true" or "false" response header overrides Retry (but
// not Failure or Quota): the server knows best. The caller's own
// cancellation is never classified: it ends the request at once.
func DefaultClassify(a Attempt) Decision {
	if a.Response == nil {
		return Decision{Retry: true, Failure: true}
	}
	var d Decision
	switch s := a.Response.StatusCode; {
	case s == http.StatusTooManyRequests:
		if isQuotaError(a.Body) {
			d.Quota = true
		} else {
			d.Retry = true
		}
	case s == http.StatusBadRequest || s == http.StatusPaymentRequired:
		d.Quota = isQuotaError(a.Body)
	case s == http.StatusRequestTimeout || s == http.StatusConflict || s >= 500:
		d.Retry, d.Failure = true, true
	}
	switch strings.ToLower(strings.TrimSpace(a.Response.Header.Get("x-should-retry"))) {
	case "true":
		d.Retry = true
	case "false":
		d.Retry = false
	}
	return d
}

// quotaMarkers are substrings of the error bodies providers send when the
// account, not the request rate, is the problem: OpenAI's
// insufficient_quota and billing errors, Anthropic's credit and spend-limit
// messages.
var quotaMarkers = [][]byte{
	[]byte("insufficient_quota"),
	[]byte("billing_hard_limit"),
	[]byte("billing_not_active"),
	[]byte("credit_balance_too_low"),
	[]byte("credit balance is too low"),
	[]byte("spend limit"),
	[]byte("spending limit"),
	[]byte("usage limit"),
	[]byte("exceeded your current quota"),
}

// isQuotaError reports whether an error body says the quota is exhausted.
func isQuotaError(body []byte) bool {
	if len(body) == 0 {
		return false
	}
	lower := bytes.ToLower(body)
	for _, m := range quotaMarkers {
		if bytes.Contains(lower, m) {
			return true
		}
	}
	return false
}
