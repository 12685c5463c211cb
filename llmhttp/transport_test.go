package llmhttp

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resilience-go/resilience"
)

const (
	quotaBody   = `{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}`
	creditBody  = `{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API."}}`
	ctxLenBody  = `{"error":{"message":"maximum context length is 128000 tokens","type":"invalid_request_error","code":"context_length_exceeded"}}`
	rateBody    = `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`
	overloadAnt = `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`
)

func TestTransportClassifiesEachStatus(t *testing.T) {
	ok := reply{status: 200, body: `{"id":"ok"}`}
	soon := map[string]string{"retry-after-ms": "1"}
	tests := []struct {
		name         string
		replies      []reply
		wantRequests int
		wantStatus   int
		wantCounted  int // outcomes the breaker counted (successes and failures)
		wantFailures int
		wantOpen     bool
	}{
		{"200: success", []reply{ok}, 1, 200, 1, 0, false},
		{"500: retried and counted", []reply{{status: 500}, ok}, 2, 200, 2, 1, false},
		{"502, 503, 504: the last response when attempts run out", []reply{{status: 502}, {status: 503}, {status: 504, body: "gateway"}}, 3, 504, 3, 3, false},
		{"529: retried and counted", []reply{{status: 529, body: overloadAnt}, ok}, 2, 200, 2, 1, false},
		{"408: retried and counted", []reply{{status: 408}, ok}, 2, 200, 2, 1, false},
		{"409: retried and counted", []reply{{status: 409}, ok}, 2, 200, 2, 1, false},
		{"429: retried, never counted", []reply{{status: 429, header: soon, body: rateBody}, {status: 429, header: soon}, ok}, 3, 200, 1, 0, false},
		{"429 insufficient_quota: not retried, trips", []reply{{status: 429, body: quotaBody}, ok}, 1, 429, 0, 0, true},
		{"400 credit balance too low: not retried, trips", []reply{{status: 400, body: creditBody}, ok}, 1, 400, 0, 0, true},
		{"400: at once, not counted", []reply{{status: 400, body: ctxLenBody}, ok}, 1, 400, 0, 0, false},
		{"401: at once, not counted", []reply{{status: 401}, ok}, 1, 401, 0, 0, false},
		{"403: at once, not counted", []reply{{status: 403}, ok}, 1, 403, 0, 0, false},
		{"404: at once, not counted", []reply{{status: 404}, ok}, 1, 404, 0, 0, false},
		{"413: at once, not counted", []reply{{status: 413}, ok}, 1, 413, 0, 0, false},
		{"422: at once, not counted", []reply{{status: 422}, ok}, 1, 422, 0, 0, false},
		{"x-should-retry false wins over 500", []reply{{status: 500, header: map[string]string{"x-should-retry": "false"}}, ok}, 1, 500, 1, 1, false},
		{"x-should-retry true wins over 400", []reply{{status: 400, header: map[string]string{"x-should-retry": "true"}}, ok}, 2, 200, 1, 0, false},
		{"x-should-retry true on a 429 quota error", []reply{{status: 429, body: quotaBody, header: map[string]string{"x-should-retry": "true"}}, ok}, 1, 429, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, s := serve(t, tt.replies...)
			br := countingBreaker(t)
			tr := newTestTransport(t, Config{Base: srv.Client().Transport, Retry: fastRetry, Breaker: br})
			resp, err := post(t, tr, t.Context(), srv.URL+"/v1/chat/completions", `{"model":"m"}`)
			require.NoError(t, err)
			body := readAll(t, resp)
			assert.Equal(t, tt.wantStatus, resp.StatusCode)
			assert.Equal(t, tt.wantRequests, s.requests(), "got %d requests, want %d", s.requests(), tt.wantRequests)
			assert.Equal(t, tt.wantRequests, Attempts(resp))
			assert.Equal(t, tt.replies[tt.wantRequests-1].body, body, "the last response's body must be intact")
			c := br.Counts()
			if tt.wantOpen {
				assert.Equal(t, resilience.StateOpen, c.State)
				return
			}
			assert.Equal(t, resilience.StateClosed, c.State)
			assert.Equal(t, tt.wantCounted, c.WindowCalls, "counted outcomes")
			assert.Equal(t, tt.wantFailures, c.WindowFailures, "counted failures")
		})
	}
}

