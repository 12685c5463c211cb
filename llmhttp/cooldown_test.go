package llmhttp

import (
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resilience-go/resilience"
)

// A 429 holds back every caller of the limiter only when it speaks for the
// whole account: a bucket reported empty, or an exhausted quota. Caller A
// gets the 429 (Retry-After 7 s) at 0; caller B starts at 1 s.
func TestTransport429CoolsDownEveryCallerOnlyWhenTheAccountIsOut(t *testing.T) {
	tests := []struct {
		name   string
		header map[string]string
		body   string
		want   []time.Duration // A, B, then A's retry (none after a quota error)
	}{
		{"no rate-limit headers: only A waits", nil, rateBody,
			[]time.Duration{0, time.Second, 7 * time.Second}},
		{"requests left: only A waits", map[string]string{"x-ratelimit-remaining-requests": "12", "x-ratelimit-remaining-tokens": "900"}, rateBody,
			[]time.Duration{0, time.Second, 7 * time.Second}},
		{"malformed remaining: only A waits", map[string]string{"x-ratelimit-remaining-requests": "none"}, rateBody,
			[]time.Duration{0, time.Second, 7 * time.Second}},
		{"OpenAI requests bucket empty: both wait", map[string]string{"x-ratelimit-remaining-requests": "0"}, rateBody,
			[]time.Duration{0, 7 * time.Second, 7 * time.Second}},
		{"OpenAI tokens bucket empty: both wait", map[string]string{"x-ratelimit-remaining-requests": "5", "x-ratelimit-remaining-tokens": "0"}, rateBody,
			[]time.Duration{0, 7 * time.Second, 7 * time.Second}},
		{"Anthropic input tokens empty: both wait", map[string]string{"anthropic-ratelimit-input-tokens-remaining": "0"}, rateBody,
			[]time.Duration{0, 7 * time.Second, 7 * time.Second}},
		{"quota exhausted: B waits, A is not retried", nil, quotaBody,
			[]time.Duration{0, 7 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				lim, err := resilience.NewRateLimiter(resilience.RateLimit{})
				require.NoError(t, err)
				base := newFakeBase(func(n int, r *http.Request) (*http.Response, error) {
					if n == 1 {
						h := map[string]string{"Retry-After": "7"}
						for k, v := range tt.header {
							h[k] = v
						}
						return respond(r, 429, h, tt.body), nil
					}
					return respond(r, 200, nil, "ok"), nil
				})
				tr := newTestTransport(t, Config{Base: base, Retry: exactRetry, Limiter: lim})
				callsApart(t, tr, 2, time.Second) // B starts after A's 429
				assert.Equal(t, tt.want, base.sent())
			})
		})
	}
}

func TestBucketEmpty(t *testing.T) {
	tests := []struct {
		header map[string]string
		want   bool
	}{
		{nil, false},
		{map[string]string{"x-ratelimit-remaining-requests": "0"}, true},
		{map[string]string{"x-ratelimit-remaining-tokens": " 0 "}, true},
		{map[string]string{"anthropic-ratelimit-requests-remaining": "0"}, true},
		{map[string]string{"anthropic-ratelimit-tokens-remaining": "0"}, true},
		{map[string]string{"anthropic-ratelimit-output-tokens-remaining": "0"}, true},
		{map[string]string{"x-ratelimit-remaining-requests": "1"}, false},
		{map[string]string{"x-ratelimit-remaining-requests": "-1"}, false},
		{map[string]string{"x-ratelimit-remaining-requests": "0.0"}, false},
		{map[string]string{"x-ratelimit-limit-requests": "0"}, false},
	}
	for _, tt := range tests {
		h := http.Header{}
		for k, v := range tt.header {
			h.Set(k, v)
		}
		assert.Equal(t, tt.want, bucketEmpty(h), "bucketEmpty(%v)", tt.header)
	}
}
