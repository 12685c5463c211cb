package llmhttp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/llmhttp"
	"github.com/resilience-go/resilience/llmtest"
)

// recorder is an Observer that writes down every event.
type recorder struct {
	mu     sync.Mutex
	starts []llmhttp.CallInfo
	events []string // "start 1", "end 1 529", ...
	ends   []llmhttp.CallOutcome
	tries  []llmhttp.AttemptOutcome
}

type ctxKey struct{}

func (r *recorder) StartCall(_ context.Context, info llmhttp.CallInfo) llmhttp.CallObserver {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starts = append(r.starts, info)
	return &callRec{r: r}
}

type callRec struct{ r *recorder }

func (c *callRec) StartAttempt(ctx context.Context, n int) context.Context {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	c.r.events = append(c.r.events, "attempt")
	return context.WithValue(ctx, ctxKey{}, n)
}

func (c *callRec) EndAttempt(ctx context.Context, a llmhttp.AttemptOutcome) {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	if n, _ := ctx.Value(ctxKey{}).(int); n != a.Number {
		c.r.events = append(c.r.events, "wrong context")
	}
	c.r.events = append(c.r.events, "attempt end "+a.ErrorType)
	c.r.tries = append(c.r.tries, a)
}

func (c *callRec) End(o llmhttp.CallOutcome) {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	c.r.events = append(c.r.events, "end "+o.ErrorType)
	c.r.ends = append(c.r.ends, o)
}

func (r *recorder) snapshot() ([]string, []llmhttp.CallOutcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...), append([]llmhttp.CallOutcome(nil), r.ends...)
}

var quickRetry = resilience.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, Jitter: resilience.JitterNone}

func observed(t *testing.T, base http.RoundTripper, cfg llmhttp.Config) (*llmhttp.Transport, *recorder) {
	t.Helper()
	cfg.Base = base
	if cfg.Retry.BaseDelay == 0 {
		cfg.Retry = quickRetry
	}
	tr, err := llmhttp.NewTransport(cfg)
	require.NoError(t, err)
	rec := &recorder{}
	tr.Observe(rec)
	return tr, rec
}

func call(t *testing.T, tr http.RoundTripper, url, body string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	return tr.RoundTrip(req)
}

func drain(t *testing.T, resp *http.Response) {
	t.Helper()
	_, err := io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
}

func TestObserverUsageEqualsWhatTheProviderReported(t *testing.T) {
	cases := []struct {
		name, path, body, op, provider string
	}{
		{"openai chat", "/v1/chat/completions",
			`{"model":"gpt-4o","messages":[{"role":"user","content":"one two three four"}]}`, "chat", "openai"},
		{"openai chat stream", "/v1/chat/completions",
			`{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"one two three four five"}]}`, "chat", "openai"},
		{"anthropic messages", "/v1/messages",
			`{"model":"claude-sonnet-4","max_tokens":100,"messages":[{"role":"user","content":"alpha beta gamma"}]}`, "chat", "anthropic"},
		{"anthropic messages stream", "/v1/messages",
			`{"model":"claude-sonnet-4","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"alpha beta gamma delta epsilon zeta"}]}`, "chat", "anthropic"},
		{"openai embeddings", "/v1/embeddings", `{"model":"text-embedding-3-small","input":["a b c"]}`, "embeddings", "openai"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := llmtest.Start(t, llmtest.Config{})
			tr, rec := observed(t, srv.Transport(), llmhttp.Config{})
			resp, err := call(t, tr, srv.URL+tc.path, tc.body)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			events, _ := rec.snapshot()
			assert.NotContains(t, events, "end ", "a success ends when its body does, not before")
			drain(t, resp)

			events, ends := rec.snapshot()
			assert.Equal(t, []string{"attempt", "attempt end ", "end "}, events)
			require.Len(t, ends, 1)
			st := srv.Stats()
			u := ends[0].Usage
			require.True(t, u.HasInput, "the response's usage gives the input count")
			assert.Equal(t, int64(st.PromptTokens), u.InputTokens, "input tokens, as the provider reported")
			if tc.op != "embeddings" {
				require.True(t, u.HasOutput)
				assert.Equal(t, int64(st.CompletionTokens), u.OutputTokens, "output tokens, as the provider reported")
				assert.Positive(t, u.OutputTokens)
			}
			assert.Positive(t, u.InputTokens)
			assert.Equal(t, 1, ends[0].Attempts)
			assert.Equal(t, http.StatusOK, ends[0].StatusCode)
			assert.NoError(t, ends[0].Err)
			assert.NotEmpty(t, ends[0].ResponseModel)
			require.Len(t, rec.starts, 1)
			info := rec.starts[0]
			assert.Equal(t, tc.op, info.Operation)
			assert.Equal(t, tc.provider, info.Provider)
			assert.NotEmpty(t, info.Model)
		})
	}
}

