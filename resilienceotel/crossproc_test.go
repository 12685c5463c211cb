package resilienceotel_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/internal/redistest"
	"github.com/resilience-go/resilience/llmhttp"
	"github.com/resilience-go/resilience/llmtest"
	"github.com/resilience-go/resilience/queue"
	"github.com/resilience-go/resilience/queue/redisq"
	"github.com/resilience-go/resilience/resilienceotel"
)

// The environment of the worker process the cross-process test starts:
// the test binary itself, which runs runWorkerProcess instead of the tests.
const (
	workerEnv       = "RESILIENCEOTEL_TEST_WORKER" // "1": be the worker
	workerRedisEnv  = "RESILIENCEOTEL_TEST_REDIS"  // Redis address
	workerPrefixEnv = "RESILIENCEOTEL_TEST_PREFIX" // redisq key prefix
	workerTaskEnv   = "RESILIENCEOTEL_TEST_TASK"   // id of the task to run
	workerLLMEnv    = "RESILIENCEOTEL_TEST_LLM"    // base URL of the fake LLM
)

// spanRecord is what the worker process reports of each of its spans.
type spanRecord struct {
	Name     string
	Kind     string
	TraceID  string
	SpanID   string
	ParentID string
	Remote   bool // the parent came from another process
	Attrs    map[string]string
}

func record(s sdktrace.ReadOnlySpan) spanRecord {
	return spanRecord{Name: s.Name(), Kind: s.SpanKind().String(), TraceID: s.SpanContext().TraceID().String(),
		SpanID: s.SpanContext().SpanID().String(), ParentID: s.Parent().SpanID().String(),
		Remote: s.Parent().IsRemote(), Attrs: attrs(s.Attributes())}
}

// runWorkerProcess is the worker process: it runs the task named in its
// environment on Redis with an instrumented worker and transport, then
// prints its spans as JSON lines on stdout.
func runWorkerProcess() int {
	if err := workerMain(); err != nil {
		fmt.Fprintln(os.Stderr, "worker process:", err)
		return 1
	}
	return 0
}

func workerMain() error {
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv(workerRedisEnv)})
	defer rdb.Close()
	broker := redisq.NewBroker(rdb, redisq.Options{Prefix: os.Getenv(workerPrefixEnv)})
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	cfg := resilienceotel.Config{TracerProvider: tp, Propagator: propagation.TraceContext{}}

	tr, err := llmhttp.NewTransport(llmhttp.Config{Retry: quickRetry})
	if err != nil {
		return err
	}
	defer tr.CloseIdleConnections()
	w, err := queue.NewWorker(broker, queue.WorkerConfig{Concurrency: 1, Retry: resilience.RetryPolicy{MaxAttempts: 1}})
	if err != nil {
		return err
	}
	if err := resilienceotel.InstrumentWorker(w, cfg); err != nil {
		return err
	}
	if err := resilienceotel.InstrumentTransport(tr, cfg); err != nil {
		return err
	}
	httpc := &http.Client{Transport: tr}
	llm := os.Getenv(workerLLMEnv)
	w.Handle("chat", queue.Typed(func(ctx context.Context, prompt string) (string, error) {
		return "ok", chat(ctx, httpc, llm, "gpt-4o", prompt, false)
	}))
	ctx, stop := context.WithTimeout(context.Background(), time.Minute)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	task, err := queue.NewClient(broker).Wait(ctx, os.Getenv(workerTaskEnv))
	stop()
	if runErr := <-done; runErr != nil {
		return runErr
	}
	if err != nil {
		return err
	}
	if task.State != queue.StateSuccess {
		return fmt.Errorf("task ended %s: %s", task.State, task.Error)
	}
	enc := json.NewEncoder(os.Stdout)
	for _, s := range spans.Ended() {
		if err := enc.Encode(record(s)); err != nil {
			return err
		}
	}
	return tp.Shutdown(context.Background())
}

// TestTraceCrossesProcessesOnRedis enqueues a task in this process and
// runs it in another (this test binary started as a worker) on Redis: the
// worker's process and LLM spans must join the enqueuer's trace.
func TestTraceCrossesProcessesOnRedis(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	prefix := "otel-test-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	broker := redisq.NewBroker(rdb, redisq.Options{Prefix: prefix})
	llm := llmtest.Start(t, llmtest.Config{})
	require.NoError(t, llm.Script(llmtest.Overloaded())) // the worker's first LLM attempt fails

	tel := newTelemetry(t)
	client := queue.NewClient(broker)
	require.NoError(t, resilienceotel.InstrumentClient(client, tel.cfg))
	ctx, root := tel.tp.Tracer("test").Start(context.Background(), "POST /tasks/chat", trace.WithSpanKind(trace.SpanKindServer))
	task, err := client.Enqueue(ctx, "chat", "across processes")
	require.NoError(t, err)
	root.End()
	stored, err := client.Get(context.Background(), task.ID)
	require.NoError(t, err)
	if stored.Headers["traceparent"] == "" {
		t.Skip("this redisq does not store Task.Headers yet, so no trace context can reach the worker")
	}

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), workerEnv+"=1", workerRedisEnv+"="+srv.Addr, workerPrefixEnv+"="+prefix,
		workerTaskEnv+"="+task.ID, workerLLMEnv+"="+llm.URL)
	out, err := cmd.Output()
	require.NoError(t, err, "worker process: %s", stderrOf(err))

	var remote []spanRecord
	dec := json.NewDecoder(bytesReader(out))
	for dec.More() {
		var r spanRecord
		require.NoError(t, dec.Decode(&r))
		remote = append(remote, r)
	}
	byName := map[string][]spanRecord{}
	for _, r := range remote {
		byName[r.Name] = append(byName[r.Name], r)
	}
	require.Len(t, byName["process default"], 1, "spans of the worker: %+v", remote)
	require.Len(t, byName["chat gpt-4o"], 1)
	require.Len(t, byName["POST"], 2, "two attempts")

	send := tel.span(t, "send default")
	process, call := byName["process default"][0], byName["chat gpt-4o"][0]
	traceID := root.SpanContext().TraceID().String()
	assert.Equal(t, traceID, send.SpanContext().TraceID().String())
	assert.Equal(t, root.SpanContext().SpanID(), send.Parent().SpanID())
	assert.Equal(t, traceID, process.TraceID, "the worker's span is in the enqueuer's trace")
	assert.Equal(t, send.SpanContext().SpanID().String(), process.ParentID, "its parent is the send span of the other process")
	assert.True(t, process.Remote)
	assert.Equal(t, "consumer", process.Kind)
	assert.Equal(t, task.ID, process.Attrs["messaging.message.id"])
	assert.Equal(t, process.SpanID, call.ParentID)
	assert.Equal(t, traceID, call.TraceID)
	assert.Equal(t, itoa(llm.Stats().CompletionTokens), call.Attrs["gen_ai.usage.output_tokens"])
	errTypes := []string{}
	for _, a := range byName["POST"] {
		assert.Equal(t, call.SpanID, a.ParentID, "attempts are children of the call")
		errTypes = append(errTypes, a.Attrs["error.type"])
	}
	assert.ElementsMatch(t, []string{"529", ""}, errTypes)
}
