package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/llmhttp"
	"github.com/resilience-go/resilience/llmtest"
	"github.com/resilience-go/resilience/queue"
)

// flow is the running pipeline: provider, broker, worker, task API.
type flow struct {
	cfg     Config
	llm     *llmtest.Server
	broker  *queue.MemoryBroker
	client  *queue.Client
	worker  *queue.Worker
	tr      *llmhttp.Transport
	breaker *resilience.Breaker
	base    string // the task API's URL
	tel     *telemetry
}

// apiHTTP calls the task API; without keep-alives, so that no connection
// outlives a run.
var apiHTTP = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// chatPayload is the payload of a chat task.
type chatPayload struct {
	Prompt string `json:"prompt"`
}

func run(ctx context.Context, cfg Config) error {
	if cfg.Tasks < 1 {
		return fmt.Errorf("-n is %d; want at least 1 chat task", cfg.Tasks)
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Wait == 0 {
		cfg.Wait = 30 * time.Second
	}
	f := &flow{cfg: cfg}
	var err error
	if f.llm, err = llmtest.NewServer(llmtest.Config{}); err != nil {
		return err
	}
	defer f.llm.Close()
	if err := f.llm.Script(llmtest.Overloaded()); err != nil { // the first LLM attempt gets a 529
		return err
	}
	f.broker = queue.NewMemoryBroker()
	defer f.broker.Close()
	f.client = queue.NewClient(f.broker)
	if f.worker, err = queue.NewWorker(f.broker, queue.WorkerConfig{Concurrency: 2}); err != nil {
		return err
	}
	if f.breaker, err = resilience.NewBreaker(resilience.BreakerConfig{}); err != nil {
		return err
	}
	f.tr, err = llmhttp.NewTransport(llmhttp.Config{Base: f.llm.Transport(), Breaker: f.breaker,
		Retry:          resilience.RetryPolicy{BaseDelay: 50 * time.Millisecond, MaxDelay: 200 * time.Millisecond},
		AttemptTimeout: 10 * time.Second})
	if err != nil {
		return err
	}
	f.worker.Handle("chat", queue.Typed(f.chat))

	api := queue.NewHTTPHandler(f.client)
	mux := http.NewServeMux()
	if cfg.OTel {
		if f.tel, err = newTelemetry(); err != nil {
			return err
		}
		defer f.tel.shutdown()
		if err := f.tel.instrument(f); err != nil {
			return err
		}
		api = f.tel.serverSpans(api)
		mux.Handle("GET /metrics", f.tel.metrics)
	}
	mux.Handle("/", api)

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		_ = srv.Shutdown(context.Background())
		<-served
	}()
	f.base = "http://" + ln.Addr().String()

	runCtx, stopWorker := context.WithCancel(ctx)
	worked := make(chan error, 1)
	go func() { worked <- f.worker.Run(runCtx) }()
	defer func() {
		stopWorker()
		<-worked
	}()

	fmt.Fprintf(cfg.Out, "task API on %s; %d chat tasks through POST /tasks/chat\n", f.base, cfg.Tasks)
	var first string
	for i := range cfg.Tasks {
		id, err := f.post(ctx, fmt.Sprintf("question %d: what is a circuit breaker", i+1))
		if err != nil {
			return err
		}
		if i == 0 {
			first = id
		}
		if err := f.await(ctx, id); err != nil {
			return err
		}
	}
	st := f.llm.Stats()
	fmt.Fprintf(cfg.Out, "done: %d LLM requests, %d prompt and %d completion tokens reported by the provider\n",
		st.Requests, st.PromptTokens, st.CompletionTokens)

	if cfg.OTel {
		fmt.Fprintf(cfg.Out, "\ntrace of the first chat task (%s):\n", first)
		f.tel.printTrace(cfg.Out, first)
		fmt.Fprintf(cfg.Out, "\nGET %s/metrics (the library's series):\n", f.base)
		if err := f.printMetrics(ctx); err != nil {
			return err
		}
	}
	if cfg.Hold != nil {
		cfg.Hold(f.base)
	}
	return nil
}

// chat is the handler of a chat task: one call to gpt-4o through the
// resilient transport.
func (f *flow) chat(ctx context.Context, p chatPayload) (string, error) {
	body, _ := json.Marshal(map[string]any{"model": "gpt-4o",
		"messages": []map[string]string{{"role": "user", "content": p.Prompt}}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.llm.URL+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: f.tr}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("chat: provider answered %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", err
	}
	if len(out.Choices) == 0 {
		return "", errors.New("chat: no choices in the answer")
	}
	return out.Choices[0].Message.Content, nil
}

// post enqueues a chat task through the task API and returns its id.
func (f *flow) post(ctx context.Context, prompt string) (string, error) {
	b, _ := json.Marshal(map[string]any{"payload": chatPayload{Prompt: prompt}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.base+"/tasks/chat", bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := apiHTTP.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		TaskID string `json:"task_id"`
	}
	if resp.StatusCode != http.StatusAccepted {
		msg, _ := io.ReadAll(resp.Body)
		return "", fmt.Errorf("POST /tasks/chat: %s %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", err
	}
	return out.TaskID, nil
}

// await waits for a task to finish and fails unless it succeeded.
func (f *flow) await(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Wait)
	defer cancel()
	t, err := f.client.Wait(ctx, id)
	if err != nil {
		return fmt.Errorf("task %s: %w", id, err)
	}
	if t.State != queue.StateSuccess {
		return fmt.Errorf("task %s ended %s: %s", id, t.State, t.Error)
	}
	return nil
}

// printMetrics prints the library's series from GET /metrics: counts,
// sums and gauges that are not 0 (histogram buckets left out).
func (f *flow) printMetrics(ctx context.Context) error {
	body, err := getMetrics(ctx, f.base)
	if err != nil {
		return err
	}
	for line := range strings.Lines(body) {
		if strings.HasPrefix(line, "#") || strings.Contains(line, "_bucket{") || strings.HasSuffix(line, " 0\n") {
			continue
		}
		for _, p := range metricPrefixes {
			if strings.HasPrefix(line, p) {
				fmt.Fprint(f.cfg.Out, "  "+line)
				break
			}
		}
	}
	return nil
}

// metricPrefixes start the Prometheus names of the library's metrics.
var metricPrefixes = []string{"messaging_", "gen_ai_", "resilience_"}

// getMetrics reads GET /metrics.
func getMetrics(ctx context.Context, base string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return "", err
	}
	resp, err := apiHTTP.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return string(b), nil
}
