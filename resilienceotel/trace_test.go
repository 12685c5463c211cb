package resilienceotel_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/llmhttp"
	"github.com/resilience-go/resilience/llmtest"
	"github.com/resilience-go/resilience/queue"
	"github.com/resilience-go/resilience/resilienceotel"
)

// chatFlow is the flow a user instruments: a request enqueues a "chat"
// task, a worker runs it and calls the LLM through llmhttp.
type chatFlow struct {
	broker *queue.MemoryBroker
	client *queue.Client
	worker *queue.Worker
	tr     *llmhttp.Transport
	llm    *llmtest.Server
}

func newChatFlow(t *testing.T) *chatFlow {
	t.Helper()
	f := &chatFlow{broker: queue.NewMemoryBroker(), llm: llmtest.Start(t, llmtest.Config{})}
	t.Cleanup(func() { f.broker.Close() })
	f.client = queue.NewClient(f.broker)
	var err error
	f.worker, err = queue.NewWorker(f.broker, queue.WorkerConfig{Concurrency: 1,
		Retry: resilience.RetryPolicy{MaxAttempts: 1}})
	require.NoError(t, err)
	f.tr, err = llmhttp.NewTransport(llmhttp.Config{Base: f.llm.Transport(), Retry: quickRetry})
	require.NoError(t, err)
	httpc := &http.Client{Transport: f.tr}
	f.worker.Handle("chat", queue.Typed(func(ctx context.Context, prompt string) (string, error) {
		if prompt == "fail" {
			return "", errors.New("handler: no answer")
		}
		return "ok", chat(ctx, httpc, f.llm.URL, "gpt-4o", prompt, false)
	}))
	return f
}

// run enqueues one chat task under ctx and waits for it.
func (f *chatFlow) run(t *testing.T, ctx context.Context, prompt string) *queue.Task {
	t.Helper()
	task, err := f.client.Enqueue(ctx, "chat", prompt)
	require.NoError(t, err)
	done, err := f.client.Wait(context.Background(), task.ID)
	require.NoError(t, err)
	return done
}

func instrumentFlow(t *testing.T, f *chatFlow, cfg resilienceotel.Config) {
	t.Helper()
	require.NoError(t, resilienceotel.InstrumentClient(f.client, cfg))
	require.NoError(t, resilienceotel.InstrumentWorker(f.worker, cfg))
	require.NoError(t, resilienceotel.InstrumentTransport(f.tr, cfg))
}

func TestOneTraceFromRequestToLLMAttempts(t *testing.T) {
	tel := newTelemetry(t)
	f := newChatFlow(t)
	instrumentFlow(t, f, tel.cfg)
	startWorker(t, f.worker)
	require.NoError(t, f.llm.Script(llmtest.Overloaded())) // the first LLM attempt fails, the retry succeeds

	ctx, root := tel.tp.Tracer("test").Start(context.Background(), "POST /tasks/chat", trace.WithSpanKind(trace.SpanKindServer))
	done := f.run(t, ctx, "hello there")
	root.End()
	require.Equal(t, queue.StateSuccess, done.State, done.Error)

	send := tel.span(t, "send default")
	process := tel.span(t, "process default")
	call := tel.span(t, "chat gpt-4o")
	var attempts []string
	for _, s := range tel.spans.Ended() {
		if s.Parent().SpanID() == call.SpanContext().SpanID() {
			attempts = append(attempts, s.Name()+" "+attrs(s.Attributes())["http.request.resend_count"]+" "+s.Status().Code.String())
		}
	}

	rootID := root.SpanContext()
	assert.Equal(t, rootID.TraceID(), send.SpanContext().TraceID(), "one trace from the request on")
	assert.Equal(t, rootID.SpanID(), send.Parent().SpanID(), "send is a child of the enqueuing request's span")
	assert.Equal(t, trace.SpanKindProducer, send.SpanKind())
	assert.Equal(t, send.SpanContext().TraceID(), process.SpanContext().TraceID())
	assert.Equal(t, send.SpanContext().SpanID(), process.Parent().SpanID(), "process is a child of send, through Task.Headers")
	assert.True(t, process.Parent().IsRemote(), "the parent came from the task's headers")
	assert.Equal(t, trace.SpanKindConsumer, process.SpanKind())
	assert.Equal(t, process.SpanContext().SpanID(), call.Parent().SpanID(), "the LLM call is a child of process")
	assert.Equal(t, trace.SpanKindClient, call.SpanKind())
	assert.Equal(t, []string{"POST 0 Error", "POST 1 Unset"}, attempts, "both attempts are children of the call")

	sa := attrs(send.Attributes())
	assert.Equal(t, "resilience", sa["messaging.system"])
	assert.Equal(t, "send", sa["messaging.operation.name"])
	assert.Equal(t, "default", sa["messaging.destination.name"])
	assert.Equal(t, done.ID, sa["messaging.message.id"])
	pa := attrs(process.Attributes())
	assert.Equal(t, "resilience", pa["messaging.system"])
	assert.Equal(t, "process", pa["messaging.operation.name"])
	assert.Equal(t, "default", pa["messaging.destination.name"])
	assert.Equal(t, done.ID, pa["messaging.message.id"])

	st := f.llm.Stats()
	ca := attrs(call.Attributes())
	assert.Equal(t, "chat", ca["gen_ai.operation.name"])
	assert.Equal(t, "openai", ca["gen_ai.provider.name"])
	assert.Equal(t, "gpt-4o", ca["gen_ai.request.model"])
	assert.Equal(t, "gpt-4o", ca["gen_ai.response.model"])
	assert.Equal(t, itoa(st.PromptTokens), ca["gen_ai.usage.input_tokens"], "input tokens as llmtest reported them")
	assert.Equal(t, itoa(st.CompletionTokens), ca["gen_ai.usage.output_tokens"], "output tokens as llmtest reported them")
	for _, s := range tel.spans.Ended() {
		if s.Name() == "POST" && s.Status().Code == codes.Error {
			assert.Equal(t, "529", attrs(s.Attributes())["error.type"], "a failed attempt names its status")
		}
	}
	assert.NotEmpty(t, done.Headers["traceparent"], "the trace context is stored with the task")
}

