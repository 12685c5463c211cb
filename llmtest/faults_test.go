package llmtest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestErrorFaults(t *testing.T) {
	tests := []struct {
		name        string
		route       Route
		fault       Fault
		wantStatus  int
		wantHeaders map[string]string
		wantType    string
		wantCode    any // OpenAI's error.code; nil for JSON null
	}{
		{"openai 429 retry-after", ChatCompletions, RateLimited(1500 * time.Millisecond), 429,
			map[string]string{"Retry-After": "2"}, "requests", "rate_limit_exceeded"},
		{"openai retry-after-ms", ChatCompletions, Fault{Status: 429, PreciseRetryAfter: 250 * time.Millisecond}, 429,
			map[string]string{"retry-after-ms": "250", "Retry-After": ""}, "requests", "rate_limit_exceeded"},
		{"openai insufficient quota", ChatCompletions, InsufficientQuota(), 429,
			map[string]string{"Retry-After": ""}, "insufficient_quota", "insufficient_quota"},
		{"openai 500 should-retry false", ChatCompletions, Fault{Status: 500, ShouldRetry: "false"}, 500,
			map[string]string{"x-should-retry": "false"}, "server_error", nil},
		{"openai 400", ChatCompletions, Fault{Status: 400, Code: "context_length_exceeded"}, 400,
			nil, "invalid_request_error", "context_length_exceeded"},
		{"embeddings 503", Embeddings, Error(503), 503, nil, "server_error", nil},
		{"anthropic 529", Messages, Overloaded(), 529, nil, "overloaded_error", nil},
		{"anthropic 429", Messages, RateLimited(3 * time.Second), 429,
			map[string]string{"Retry-After": "3"}, "rate_limit_error", nil},
		{"anthropic 500 should-retry true", Messages, Fault{Status: 500, ShouldRetry: "true"}, 500,
			map[string]string{"x-should-retry": "true"}, "api_error", nil},
		{"anthropic custom type", Messages, Fault{Status: 400, ErrorType: "billing_error", Message: "no credit"}, 400,
			nil, "billing_error", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := Start(t, Config{})
			require.NoError(t, srv.Script(tt.fault))
			resp, b := mustPost(t, srv, string(tt.route), bodyFor(tt.route, false))
			assert.Equal(t, tt.wantStatus, resp.StatusCode)
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			for k, v := range tt.wantHeaders {
				assert.Equal(t, v, resp.Header.Get(k), "header %s", k)
			}
			m := decode(t, b)
			assert.Equal(t, tt.wantType, path(m, "error", "type"), "body %s", b)
			assert.NotEmpty(t, path(m, "error", "message"))
			if tt.route == Messages {
				assert.Equal(t, "error", m["type"], "Anthropic's error body has type error")
			} else {
				assert.Equal(t, tt.wantCode, path(m, "error", "code"), "body %s", b)
			}
			// The next request goes through: the script held one fault.
			resp, _ = mustPost(t, srv, string(tt.route), bodyFor(tt.route, false))
			assert.Equal(t, http.StatusOK, resp.StatusCode)
		})
	}
}

func TestFaultHeaderIsSentUnchecked(t *testing.T) {
	srv := Start(t, Config{})
	require.NoError(t, srv.Script(
		Fault{Status: 429, RetryAfter: time.Second, Header: http.Header{"Retry-After": {"-5"}, "retry-after-ms": {"soon"}}},
		Fault{Header: http.Header{"X-Extra": {"yes"}}},
	))
	resp, _ := mustPost(t, srv, string(ChatCompletions), bodyFor(ChatCompletions, false))
	assert.Equal(t, "-5", resp.Header.Get("Retry-After"), "Fault.Header overrides the computed header")
	assert.Equal(t, "soon", resp.Header.Get("retry-after-ms"))
	resp, _ = mustPost(t, srv, string(ChatCompletions), bodyFor(ChatCompletions, true))
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "yes", resp.Header.Get("X-Extra"), "Fault.Header applies to successful replies too")
}

