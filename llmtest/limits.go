package llmtest

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Limits are the server's own rate limits, counted in fixed one-minute
// windows that start when the server starts. A request over either limit is
// answered 429 with "Retry-After" (seconds to the window's end), does not
// count against the window and consumes no scripted fault. Every response
// of the API routes carries the limit headers of the limits that are set:
//
//   - OpenAI routes: x-ratelimit-limit-requests, x-ratelimit-remaining-requests,
//     x-ratelimit-reset-requests (a duration such as "1s" or "6m0s"), and the
//     same three for -tokens.
//   - /v1/messages: anthropic-ratelimit-requests-limit, -remaining, -reset
//     (RFC 3339), and the same three for tokens.
//
// A request costs its prompt's tokens plus its max_tokens (or, without
// max_tokens, its reply's tokens); a token is a whitespace-separated word.
// The zero value means no limits.
type Limits struct {
	// RequestsPerMinute caps the requests admitted per window. 0 means no
	// limit; negative is an error.
	RequestsPerMinute int
	// TokensPerMinute caps the tokens admitted per window. 0 means no
	// limit; negative is an error.
	TokensPerMinute int
}

func (l Limits) validate() error {
	if l.RequestsPerMinute < 0 {
		return invalid("Limits.RequestsPerMinute is %d; want >= 0 (0: no limit)", l.RequestsPerMinute)
	}
	if l.TokensPerMinute < 0 {
		return invalid("Limits.TokensPerMinute is %d; want >= 0 (0: no limit)", l.TokensPerMinute)
	}
	return nil
}

// window is the current fixed window's usage.
type window struct {
	index    int64
	requests int
	tokens   int
}

// limitState is the outcome of one admission and the numbers its headers
// report.
type limitState struct {
	ok           bool
	over         string // "requests" or "tokens" when !ok
	reqRemaining int
	tokRemaining int
	reset        time.Duration // to the window's end
	resetAt      time.Time
}

// admit charges one request of cost tokens against the window holding now.
func (s *Server) admit(now time.Time, cost int) limitState {
	l := s.cfg.Limits
	s.mu.Lock()
	defer s.mu.Unlock()
	elapsed := max(now.Sub(s.start), 0)
	idx := int64(elapsed / time.Minute)
	if idx != s.win.index {
		s.win = window{index: idx}
	}
	end := s.start.Add(time.Duration(idx+1) * time.Minute)
	st := limitState{ok: true, reset: end.Sub(now), resetAt: end}
	switch {
	case l.RequestsPerMinute > 0 && s.win.requests+1 > l.RequestsPerMinute:
		st.ok, st.over = false, "requests"
	case l.TokensPerMinute > 0 && s.win.tokens+cost > l.TokensPerMinute:
		st.ok, st.over = false, "tokens"
	default:
		s.win.requests++
		s.win.tokens += cost
	}
	st.reqRemaining = max(l.RequestsPerMinute-s.win.requests, 0)
	st.tokRemaining = max(l.TokensPerMinute-s.win.tokens, 0)
	return st
}

// setLimitHeaders writes the rate-limit headers of the route's provider.
func (s *Server) setLimitHeaders(h http.Header, route Route, st limitState) {
	l := s.cfg.Limits
	if route == Messages {
		at := st.resetAt.UTC().Format(time.RFC3339)
		if l.RequestsPerMinute > 0 {
			h.Set("anthropic-ratelimit-requests-limit", strconv.Itoa(l.RequestsPerMinute))
			h.Set("anthropic-ratelimit-requests-remaining", strconv.Itoa(st.reqRemaining))
			h.Set("anthropic-ratelimit-requests-reset", at)
		}
		if l.TokensPerMinute > 0 {
			h.Set("anthropic-ratelimit-tokens-limit", strconv.Itoa(l.TokensPerMinute))
			h.Set("anthropic-ratelimit-tokens-remaining", strconv.Itoa(st.tokRemaining))
			h.Set("anthropic-ratelimit-tokens-reset", at)
		}
		return
	}
	reset := formatReset(st.reset)
	if l.RequestsPerMinute > 0 {
		h.Set("x-ratelimit-limit-requests", strconv.Itoa(l.RequestsPerMinute))
		h.Set("x-ratelimit-remaining-requests", strconv.Itoa(st.reqRemaining))
		h.Set("x-ratelimit-reset-requests", reset)
	}
	if l.TokensPerMinute > 0 {
		h.Set("x-ratelimit-limit-tokens", strconv.Itoa(l.TokensPerMinute))
		h.Set("x-ratelimit-remaining-tokens", strconv.Itoa(st.tokRemaining))
		h.Set("x-ratelimit-reset-tokens", reset)
	}
}

// formatReset renders a wait the way OpenAI does ("1s", "6m0s", "59.5s"),
// rounded up to the millisecond.
func formatReset(d time.Duration) string {
	return ((d + time.Millisecond - 1) / time.Millisecond * time.Millisecond).String()
}

// limitFault is the 429 a request to route over the limits gets.
func (s *Server) limitFault(route Route, st limitState) Fault {
	limit := s.cfg.Limits.RequestsPerMinute
	unit := "requests per min (RPM)"
	if st.over == "tokens" {
		limit, unit = s.cfg.Limits.TokensPerMinute, "tokens per min (TPM)"
	}
	typ := st.over // OpenAI's error type is "requests" or "tokens"
	if route == Messages {
		typ = "rate_limit_error"
	}
	return Fault{
		Status:     http.StatusTooManyRequests,
		ErrorType:  typ,
		Message:    fmt.Sprintf("Rate limit reached for %s: Limit %d. Please try again in %s.", unit, limit, formatReset(st.reset)),
		RetryAfter: time.Duration(ceilSeconds(st.reset)) * time.Second,
	}
}