func TestFailedTaskMarksItsSpan(t *testing.T) {
	tel := newTelemetry(t)
	f := newChatFlow(t)
	instrumentFlow(t, f, tel.cfg)
	startWorker(t, f.worker)
	done := f.run(t, context.Background(), "fail")
	require.Equal(t, queue.StateFailure, done.State)
	p := tel.span(t, "process default")
	assert.Equal(t, codes.Error, p.Status().Code)
	assert.Equal(t, "_OTHER", attrs(p.Attributes())["error.type"])
	assert.False(t, p.Parent().IsValid() && !p.Parent().IsRemote(), "the parent is the remote send span")
}

func TestEnqueueKeepsCallersHeaders(t *testing.T) {
	tel := newTelemetry(t)
	f := newChatFlow(t)
	require.NoError(t, resilienceotel.InstrumentClient(f.client, tel.cfg))
	mine := map[string]string{"tenant": "acme"}
	task, err := f.client.Enqueue(context.Background(), "chat", "x", queue.WithHeaders(mine))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"tenant": "acme"}, mine, "the caller's map is not changed")
	assert.Equal(t, "acme", task.Headers["tenant"])
	assert.NotEmpty(t, task.Headers["traceparent"])
}

func TestEnqueueErrorMarksSendSpan(t *testing.T) {
	tel := newTelemetry(t)
	f := newChatFlow(t)
	require.NoError(t, resilienceotel.InstrumentClient(f.client, tel.cfg))
	f.broker.Close() // the broker refuses the store, below the hook
	_, err := f.client.Enqueue(context.Background(), "chat", "x")
	require.Error(t, err)
	s := tel.span(t, "send default")
	assert.Equal(t, codes.Error, s.Status().Code)
	assert.NotEmpty(t, attrs(s.Attributes())["error.type"])
	sent := tel.collect(t)["messaging.client.sent.messages"]
	require.NotNil(t, sent.Data, "the failed enqueue is counted")
	pts := sent.Data.(metricdata.Sum[int64]).DataPoints
	require.Len(t, pts, 1)
	assert.NotEmpty(t, setAttrs(pts[0].Attributes)["error.type"], "with its error.type")
}

func TestInstrumentRejectsNil(t *testing.T) {
	cfg := resilienceotel.Config{}
	for name, err := range map[string]error{
		"client":    resilienceotel.InstrumentClient(nil, cfg),
		"worker":    resilienceotel.InstrumentWorker(nil, cfg),
		"queues":    resilienceotel.InstrumentQueues(nil, cfg),
		"transport": resilienceotel.InstrumentTransport(nil, cfg),
		"breaker":   resilienceotel.InstrumentBreaker("b", nil, cfg),
	} {
		assert.ErrorIs(t, err, resilience.ErrInvalidArgument, name)
	}
	b, err := resilience.NewBreaker(resilience.BreakerConfig{})
	require.NoError(t, err)
	assert.ErrorIs(t, resilienceotel.InstrumentBreaker("", b, cfg), resilience.ErrInvalidArgument, "an empty name")
}
