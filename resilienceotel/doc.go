// Package resilienceotel reports what the resilience library does to
// OpenTelemetry: traces that follow one request from the code that
// enqueues a task, through any broker and into the worker's process, out
// to each LLM call and its retried attempts; and metrics with the
// semantic-convention names for messaging and GenAI clients, plus queue
// depth and circuit-breaker state.
//
// Wiring is one call per object, after it is built:
//
//	resilienceotel.InstrumentClient(client, resilienceotel.Config{}) // send {queue} spans, context in Task.Headers
//	resilienceotel.InstrumentWorker(worker, resilienceotel.Config{}) // process {queue} spans, children of the send span
//	resilienceotel.InstrumentTransport(transport, resilienceotel.Config{}) // chat gpt-4o spans, token usage
//
// and [InstrumentQueues], [InstrumentBreaker] for gauges. A zero [Config]
// uses the otel globals (otel.SetTracerProvider and friends).
//
// The trace context travels in [queue.Task.Headers] (W3C traceparent by
// default), so the worker's span joins the enqueuer's trace whatever the
// broker and whichever process runs the task, as Celery carries it in
// message headers.
//
// The library itself does not import OpenTelemetry: this module hooks into
// [queue.Client.Use], [queue.Worker.Use], [llmhttp.Transport.Observe] and
// [resilience.Breaker.OnStateChange], each of which costs nothing when
// unused.
package resilienceotel

import (
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of every tracer and meter this
// package creates.
const ScopeName = "github.com/resilience-go/resilience/resilienceotel"

// Config says where the telemetry goes. Its zero value uses the otel
// globals, read when an Instrument function is called.
type Config struct {
	// TracerProvider creates the tracer; nil means otel.GetTracerProvider().
	TracerProvider trace.TracerProvider
	// MeterProvider creates the meter; nil means otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
	// Propagator writes the trace context into task headers and reads it
	// back; nil means otel.GetTextMapPropagator(). The global one is a
	// no-op until set: set it (for example to
	// propagation.TraceContext{}) in every process, or give it here, or
	// the worker's spans start new traces.
	Propagator propagation.TextMapPropagator
}

func (c Config) tracer() trace.Tracer {
	tp := c.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(ScopeName)
}

func (c Config) meter() metric.Meter {
	mp := c.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	return mp.Meter(ScopeName)
}

func (c Config) propagator() propagation.TextMapPropagator {
	if c.Propagator != nil {
		return c.Propagator
	}
	return otel.GetTextMapPropagator()
}
