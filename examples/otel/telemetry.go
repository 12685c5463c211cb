package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/resilience-go/resilience/resilienceotel"
)

// telemetry is the OpenTelemetry SDK of the demo: spans kept in memory to
// print a trace, metrics exported to Prometheus.
type telemetry struct {
	tp      *sdktrace.TracerProvider
	mp      *sdkmetric.MeterProvider
	spans   *keptSpans
	prop    propagation.TextMapPropagator
	metrics http.Handler // GET /metrics
}

func newTelemetry() (*telemetry, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	if err != nil {
		return nil, err
	}
	t := &telemetry{spans: &keptSpans{}, prop: propagation.TraceContext{}}
	t.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(t.spans))
	t.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	t.metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return t, nil
}

func (t *telemetry) shutdown() {
	_ = t.tp.Shutdown(context.Background())
	_ = t.mp.Shutdown(context.Background())
}

// instrument wires the library into the SDK: the lines a service adds.
func (t *telemetry) instrument(f *flow) error {
	cfg := resilienceotel.Config{TracerProvider: t.tp, MeterProvider: t.mp, Propagator: t.prop}
	for _, err := range []error{
		resilienceotel.InstrumentClient(f.client, cfg),
		resilienceotel.InstrumentWorker(f.worker, cfg),
		resilienceotel.InstrumentTransport(f.tr, cfg),
		resilienceotel.InstrumentQueues(f.client, cfg),
		resilienceotel.InstrumentBreaker("gpt-4o", f.breaker, cfg),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// serverSpans gives every request of the task API a SERVER span, the root
// of the trace of the task it enqueues (otelhttp does the same, with more).
func (t *telemetry) serverSpans(next http.Handler) http.Handler {
	tracer := t.tp.Tracer("github.com/resilience-go/resilience/examples/otel")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route := r.URL.Path
		if r.Method == http.MethodGet && strings.HasPrefix(route, "/tasks/") {
			route = "/tasks/{id}"
		}
		ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, r.Method+" "+route, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("http.route", route)))
		defer span.End()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// printTrace prints, as a tree, the trace whose process span ran task id.
func (t *telemetry) printTrace(w io.Writer, id string) {
	spans := t.spans.all()
	var tid trace.TraceID
	for _, s := range spans {
		if strings.HasPrefix(s.Name(), "process ") && attrOf(s, "messaging.message.id") == id {
			tid = s.SpanContext().TraceID()
		}
	}
	in := map[trace.SpanID]bool{}
	var trc []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.SpanContext().TraceID() == tid {
			trc = append(trc, s)
			in[s.SpanContext().SpanID()] = true
		}
	}
	slices.SortFunc(trc, func(a, b sdktrace.ReadOnlySpan) int { return a.StartTime().Compare(b.StartTime()) })
	var walk func(parent trace.SpanID, depth int)
	walk = func(parent trace.SpanID, depth int) {
		for _, s := range trc {
			p := s.Parent().SpanID()
			if depth == 0 && in[p] || depth > 0 && p != parent {
				continue
			}
			fmt.Fprintf(w, "  %s%s %s %s%s\n", strings.Repeat("  ", depth), s.Name(),
				strings.ToUpper(s.SpanKind().String()), s.EndTime().Sub(s.StartTime()).Round(100_000), details(s))
			walk(s.SpanContext().SpanID(), depth+1)
		}
	}
	walk(trace.SpanID{}, 0)
}

// details are the attributes worth a look in the tree.
func details(s sdktrace.ReadOnlySpan) string {
	var b strings.Builder
	for _, k := range []string{"messaging.destination.name", "gen_ai.response.model",
		"gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "http.request.resend_count",
		"http.response.status_code", "error.type"} {
		if v := attrOf(s, k); v != "" {
			fmt.Fprintf(&b, " %s=%s", k, v)
		}
	}
	return b.String()
}

func attrOf(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

// keptSpans is a span processor that keeps the last ended spans in memory.
type keptSpans struct {
	mu    sync.Mutex
	spans []sdktrace.ReadOnlySpan
}

// maxKept bounds the memory of a long -serve run.
const maxKept = 10_000

func (k *keptSpans) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (k *keptSpans) OnEnd(s sdktrace.ReadOnlySpan) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.spans) == maxKept {
		k.spans = slices.Delete(k.spans, 0, maxKept/2)
	}
	k.spans = append(k.spans, s)
}
func (k *keptSpans) Shutdown(context.Context) error   { return nil }
func (k *keptSpans) ForceFlush(context.Context) error { return nil }

func (k *keptSpans) all() []sdktrace.ReadOnlySpan {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.spans)
}