func TestScriptRejectsInvalidFaults(t *testing.T) {
	tests := []struct {
		fault Fault
		want  string
	}{
		{Fault{Delay: -1}, "Fault.Delay"},
		{Fault{FirstTokenDelay: -1}, "Fault.FirstTokenDelay"},
		{Fault{RetryAfter: -time.Second}, "Fault.RetryAfter"},
		{Fault{PreciseRetryAfter: -time.Second}, "Fault.PreciseRetryAfter"},
		{Fault{Status: 200}, "Fault.Status"},
		{Fault{Status: 302}, "Fault.Status"},
		{Fault{Status: 600}, "Fault.Status"},
		{Fault{ShouldRetry: "yes"}, "Fault.ShouldRetry"},
		{Fault{Stream: StreamFault(99)}, "Fault.Stream"},
		{Fault{Stream: StreamCut, After: -1}, "Fault.After"},
	}
	srv := Start(t, Config{})
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			err := srv.Script(Error(500), tt.fault)
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrInvalidArgument), "got %v, want ErrInvalidArgument", err)
			assert.Contains(t, err.Error(), tt.want)
			assert.Contains(t, err.Error(), "fault 1", "the error names the fault's position")
			assert.Equal(t, 0, srv.Stats().Queued, "a script with a bad fault queues nothing")
		})
	}
}

func TestScriptRunsInOrderThenPasses(t *testing.T) {
	srv := Start(t, Config{})
	require.NoError(t, srv.Script(Error(429), Fault{}, Error(503)))
	assert.Equal(t, 3, srv.Stats().Queued)
	var got []int
	for range 4 {
		resp, _ := mustPost(t, srv, string(Messages), bodyFor(Messages, false))
		got = append(got, resp.StatusCode)
	}
	assert.Equal(t, []int{429, 200, 503, 200}, got)
	st := srv.Stats()
	assert.Equal(t, 0, st.Queued)
	assert.Equal(t, 2, st.Faults, "a zero Fault in the script is no fault")
}

func TestFaultFor(t *testing.T) {
	srv := Start(t, Config{FaultFor: func(req *Request) Fault {
		switch req.Model {
		case "primary":
			return Error(503)
		case "broken":
			return Fault{Status: 42}
		}
		return Fault{}
	}})
	status := func(model string) int {
		resp, _ := mustPost(t, srv, string(ChatCompletions), chatBody(model, "x", false))
		return resp.StatusCode
	}
	assert.Equal(t, 503, status("primary"))
	assert.Equal(t, 200, status("fallback"))
	require.NoError(t, srv.Script(Fault{Status: 429}))
	assert.Equal(t, 429, status("fallback"), "the script comes before FaultFor")
	resp, b := mustPost(t, srv, string(ChatCompletions), chatBody("broken", "x", false))
	assert.Equal(t, 500, resp.StatusCode)
	assert.Contains(t, string(b), "Config.FaultFor returned an invalid fault", "an invalid fault is reported in the answer")
	assert.Equal(t, map[string]int{"primary": 1, "fallback": 2, "broken": 1}, srv.Stats().ByModel)
}

func TestRatesAreSeededAndProportional(t *testing.T) {
	cfg := Config{Seed: 7, Rates: Rates{{P: 0.2, Fault: Error(429)}, {P: 0.1, Fault: Error(503)}}}
	statuses := func() []int {
		srv := Start(t, cfg)
		var out []int
		for range 300 {
			resp, _ := mustPost(t, srv, string(Embeddings), bodyFor(Embeddings, false))
			out = append(out, resp.StatusCode)
		}
		return out
	}
	a, b := statuses(), statuses()
	assert.Equal(t, a, b, "the same seed must give the same faults in the same order")
	count := map[int]int{}
	for _, s := range a {
		count[s]++
	}
	// Expected 60 and 30 of 300; these bounds are > 4 standard deviations wide.
	assert.InDelta(t, 60, count[429], 28, "got %d 429s of 300 at P=0.2", count[429])
	assert.InDelta(t, 30, count[503], 21, "got %d 503s of 300 at P=0.1", count[503])

	cfg.Seed = 8
	assert.NotEqual(t, a, statuses(), "another seed gives another sequence")
	cfg.Rates = Rates{{P: 1, Fault: Error(502)}}
	for _, s := range statuses() {
		require.Equal(t, 502, s, "P=1 must fault every request")
	}
}

