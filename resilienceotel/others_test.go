package resilienceotel_test

import (
	"context"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/llmhttp"
	"github.com/resilience-go/resilience/llmtest"
	"github.com/resilience-go/resilience/queue"
	"github.com/resilience-go/resilience/resilienceotel"
)

func TestBreakerTransitionsByStateEntered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tel := newTelemetry(t)
		b, err := resilience.NewBreaker(resilience.BreakerConfig{FailureThreshold: 1, RecoveryTimeout: time.Second})
		require.NoError(t, err)
		require.NoError(t, resilienceotel.InstrumentBreaker("upstream", b, tel.cfg))
		fail := func(context.Context) error { return context.DeadlineExceeded }
		ok := func(context.Context) error { return nil }
		_ = b.Do(context.Background(), fail) // closed -> open
		time.Sleep(time.Second)
		_ = b.Do(context.Background(), fail) // open -> half-open -> open
		time.Sleep(time.Second)
		_ = b.Do(context.Background(), ok) // open -> half-open -> closed

		got := tel.collect(t)
		counts := map[string]int64{}
		for _, p := range got["resilience.breaker.transitions"].Data.(metricdata.Sum[int64]).DataPoints {
			counts[setAttrs(p.Attributes)["resilience.breaker.state"]] += p.Value
		}
		assert.Equal(t, map[string]int64{"open": 2, "half_open": 2, "closed": 1}, counts)
		assert.Equal(t, int64(0), got["resilience.breaker.state"].Data.(metricdata.Gauge[int64]).DataPoints[0].Value)

		b.Trip(time.Second)
		time.Sleep(time.Second)
		got = tel.collect(t)
		assert.Equal(t, int64(2), got["resilience.breaker.state"].Data.(metricdata.Gauge[int64]).DataPoints[0].Value,
			"half-open is 2, read lazily like any call")
	})
}

// onlyBroker hides every optional interface of the broker it wraps.
type onlyBroker struct{ queue.Broker }

func TestInstrumentQueuesNeedsAnInspector(t *testing.T) {
	tel := newTelemetry(t)
	b := queue.NewMemoryBroker()
	defer b.Close()
	err := resilienceotel.InstrumentQueues(queue.NewClient(onlyBroker{b}), tel.cfg)
	require.ErrorIs(t, err, queue.ErrUnsupported)
	assert.Contains(t, err.Error(), "queue.Inspector", "the error says what the broker lacks")
	_, ok := tel.collect(t)["resilience.queue.depth"]
	assert.False(t, ok, "no gauge registered")
}

func TestFailedLLMCallMarksItsSpan(t *testing.T) {
	tel := newTelemetry(t)
	srv := llmtest.Start(t, llmtest.Config{})
	require.NoError(t, srv.Script(llmtest.Error(503), llmtest.Error(503)))
	tr, err := llmhttp.NewTransport(llmhttp.Config{Base: srv.Transport(), Retry: resilience.RetryPolicy{MaxAttempts: 2,
		BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}})
	require.NoError(t, err)
	require.NoError(t, resilienceotel.InstrumentTransport(tr, tel.cfg))
	err = chat(context.Background(), &http.Client{Transport: tr}, srv.URL, "gpt-4o", "hi", false)
	require.Error(t, err)
	call := tel.span(t, "chat gpt-4o")
	assert.Equal(t, codes.Error, call.Status().Code)
	assert.Equal(t, "503", attrs(call.Attributes())["error.type"])
	n := 0
	for _, s := range tel.spans.Ended() {
		if s.Parent().SpanID() == call.SpanContext().SpanID() {
			n++
			assert.Equal(t, codes.Error, s.Status().Code)
			assert.Equal(t, "503", attrs(s.Attributes())["error.type"])
		}
	}
	assert.Equal(t, 2, n, "two failed attempts")
	dur := tel.collect(t)["gen_ai.client.operation.duration"].Data.(metricdata.Histogram[float64]).DataPoints
	require.Len(t, dur, 1)
	assert.Equal(t, "503", setAttrs(dur[0].Attributes)["error.type"])
}

// TestNothingEmittedUninstrumented sets recording providers as the otel
// globals and runs the whole flow without instrumenting it: no span, no
// metric, no header.
func TestNothingEmittedUninstrumented(t *testing.T) {
	tel := newTelemetry(t)
	otel.SetTracerProvider(tel.tp)
	otel.SetMeterProvider(tel.mp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator()) })

	f := newChatFlow(t)
	b, err := resilience.NewBreaker(resilience.BreakerConfig{})
	require.NoError(t, err)
	startWorker(t, f.worker)
	ctx, root := tel.tp.Tracer("test").Start(context.Background(), "request")
	done := f.run(t, ctx, "hello")
	root.End()
	b.Trip(time.Second)
	require.Equal(t, queue.StateSuccess, done.State)

	assert.Equal(t, []string{"request"}, spanNames(tel.spans.Ended()), "only the test's own span")
	assert.Empty(t, done.Headers, "no trace context written")
	assert.Empty(t, tel.collect(t), "no metric")

	// The same providers as globals, used through a zero Config, do record.
	require.NoError(t, resilienceotel.InstrumentClient(f.client, resilienceotel.Config{}))
	f.run(t, context.Background(), "again")
	assert.Contains(t, spanNames(tel.spans.Ended()), "send default", "a zero Config uses the globals")
}