func TestTransportReplaysTheRequestBody(t *testing.T) {
	const body = `{"model":"m","messages":[{"role":"user","content":"hello"}]}`
	big := `{"model":"m","pad":"` + strings.Repeat("x", 100) + `"}`
	tests := []struct {
		name         string
		body         func() io.Reader
		maxBuffer    int
		want         string
		wantRequests int
	}{
		{"buffered", func() io.Reader { return strings.NewReader(body) }, 0, body, 3},
		{"a reader without GetBody", func() io.Reader { return io.MultiReader(strings.NewReader(body)) }, 0, body, 3},
		{"larger than the buffer, with GetBody", func() io.Reader { return strings.NewReader(big) }, 16, big, 3},
		{"larger than the buffer, without GetBody: sent once", func() io.Reader { return io.MultiReader(strings.NewReader(big)) }, 16, big, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, s := serve(t, reply{status: 500}, reply{status: 503}, reply{status: 200, body: "ok"})
			tr := newTestTransport(t, Config{Base: srv.Client().Transport, Retry: fastRetry, MaxBodyBuffer: tt.maxBuffer})
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, tt.body())
			require.NoError(t, err)
			resp, err := tr.RoundTrip(req)
			require.NoError(t, err)
			readAll(t, resp)
			got := s.received()
			require.Len(t, got, tt.wantRequests)
			for i, b := range got {
				assert.Equal(t, tt.want, b, "request %d got body %q", i+1, b)
			}
		})
	}
}

func TestTransportConnectionErrorsAreRetriedAndCounted(t *testing.T) {
	refused := errors.New("dial tcp: connection refused")
	base := newFakeBase(func(n int, r *http.Request) (*http.Response, error) { return nil, refused })
	br := countingBreaker(t)
	tr := newTestTransport(t, Config{Base: base, Retry: fastRetry, Breaker: br})
	resp, err := post(t, tr, t.Context(), "http://llm.test/v1/chat/completions", `{}`)
	assert.Nil(t, resp)
	require.ErrorIs(t, err, refused)
	var re *resilience.RetryError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, 3, re.Attempts)
	assert.Len(t, base.sent(), 3)
	assert.Equal(t, 3, br.Counts().WindowFailures)
}

func TestTransportCallerCancellationIsReturnedAtOnceAndNotCounted(t *testing.T) {
	arrived := make(chan struct{}, 1)
	srv := httpServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body) // the server notices a closed connection only after the body
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	br := countingBreaker(t)
	tr := newTestTransport(t, Config{Base: srv.Client().Transport, Retry: fastRetry, Breaker: br})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-arrived
		cancel()
	}()
	resp, err := post(t, tr, ctx, srv.URL, `{}`)
	assert.Nil(t, resp)
	assert.ErrorIs(t, err, context.Canceled)
	c := br.Counts()
	assert.Equal(t, 0, c.WindowCalls, "the caller's cancellation must not be counted")
	select {
	case <-arrived:
		t.Fatal("got a second attempt after the caller cancelled, want none")
	default:
	}
}

