package resilienceotel_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/llmhttp"
	"github.com/resilience-go/resilience/llmtest"
	"github.com/resilience-go/resilience/queue"
	"github.com/resilience-go/resilience/resilienceotel"
)

// One chat task, from the enqueuing request through the worker to the LLM
// call, whose first attempt is refused with a 529: one trace.
func Example() {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())
	cfg := resilienceotel.Config{TracerProvider: tp, Propagator: propagation.TraceContext{}}

	llm, err := llmtest.NewServer(llmtest.Config{})
	if err != nil {
		panic(err)
	}
	defer llm.Close()
	_ = llm.Script(llmtest.Overloaded())
	tr, err := llmhttp.NewTransport(llmhttp.Config{Base: llm.Transport(),
		Retry: resilience.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}})
	if err != nil {
		panic(err)
	}
	broker := queue.NewMemoryBroker()
	defer broker.Close()
	client := queue.NewClient(broker)
	worker, err := queue.NewWorker(broker, queue.WorkerConfig{})
	if err != nil {
		panic(err)
	}

	// The three lines of wiring.
	_ = resilienceotel.InstrumentClient(client, cfg)
	_ = resilienceotel.InstrumentWorker(worker, cfg)
	_ = resilienceotel.InstrumentTransport(tr, cfg)

	httpc := &http.Client{Transport: tr}
	worker.Handle("chat", func(ctx context.Context, t *queue.Task) (any, error) {
		body := `{"model":"gpt-4o","messages":[{"role":"user","content":"say hi"}]}`
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, llm.URL+"/v1/chat/completions", strings.NewReader(body))
		resp, err := httpc.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return nil, err
	})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- worker.Run(ctx) }()

	reqCtx, root := tp.Tracer("app").Start(context.Background(), "POST /tasks/chat")
	task, _ := client.Enqueue(reqCtx, "chat", nil)
	root.End()
	if _, err := client.Wait(context.Background(), task.ID); err != nil {
		panic(err)
	}
	stop()
	<-done

	printTree(spans.Ended())
	// Output:
	// POST /tasks/chat
	//   send default [producer]
	//     process default [consumer]
	//       chat gpt-4o [client] gen_ai.usage.input_tokens=2 gen_ai.usage.output_tokens=2
	//         POST [client] error.type=529
	//         POST [client]
}

// printTree prints spans as a tree, children in start order, with a few
// attributes.
func printTree(spans []sdktrace.ReadOnlySpan) {
	children := map[string][]sdktrace.ReadOnlySpan{}
	ids := map[string]bool{}
	for _, s := range spans {
		ids[s.SpanContext().SpanID().String()] = true
	}
	var roots []sdktrace.ReadOnlySpan
	for _, s := range spans {
		p := s.Parent().SpanID().String()
		if !s.Parent().IsValid() || !ids[p] {
			roots = append(roots, s)
			continue
		}
		children[p] = append(children[p], s)
	}
	var walk func(s sdktrace.ReadOnlySpan, depth int)
	walk = func(s sdktrace.ReadOnlySpan, depth int) {
		line := strings.Repeat("  ", depth) + s.Name()
		if k := s.SpanKind().String(); k != "internal" {
			line += " [" + k + "]"
		}
		a := attrs(s.Attributes())
		for _, k := range []string{"gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "error.type"} {
			if v, ok := a[k]; ok {
				line += " " + k + "=" + v
			}
		}
		fmt.Println(line)
		kids := children[s.SpanContext().SpanID().String()]
		sort.Slice(kids, func(i, j int) bool { return kids[i].StartTime().Before(kids[j].StartTime()) })
		for _, c := range kids {
			walk(c, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
}

// A breaker's state and transitions as metrics.
func ExampleInstrumentBreaker() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())

	b, _ := resilience.NewBreaker(resilience.BreakerConfig{})
	if err := resilienceotel.InstrumentBreaker("openai", b, resilienceotel.Config{MeterProvider: mp}); err != nil {
		panic(err)
	}
	b.Trip(time.Minute) // a quota error, say

	var rm metricdata.ResourceMetrics
	_ = reader.Collect(context.Background(), &rm)
	for _, m := range rm.ScopeMetrics[0].Metrics {
		switch d := m.Data.(type) {
		case metricdata.Gauge[int64]:
			fmt.Println(m.Name, d.DataPoints[0].Value)
		case metricdata.Sum[int64]:
			to, _ := d.DataPoints[0].Attributes.Value("resilience.breaker.state")
			fmt.Println(m.Name, d.DataPoints[0].Value, "to", to.AsString())
		}
	}
	// Output:
	// resilience.breaker.state 1
	// resilience.breaker.transitions 1 to open
}

// Queue depth by queue and state, read from the broker at each collection.
func ExampleInstrumentQueues() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())

	broker := queue.NewMemoryBroker()
	defer broker.Close()
	client := queue.NewClient(broker)
	if err := resilienceotel.InstrumentQueues(client, resilienceotel.Config{MeterProvider: mp}); err != nil {
		panic(err)
	}
	for range 3 {
		_, _ = client.Enqueue(context.Background(), "embed", nil, queue.WithQueue(queue.QueueLow))
	}

	var rm metricdata.ResourceMetrics
	_ = reader.Collect(context.Background(), &rm)
	for _, p := range rm.ScopeMetrics[0].Metrics[0].Data.(metricdata.Gauge[int64]).DataPoints {
		q, _ := p.Attributes.Value("messaging.destination.name")
		s, _ := p.Attributes.Value("state")
		if p.Value > 0 {
			fmt.Println(q.AsString(), s.AsString(), p.Value)
		}
	}
	// Output:
	// low pending 3
}