func TestRatesPick(t *testing.T) {
	rs := Rates{{P: 0.25, Fault: Error(429)}, {P: 0.25, Fault: Error(500)}}
	tests := []struct {
		u    float64
		want int
	}{{0, 429}, {0.2499, 429}, {0.25, 500}, {0.4999, 500}, {0.5, 0}, {0.9999, 0}}
	for _, tt := range tests {
		assert.Equal(t, tt.want, rs.pick(tt.u).Status, "u=%v", tt.u)
	}
}

func TestLatencyIsExact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := Start(t, Config{InMemory: true})
		require.NoError(t, srv.Script(Latency(3*time.Second), Fault{Delay: time.Second, Status: 503}))
		start := time.Now()
		resp, _ := mustPost(t, srv, string(ChatCompletions), bodyFor(ChatCompletions, false))
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, 3*time.Second, time.Since(start))
		start = time.Now()
		resp, _ = mustPost(t, srv, string(ChatCompletions), bodyFor(ChatCompletions, false))
		assert.Equal(t, 503, resp.StatusCode)
		assert.Equal(t, time.Second, time.Since(start), "Delay applies before an error status too")
	})
}

func TestHangHoldsUntilTheClientGivesUp(t *testing.T) {
	for _, route := range []Route{ChatCompletions, Messages, Embeddings} {
		t.Run(string(route), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := Start(t, Config{InMemory: true})
				require.NoError(t, srv.Script(Hang()))
				client := &http.Client{Transport: srv.Transport(), Timeout: 10 * time.Second}
				start := time.Now()
				_, err := client.Post(srv.URL+string(route), "application/json", strings.NewReader(bodyFor(route, true)))
				require.Error(t, err)
				assert.ErrorIs(t, err, context.DeadlineExceeded)
				assert.Equal(t, 10*time.Second, time.Since(start), "the hang lasts exactly as long as the client waits")
				require.NoError(t, srv.WaitIdle(t.Context()))
				st := srv.Stats()
				assert.Equal(t, 1, st.Abandoned)
				assert.Empty(t, st.ByStatus, "a hang sends no status")
			})
		})
	}
}

func TestCloseEndsHungRequests(t *testing.T) {
	srv, err := NewServer(Config{})
	require.NoError(t, err)
	require.NoError(t, srv.Script(Hang(), StallStream(1)))
	errs := make(chan error, 2)
	for _, route := range []Route{ChatCompletions, Messages} {
		go func() {
			resp, err := post(t, srv, string(route), bodyFor(route, true))
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			errs <- err
		}()
	}
	for srv.Stats().InFlight < 2 {
		time.Sleep(time.Millisecond)
	}
	srv.Close() // must return although no client gives up
	for range 2 {
		assert.Error(t, <-errs, "a request held at Close fails instead of hanging")
	}
	srv.Close() // idempotent
}

func TestCloseFreesAHandlerBlockedOnASilentReader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		long := strings.Repeat("word ", 5000)
		srv, err := NewServer(Config{InMemory: true, Reply: func(*Request) string { return long }})
		require.NoError(t, err)
		resp, err := post(t, srv, string(ChatCompletions), bodyFor(ChatCompletions, true))
		require.NoError(t, err)
		synctest.Wait() // the handler is now blocked writing to a pipe nobody reads
		assert.Equal(t, 1, srv.Stats().InFlight)
		srv.Close()
		_, err = io.ReadAll(resp.Body)
		assert.Error(t, err, "the dropped connection ends the body with an error")
		resp.Body.Close()
	})
}

func TestStreamFaultString(t *testing.T) {
	assert.Equal(t, "StreamCut", StreamCut.String())
	assert.Equal(t, "StreamFault(9)", StreamFault(9).String())
}