func TestTransportBreakerOpenFailsFastWithoutSpendingRateBudget(t *testing.T) {
	srv, s := serve(t, reply{status: 500})
	br, err := resilience.NewBreaker(resilience.BreakerConfig{FailureThreshold: 2, RecoveryTimeout: time.Hour})
	require.NoError(t, err)
	lim, err := resilience.NewRateLimiter(resilience.RateLimit{RequestsPerMinute: 3, RequestBurst: 3})
	require.NoError(t, err)
	tr := newTestTransport(t, Config{Base: srv.Client().Transport, Retry: fastRetry, Breaker: br, Limiter: lim})

	resp, err := post(t, tr, t.Context(), srv.URL, `{}`)
	assert.Nil(t, resp)
	assert.ErrorIs(t, err, resilience.ErrOpen, "the third attempt finds the breaker open")
	assert.Equal(t, 2, s.requests())

	_, err = post(t, tr, t.Context(), srv.URL, `{}`)
	assert.ErrorIs(t, err, resilience.ErrOpen)
	assert.Equal(t, 2, s.requests())
	// Two requests spent of three: one is left at once.
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	assert.NoError(t, lim.Wait(ctx, 0), "an open breaker must not spend the limiter's budget")
}

func TestTransportBreakerGroupKeepsModelsApart(t *testing.T) {
	srv := httpServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if strings.Contains(string(b), "bad-model") {
			w.WriteHeader(500)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	g, err := resilience.NewBreakerGroup(resilience.BreakerGroupConfig{Breaker: resilience.BreakerConfig{FailureThreshold: 2}})
	require.NoError(t, err)
	tr := newTestTransport(t, Config{Base: srv.Client().Transport, Retry: fastRetry, Breakers: g})
	_, err = post(t, tr, t.Context(), srv.URL, `{"model":"bad-model"}`)
	assert.ErrorIs(t, err, resilience.ErrOpen)
	host := strings.TrimPrefix(srv.URL, "http://")
	assert.Equal(t, resilience.StateOpen, g.Get(host+" bad-model").State())

	resp, err := post(t, tr, t.Context(), srv.URL, `{"model":"good-model"}`)
	require.NoError(t, err)
	assert.Equal(t, "ok", readAll(t, resp))
}

func TestTransportReturnErrors(t *testing.T) {
	srv, _ := serve(t, reply{status: 400, body: ctxLenBody})
	tr := newTestTransport(t, Config{Base: srv.Client().Transport, ReturnErrors: true})
	client := &http.Client{Transport: tr}
	resp, err := client.Post(srv.URL, "application/json", strings.NewReader(`{}`))
	assert.Nil(t, resp)
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 400, apiErr.StatusCode())
	assert.Equal(t, "invalid_request_error", apiErr.Type)
	assert.Equal(t, "context_length_exceeded", apiErr.Code)
	assert.Equal(t, "maximum context length is 128000 tokens", apiErr.Message)
	assert.Equal(t, 1, apiErr.Attempts)
	assert.Contains(t, apiErr.Error(), "HTTP 400 Bad Request: invalid_request_error: context_length_exceeded")
}

func TestTransportStreamIsHandedOverOnHeaders(t *testing.T) {
	release := make(chan struct{})
	srv := httpServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: {\"n\":1}\n\n")
		w.(http.Flusher).Flush()
		<-release
		_, _ = io.WriteString(w, "data: [DONE]\n\n")
	})
	tr := newTestTransport(t, Config{Base: srv.Client().Transport, StreamIdleTimeout: time.Minute})
	resp, err := post(t, tr, t.Context(), srv.URL, `{"stream":true}`)
	require.NoError(t, err, "RoundTrip must return while the stream is still open")
	buf := make([]byte, 64)
	n, err := resp.Body.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "data: {\"n\":1}\n\n", string(buf[:n]))
	close(release)
	rest, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "data: [DONE]\n\n", string(rest))
	require.NoError(t, resp.Body.Close())
}

func TestTransportWarnsOnceWhenTheSDKRetriesToo(t *testing.T) {
	srv, _ := serve(t, reply{status: 200})
	var logs logBuffer
	tr := newTestTransport(t, Config{Base: srv.Client().Transport, Logger: logs.logger()})
	for _, count := range []string{"0", "1", "2"} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
		require.NoError(t, err)
		req.Header.Set("X-Stainless-Retry-Count", count)
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		readAll(t, resp)
	}
	assert.Equal(t, 1, strings.Count(logs.String(), "level=WARN"), "got logs %q, want one warning", logs.String())
	assert.Contains(t, logs.String(), "X-Stainless-Retry-Count")
}

