package main

import (
	"io"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/examples/sdk/internal/demo"
	"github.com/resilience-go/resilience/llmhttp"
	openai "github.com/sashabaranov/go-openai"
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
		assert.Empty(t, r.Stats.RetryCounts, "go-openai sends no X-Stainless-Retry-Count")
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
		var apiErr *openai.APIError
		require.ErrorAs(t, r.Answers[0].PrimaryErr, &apiErr, "the first call reaches the server")
		assert.Equal(t, 503, apiErr.HTTPStatusCode)
		assert.Equal(t, "server_error", apiErr.Type)
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
		var apiErr *openai.APIError
		require.ErrorAs(t, r.Err, &apiErr)
		assert.Equal(t, 400, apiErr.HTTPStatusCode)
		assert.Equal(t, "context_length_exceeded", apiErr.Code)
		assert.Equal(t, "invalid_request_error", apiErr.Type)
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
		demo.CheckLedger(t, r, 1, 1)
	})
}

// TestProgram runs what main runs, on the fake clock, and checks that every
// ledger balanced.
func TestProgram(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out strings.Builder
		ok, err := demo.RunAll(t.Context(), &out, env, nil)
		require.NoError(t, err)
		assert.True(t, ok, "output:\n%s", out.String())
		assert.Contains(t, out.String(), "status code: 400")
		assert.Contains(t, out.String(), "primary rejected at once by its open breaker")
	})
}
