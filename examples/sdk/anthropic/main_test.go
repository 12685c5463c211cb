package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/examples/sdk/internal/demo"
	"github.com/resilience-go/resilience/llmhttp"
	"github.com/resilience-go/resilience/llmtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env runs the scenarios over in-process pipes, so that inside a synctest
// bubble every wait (Retry-After, attempt timeout, watchdog) is exact and
// instant.
var env = demo.Env{NewChat: newChat, InMemory: true}

const want = demo.PrimaryModel + ": " + demo.Prompt

func TestRateLimitedThenSucceeds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := demo.RateLimited(t.Context(), env)
		require.NoError(t, err)
		require.NoError(t, r.Err)
		assert.Equal(t, want, r.Text)
		assert.Equal(t, map[int]int{429: 1, 200: 1}, r.Stats.ByStatus)
		assert.Equal(t, demo.RetryAfter, r.Elapsed, "the retry waited exactly the server's Retry-After")
		demo.CheckLedger(t, r, 1, 2)
	})
}

func TestStormOpensBreakerAndFallbackAnswers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := demo.Storm(t.Context(), env)
		require.NoError(t, err)
		require.Len(t, r.Answers, demo.StormCalls)
		for i, a := range r.Answers {
			require.NoError(t, a.Err, "call %d", i+1)
			assert.Equal(t, demo.FallbackModel+": "+demo.Prompt, a.Text, "call %d", i+1)
			require.Error(t, a.PrimaryErr, "call %d: the primary model must not answer", i+1)
		}
		var apiErr *anthropic.Error
		require.ErrorAs(t, r.Answers[0].PrimaryErr, &apiErr, "the first call reaches the server")
		assert.Equal(t, 503, apiErr.StatusCode)
		assert.EqualValues(t, "api_error", apiErr.Type())
		assert.Equal(t, demo.MaxAttempts, llmhttp.Attempts(apiErr.Response))
		assert.NotErrorIs(t, r.Answers[0].PrimaryErr, resilience.ErrOpen)
		for i, a := range r.Answers[1:] {
			assert.ErrorIs(t, a.PrimaryErr, resilience.ErrOpen, "call %d: rejected by the open breaker", i+2)
		}
		assert.Equal(t, map[string]int{demo.PrimaryModel: demo.BreakerThreshold, demo.FallbackModel: demo.StormCalls},
			r.Stats.ByModel, "after the breaker opened, no call to the primary model reached the server")
		demo.CheckLedger(t, r, 2*demo.StormCalls, demo.BreakerThreshold+demo.StormCalls)
	})
}

func TestBadRequestIsNotRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := demo.BadRequest(t.Context(), env)
		require.NoError(t, err)
		var apiErr *anthropic.Error
		require.ErrorAs(t, r.Err, &apiErr)
		assert.Equal(t, 400, apiErr.StatusCode)
		assert.EqualValues(t, "invalid_request_error", apiErr.Type())
		assert.Contains(t, apiErr.Message, "maximum context length")
		assert.Equal(t, 1, llmhttp.Attempts(apiErr.Response))
		assert.Zero(t, r.Elapsed, "no backoff before giving a 400 back")
		demo.CheckLedger(t, r, 1, 1)
	})
}

func TestHungAttemptIsCutAndRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := demo.Hang(t.Context(), env)
		require.NoError(t, err)
		require.NoError(t, r.Err)
		assert.Equal(t, want, r.Text)
		assert.GreaterOrEqual(t, r.Elapsed, demo.AttemptTimeout)
		assert.LessOrEqual(t, r.Elapsed, demo.AttemptTimeout+demo.BaseDelay, "the attempt timeout plus at most one backoff")
		assert.Equal(t, 1, r.Stats.Abandoned, "the server saw the client give up on the hung attempt")
		assert.Equal(t, map[int]int{200: 1}, r.Stats.ByStatus)
		demo.CheckLedger(t, r, 1, 2)
	})
}

func TestCutStreamIsAnError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := demo.CutStream(t.Context(), env)
		require.NoError(t, err)
		assert.ErrorIs(t, r.Err, io.ErrUnexpectedEOF, "a cut stream must not pass for a short answer")
		assert.Equal(t, demo.PrimaryModel+": hello", r.Text, "the two chunks before the cut")
		demo.CheckLedger(t, r, 1, 1)
	})
}

func TestStalledStreamIsCutByTheWatchdog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := demo.StallStream(t.Context(), env)
		require.NoError(t, err)
		var se *llmhttp.StreamError
		require.ErrorAs(t, r.Err, &se)
		assert.ErrorIs(t, r.Err, resilience.ErrIdleTimeout)
		assert.Equal(t, demo.StreamIdleTimeout, r.Elapsed)
		assert.Equal(t, demo.PrimaryModel+":", r.Text)
		assert.Equal(t, 1, r.Stats.Abandoned)
		demo.CheckLedger(t, r, 1, 1)
	})
}

// TestSDKRetriesWouldMultiply is the counter-example that shows the ledger
// can fail: with the SDK's own retries left on, each SDK retry repeats all
// of the transport's attempts, and the server sees the product.
func TestSDKRetriesWouldMultiply(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := llmtest.Start(t, llmtest.Config{InMemory: true, Rates: llmtest.Rates{{P: 1, Fault: llmtest.Overloaded()}}})
		tr, err := llmhttp.NewTransport(llmhttp.Config{Base: srv.Transport(),
			Retry: resilience.RetryPolicy{MaxAttempts: demo.MaxAttempts, BaseDelay: demo.BaseDelay}})
		require.NoError(t, err)
		client := anthropic.NewClient(option.WithoutEnvironmentDefaults(), option.WithBaseURL(srv.URL),
			option.WithAPIKey("sk-ant-demo"), option.WithHTTPClient(&http.Client{Transport: tr}), option.WithMaxRetries(2))
		_, err = client.Messages.New(t.Context(), anthropic.MessageNewParams{Model: "m", MaxTokens: 10,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("x"))}})
		require.Error(t, err)
		st := srv.Stats()
		assert.Equal(t, 3*demo.MaxAttempts, st.Requests, "3 SDK tries x %d transport attempts", demo.MaxAttempts)
		assert.Equal(t, map[int]int{0: 3, 1: 3, 2: 3}, st.RetryCounts)
		assert.Equal(t, 6, st.SDKRetries)
		tr.CloseIdleConnections()
	})
}

// TestProgram runs what main runs, on the fake clock, and checks that every
// ledger balanced.
func TestProgram(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out strings.Builder
		ok, err := demo.RunAll(t.Context(), &out, env, describe)
		require.NoError(t, err)
		assert.True(t, ok, "output:\n%s", out.String())
		assert.Contains(t, out.String(), "HTTP 400 invalid_request_error")
		assert.Contains(t, out.String(), "primary rejected at once by its open breaker")
	})
}