func TestNewTransportRejectsBadConfig(t *testing.T) {
	br := countingBreaker(t)
	g, err := resilience.NewBreakerGroup(resilience.BreakerGroupConfig{})
	require.NoError(t, err)
	adaptive, err := resilience.NewAdaptiveLimiter(resilience.AdaptiveConfig{})
	require.NoError(t, err)
	tests := []struct {
		name string
		cfg  Config
	}{
		{"negative AttemptTimeout", Config{AttemptTimeout: -1}},
		{"negative MaxRetryAfter", Config{MaxRetryAfter: -time.Second}},
		{"negative QuotaCooldown", Config{QuotaCooldown: -1}},
		{"negative StreamFirstByteTimeout", Config{StreamFirstByteTimeout: -1}},
		{"negative StreamIdleTimeout", Config{StreamIdleTimeout: -1}},
		{"negative MaxBodyBuffer", Config{MaxBodyBuffer: -1}},
		{"bad retry policy", Config{Retry: resilience.RetryPolicy{MaxAttempts: -1}}},
		{"Breaker and Breakers", Config{Breaker: br, Breakers: g}},
		{"BreakerKey without Breakers", Config{BreakerKey: func(*http.Request, string) string { return "" }}},
		{"negative AdaptiveLatency", Config{Adaptive: adaptive, AdaptiveLatency: -1}},
		{"AdaptiveLatency without Adaptive", Config{AdaptiveLatency: time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := NewTransport(tt.cfg)
			assert.Nil(t, tr)
			assert.ErrorIs(t, err, resilience.ErrInvalidArgument)
			assert.True(t, strings.HasPrefix(err.Error(), "llmhttp: "), "got %q, want the llmhttp: prefix", err)
		})
	}
}

func TestDefaultEstimateTokens(t *testing.T) {
	tests := []struct {
		body      string
		maxTokens int
	}{
		{`{"model":"m","max_tokens":100}`, 100},
		{`{"max_completion_tokens":50}`, 50},
		{`{"max_output_tokens":7,"max_tokens":3}`, 7},
		{`{"max_tokens":-5}`, 0},
		{`not json at all`, 0},
		{``, 0},
	}
	for _, tt := range tests {
		want := len(tt.body)/4 + tt.maxTokens
		assert.Equal(t, want, DefaultEstimateTokens([]byte(tt.body)), "body %q", tt.body)
	}
}

// httpServer starts an httptest server with handler h.
func httpServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// trackedBody records whether it was closed.
type trackedBody struct {
	io.Reader
	closed bool
}

func (b *trackedBody) Close() error { b.closed = true; return nil }

func TestTransportClosesTheResponsesOfAbandonedAttempts(t *testing.T) {
	var bodies []*trackedBody
	base := newFakeBase(func(n int, r *http.Request) (*http.Response, error) {
		status := []int{500, 429, 200}[n-1]
		b := &trackedBody{Reader: strings.NewReader(`{"n":` + string(rune('0'+n)) + `}`)}
		bodies = append(bodies, b)
		resp := respond(r, status, map[string]string{"retry-after-ms": "1"}, "")
		resp.Body = b
		return resp, nil
	})
	tr := newTestTransport(t, Config{Base: base, Retry: fastRetry})
	resp, err := post(t, tr, t.Context(), "http://llm.test/", `{}`)
	require.NoError(t, err)
	require.Len(t, bodies, 3)
	assert.True(t, bodies[0].closed, "the 500's body must be closed")
	assert.True(t, bodies[1].closed, "the 429's body must be closed")
	assert.False(t, bodies[2].closed, "the returned body belongs to the caller")
	assert.Equal(t, `{"n":3}`, readAll(t, resp))
	assert.True(t, bodies[2].closed)
}
