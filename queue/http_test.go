package queue_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/queue"
)

var httpDiscard = slog.New(slog.DiscardHandler)

// httpFixture returns a broker, a client of it and the HTTP API over it.
func httpFixture(t *testing.T, cfg queue.HTTPConfig) (*queue.MemoryBroker, *queue.Client, http.Handler) {
	t.Helper()
	b := queue.NewMemoryBroker()
	t.Cleanup(func() { _ = b.Close() })
	c := queue.NewClient(b)
	h, err := queue.NewHTTPHandlerWith(c, cfg)
	require.NoError(t, err)
	return b, c, h
}

// httpDo serves one request and returns the recorded answer. A POST says
// it is JSON, as the API requires.
func httpDo(h http.Handler, method, target, body string) *httptest.ResponseRecorder {
	ct := ""
	if method == http.MethodPost {
		ct = "application/json"
	}
	return httpDoAs(h, method, target, ct, body)
}

// httpDoAs is httpDo with the given Content-Type ("" for none).
func httpDoAs(h http.Handler, method, target, contentType, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return httpRecord(h, req)
}

// httpRecord serves req and returns the recorded answer.
func httpRecord(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// httpErrorOf checks that rec is a JSON error answer and returns its message.
func httpErrorOf(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"), "Content-Type of a %d", rec.Code)
	var body struct {
		Error string `json:"error"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), "error body %q", rec.Body.String())
	assert.NotEmpty(t, body.Error, "error message in %q", rec.Body.String())
	return body.Error
}

// httpView is the task object the API answers.
type httpView struct {
	TaskID     string          `json:"task_id"`
	Name       string          `json:"name"`
	Queue      string          `json:"queue"`
	Status     queue.State     `json:"status"`
	Progress   *queue.Progress `json:"progress"`
	Result     json.RawMessage `json:"result"`
	Error      string          `json:"error"`
	Attempt    int             `json:"attempt"`
	MaxRetries int             `json:"max_retries"`
	Retries    int             `json:"retries"`
}

func TestHTTPEnqueue(t *testing.T) {
	tests := []struct {
		name, path, body string
		check            func(t *testing.T, task *queue.Task)
	}{
		{"payload only", "/tasks/greet", `{"payload": {"who": "Ada"}}`, func(t *testing.T, task *queue.Task) {
			assert.Equal(t, "greet", task.Name)
			assert.Equal(t, queue.DefaultQueue, task.Queue)
			assert.JSONEq(t, `{"who":"Ada"}`, string(task.Payload))
			assert.Equal(t, queue.DefaultRetries, task.MaxRetries)
			assert.True(t, task.NotBefore.IsZero(), "NotBefore %v, want zero", task.NotBefore)
		}},
		{"empty body", "/tasks/greet", ``, func(t *testing.T, task *queue.Task) {
			assert.Equal(t, "null", string(task.Payload))
		}},
		{"null body", "/tasks/greet", `null`, func(t *testing.T, task *queue.Task) {
			assert.Equal(t, "null", string(task.Payload))
		}},
		{"every field", "/tasks/greet", `{"payload": [1, 2], "queue": "high", "max_retries": 2, "delay": "1m30s", "task_id": "k-1"}`,
			func(t *testing.T, task *queue.Task) {
				assert.Equal(t, "k-1", task.ID)
				assert.Equal(t, queue.QueueHigh, task.Queue)
				assert.Equal(t, 2, task.MaxRetries)
				assert.Equal(t, 90*time.Second, task.NotBefore.Sub(task.EnqueuedAt), "delay")
			}},
		{"zero retries", "/tasks/greet", `{"max_retries": 0}`, func(t *testing.T, task *queue.Task) {
			assert.Equal(t, 0, task.MaxRetries)
		}},
		{"name with slash", "/tasks/chat/completions", `{}`, func(t *testing.T, task *queue.Task) {
			assert.Equal(t, "chat/completions", task.Name)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _, h := httpFixture(t, queue.HTTPConfig{})
			rec := httpDo(h, http.MethodPost, tt.path, tt.body)
			require.Equal(t, http.StatusAccepted, rec.Code, "status; body %s", rec.Body)
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			var got struct {
				TaskID string      `json:"task_id"`
				Status queue.State `json:"status"`
			}
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
			assert.Equal(t, queue.StatePending, got.Status)
			assert.Equal(t, "/tasks/"+got.TaskID, rec.Header().Get("Location"))
			task, err := b.Get(context.Background(), got.TaskID)
			require.NoError(t, err, "the answered task id is in the broker")
			tt.check(t, task)
		})
	}
}

func TestHTTPEnqueueRejectsBadInput(t *testing.T) {
	tests := []struct {
		name, path, body string
		wantCode         int
		wantMsg          string
	}{
		{"malformed JSON", "/tasks/greet", `{"payload": `, 400, "malformed JSON"},
		{"not an object", "/tasks/greet", `[1]`, 400, "malformed JSON"},
		{"unknown field", "/tasks/greet", `{"max_retry": 3}`, 400, `unknown field "max_retry"`},
		{"trailing data", "/tasks/greet", `{} {}`, 400, "trailing data"},
		{"trailing garbage", "/tasks/greet", `{}x`, 400, "trailing data"},
		{"unknown queue", "/tasks/greet", `{"queue": "urgent"}`, 400, "known queues are high, default, low"},
		{"bad delay", "/tasks/greet", `{"delay": "soon"}`, 400, `delay "soon"`},
		{"delay without unit", "/tasks/greet", `{"delay": "10"}`, 400, `delay "10"`},
		{"negative delay", "/tasks/greet", `{"delay": "-1s"}`, 400, `delay "-1s"`},
		{"negative max_retries", "/tasks/greet", `{"max_retries": -1}`, 400, "max_retries is -1"},
		{"max_retries as string", "/tasks/greet", `{"max_retries": "3"}`, 400, "malformed JSON"},
		{"task id with space", "/tasks/greet", `{"task_id": "a b"}`, 400, "task id"},
		{"task id with slash", "/tasks/greet", `{"task_id": "a/b"}`, 400, "task id"},
		{"empty name", "/tasks/", `{}`, 400, "task name is empty"},
		{"oversized body", "/tasks/greet", `{"payload": "` + strings.Repeat("x", 200) + `"}`, 413, "larger than 128 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _, h := httpFixture(t, queue.HTTPConfig{MaxBodyBytes: 128})
			rec := httpDo(h, http.MethodPost, tt.path, tt.body)
			require.Equal(t, tt.wantCode, rec.Code, "status; body %s", rec.Body)
			assert.Contains(t, httpErrorOf(t, rec), tt.wantMsg)
			assert.Zero(t, b.Len(), "tasks enqueued by a rejected request")
		})
	}
}

func TestHTTPEnqueueWithTaskIDIsIdempotent(t *testing.T) {
	b, _, h := httpFixture(t, queue.HTTPConfig{})
	for i := range 2 {
		rec := httpDo(h, http.MethodPost, "/tasks/greet", `{"task_id": "once", "payload": `+string(rune('1'+i))+`}`)
		require.Equal(t, http.StatusAccepted, rec.Code, "request %d: body %s", i, rec.Body)
		assert.JSONEq(t, `{"task_id": "once", "status": "PENDING"}`, rec.Body.String())
	}
	assert.Equal(t, 1, b.Len(), "tasks in the broker")
	task, err := b.Get(context.Background(), "once")
	require.NoError(t, err)
	assert.Equal(t, "1", string(task.Payload), "the first request's payload is kept")
}

func TestHTTPLocationKeepsStrippedPrefix(t *testing.T) {
	_, _, h := httpFixture(t, queue.HTTPConfig{})
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", http.StripPrefix("/api/v1", h))
	rec := httpDo(mux, http.MethodPost, "/api/v1/tasks/greet", `{"task_id": "id 1"}`)
	require.Equal(t, http.StatusBadRequest, rec.Code, "ids with spaces are refused; body %s", rec.Body)
	rec = httpDo(mux, http.MethodPost, "/api/v1/tasks/greet", `{"task_id": "id-1"}`)
	require.Equal(t, http.StatusAccepted, rec.Code, "body %s", rec.Body)
	assert.Equal(t, "/api/v1/tasks/id-1", rec.Header().Get("Location"))
	rec = httpDo(mux, http.MethodGet, rec.Header().Get("Location"), "")
	assert.Equal(t, http.StatusOK, rec.Code, "GET of the Location; body %s", rec.Body)
}

func TestHTTPGetTask(t *testing.T) {
	ctx := context.Background()
	b, c, h := httpFixture(t, queue.HTTPConfig{})
	get := func(id string) httpView {
		t.Helper()
		rec := httpDo(h, http.MethodGet, "/tasks/"+id, "")
		require.Equal(t, http.StatusOK, rec.Code, "body %s", rec.Body)
		var v httpView
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v))
		return v
	}

	rec := httpDo(h, http.MethodGet, "/tasks/nope", "")
	require.Equal(t, http.StatusNotFound, rec.Code)
	assert.Contains(t, httpErrorOf(t, rec), "task not found")

	_, err := c.Enqueue(ctx, "embed", []string{"a"}, queue.WithTaskID("t1"), queue.WithQueue("low"), queue.WithMaxRetries(1))
	require.NoError(t, err)
	rec = httpDo(h, http.MethodGet, "/tasks/t1", "")
	var raw map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &raw))
	for _, key := range []string{"task_id", "name", "queue", "status", "progress", "result", "error", "attempt", "enqueued_at"} {
		assert.Contains(t, raw, key, "keys of a pending task")
	}
	assert.Equal(t, httpView{TaskID: "t1", Name: "embed", Queue: "low", Status: queue.StatePending, MaxRetries: 1, Result: json.RawMessage("null")}, get("t1"))

	task, token, err := b.Claim(ctx, []string{"low"}, time.Minute)
	require.NoError(t, err)
	require.NoError(t, b.Progress(ctx, task.ID, token, queue.Progress{Current: 1, Total: 4, Status: "batch 1"}, time.Minute))
	v := get("t1")
	assert.Equal(t, queue.StateProcessing, v.Status)
	assert.Equal(t, &queue.Progress{Current: 1, Total: 4, Status: "batch 1"}, v.Progress)
	assert.Equal(t, 1, v.Attempt)

	require.NoError(t, b.Complete(ctx, task.ID, token, json.RawMessage(`{"vectors":4}`), time.Hour))
	v = get("t1")
	assert.Equal(t, queue.StateSuccess, v.Status)
	assert.JSONEq(t, `{"vectors":4}`, string(v.Result))

	_, err = c.Enqueue(ctx, "embed", nil, queue.WithTaskID("t2"))
	require.NoError(t, err)
	task, token, err = b.Claim(ctx, []string{"default"}, time.Minute)
	require.NoError(t, err)
	require.NoError(t, b.Fail(ctx, task.ID, token, "model not deployed", time.Hour))
	v = get("t2")
	assert.Equal(t, queue.StateFailure, v.Status)
	assert.Equal(t, "model not deployed", v.Error)
}

// An unknown task is reported with the package prefix once and its id:
// `queue: task not found: "nope"`, not `queue: get task "nope": queue: task
// not found`, by the client and by both task routes.
func TestTaskNotFoundNamesPrefixOnceAndID(t *testing.T) {
	const want = `queue: task not found: "nope"`
	_, c, h := httpFixture(t, queue.HTTPConfig{})
	_, err := c.Get(context.Background(), "nope")
	require.ErrorIs(t, err, queue.ErrTaskNotFound)
	assert.EqualError(t, err, want, "Client.Get")
	_, err = c.Wait(context.Background(), "nope")
	require.ErrorIs(t, err, queue.ErrTaskNotFound)
	assert.EqualError(t, err, want, "Client.Wait")
	for _, target := range []string{"/tasks/nope", "/tasks/nope/events"} {
		rec := httpDo(h, http.MethodGet, target, "")
		require.Equal(t, http.StatusNotFound, rec.Code, "GET %s", target)
		assert.Equal(t, want, httpErrorOf(t, rec), "GET %s", target)
	}
}

func TestHTTPRouteErrorsAreJSON(t *testing.T) {
	_, _, h := httpFixture(t, queue.HTTPConfig{})
	tests := []struct {
		method, path string
		wantCode     int
		wantAllow    string
	}{
		{http.MethodPut, "/tasks/t1", 405, "DELETE, GET, HEAD, POST"},
		{http.MethodPut, "/tasks/chat/completions", 405, "POST"},
		{http.MethodPatch, "/tasks/t1/events", 405, "GET, HEAD, POST"},
		{http.MethodGet, "/nope", 404, ""},
		{http.MethodGet, "/dead-letters", 404, ""}, // no store given
		{http.MethodPost, "/dead-letters/t1/replay", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rec := httpDo(h, tt.method, tt.path, "")
			require.Equal(t, tt.wantCode, rec.Code, "body %s", rec.Body)
			assert.Contains(t, httpErrorOf(t, rec), tt.path)
			assert.Equal(t, tt.wantAllow, rec.Header().Get("Allow"))
		})
	}
}

func TestNewHTTPHandlerWithRejectsBadConfig(t *testing.T) {
	c := queue.NewClient(queue.NewMemoryBroker())
	tests := []struct {
		name string
		c    *queue.Client
		cfg  queue.HTTPConfig
		want string
	}{
		{"nil client", nil, queue.HTTPConfig{}, "NewClient"},
		{"negative body limit", c, queue.HTTPConfig{MaxBodyBytes: -1}, "MaxBodyBytes is -1"},
		{"negative keep-alive", c, queue.HTTPConfig{SSEKeepAlive: -time.Second}, "SSEKeepAlive is -1s"},
		{"negative alert threshold", c, queue.HTTPConfig{Alerts: dlq.AlertConfig{Threshold: -1}}, "Alerts.Threshold is -1"},
		{"negative alert window", c, queue.HTTPConfig{Alerts: dlq.AlertConfig{Window: -time.Minute}}, "Alerts.Window is -1m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := queue.NewHTTPHandlerWith(tt.c, tt.cfg)
			require.ErrorIs(t, err, queue.ErrInvalidArgument)
			assert.Contains(t, err.Error(), tt.want)
			assert.Nil(t, h)
		})
	}
}

func TestNewHTTPHandlerWithNilClientAnswers500(t *testing.T) {
	rec := httpDo(queue.NewHTTPHandler(nil), http.MethodGet, "/tasks/t1", "")
	require.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.Contains(t, httpErrorOf(t, rec), "no broker")
}

func TestHTTPBrokerClosedIs503(t *testing.T) {
	b, _, h := httpFixture(t, queue.HTTPConfig{Logger: httpDiscard})
	require.NoError(t, b.Close())
	for _, target := range []string{"/tasks/t1", "/tasks/t1/events"} {
		rec := httpDo(h, http.MethodGet, target, "")
		require.Equal(t, http.StatusServiceUnavailable, rec.Code, "GET %s", target)
		assert.Equal(t, "queue: broker unavailable", httpErrorOf(t, rec))
	}
	rec := httpDo(h, http.MethodPost, "/tasks/greet", "{}")
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
}
