package llmhttp

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/resilience-go/resilience"
)

// MaxHeaderWait bounds the waits and reset times the header parsers accept.
// A server that asks for more is talking nonsense (or about a daily quota,
// which no retry should wait for): the value is ignored. The transport caps
// what it accepts further with Config.MaxRetryAfter.
const MaxHeaderWait = 24 * time.Hour

// ParseRetryAfter returns the wait a response asks for before the next
// attempt: "retry-after-ms" (milliseconds, possibly fractional) when
// present and valid, else "Retry-After" as seconds or as an HTTP date
// (a date in the past means no wait). ok is false when neither header holds
// a valid value: malformed, negative, not finite, or above MaxHeaderWait.
// now is the time HTTP dates are measured from. It never panics.
func ParseRetryAfter(h http.Header, now time.Time) (wait time.Duration, ok bool) {
	wait, err := parseRetryAfter(h, now)
	return wait, err == nil
}

var errNoHeader = errors.New("absent")

// parseRetryAfter is ParseRetryAfter reporting why a value was refused, for
// the debug log. The error is errNoHeader when neither header is set.
func parseRetryAfter(h http.Header, now time.Time) (time.Duration, error) {
	var firstErr error
	if v := h.Get("retry-after-ms"); v != "" {
		d, err := parseNumber(v, float64(time.Millisecond))
		if err == nil {
			return d, nil
		}
		firstErr = fmt.Errorf("retry-after-ms %q: %w", clip(v), err)
	}
	if v := h.Get("Retry-After"); v != "" {
		d, err := parseNumber(v, float64(time.Second))
		if err == nil {
			return d, nil
		}
		if t, derr := http.ParseTime(v); derr == nil {
			d, cerr := clampWait(t.Sub(now), true)
			if cerr != nil {
				return 0, fmt.Errorf("retry-after %q: %w", clip(v), cerr)
			}
			return d, nil
		}
		if firstErr == nil {
			firstErr = fmt.Errorf("retry-after %q: %w", clip(v), err)
		}
	}
	if firstErr == nil {
		return 0, errNoHeader
	}
	return 0, firstErr
}

// parseNumber parses a non-negative decimal count of units.
func parseNumber(v string, unit float64) (time.Duration, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return 0, errors.New("not a number")
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, errors.New("not finite")
	}
	if f < 0 {
		return 0, errors.New("negative")
	}
	if f*unit > float64(MaxHeaderWait) {
		return 0, fmt.Errorf("above %v", MaxHeaderWait)
	}
	return time.Duration(f * unit), nil
}

// clampWait accepts d in [0, MaxHeaderWait]; when pastOK, a negative d (a
// date already passed) counts as 0.
func clampWait(d time.Duration, pastOK bool) (time.Duration, error) {
	switch {
	case d < 0 && pastOK:
		return 0, nil
	case d < 0:
		return 0, errors.New("negative")
	case d > MaxHeaderWait:
		return 0, fmt.Errorf("above %v", MaxHeaderWait)
	}
	return d, nil
}

// ParseReset parses a rate-limit reset value into the time the bucket is
// full again: a Go-style duration from now as OpenAI sends ("6m0s",
// "1.5s", "20ms"), plain seconds ("12"), or an RFC 3339 time as Anthropic
// sends ("2025-01-02T15:04:05Z"; a time in the past is returned as now).
// ok is false for anything else, for negative durations and for resets more
// than MaxHeaderWait away. It never panics.
func ParseReset(v string, now time.Time) (reset time.Time, ok bool) {
	t, err := parseReset(v, now)
	return t, err == nil
}

func parseReset(v string, now time.Time) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, errNoHeader
	}
	if d, err := parseNumber(v, float64(time.Second)); err == nil {
		return now.Add(d), nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		d, err = clampWait(d, false)
		if err != nil {
			return time.Time{}, fmt.Errorf("reset %q: %w", clip(v), err)
		}
		return now.Add(d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("reset %q: neither a duration nor an RFC 3339 time", clip(v))
	}
	d, err := clampWait(t.Sub(now), true)
	if err != nil {
		return time.Time{}, fmt.Errorf("reset %q: %w", clip(v), err)
	}
	return now.Add(d), nil
}

// Rate-limit header names: OpenAI's x-ratelimit-{limit,remaining,reset}-{requests,tokens}
// and Anthropic's anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}.
var limitHeaders = [2]struct{ requests, tokens [3]string }{
	{
		requests: [3]string{"x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests"},
		tokens:   [3]string{"x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"},
	},
	{
		requests: [3]string{"anthropic-ratelimit-requests-limit", "anthropic-ratelimit-requests-remaining", "anthropic-ratelimit-requests-reset"},
		tokens:   [3]string{"anthropic-ratelimit-tokens-limit", "anthropic-ratelimit-tokens-remaining", "anthropic-ratelimit-tokens-reset"},
	},
}

// ParseLimitStatus reads a provider's rate-limit headers, OpenAI's
// x-ratelimit-* or Anthropic's anthropic-ratelimit-*, into the status a
// [resilience.RateLimiter] follows with Update. ok is false when no bucket
// has a valid remaining count. A bucket with a malformed or negative
// remaining count is left unknown; a malformed limit or reset is left out.
// now is the time durations count from.
func ParseLimitStatus(h http.Header, now time.Time) (s resilience.LimitStatus, ok bool) {
	s, _ = parseLimitStatus(h, now)
	return s, s.Requests.Known || s.Tokens.Known
}

// parseLimitStatus is ParseLimitStatus returning the values it refused.
func parseLimitStatus(h http.Header, now time.Time) (resilience.LimitStatus, []error) {
	var s resilience.LimitStatus
	var errs []error
	for _, names := range limitHeaders {
		if !s.Requests.Known {
			s.Requests = parseBucket(h, names.requests, now, &errs)
		}
		if !s.Tokens.Known {
			s.Tokens = parseBucket(h, names.tokens, now, &errs)
		}
	}
	return s, errs
}

func parseBucket(h http.Header, names [3]string, now time.Time, errs *[]error) resilience.BucketStatus {
	var b resilience.BucketStatus
	rem := h.Get(names[1])
	if rem == "" {
		return b
	}
	n, err := parseCount(rem)
	if err != nil {
		*errs = append(*errs, fmt.Errorf("%s %q: %w", names[1], clip(rem), err))
		return b
	}
	b.Known, b.Remaining = true, n
	if v := h.Get(names[0]); v != "" {
		if n, err := parseCount(v); err == nil {
			b.Limit = n
		} else {
			*errs = append(*errs, fmt.Errorf("%s %q: %w", names[0], clip(v), err))
		}
	}
	if v := h.Get(names[2]); v != "" {
		if t, err := parseReset(v, now); err == nil {
			b.Reset = t
		} else {
			*errs = append(*errs, fmt.Errorf("%s: %w", names[2], err))
		}
	}
	return b
}

// maxCount bounds counts read from headers; it is resilience.MaxPerMinute.
const maxCount = resilience.MaxPerMinute

func parseCount(v string) (int, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	switch {
	case err != nil:
		return 0, errors.New("not an integer")
	case n < 0:
		return 0, errors.New("negative")
	case n > maxCount:
		return 0, fmt.Errorf("above %d", maxCount)
	}
	return int(n), nil
}

// clip shortens a header value quoted in a log line.
func clip(v string) string {
	const n = 64
	if len(v) > n {
		return v[:n] + "..."
	}
	return v
}
