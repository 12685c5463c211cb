package resilienceotel

import (
	"context"
	"errors"
	"maps"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/resilience-go/resilience/queue"
)

// Bucket boundaries of messaging.process.duration, in seconds: the
// semantic conventions' advice for durations.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// InstrumentClient makes every enqueue of c (Enqueue, Replay, a
// Scheduler's) a PRODUCER span "send {queue}" and counts it in
// messaging.client.sent.messages ({message}). The span's context is
// written into the task's [queue.Task.Headers] with cfg's propagator (a
// copy: the caller's map is not changed), so [InstrumentWorker] continues
// the trace in whatever process runs the task. A failed enqueue sets the
// span's status to error and error.type on the span and the count.
//
// Call it once per client: each call adds another hook. It returns an
// error wrapping resilience.ErrInvalidArgument when c is nil, and the
// meter's error when the counter cannot be created.
func InstrumentClient(c *queue.Client, cfg Config) error {
	if c == nil {
		return invalid("InstrumentClient: client is nil")
	}
	tracer, prop := cfg.tracer(), cfg.propagator()
	sent, err := cfg.meter().Int64Counter("messaging.client.sent.messages",
		metric.WithUnit("{message}"), metric.WithDescription("Tasks enqueued."))
	if err != nil {
		return err
	}
	c.Use(func(next queue.EnqueueFunc) queue.EnqueueFunc {
		return func(ctx context.Context, t *queue.Task) (*queue.Task, error) {
			attrs := []attribute.KeyValue{
				keyMessagingSystem.String(messagingSystem),
				keyMessagingOperation.String("send"),
				keyDestination.String(t.Queue),
			}
			ctx, span := tracer.Start(ctx, "send "+t.Queue, trace.WithSpanKind(trace.SpanKindProducer),
				trace.WithAttributes(attrs...),
				trace.WithAttributes(keyMessagingOpType.String("send"), keyMessageID.String(t.ID), keyTaskName.String(t.Name)))
			defer span.End()
			t.Headers = injectHeaders(ctx, prop, t.Headers)
			stored, err := next(ctx, t)
			if err != nil {
				et := errorType(err)
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
				span.SetAttributes(keyErrorType.String(et))
				attrs = append(attrs, keyErrorType.String(et))
			}
			sent.Add(ctx, 1, metric.WithAttributes(attrs...))
			return stored, err
		}
	})
	return nil
}

// injectHeaders returns a copy of h with the trace context of ctx added.
// When the propagator's fields (a large baggage) would push the headers
// past queue.MaxHeaderBytes, only the W3C trace context is added, so the
// enqueue never fails for the telemetry's sake.
func injectHeaders(ctx context.Context, prop propagation.TextMapPropagator, h map[string]string) map[string]string {
	out := maps.Clone(h)
	if out == nil {
		out = make(map[string]string, 2)
	}
	prop.Inject(ctx, propagation.MapCarrier(out))
	if headerBytes(out) <= queue.MaxHeaderBytes {
		return out
	}
	out = maps.Clone(h)
	if out == nil {
		out = make(map[string]string, 2)
	}
	propagation.TraceContext{}.Inject(ctx, propagation.MapCarrier(out))
	return out
}

func headerBytes(h map[string]string) int {
	n := 0
	for k, v := range h {
		n += len(k) + len(v)
	}
	return n
}

// InstrumentWorker makes every attempt of every task w runs a CONSUMER
// span "process {queue}", whose parent is the enqueue's span read from the
// task's headers (so one trace runs from the enqueuing request into the
// handler, across processes and brokers). The handler's context carries
// the span: spans it starts (an LLM call through an instrumented
// transport) are its children. It records messaging.process.duration (s)
// and messaging.client.consumed.messages ({message}); a failed attempt
// (an error or a panic, which is re-panicked) sets the span's status to
// error and error.type on the span and the metrics. A handler that returns
// its context's error after the worker cancelled it is reported by the
// worker's cause: "revoked" ([queue.Client.Cancel]), "timeout" (a time
// limit).
//
// Call it before [queue.Worker.Run], once per worker. It returns an error
// wrapping resilience.ErrInvalidArgument when w is nil, and the meter's
// error when an instrument cannot be created.
func InstrumentWorker(w *queue.Worker, cfg Config) error {
	if w == nil {
		return invalid("InstrumentWorker: worker is nil")
	}
	tracer, prop, meter := cfg.tracer(), cfg.propagator(), cfg.meter()
	consumed, err := meter.Int64Counter("messaging.client.consumed.messages",
		metric.WithUnit("{message}"), metric.WithDescription("Task attempts started by workers."))
	if err != nil {
		return err
	}
	duration, err := meter.Float64Histogram("messaging.process.duration",
		metric.WithUnit("s"), metric.WithDescription("Duration of one attempt of a task's handler."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	if err != nil {
		return err
	}
	w.Use(func(next queue.HandlerFunc) queue.HandlerFunc {
		return func(ctx context.Context, t *queue.Task) (result any, err error) {
			attrs := []attribute.KeyValue{
				keyMessagingSystem.String(messagingSystem),
				keyMessagingOperation.String("process"),
				keyDestination.String(t.Queue),
			}
			parent := prop.Extract(ctx, propagation.MapCarrier(t.Headers))
			ctx, span := tracer.Start(parent, "process "+t.Queue, trace.WithSpanKind(trace.SpanKindConsumer),
				trace.WithAttributes(attrs...),
				trace.WithAttributes(keyMessagingOpType.String("process"), keyMessageID.String(t.ID),
					keyTaskName.String(t.Name), keyTaskAttempt.Int(t.Attempt)))
			start := time.Now()
			finished := false
			defer func() {
				if !finished {
					// A panic on its way to the worker, which counts it as
					// a failure: record it without recovering it.
					err = errPanic
				}
				end(ctx, span, attrs, start, err, consumed, duration)
			}()
			result, err = next(ctx, t)
			finished = true
			return result, err
		}
	})
	return nil
}

// end closes a process span and records its metrics.
func end(ctx context.Context, span trace.Span, attrs []attribute.KeyValue, start time.Time, err error,
	consumed metric.Int64Counter, duration metric.Float64Histogram) {
	if err != nil {
		et := errorType(causeOf(ctx, err))
		if err == errPanic {
			et = "panic"
		}
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		span.SetAttributes(keyErrorType.String(et))
		attrs = append(attrs, keyErrorType.String(et))
	}
	span.End()
	opt := metric.WithAttributes(attrs...)
	duration.Record(ctx, time.Since(start).Seconds(), opt)
	consumed.Add(ctx, 1, opt)
}

// causeOf returns the cause of ctx's cancellation when err is only its
// echo (a handler returning ctx.Err()): the worker cancels a handler's
// context with a cause ([queue.ErrRevoked], [queue.ErrTimeLimit]) that
// names what happened. Any other err is returned as it is.
func causeOf(ctx context.Context, err error) error {
	if !errors.Is(err, context.Canceled) {
		return err
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

// errPanic stands for a handler's panic on its span.
var errPanic = errors.New("resilienceotel: the handler panicked")
