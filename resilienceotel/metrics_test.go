package resilienceotel_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/queue"
	"github.com/resilience-go/resilience/resilienceotel"
)

// The metrics API.md lists, with their units.
var wantUnits = map[string]string{
	"messaging.client.sent.messages":     "{message}",
	"messaging.client.consumed.messages": "{message}",
	"messaging.process.duration":         "s",
	"gen_ai.client.operation.duration":   "s",
	"gen_ai.client.token.usage":          "{token}",
	"resilience.queue.depth":             "{task}",
	"resilience.breaker.state":           "{state}",
	"resilience.breaker.transitions":     "{transition}",
}

func TestEveryMetricWithItsUnitAndAttributes(t *testing.T) {
	tel := newTelemetry(t)
	f := newChatFlow(t)
	instrumentFlow(t, f, tel.cfg)
	require.NoError(t, resilienceotel.InstrumentQueues(f.client, tel.cfg))
	b, err := resilience.NewBreaker(resilience.BreakerConfig{})
	require.NoError(t, err)
	require.NoError(t, resilienceotel.InstrumentBreaker("llm", b, tel.cfg))
	startWorker(t, f.worker)

	f.run(t, context.Background(), "one two three")
	f.run(t, context.Background(), "fail")
	// A streamed call straight through the transport.
	require.NoError(t, chat(context.Background(), &http.Client{Transport: f.tr}, f.llm.URL, "gpt-4o", "four five", true))
	_, err = f.client.Enqueue(context.Background(), "chat", "later", queue.WithDelay(time.Hour))
	require.NoError(t, err)
	b.Trip(time.Hour)

	got := tel.collect(t)
	for name, unit := range wantUnits {
		m, ok := got[name]
		if assert.True(t, ok, "metric %s is missing", name) {
			assert.Equal(t, unit, m.Unit, "unit of %s", name)
		}
	}

	sent := got["messaging.client.sent.messages"].Data.(metricdata.Sum[int64])
	assert.Equal(t, int64(3), sumInt(sent.DataPoints))
	assert.Equal(t, map[string]string{"messaging.system": "resilience", "messaging.operation.name": "send",
		"messaging.destination.name": "default"}, setAttrs(sent.DataPoints[0].Attributes))

	consumed := got["messaging.client.consumed.messages"].Data.(metricdata.Sum[int64])
	assert.Equal(t, int64(2), sumInt(consumed.DataPoints))
	byErr := map[string]int64{}
	for _, p := range consumed.DataPoints {
		a := setAttrs(p.Attributes)
		assert.Equal(t, "process", a["messaging.operation.name"])
		assert.Equal(t, "default", a["messaging.destination.name"])
		byErr[a["error.type"]] += p.Value
	}
	assert.Equal(t, map[string]int64{"": 1, "_OTHER": 1}, byErr, "the failed attempt carries error.type")

	proc := got["messaging.process.duration"].Data.(metricdata.Histogram[float64])
	assert.Equal(t, uint64(2), histCount(proc.DataPoints))

	st := f.llm.Stats()
	dur := got["gen_ai.client.operation.duration"].Data.(metricdata.Histogram[float64])
	assert.Equal(t, uint64(2), histCount(dur.DataPoints), "one per LLM call")
	assert.Equal(t, map[string]string{"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
		"gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o", "server.address": "127.0.0.1"},
		setAttrs(dur.DataPoints[0].Attributes))

	usage := got["gen_ai.client.token.usage"].Data.(metricdata.Histogram[int64])
	tokens := map[string]int64{}
	for _, p := range usage.DataPoints {
		a := setAttrs(p.Attributes)
		assert.Equal(t, "gpt-4o", a["gen_ai.request.model"])
		tokens[a["gen_ai.token.type"]] += p.Sum
	}
	assert.Equal(t, map[string]int64{"input": int64(st.PromptTokens), "output": int64(st.CompletionTokens)}, tokens,
		"token usage equals what the provider reported, plain and streamed")
	assert.Positive(t, st.CompletionTokens)

	depth := map[string]int64{}
	for _, p := range got["resilience.queue.depth"].Data.(metricdata.Gauge[int64]).DataPoints {
		a := setAttrs(p.Attributes)
		depth[a["messaging.destination.name"]+"/"+a["state"]] = p.Value
	}
	assert.Equal(t, int64(1), depth["default/scheduled"], "the delayed task")
	assert.Equal(t, int64(1), depth["default/succeeded"])
	assert.Equal(t, int64(1), depth["default/failed"])
	assert.Equal(t, int64(0), depth["default/pending"])
	assert.Contains(t, depth, "high/pending", "every known queue, by every state")

	bs := got["resilience.breaker.state"].Data.(metricdata.Gauge[int64]).DataPoints
	require.Len(t, bs, 1)
	assert.Equal(t, int64(1), bs[0].Value, "open is 1")
	assert.Equal(t, map[string]string{"resilience.breaker.name": "llm"}, setAttrs(bs[0].Attributes))
	tr := got["resilience.breaker.transitions"].Data.(metricdata.Sum[int64]).DataPoints
	require.Len(t, tr, 1)
	assert.Equal(t, int64(1), tr[0].Value)
	assert.Equal(t, map[string]string{"resilience.breaker.name": "llm", "resilience.breaker.state": "open"}, setAttrs(tr[0].Attributes))
}

func sumInt(pts []metricdata.DataPoint[int64]) int64 {
	var n int64
	for _, p := range pts {
		n += p.Value
	}
	return n
}

func histCount[N int64 | float64](pts []metricdata.HistogramDataPoint[N]) uint64 {
	var n uint64
	for _, p := range pts {
		n += p.Count
	}
	return n
}
