package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/internal/redistest"
	"github.com/resilience-go/resilience/queue"
	"github.com/resilience-go/resilience/queue/redisq"
)

// watchedOutput is a run's output that a test may read while the run
// writes it, and wait on for a line.
type watchedOutput struct {
	mu      sync.Mutex
	b       strings.Builder
	changed chan struct{} // signalled after each write
}

func newWatchedOutput() *watchedOutput {
	return &watchedOutput{changed: make(chan struct{}, 1)}
}

func (w *watchedOutput) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.b.Write(p)
	select {
	case w.changed <- struct{}{}:
	default:
	}
	return n, err
}

func (w *watchedOutput) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// waitFor returns the output once it contains want. It fails the test
// when the run ends first (ended is closed) or after a minute.
func (w *watchedOutput) waitFor(t *testing.T, want string, ended <-chan struct{}) string {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		if s := w.String(); strings.Contains(s, want) {
			return s
		}
		select {
		case <-w.changed:
		case <-ended:
			if s := w.String(); strings.Contains(s, want) {
				return s
			}
			t.Fatalf("the run ended before printing %q; output:\n%s", want, w.String())
		case <-timeout:
			t.Fatalf("no %q printed within a minute; output:\n%s", want, w.String())
		}
	}
}

// dashboardLine finds the dashboard's address in a line of the output.
var dashboardLine = regexp.MustCompile(`(?im)^\s*dashboard\s+(http://\S+/ui/)`)

// TestRunServe runs the pipeline with Serve: the dashboard's address is
// printed at the start and again after the summary; the task API then
// still answers (the dashboard, the run's queues, dead-letter count, alert
// states, its failed task) and the workers still run tasks; when ctx ends
// the run returns its summary, nil, having stopped everything, even an
// event stream the dashboard keeps open.
func TestRunServe(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		out := newWatchedOutput()
		var store dlq.Store = dlq.NewMemoryStore()
		_, reads := store.(dlq.AlertReader)
		require.True(t, reads, "the memory store reports alert states, which the test checks")
		testServe(t, testConfig(out), out, store)
	})
	t.Run("redis", func(t *testing.T) {
		// The dashboard's overview needs the broker's queue.Inspector, and
		// this test pauses a queue (queue.Pauser).
		var b queue.Broker = (*redisq.Broker)(nil)
		_, inspects := b.(queue.Inspector)
		_, pauses := b.(queue.Pauser)
		if !inspects || !pauses {
			t.Skipf("redisq.Broker does not implement queue.Inspector (%v) and queue.Pauser (%v) yet: GET /queues answers 501 on Redis", inspects, pauses)
		}
		srv := redistest.Start(t, redistest.Options{})
		out := newWatchedOutput()
		cfg := testConfig(out)
		cfg.RedisAddr = srv.Addr
		testServe(t, cfg, out, (*redisq.DeadLetterStore)(nil))

		rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
		defer rdb.Close()
		keys, err := rdb.Keys(context.Background(), "{quickstart-*").Result()
		require.NoError(t, err)
		assert.Empty(t, keys, "keys left in Redis after the stop")
	})
}

