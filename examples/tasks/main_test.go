package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/resilience-go/resilience/queue"
)

// TestMain fails the package's tests when any goroutine outlives them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// gatedLLM lets the test release each embedding batch, so that every
// progress step is seen in order.
type gatedLLM struct {
	*simLLM
	batches chan struct{}
}

func (g gatedLLM) Embed(ctx context.Context, docs []string, model string) ([][]float32, error) {
	select {
	case <-g.batches:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.simLLM.Embed(ctx, docs, model)
}

// server is the program running in-process on a free port.
type server struct {
	t       *testing.T
	base    string
	http    *http.Client
	batches chan struct{}
}

// start runs the program until the test ends; the simulated LLM has no
// random failures and short latencies, retries wait milliseconds.
func start(t *testing.T) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	batches := make(chan struct{})
	cfg := config{
		latency: time.Millisecond, failRate: 0, seed: 1, retryBase: time.Millisecond,
		logger: slog.New(slog.DiscardHandler),
		model:  func(s *simLLM) llm { return gatedLLM{s, batches} },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, ln, cfg, io.Discard) }()
	tr := &http.Transport{}
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done, "run's error")
		tr.CloseIdleConnections()
	})
	return &server{t: t, base: "http://" + ln.Addr().String(), http: &http.Client{Transport: tr}, batches: batches}
}

// do sends a request and decodes a JSON answer into out (when not nil).
func (s *server) do(method, path, body string, wantCode int, out any) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	require.NoError(s.t, err)
	req.Header.Set("Content-Type", "application/json") // the queue's API refuses other POSTs
	resp, err := s.http.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	require.Equal(s.t, wantCode, resp.StatusCode, "%s %s: body %s", method, path, b)
	if out != nil {
		require.NoError(s.t, json.Unmarshal(b, out), "%s %s: body %s", method, path, b)
	}
}

// task is the task object the API answers.
type task struct {
	TaskID   string          `json:"task_id"`
	Name     string          `json:"name"`
	Queue    string          `json:"queue"`
	Status   queue.State     `json:"status"`
	Progress *queue.Progress `json:"progress"`
	Result   json.RawMessage `json:"result"`
	Error    string          `json:"error"`
	Attempt  int             `json:"attempt"`
	Retries  int             `json:"retries"`
}

// submit POSTs a task and returns its id.
func (s *server) submit(path, body string) string {
	s.t.Helper()
	var got struct {
		TaskID string      `json:"task_id"`
		Status queue.State `json:"status"`
	}
	s.do(http.MethodPost, path, body, http.StatusAccepted, &got)
	require.Equal(s.t, queue.StatePending, got.Status)
	require.NotEmpty(s.t, got.TaskID)
	return got.TaskID
}

// follow reads the task's event stream to its end, calling each (when not
// nil) on every snapshot, and returns the last one.
func (s *server) follow(id string, each func(task)) task {
	s.t.Helper()
	resp, err := s.http.Get(s.base + "/tasks/" + id + "/events")
	require.NoError(s.t, err)
	defer resp.Body.Close()
	require.Equal(s.t, http.StatusOK, resp.StatusCode)
	var last task
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		require.NoError(s.t, json.Unmarshal([]byte(data), &last), "event %s", data)
		if each != nil {
			each(last)
		}
	}
	require.NoError(s.t, sc.Err())
	require.True(s.t, last.Status.Done(), "the stream ended in %s", last.Status)
	return last
}

func TestChatCompletion(t *testing.T) {
	s := start(t)
	id := s.submit("/tasks/chat/completions",
		`{"messages": [{"role": "user", "content": "Explain backpressure."}], "priority": "high", "max_tokens": 64}`)
	got := s.follow(id, nil)
	assert.Equal(t, queue.StateSuccess, got.Status, "error %q", got.Error)
	assert.Equal(t, "chat/completions", got.Name)
	assert.Equal(t, "high", got.Queue, "priority maps to the queue")
	var res chatResult
	require.NoError(t, json.Unmarshal(got.Result, &res))
	assert.Equal(t, "success", res.Status)
	assert.Contains(t, res.Content, "Explain backpressure.")
	assert.Equal(t, &usage{InputTokens: 2, OutputTokens: 8}, res.Usage)

	var again task
	s.do(http.MethodGet, "/tasks/"+id, "", http.StatusOK, &again)
	assert.Equal(t, got.Result, again.Result, "GET answers the result too")
}

