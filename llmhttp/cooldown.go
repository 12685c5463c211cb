package llmhttp

import (
	"net/http"
	"time"
)

// remainingHeaders are the response headers in which providers report what
// is left of the account's rate-limit buckets: OpenAI's requests and
// tokens, Anthropic's requests, tokens, input tokens and output tokens.
var remainingHeaders = [...]string{
	"x-ratelimit-remaining-requests",
	"x-ratelimit-remaining-tokens",
	"anthropic-ratelimit-requests-remaining",
	"anthropic-ratelimit-tokens-remaining",
	"anthropic-ratelimit-input-tokens-remaining",
	"anthropic-ratelimit-output-tokens-remaining",
}

// bucketEmpty reports whether h says one of the account's rate-limit
// buckets has nothing left: a remaining header of 0.
func bucketEmpty(h http.Header) bool {
	for _, name := range remainingHeaders {
		if v := h.Get(name); v != "" {
			if n, err := parseCount(v); err == nil && n == 0 {
				return true
			}
		}
	}
	return false
}

// coolDown makes every caller of the limiter wait until until, when resp
// is a 429 that speaks for the whole account: its rate-limit headers say a
// bucket is empty, or its body says the quota is exhausted (d.Quota). Any
// other 429 (a provider shedding load, a limit on this request alone)
// delays only its own request's retry: stopping every caller for it would
// cost all of them the wait and spare the provider nothing.
func (t *Transport) coolDown(resp *http.Response, d Decision, until time.Time) {
	if t.cfg.Limiter == nil || resp.StatusCode != http.StatusTooManyRequests {
		return
	}
	if d.Quota || bucketEmpty(resp.Header) {
		t.cfg.Limiter.Cooldown(until)
	}
}