// testServe runs cfg with Serve and checks it, as TestRunServe says. The
// run's dead letters are in a store of store's type: the alert states are
// checked when it implements dlq.AlertReader.
func testServe(t *testing.T, cfg Config, out *watchedOutput, store dlq.Store) {
	cfg.Serve = true
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		s      Summary
		runErr error
		ended  = make(chan struct{})
	)
	go func() {
		defer close(ended)
		s, runErr = run(ctx, cfg)
	}()
	text := out.waitFor(t, "Ctrl-C stops them", ended)

	urls := dashboardLine.FindAllStringSubmatch(text, -1)
	require.Len(t, urls, 2, "dashboard addresses printed; output:\n%s", text)
	ui := urls[0][1]
	assert.Equal(t, ui, urls[1][1], "the address at the end, want the one at the start")
	assert.Less(t, strings.Index(text, ui), strings.Index(text, "1 chat completions"), "the address is printed before the first step")
	assert.Greater(t, strings.LastIndex(text, ui), strings.Index(text, "Summary"), "the address is printed again after the summary")

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	api := &apiClient{base: strings.TrimSuffix(ui, "/ui/"), http: &http.Client{Transport: tr}}
	get := func(path, wantType string) []byte {
		t.Helper()
		resp, err := api.http.Get(api.base + path)
		require.NoError(t, err, "GET %s after the run", path)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s: %s", path, b)
		assert.Contains(t, resp.Header.Get("Content-Type"), wantType, "GET %s's Content-Type", path)
		return b
	}

	page := get("/ui/", "text/html")
	assert.Contains(t, strings.ToLower(string(page)), "<!doctype html>", "GET /ui/ is the dashboard's page")

	var overview struct {
		Queues      []queue.QueueStats `json:"queues"`
		DeadLetters *int               `json:"dead_letters"`
		Alerts      []struct {
			TaskName string `json:"task_name"`
			Failures int64  `json:"failures"`
			Alerted  bool   `json:"alerted"`
		} `json:"alerts"`
	}
	require.NoError(t, json.Unmarshal(get("/queues", "application/json"), &overview))
	var failed, succeeded int64
	for _, q := range overview.Queues {
		failed += q.Failed
		succeeded += q.Succeeded
	}
	assert.Equal(t, int64(1), failed, "failed tasks in GET /queues (the poisoned one): %+v", overview.Queues)
	if assert.NotNil(t, overview.DeadLetters, "dead_letters in GET /queues") {
		assert.Equal(t, 0, *overview.DeadLetters, "dead letters left (the one of the run was replayed)")
	}
	if _, reads := store.(dlq.AlertReader); !reads {
		assert.Nil(t, overview.Alerts, "alert states in GET /queues of a dead-letter store that cannot report them (%T)", store)
	} else if assert.Len(t, overview.Alerts, 1, "alert states in GET /queues") {
		assert.Equal(t, taskExtract, overview.Alerts[0].TaskName)
		assert.Equal(t, int64(1), overview.Alerts[0].Failures)
		assert.True(t, overview.Alerts[0].Alerted, "the run's alert is still raised")
	}

	var failures struct {
		Tasks []taskView `json:"tasks"`
	}
	require.NoError(t, json.Unmarshal(get("/tasks?state=FAILURE", "application/json"), &failures))
	if assert.Len(t, failures.Tasks, 1, "GET /tasks?state=FAILURE") {
		assert.Equal(t, "extract-"+poisonInvoice, failures.Tasks[0].TaskID)
	}

	// The workers still take tasks: a chat task reaches SUCCESS.
	id, err := api.enqueue(ctx, taskChat, enqueueReq{Payload: chatPayload{Prompt: "still there?"}})
	require.NoError(t, err)
	var last taskView
	require.NoError(t, api.follow(ctx, id, func(v taskView) { last = v }))
	assert.Equal(t, queue.StateSuccess, last.Status, "a chat task enqueued after the run: %+v", last)

	// An event stream that stays open: a task waiting in a paused queue.
	require.NoError(t, api.do(ctx, http.MethodPost, "/queues/"+queue.QueueLow+"/pause", nil, http.StatusOK, nil))
	parked, err := api.enqueue(ctx, taskChat, enqueueReq{Payload: chatPayload{Prompt: "parked"}, Queue: queue.QueueLow})
	require.NoError(t, err)
	streamCtx, stopStream := context.WithCancel(context.Background())
	defer stopStream()
	req, err := http.NewRequestWithContext(streamCtx, http.MethodGet, api.base+"/tasks/"+parked+"/events", nil)
	require.NoError(t, err)
	resp, err := api.http.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body := bufio.NewReader(resp.Body)
	first, err := body.ReadString('\n')
	require.NoError(t, err)
	require.Contains(t, first, "event: ", "the stream's first line")
	streamEnded := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, body)
		streamEnded <- err
	}()

	cancel()
	select {
	case <-ended:
	case <-time.After(time.Minute):
		t.Fatalf("run did not return within a minute of its context's end; output:\n%s", out.String())
	}
	require.NoError(t, runErr, "run after a served run; output:\n%s", out.String())
	checkSummary(t, cfg, s, out.String())
	assert.Equal(t, int64(s.States[queue.StateSuccess]), succeeded, "succeeded tasks in GET /queues after the run, want the summary's")
	select {
	case err := <-streamEnded:
		assert.NoError(t, err, "the open event stream ends cleanly when the server stops")
	case <-time.After(time.Minute):
		t.Fatal("the open event stream did not end when the server stopped")
	}
	final := out.String()
	assert.Contains(t, final, "stopped\n")
	assert.NotContains(t, final, "\n  error ", "the stop printed no error (Shutdown had no request to wait for)")

	_, err = api.http.Get(api.base + "/queues")
	assert.Error(t, err, "GET /queues after the stop: the server is down")
	if t.Failed() {
		t.Logf("output:\n%s", final)
	}
}

// TestRunBadAddr fails at once, naming the address and what is allowed,
// when the task API cannot listen there.
func TestRunBadAddr(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	for _, addr := range []string{"127.0.0.1:99999", "localhost", busy.Addr().String()} {
		t.Run(addr, func(t *testing.T) {
			var out strings.Builder
			cfg := testConfig(&out)
			cfg.Addr, cfg.Serve = addr, true
			_, err := run(context.Background(), cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), `cannot serve the task API on "`+addr+`" (want host:port, such as 127.0.0.1:0 for a free port)`)
		})
	}
}

func TestParseFlags(t *testing.T) {
	var stderr strings.Builder
	cfg, err := parseFlags([]string{"-serve", "-addr", "127.0.0.1:8080", "-seed", "3"}, &stderr)
	require.NoError(t, err)
	assert.True(t, cfg.Serve, "-serve")
	assert.Equal(t, "127.0.0.1:8080", cfg.Addr)
	assert.Equal(t, uint64(3), cfg.Seed)
	assert.Equal(t, defaultConfig().Documents, cfg.Documents, "the rest is the default configuration")

	cfg, err = parseFlags(nil, &stderr)
	require.NoError(t, err)
	assert.False(t, cfg.Serve, "no -serve: the run stops at its end")
	assert.Equal(t, defaultAddr, cfg.Addr)

	stderr.Reset()
	_, err = parseFlags([]string{"-serve", "extra"}, &stderr)
	require.Error(t, err)
	assert.Contains(t, stderr.String(), `unexpected arguments ["extra"]`)
	assert.Contains(t, stderr.String(), "-serve", "the usage follows the error")

	_, err = parseFlags([]string{"-h"}, io.Discard)
	assert.True(t, errors.Is(err, flag.ErrHelp), "-h: got %v, want flag.ErrHelp", err)
}