// responsesStream is an OpenAI Responses API stream, shortened to the
// events that carry the model and the usage.
const responsesStream = "event: response.created\n" +
	`data: {"type":"response.created","response":{"id":"resp_1","model":"gpt-4.1-2025-04-14","usage":null}}` + "\n\n" +
	"event: response.output_text.delta\n" +
	`data: {"type":"response.output_text.delta","delta":"Hi"}` + "\n\n" +
	"event: response.completed\n" +
	`data: {"type":"response.completed","response":{"id":"resp_1","model":"gpt-4.1-2025-04-14","usage":{"input_tokens":37,"output_tokens":11,"total_tokens":48}}}` + "\n\n"

func TestObserverReadsOpenAIResponsesUsage(t *testing.T) {
	for _, tc := range []struct {
		name, ctype, body string
	}{
		{"plain", "application/json", `{"id":"resp_1","object":"response","model":"gpt-4.1-2025-04-14","output":[],"usage":{"input_tokens":37,"output_tokens":11,"total_tokens":48}}`},
		{"stream", "text/event-stream", responsesStream},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {tc.ctype}},
					Body: io.NopCloser(strings.NewReader(tc.body)), Request: r}, nil
			})
			tr, rec := observed(t, base, llmhttp.Config{})
			resp, err := call(t, tr, "https://api.openai.com/v1/responses", `{"model":"gpt-4.1","input":"hi"}`)
			require.NoError(t, err)
			drain(t, resp)
			_, ends := rec.snapshot()
			require.Len(t, ends, 1)
			assert.Equal(t, llmhttp.Usage{InputTokens: 37, OutputTokens: 11, HasInput: true, HasOutput: true}, ends[0].Usage)
			assert.Equal(t, "gpt-4.1-2025-04-14", ends[0].ResponseModel)
			assert.Equal(t, "chat", rec.starts[0].Operation)
			assert.Equal(t, "gpt-4.1", rec.starts[0].Model)
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestObserverSeesRetriedAttempts(t *testing.T) {
	srv := llmtest.Start(t, llmtest.Config{})
	require.NoError(t, srv.Script(llmtest.Overloaded(), llmtest.Error(500)))
	tr, rec := observed(t, srv.Transport(), llmhttp.Config{})
	resp, err := call(t, tr, srv.URL+"/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)
	require.NoError(t, err)
	drain(t, resp)
	events, ends := rec.snapshot()
	assert.Equal(t, []string{"attempt", "attempt end 529", "attempt", "attempt end 500", "attempt", "attempt end ", "end "}, events)
	require.Len(t, ends, 1)
	assert.Equal(t, 3, ends[0].Attempts)
	assert.Equal(t, int64(srv.Stats().CompletionTokens), ends[0].Usage.OutputTokens, "usage of the successful attempt only")
}

func TestObserverReportsFailedCalls(t *testing.T) {
	t.Run("error response", func(t *testing.T) {
		srv := llmtest.Start(t, llmtest.Config{})
		require.NoError(t, srv.Script(llmtest.Error(400)))
		tr, rec := observed(t, srv.Transport(), llmhttp.Config{})
		resp, err := call(t, tr, srv.URL+"/v1/chat/completions", `{"model":"gpt-4o","messages":[]}`)
		require.NoError(t, err)
		events, ends := rec.snapshot()
		assert.Equal(t, []string{"attempt", "attempt end 400", "end 400"}, events, "an error response ends the call when RoundTrip returns")
		require.Len(t, ends, 1)
		var api *llmhttp.APIError
		require.ErrorAs(t, ends[0].Err, &api)
		assert.Equal(t, 400, api.Status)
		drain(t, resp)
		events, _ = rec.snapshot()
		assert.Len(t, events, 3, "closing the body does not end the call twice")
	})
	t.Run("breaker open", func(t *testing.T) {
		b, err := resilience.NewBreaker(resilience.BreakerConfig{})
		require.NoError(t, err)
		b.Trip(time.Hour)
		tr, rec := observed(t, roundTripFunc(func(*http.Request) (*http.Response, error) {
			return nil, errors.New("must not be called")
		}), llmhttp.Config{Breaker: b})
		_, err = call(t, tr, "http://x/v1/chat/completions", `{}`)
		require.ErrorIs(t, err, resilience.ErrOpen)
		events, _ := rec.snapshot()
		assert.Equal(t, "end breaker_open", events[len(events)-1])
		assert.Contains(t, events, "attempt end breaker_open")
	})
	t.Run("stream read error", func(t *testing.T) {
		srv := llmtest.Start(t, llmtest.Config{})
		require.NoError(t, srv.Script(llmtest.CutStream(2)))
		tr, rec := observed(t, srv.Transport(), llmhttp.Config{})
		resp, err := call(t, tr, srv.URL+"/v1/chat/completions", `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"a b c d e"}]}`)
		require.NoError(t, err)
		_, rerr := io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		_, ends := rec.snapshot()
		require.Len(t, ends, 1)
		require.Error(t, rerr, "a cut stream fails the read")
		assert.Equal(t, "_OTHER", ends[0].ErrorType, "a body read error fails the call")
		assert.Error(t, ends[0].Err)
	})
}

func TestObserveNilStopsObserving(t *testing.T) {
	srv := llmtest.Start(t, llmtest.Config{})
	tr, rec := observed(t, srv.Transport(), llmhttp.Config{})
	tr.Observe(nil)
	resp, err := call(t, tr, srv.URL+"/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)
	require.NoError(t, err)
	drain(t, resp)
	events, _ := rec.snapshot()
	assert.Empty(t, events)
}

func TestErrorType(t *testing.T) {
	for _, tc := range []struct {
		status int
		err    error
		want   string
	}{
		{200, nil, ""},
		{429, nil, "429"},
		{0, &llmhttp.APIError{Status: 503}, "503"},
		{0, llmhttp.ErrAttemptTimeout, "timeout"},
		{0, context.DeadlineExceeded, "timeout"},
		{0, &llmhttp.StreamError{}, "stream_stalled"},
		{0, resilience.ErrOpen, "breaker_open"},
		{0, resilience.ErrHalfOpenLimit, "breaker_open"},
		{0, context.Canceled, "canceled"},
		{0, resilience.ErrRetryBudgetExhausted, "retry_budget_exhausted"},
		{0, errors.New("dial tcp: connection refused"), "_OTHER"},
	} {
		assert.Equal(t, tc.want, llmhttp.ErrorType(tc.status, tc.err), "ErrorType(%d, %v)", tc.status, tc.err)
	}
}

// rwBody is the body of an upgraded connection: readable and writable.
type rwBody struct{ io.Reader }

func (rwBody) Write(p []byte) (int, error) { return len(p), nil }
func (rwBody) Close() error                { return nil }

func TestObserverLeavesUpgradedBodiesAlone(t *testing.T) {
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusSwitchingProtocols, Header: http.Header{"Upgrade": {"websocket"}},
			Body: rwBody{strings.NewReader("")}, Request: r}, nil
	})
	bodyType := func(tr *llmhttp.Transport) string {
		req, err := http.NewRequest(http.MethodGet, "http://llm.test/v1/realtime", nil)
		require.NoError(t, err)
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		return fmt.Sprintf("%T", resp.Body)
	}
	tr, rec := observed(t, base, llmhttp.Config{})
	observedType := bodyType(tr)
	tr.Observe(nil)
	assert.Equal(t, bodyType(tr), observedType, "the observer does not wrap an upgraded connection's body")
	events, ends := rec.snapshot()
	assert.Equal(t, "end ", events[len(events)-1], "the call ends when the connection is handed over")
	require.Len(t, ends, 1)
	assert.Equal(t, http.StatusSwitchingProtocols, ends[0].StatusCode)
}