func TestFlakyChatIsRetried(t *testing.T) {
	s := start(t)
	id := s.submit("/tasks/chat/completions", `{"messages": [{"role": "user", "content": "hi [flaky]"}]}`)
	got := s.follow(id, nil)
	assert.Equal(t, queue.StateSuccess, got.Status)
	assert.Equal(t, "default", got.Queue)
	assert.Equal(t, 2, got.Attempt, "attempts")
	assert.Equal(t, 1, got.Retries, "retries")
}

func TestEmbeddingReportsProgressPerBatch(t *testing.T) {
	s := start(t)
	id := s.submit("/tasks/embeddings/batch", `{"documents": ["a", "b", "c", "d", "e"], "batch_size": 2, "priority": "low"}`)
	var seen []int64
	got := s.follow(id, func(tk task) {
		if tk.Status == queue.StateProcessing && tk.Progress != nil {
			if n := len(seen); n == 0 || seen[n-1] != tk.Progress.Current {
				seen = append(seen, tk.Progress.Current)
				assert.Equal(t, int64(5), tk.Progress.Total)
				s.batches <- struct{}{} // release the batch just announced
			}
		}
	})
	assert.Equal(t, []int64{0, 2, 4}, seen, "progress seen, one step per batch")
	require.Equal(t, queue.StateSuccess, got.Status, "error %q", got.Error)
	assert.JSONEq(t, `{"status": "success", "embeddings_count": 5, "dimensions": 8, "errors": []}`, string(got.Result))
}

func TestOutageDeadLettersAndReplay(t *testing.T) {
	s := start(t)
	s.do(http.MethodPut, "/simulator/outage", `{"down": true}`, http.StatusOK, nil)
	id := s.submit("/tasks/chat/completions", `{"messages": [{"role": "user", "content": "hello"}]}`)
	got := s.follow(id, nil)
	require.Equal(t, queue.StateFailure, got.Status)
	assert.Equal(t, 4, got.Attempt, "attempts: the first and 3 retries")
	assert.Contains(t, got.Error, "outage")

	var list struct {
		Entries []struct {
			TaskID   string `json:"task_id"`
			TaskName string `json:"task_name"`
			Retries  int    `json:"retries"`
		} `json:"entries"`
		Total int `json:"total"`
	}
	s.do(http.MethodGet, "/dead-letters", "", http.StatusOK, &list)
	require.Equal(t, 1, list.Total)
	assert.Equal(t, id, list.Entries[0].TaskID)
	assert.Equal(t, "chat/completions", list.Entries[0].TaskName)
	assert.Equal(t, 3, list.Entries[0].Retries)

	s.do(http.MethodPut, "/simulator/outage", `{"down": false}`, http.StatusOK, nil)
	var replay struct {
		TaskID   string `json:"task_id"`
		ReplayOf string `json:"replay_of"`
	}
	s.do(http.MethodPost, "/dead-letters/"+id+"/replay", "", http.StatusAccepted, &replay)
	assert.Equal(t, id+"-replay-1", replay.TaskID)
	assert.Equal(t, id, replay.ReplayOf)
	got = s.follow(replay.TaskID, nil)
	assert.Equal(t, queue.StateSuccess, got.Status, "the replay after the outage")
	assert.Equal(t, 1, got.Attempt)

	s.do(http.MethodGet, "/dead-letters", "", http.StatusOK, &list)
	assert.Zero(t, list.Total, "dead letters after the replay")
	s.do(http.MethodGet, "/dead-letters/"+id, "", http.StatusNotFound, nil)
}

