package llmtest

import (
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRequestsPerMinute(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := Start(t, Config{InMemory: true, Limits: Limits{RequestsPerMinute: 3}})
		type want struct {
			status     int
			remaining  string
			reset      string
			retryAfter string
		}
		call := func(w want) {
			t.Helper()
			resp, b := mustPost(t, srv, string(ChatCompletions), bodyFor(ChatCompletions, false))
			assert.Equal(t, w.status, resp.StatusCode, "body %s", b)
			assert.Equal(t, "3", resp.Header.Get("x-ratelimit-limit-requests"))
			assert.Equal(t, w.remaining, resp.Header.Get("x-ratelimit-remaining-requests"))
			assert.Equal(t, w.reset, resp.Header.Get("x-ratelimit-reset-requests"))
			assert.Equal(t, w.retryAfter, resp.Header.Get("Retry-After"))
			assert.Empty(t, resp.Header.Get("x-ratelimit-limit-tokens"), "no token headers without a token limit")
			if w.status == 429 {
				m := decode(t, b)
				assert.Equal(t, "requests", path(m, "error", "type"))
				assert.Equal(t, "rate_limit_exceeded", path(m, "error", "code"))
			}
		}
		call(want{200, "2", "1m0s", ""})
		time.Sleep(10 * time.Second)
		call(want{200, "1", "50s", ""})
		time.Sleep(500 * time.Millisecond)
		call(want{200, "0", "49.5s", ""})
		call(want{429, "0", "49.5s", "50"})
		time.Sleep(49500 * time.Millisecond) // the next window
		call(want{200, "2", "1m0s", ""})
		st := srv.Stats()
		assert.Equal(t, 1, st.LimitRejected)
		assert.Equal(t, 1, st.RateLimited)
		assert.Equal(t, 0, st.Faults, "limit rejections are not faults")
	})
}

func TestTokensPerMinute(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := Start(t, Config{InMemory: true, Limits: Limits{TokensPerMinute: 10}})
		// 3 prompt words + max_tokens 4 = 7 tokens.
		body := `{"model":"m","max_tokens":4,"messages":[{"role":"user","content":"a b c"}]}`
		resp, _ := mustPost(t, srv, string(ChatCompletions), body)
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "10", resp.Header.Get("x-ratelimit-limit-tokens"))
		assert.Equal(t, "3", resp.Header.Get("x-ratelimit-remaining-tokens"))
		assert.Equal(t, "1m0s", resp.Header.Get("x-ratelimit-reset-tokens"))
		assert.Empty(t, resp.Header.Get("x-ratelimit-limit-requests"))

		resp, b := mustPost(t, srv, string(ChatCompletions), body)
		assert.Equal(t, 429, resp.StatusCode)
		assert.Equal(t, "tokens", path(decode(t, b), "error", "type"))
		assert.Equal(t, "60", resp.Header.Get("Retry-After"))

		// Without max_tokens the reply's words count: 3 in, 3 out.
		time.Sleep(time.Minute)
		resp, _ = mustPost(t, srv, string(ChatCompletions), `{"model":"m","messages":[{"role":"user","content":"a b c"}]}`)
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "4", resp.Header.Get("x-ratelimit-remaining-tokens"))

		// A request larger than the whole limit never fits.
		time.Sleep(time.Minute)
		big := `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("w ", 11) + `"}]}`
		resp, _ = mustPost(t, srv, string(ChatCompletions), big)
		assert.Equal(t, 429, resp.StatusCode)
	})
}

func TestAnthropicLimitHeaders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := Start(t, Config{InMemory: true, Limits: Limits{RequestsPerMinute: 1, TokensPerMinute: 1000}})
		reset := time.Now().Add(time.Minute).UTC().Format(time.RFC3339)
		time.Sleep(15 * time.Second)
		resp, _ := mustPost(t, srv, string(Messages), bodyFor(Messages, false))
		assert.Equal(t, 200, resp.StatusCode)
		want := map[string]string{
			"anthropic-ratelimit-requests-limit":     "1",
			"anthropic-ratelimit-requests-remaining": "0",
			"anthropic-ratelimit-requests-reset":     reset,
			"anthropic-ratelimit-tokens-limit":       "1000",
			"anthropic-ratelimit-tokens-remaining":   "897", // 3 prompt words + max_tokens 100
			"anthropic-ratelimit-tokens-reset":       reset,
			"x-ratelimit-limit-requests":             "",
		}
		for k, v := range want {
			assert.Equal(t, v, resp.Header.Get(k), "header %s", k)
		}
		resp, b := mustPost(t, srv, string(Messages), bodyFor(Messages, false))
		assert.Equal(t, 429, resp.StatusCode)
		assert.Equal(t, "45", resp.Header.Get("Retry-After"))
		m := decode(t, b)
		assert.Equal(t, "error", m["type"])
		assert.Equal(t, "rate_limit_error", path(m, "error", "type"))
	})
}

func TestLimitRejectionsDoNotConsumeTheScript(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := Start(t, Config{InMemory: true, Limits: Limits{RequestsPerMinute: 1}})
		resp, _ := mustPost(t, srv, string(Embeddings), bodyFor(Embeddings, false))
		require.Equal(t, 200, resp.StatusCode)
		require.NoError(t, srv.Script(Error(503)))
		resp, _ = mustPost(t, srv, string(Embeddings), bodyFor(Embeddings, false))
		assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
		assert.Equal(t, 1, srv.Stats().Queued)
		time.Sleep(time.Minute)
		resp, _ = mustPost(t, srv, string(Embeddings), bodyFor(Embeddings, false))
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "the scripted fault waited for an admitted request")
	})
}

func TestFormatReset(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{time.Second, "1s"},
		{6 * time.Minute, "6m0s"},
		{59500 * time.Millisecond, "59.5s"},
		{1500 * time.Microsecond, "2ms"},
		{0, "0s"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, formatReset(tt.d), "formatReset(%v)", tt.d)
	}
}
