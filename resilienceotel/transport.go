package resilienceotel

import (
	"context"
	"net/http"
	"slices"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/resilience-go/resilience/llmhttp"
)

// Bucket boundaries the GenAI semantic conventions advise for
// gen_ai.client.operation.duration (s) and gen_ai.client.token.usage.
var (
	genAIDurationBuckets = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	genAITokenBuckets    = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
)

// InstrumentTransport makes every call through t a CLIENT span named
// "{gen_ai.operation.name} {gen_ai.request.model}" ("chat gpt-4o"), child
// of the span in the request's context, with one CLIENT span per attempt
// ("POST", http.request.resend_count 0, 1, ...) below it, so retries show.
// The call's span carries gen_ai.operation.name, gen_ai.provider.name,
// gen_ai.request.model, and, from the response, gen_ai.response.model,
// gen_ai.usage.input_tokens and gen_ai.usage.output_tokens: the counts the
// provider reported in its usage object, plain or streamed. It records the
// histograms gen_ai.client.operation.duration (s) and
// gen_ai.client.token.usage ({token}, gen_ai.token.type = input or
// output). A failed attempt or call gets error.type (the HTTP status, or
// "timeout", "breaker_open", ...: [llmhttp.ErrorType]) and an error status.
//
// A successful call ends when its response body is read to the end or
// closed, so a stream's span covers the whole stream. InstrumentTransport
// replaces any observer set earlier on t ([llmhttp.Transport.Observe]). It
// returns an error wrapping resilience.ErrInvalidArgument when t is nil,
// and the meter's error when an instrument cannot be created.
func InstrumentTransport(t *llmhttp.Transport, cfg Config) error {
	if t == nil {
		return invalid("InstrumentTransport: transport is nil")
	}
	meter := cfg.meter()
	dur, err := meter.Float64Histogram("gen_ai.client.operation.duration",
		metric.WithUnit("s"), metric.WithDescription("GenAI operation duration."),
		metric.WithExplicitBucketBoundaries(genAIDurationBuckets...))
	if err != nil {
		return err
	}
	tokens, err := meter.Int64Histogram("gen_ai.client.token.usage",
		metric.WithUnit("{token}"), metric.WithDescription("Number of input and output tokens used."),
		metric.WithExplicitBucketBoundaries(genAITokenBuckets...))
	if err != nil {
		return err
	}
	t.Observe(&transportObserver{tracer: cfg.tracer(), duration: dur, tokens: tokens})
	return nil
}

type transportObserver struct {
	tracer   trace.Tracer
	duration metric.Float64Histogram
	tokens   metric.Int64Histogram
}

func (o *transportObserver) StartCall(ctx context.Context, info llmhttp.CallInfo) llmhttp.CallObserver {
	op := info.Operation
	if op == "" {
		op = info.Request.Method
	}
	name := op
	if info.Model != "" {
		name += " " + info.Model
	}
	attrs := make([]attribute.KeyValue, 0, 4)
	if info.Operation != "" {
		attrs = append(attrs, keyGenAIOperation.String(info.Operation))
	}
	if info.Provider != "" {
		attrs = append(attrs, keyGenAIProvider.String(info.Provider))
	}
	if info.Model != "" {
		attrs = append(attrs, keyGenAIRequestModel.String(info.Model))
	}
	if h := info.Request.URL.Hostname(); h != "" {
		attrs = append(attrs, keyServerAddress.String(h))
	}
	ctx, span := o.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	return &callObserver{o: o, ctx: ctx, span: span, attrs: attrs, method: info.Request.Method}
}

// callObserver follows one call; llmhttp calls it from one goroutine at
// a time.
type callObserver struct {
	o      *transportObserver
	ctx    context.Context // carries the call's span
	span   trace.Span
	attrs  []attribute.KeyValue
	method string
	aspan  trace.Span // the current attempt's
}

func (c *callObserver) StartAttempt(ctx context.Context, n int) context.Context {
	// ctx is the retry loop's (the caller's); the attempt hangs under the
	// call's span, which only c knows.
	ctx, c.aspan = c.o.tracer.Start(trace.ContextWithSpan(ctx, c.span), c.method,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(keyHTTPMethod.String(c.method), keyHTTPResendCount.Int(n-1)))
	return ctx
}

func (c *callObserver) EndAttempt(_ context.Context, a llmhttp.AttemptOutcome) {
	if a.StatusCode != 0 {
		c.aspan.SetAttributes(keyHTTPStatus.Int(a.StatusCode))
	}
	if a.ErrorType != "" {
		c.aspan.SetAttributes(keyErrorType.String(a.ErrorType))
		msg := http.StatusText(a.StatusCode)
		if a.Err != nil {
			msg = a.Err.Error()
			c.aspan.RecordError(a.Err)
		}
		c.aspan.SetStatus(codes.Error, msg)
	}
	c.aspan.End()
}

func (c *callObserver) End(out llmhttp.CallOutcome) {
	attrs := slices.Clip(c.attrs) // appends copy: c.attrs stays as it is
	if out.ResponseModel != "" {
		attrs = append(attrs, keyGenAIResponseMdl.String(out.ResponseModel))
		c.span.SetAttributes(keyGenAIResponseMdl.String(out.ResponseModel))
	}
	if out.StatusCode != 0 {
		c.span.SetAttributes(keyHTTPStatus.Int(out.StatusCode))
	}
	if out.ErrorType != "" {
		attrs = append(attrs, keyErrorType.String(out.ErrorType))
		c.span.SetAttributes(keyErrorType.String(out.ErrorType))
		if out.Err != nil {
			c.span.RecordError(out.Err)
			c.span.SetStatus(codes.Error, out.Err.Error())
		} else {
			c.span.SetStatus(codes.Error, out.ErrorType)
		}
	}
	u := out.Usage
	if u.HasInput {
		c.span.SetAttributes(keyGenAIInputTokens.Int64(u.InputTokens))
	}
	if u.HasOutput {
		c.span.SetAttributes(keyGenAIOutputTokens.Int64(u.OutputTokens))
	}
	c.span.End()
	ctx := c.ctx
	c.o.duration.Record(ctx, out.Duration.Seconds(), metric.WithAttributes(attrs...))
	if u.HasInput {
		c.o.tokens.Record(ctx, u.InputTokens, metric.WithAttributes(append(attrs, keyGenAITokenType.String("input"))...))
	}
	if u.HasOutput {
		c.o.tokens.Record(ctx, u.OutputTokens, metric.WithAttributes(append(attrs, keyGenAITokenType.String("output"))...))
	}
}