func TestUnknownModelFailsAtOnceAndCanBeDeleted(t *testing.T) {
	s := start(t)
	id := s.submit("/tasks/chat/completions", `{"messages": [{"role": "user", "content": "hi"}], "model": "gpt-9"}`)
	got := s.follow(id, nil)
	require.Equal(t, queue.StateFailure, got.Status)
	assert.Equal(t, 1, got.Attempt, "a permanent error is not retried")
	assert.Contains(t, got.Error, `model "gpt-9" does not exist`)
	s.do(http.MethodGet, "/dead-letters/"+id, "", http.StatusOK, nil)
	s.do(http.MethodDelete, "/dead-letters/"+id, "", http.StatusNoContent, nil)
	s.do(http.MethodDelete, "/dead-letters/"+id, "", http.StatusNotFound, nil)
}

func TestBadRequests(t *testing.T) {
	s := start(t)
	tests := []struct {
		path, body string
		wantCode   int
		wantMsg    string
	}{
		{"/tasks/chat/completions", `{"messages": []}`, 400, "at least one message"},
		{"/tasks/chat/completions", `{"messages": [{"role": "bot", "content": "x"}]}`, 400, `role "bot"`},
		{"/tasks/chat/completions", `{"messages": [{"role": "user", "content": "x"}], "priority": "urgent"}`, 400, "want one of high, default, low"},
		{"/tasks/chat/completions", `{"messages": [{"role": "user", "content": "x"}], "temperature": 3}`, 400, "temperature 3"},
		{"/tasks/chat/completions", `{"messages": [{"role": "user", "content": "x"}], "max_tokens": -5}`, 400, "max_tokens -5"},
		{"/tasks/chat/completions", `{"messages": [`, 400, "malformed JSON"},
		{"/tasks/chat/completions", `{"prompt": "x"}`, 400, "unknown field"},
		{"/tasks/chat/completions", `{"messages": [{"role": "user", "content": "` + strings.Repeat("x", 1<<20) + `"}]}`, 413, "larger than"},
		{"/tasks/embeddings/batch", `{"documents": []}`, 400, "documents"},
		{"/tasks/embeddings/batch", `{"documents": ["a"], "batch_size": 5000}`, 400, "batch_size 5000"},
	}
	for _, tt := range tests {
		var got struct {
			Error string `json:"error"`
		}
		s.do(http.MethodPost, tt.path, tt.body, tt.wantCode, &got)
		assert.Contains(t, got.Error, tt.wantMsg, "POST %s %.60s", tt.path, tt.body)
	}
	var got struct {
		Error string `json:"error"`
	}
	s.do(http.MethodGet, "/tasks/nope", "", http.StatusNotFound, &got)
	assert.Contains(t, got.Error, "task not found")
}

// TestFormPostsAreRefused: a cross-site HTML form can post text/plain or
// form-encoded bodies through a browser; the example's own routes refuse
// them as the queue's API does, and enqueue nothing.
func TestFormPostsAreRefused(t *testing.T) {
	s := start(t)
	for _, path := range []string{"/tasks/chat/completions", "/tasks/embeddings/batch"} {
		for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", ""} {
			req, err := http.NewRequest(http.MethodPost, s.base+path, strings.NewReader(`{"messages":[{"role":"user","content":"x"}],"documents":["a"]}`))
			require.NoError(t, err)
			if ct != "" {
				req.Header.Set("Content-Type", ct)
			}
			resp, err := s.http.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode, "POST %s with Content-Type %q", path, ct)
		}
	}
}

func TestUsageNamesTheAddressAndCurlCommands(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var out bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // serve nothing: print and shut down
	require.NoError(t, run(ctx, ln, config{latency: time.Millisecond, retryBase: time.Millisecond, logger: slog.New(slog.DiscardHandler)}, &out))
	base := "http://" + ln.Addr().String()
	assert.Contains(t, out.String(), "task API on "+base)
	assert.Contains(t, out.String(), "curl -s -X POST "+base+"/tasks/chat/completions")
	assert.Contains(t, out.String(), "curl -sN "+base+"/tasks/TASK_ID/events")
}