// blockingBody blocks Read until closed, as a stream whose server went
// quiet.
type blockingBody struct {
	first  chan struct{} // closed after the first chunk was read
	closed chan struct{}
	sent   bool
}

func (b *blockingBody) Read(p []byte) (int, error) {
	if !b.sent {
		b.sent = true
		close(b.first)
		return copy(p, "data: {\"model\":\"gpt-4o\",\"usage\":{\"prompt_tokens\":3}}\n"), nil
	}
	<-b.closed
	return 0, errors.New("read on closed body")
}

func (b *blockingBody) Close() error {
	select {
	case <-b.closed:
	default:
		close(b.closed)
	}
	return nil
}

func TestObservedBodyClosedDuringRead(t *testing.T) {
	bb := &blockingBody{first: make(chan struct{}), closed: make(chan struct{})}
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/event-stream"}}, Body: bb, Request: r}, nil
	})
	tr, rec := observed(t, base, llmhttp.Config{})
	resp, err := call(t, tr, "http://llm.test/v1/chat/completions", `{"model":"gpt-4o","stream":true}`)
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(io.Discard, resp.Body)
	}()
	<-bb.first
	require.NoError(t, resp.Body.Close()) // while the copy is blocked in Read
	<-done
	_, ends := rec.snapshot()
	require.Len(t, ends, 1, "the call ends once")
	assert.Equal(t, int64(3), ends[0].Usage.InputTokens)
}
