package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The Prometheus names of every metric the run produces.
var wantSeries = []string{
	"messaging_client_sent_messages_total",
	"messaging_client_consumed_messages_total",
	"messaging_process_duration_seconds_bucket",
	"gen_ai_client_operation_duration_seconds_bucket",
	"gen_ai_client_token_usage_bucket",
	"resilience_queue_depth",
	"resilience_breaker_state",
}

func TestOTelRunPrintsTheTraceAndServesMetrics(t *testing.T) {
	var out bytes.Buffer
	var metrics string
	err := run(context.Background(), Config{OTel: true, Tasks: 2, Addr: "127.0.0.1:0", Out: &out,
		Hold: func(base string) {
			var err error
			metrics, err = getMetrics(context.Background(), base)
			require.NoError(t, err)
		}})
	require.NoError(t, err, out.String())
	for _, name := range wantSeries {
		assert.Contains(t, metrics, name+"{", "GET /metrics serves %s", name)
	}
	assert.Contains(t, metrics, `gen_ai_token_type="output"`)
	assert.Contains(t, metrics, `messaging_destination_name="default"`)

	// The tree: request, send, process, the LLM call and its two attempts,
	// each a level deeper than its parent.
	text := out.String()
	tree := []string{"  POST /tasks/chat SERVER", "    send default PRODUCER", "      process default CONSUMER",
		"        chat gpt-4o CLIENT", "          POST CLIENT", "error.type=529", "          POST CLIENT"}
	at := 0
	for _, want := range tree {
		i := strings.Index(text[at:], want)
		require.GreaterOrEqual(t, i, 0, "%q after offset %d of:\n%s", want, at, text)
		at += i + len(want)
	}
	assert.Contains(t, text, "messaging_client_sent_messages_total")
}

func TestPlainRunHasNoTelemetry(t *testing.T) {
	var out bytes.Buffer
	var status int
	err := run(context.Background(), Config{Tasks: 1, Addr: "127.0.0.1:0", Out: &out,
		Hold: func(base string) {
			resp, err := apiHTTP.Get(base + "/metrics")
			require.NoError(t, err)
			resp.Body.Close()
			status = resp.StatusCode
		}})
	require.NoError(t, err)
	assert.NotEqual(t, http.StatusOK, status, "no /metrics without -otel")
	assert.NotContains(t, out.String(), "PRODUCER")
}

func TestRunRejectsNoTasks(t *testing.T) {
	err := run(context.Background(), Config{Tasks: 0})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "want at least 1")
}
