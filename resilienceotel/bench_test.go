package resilienceotel_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/llmhttp"
	"github.com/resilience-go/resilience/queue"
	"github.com/resilience-go/resilience/resilienceotel"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// The benchmarks below run each path plain and instrumented with a
// recording SDK (every span sampled and ended, no exporter; metrics kept by
// a reader), so the difference is the cost of the instrumentation per call.

func benchConfig(b *testing.B) resilienceotel.Config {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	return resilienceotel.Config{TracerProvider: tp, MeterProvider: mp, Propagator: propagation.TraceContext{}}
}

const benchAnswer = `{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-2024-08-06",` +
	`"choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],` +
	`"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}`

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// BenchmarkTransport is one successful LLM call through llmhttp over an
// in-memory base, body read and closed.
func BenchmarkTransport(b *testing.B) {
	for _, instrumented := range []bool{false, true} {
		b.Run(name(instrumented), func(b *testing.B) {
			base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
					Body: io.NopCloser(strings.NewReader(benchAnswer)), Request: r}, nil
			})
			tr, err := llmhttp.NewTransport(llmhttp.Config{Base: base})
			if err != nil {
				b.Fatal(err)
			}
			if instrumented {
				if err := resilienceotel.InstrumentTransport(tr, benchConfig(b)); err != nil {
					b.Fatal(err)
				}
			}
			payload := []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)
			b.ReportAllocs()
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodPost, "http://llm.test/v1/chat/completions", bytes.NewReader(payload))
				resp, err := tr.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}
		})
	}
}

// BenchmarkBreaker is a successful call through a closed breaker: an
// instrumented breaker pays nothing per call (its gauge is read at
// collection, its counter moves on state changes).
func BenchmarkBreaker(b *testing.B) {
	for _, instrumented := range []bool{false, true} {
		b.Run(name(instrumented), func(b *testing.B) {
			br, err := resilience.NewBreaker(resilience.BreakerConfig{})
			if err != nil {
				b.Fatal(err)
			}
			if instrumented {
				if err := resilienceotel.InstrumentBreaker("bench", br, benchConfig(b)); err != nil {
					b.Fatal(err)
				}
			}
			ctx := context.Background()
			ok := func(context.Context) error { return nil }
			b.ReportAllocs()
			for b.Loop() {
				_ = br.Do(ctx, ok)
			}
		})
	}
}

// BenchmarkEnqueueToDone enqueues no-op tasks on the memory broker and
// waits for the last: per task, a send span and a process span with their
// metrics when instrumented.
func BenchmarkEnqueueToDone(b *testing.B) {
	for _, instrumented := range []bool{false, true} {
		b.Run(name(instrumented), func(b *testing.B) {
			broker := queue.NewMemoryBroker()
			defer broker.Close()
			w, err := queue.NewWorker(broker, queue.WorkerConfig{Concurrency: 8})
			if err != nil {
				b.Fatal(err)
			}
			var ran atomic.Int64
			w.Handle("noop", func(context.Context, *queue.Task) (any, error) {
				ran.Add(1)
				return nil, nil
			})
			client := queue.NewClient(broker)
			if instrumented {
				cfg := benchConfig(b)
				if err := resilienceotel.InstrumentClient(client, cfg); err != nil {
					b.Fatal(err)
				}
				if err := resilienceotel.InstrumentWorker(w, cfg); err != nil {
					b.Fatal(err)
				}
			}
			ctx, stop := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx) }()
			defer func() { stop(); <-done }()
			b.ReportAllocs()
			b.ResetTimer()
			var last *queue.Task
			for range b.N {
				if last, err = client.Enqueue(context.Background(), "noop", nil); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := client.Wait(context.Background(), last.ID); err != nil {
				b.Fatal(err)
			}
			for ran.Load() < int64(b.N) { // tasks finish out of order
				runtime.Gosched()
			}
			b.StopTimer()
		})
	}
}

func name(instrumented bool) string {
	if instrumented {
		return "instrumented"
	}
	return "plain"
}
