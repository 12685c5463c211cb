package queue_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resilience-go/resilience/queue"
)

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	name string
	task httpView
	data string
}

// sseReader reads events from a stream, skipping comment lines.
type sseReader struct{ r *bufio.Reader }

func (s sseReader) next() (sseEvent, error) {
	var ev sseEvent
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && ev.name != "":
			if ev.name == "state" {
				err = json.Unmarshal([]byte(ev.data), &ev.task)
			}
			return ev, err
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data = strings.TrimPrefix(line, "data: ")
		}
	}
}

// End to end over a real server and worker: POST a task, follow its events
// through PENDING and PROCESSING (with progress) to SUCCESS and its result.
func TestHTTPEventsEndToEnd(t *testing.T) {
	b := queue.NewMemoryBroker()
	defer b.Close()
	c := queue.NewClient(b)
	srv := httptest.NewServer(queue.NewHTTPHandler(c))
	defer srv.Close()

	resp, err := srv.Client().Post(srv.URL+"/tasks/embed", "application/json", strings.NewReader(`{"payload": ["a", "b"], "queue": "high"}`))
	require.NoError(t, err)
	var created struct {
		TaskID string `json:"task_id"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&created))
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)

	resp, err = srv.Client().Get(srv.URL + "/tasks/" + created.TaskID + "/events")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	events := sseReader{bufio.NewReader(resp.Body)}
	ev, err := events.next()
	require.NoError(t, err)
	assert.Equal(t, "state", ev.name)
	assert.Equal(t, queue.StatePending, ev.task.Status, "first event (no worker yet)")

	// The worker starts only now, and its handler waits after its first
	// progress report until the test has seen it.
	proceed := make(chan struct{})
	w, err := queue.NewWorker(b, queue.WorkerConfig{Logger: httpDiscard})
	require.NoError(t, err)
	w.Handle("embed", queue.Typed(func(ctx context.Context, docs []string) (map[string]int, error) {
		if err := queue.ReportProgress(ctx, queue.Progress{Current: 1, Total: 2, Status: "batch 1"}); err != nil {
			return nil, err
		}
		select {
		case <-proceed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return map[string]int{"embedded": len(docs)}, nil
	}))
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { stop(); require.NoError(t, <-done) }()

	var seen []queue.State
	for {
		ev, err = events.next()
		require.NoError(t, err, "events after %v", seen)
		require.Equal(t, "state", ev.name)
		seen = append(seen, ev.task.Status)
		if ev.task.Status == queue.StateProcessing {
			assert.Equal(t, &queue.Progress{Current: 1, Total: 2, Status: "batch 1"}, ev.task.Progress)
			close(proceed)
		}
		if ev.task.Status.Done() {
			break
		}
	}
	assert.Contains(t, seen, queue.StateProcessing, "states seen")
	assert.Equal(t, queue.StateSuccess, ev.task.Status, "last event; states seen %v", seen)
	assert.JSONEq(t, `{"embedded": 2}`, string(ev.task.Result))
	assert.Equal(t, 1, ev.task.Attempt)
	_, err = events.next()
	assert.ErrorIs(t, err, io.EOF, "the stream ends after the final state")
}

// The stream handler returns when the client goes away, leaving nothing
// running (goleak checks that at the end of the package's tests).
func TestHTTPEventsEndWhenClientDisconnects(t *testing.T) {
	b := queue.NewMemoryBroker()
	defer b.Close()
	c := queue.NewClient(b)
	_, err := c.Enqueue(context.Background(), "never-run", nil, queue.WithTaskID("t1"))
	require.NoError(t, err)
	api := queue.NewHTTPHandler(c)
	served := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(served)
		api.ServeHTTP(w, r)
	}))
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/tasks/t1/events", nil)
	require.NoError(t, err)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	ev, err := sseReader{bufio.NewReader(resp.Body)}.next()
	require.NoError(t, err)
	require.Equal(t, queue.StatePending, ev.task.Status)

	cancel()
	select {
	case <-served:
	case <-time.After(10 * time.Second): // a hang guard, not a timing assertion
		t.Fatal("the events handler still runs 10s after its client went away")
	}
}

func TestHTTPEventsUnknownTaskIs404(t *testing.T) {
	_, _, h := httpFixture(t, queue.HTTPConfig{})
	rec := httpDo(h, http.MethodGet, "/tasks/nope/events", "")
	require.Equal(t, http.StatusNotFound, rec.Code)
	assert.Contains(t, httpErrorOf(t, rec), "task not found")
}

// sseRecorder is a flushable ResponseWriter that may be read while written.
type sseRecorder struct {
	mu      sync.Mutex
	header  http.Header
	code    int
	body    bytes.Buffer
	flushes int
}

func (r *sseRecorder) Header() http.Header { return r.header }
func (r *sseRecorder) WriteHeader(code int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.code = code
}
func (r *sseRecorder) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.body.Write(b)
}
func (r *sseRecorder) Flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.flushes++
}
func (r *sseRecorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.body.String()
}

// In fake time: keep-alive comments while nothing changes, an error event
// when the broker closes mid-stream, and the handler returning then.
func TestHTTPEventsKeepAliveAndErrorEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		c := queue.NewClient(b)
		h, err := queue.NewHTTPHandlerWith(c, queue.HTTPConfig{SSEKeepAlive: time.Second})
		require.NoError(t, err)
		_, err = c.Enqueue(context.Background(), "never-run", nil, queue.WithTaskID("t1"))
		require.NoError(t, err)

		rec := &sseRecorder{header: http.Header{}}
		done := make(chan struct{})
		go func() {
			defer close(done)
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/tasks/t1/events", nil))
		}()
		synctest.Wait()
		assert.Equal(t, 1, strings.Count(rec.String(), "event: state\n"), "state events at once")
		assert.Equal(t, "no-cache", rec.Header().Get("Cache-Control"))

		time.Sleep(2500 * time.Millisecond)
		synctest.Wait()
		assert.Equal(t, 2, strings.Count(rec.String(), ": keep-alive\n\n"), "keep-alives after 2.5s with 1s interval")
		assert.Equal(t, 1, strings.Count(rec.String(), "event: state\n"), "state events without a change")

		require.NoError(t, b.Close())
		synctest.Wait()
		select {
		case <-done:
		default:
			t.Fatal("the events handler still runs after the broker closed")
		}
		assert.True(t, strings.HasSuffix(rec.String(), "event: error\ndata: {\"error\":\"queue: watch task \\\"t1\\\": broker closed\"}\n\n"),
			"stream tail %q", rec.String())
		assert.Equal(t, http.StatusOK, rec.code)
		assert.Equal(t, 4, rec.flushes, "flushes: one per event and keep-alive")
	})
}

// In fake time: cancelling the request (the client left) ends the handler
// and its watch goroutine.
func TestHTTPEventsStopOnRequestCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		defer b.Close()
		c := queue.NewClient(b)
		h := queue.NewHTTPHandler(c)
		_, err := c.Enqueue(context.Background(), "never-run", nil, queue.WithTaskID("t1"))
		require.NoError(t, err)

		ctx, cancel := context.WithCancel(context.Background())
		rec := &sseRecorder{header: http.Header{}}
		done := make(chan struct{})
		go func() {
			defer close(done)
			h.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, "/tasks/t1/events", nil))
		}()
		time.Sleep(time.Hour)
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("the events handler returned while its client is still there")
		default:
		}
		cancel()
		synctest.Wait()
		select {
		case <-done:
		default:
			t.Fatal("the events handler still runs after its request was cancelled")
		}
	})
}
