package queue_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/queue"
)

// httpQueues is the answer of GET /queues.
type httpQueues struct {
	Queues      []queue.QueueStats `json:"queues"`
	DeadLetters *int               `json:"dead_letters"`
	ReadOnly    bool               `json:"read_only"`
}

func getQueues(t *testing.T, h http.Handler) httpQueues {
	t.Helper()
	rec := httpDo(h, http.MethodGet, "/queues", "")
	require.Equal(t, http.StatusOK, rec.Code, "GET /queues: body %s", rec.Body)
	var q httpQueues
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &q))
	return q
}

func statsOf(t *testing.T, q httpQueues, name string) queue.QueueStats {
	t.Helper()
	for _, s := range q.Queues {
		if s.Queue == name {
			return s
		}
	}
	t.Fatalf("queue %q not in %+v", name, q.Queues)
	return queue.QueueStats{}
}

func TestHTTPQueuesCountsStatesAndDeadLetters(t *testing.T) {
	ctx := context.Background()
	store := dlq.NewMemoryStore()
	require.NoError(t, store.Push(ctx, deadEntry("d1")))
	b, c, h := httpFixture(t, queue.HTTPConfig{DeadLetters: store})
	for range 2 {
		_, err := c.Enqueue(ctx, "embed", nil)
		require.NoError(t, err)
	}
	_, err := c.Enqueue(ctx, "embed", nil, queue.WithDelay(time.Hour))
	require.NoError(t, err)
	_, err = c.Enqueue(ctx, "embed", nil, queue.WithQueue(queue.QueueHigh))
	require.NoError(t, err)
	task, token, err := b.Claim(ctx, []string{queue.QueueHigh}, time.Minute)
	require.NoError(t, err)
	require.NoError(t, b.Complete(ctx, task.ID, token, json.RawMessage(`1`), time.Hour))

	q := getQueues(t, h)
	assert.Equal(t, queue.QueueStats{Queue: queue.DefaultQueue, Pending: 2, Scheduled: 1}, statsOf(t, q, queue.DefaultQueue))
	assert.Equal(t, queue.QueueStats{Queue: queue.QueueHigh, Succeeded: 1}, statsOf(t, q, queue.QueueHigh))
	assert.Equal(t, queue.QueueStats{Queue: queue.QueueLow}, statsOf(t, q, queue.QueueLow), "a known queue without tasks")
	require.NotNil(t, q.DeadLetters)
	assert.Equal(t, 1, *q.DeadLetters)
	assert.False(t, q.ReadOnly)

	_, _, h = httpFixture(t, queue.HTTPConfig{ReadOnly: true})
	q = getQueues(t, h)
	assert.Nil(t, q.DeadLetters, "no dead-letter store: null")
	assert.True(t, q.ReadOnly)
}

func TestHTTPPauseAndResume(t *testing.T) {
	_, _, h := httpFixture(t, queue.HTTPConfig{})
	rec := httpDo(h, http.MethodPost, "/queues/low/pause", "")
	require.Equal(t, http.StatusOK, rec.Code, "body %s", rec.Body)
	assert.JSONEq(t, `{"queue": "low", "paused": true}`, rec.Body.String())
	assert.True(t, statsOf(t, getQueues(t, h), "low").Paused)
	assert.False(t, statsOf(t, getQueues(t, h), "high").Paused)

	rec = httpDo(h, http.MethodPost, "/queues/low/resume", "")
	require.Equal(t, http.StatusOK, rec.Code, "body %s", rec.Body)
	assert.JSONEq(t, `{"queue": "low", "paused": false}`, rec.Body.String())
	assert.False(t, statsOf(t, getQueues(t, h), "low").Paused)

	rec = httpDo(h, http.MethodPost, "/queues/urgent/pause", "")
	require.Equal(t, http.StatusBadRequest, rec.Code, "body %s", rec.Body)
	assert.Contains(t, httpErrorOf(t, rec), "high, default, low")
}

// listTasks answers GET /tasks with query and returns the task ids.
func listTasks(t *testing.T, h http.Handler, query string) []string {
	t.Helper()
	rec := httpDo(h, http.MethodGet, "/tasks"+query, "")
	require.Equal(t, http.StatusOK, rec.Code, "GET /tasks%s: body %s", query, rec.Body)
	var body struct {
		Tasks []map[string]any `json:"tasks"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	ids := []string{}
	for _, v := range body.Tasks {
		ids = append(ids, v["task_id"].(string))
		assert.NotContains(t, v, "payload", "a listed task has no payload")
		assert.Contains(t, v, "status")
	}
	return ids
}

func TestHTTPListTasksNewestFirstFilteredAndPaged(t *testing.T) {
	ctx := context.Background()
	b, c, h := httpFixture(t, queue.HTTPConfig{})
	for _, id := range []string{"t1", "t2", "t3", "t4"} {
		q := queue.DefaultQueue
		if id == "t3" {
			q = queue.QueueLow
		}
		_, err := c.Enqueue(ctx, "embed", map[string]string{"big": "payload"}, queue.WithTaskID(id), queue.WithQueue(q))
		require.NoError(t, err)
		time.Sleep(2 * time.Millisecond) // distinct EnqueuedAt: newest first is by time
	}
	task, token, err := b.Claim(ctx, []string{queue.DefaultQueue}, time.Minute)
	require.NoError(t, err)
	require.Equal(t, "t1", task.ID)
	require.NoError(t, b.Complete(ctx, task.ID, token, nil, time.Hour))

	assert.Equal(t, []string{"t4", "t3", "t2", "t1"}, listTasks(t, h, ""))
	assert.Equal(t, []string{"t3", "t2"}, listTasks(t, h, "?offset=1&limit=2"))
	assert.Equal(t, []string{"t3"}, listTasks(t, h, "?queue=low"))
	assert.Equal(t, []string{"t1"}, listTasks(t, h, "?state=SUCCESS"))
	assert.Equal(t, []string{"t4", "t2"}, listTasks(t, h, "?state=pending&queue=default"), "state names in any case")
	assert.Equal(t, []string{}, listTasks(t, h, "?state=REVOKED"))
	assert.Equal(t, []string{}, listTasks(t, h, "?offset=100"))
}

func TestHTTPListTasksRejectsBadQuery(t *testing.T) {
	_, _, h := httpFixture(t, queue.HTTPConfig{})
	tests := []struct{ query, want string }{
		{"?limit=0", "want an integer from 1 to 1000"},
		{"?limit=1001", "want an integer from 1 to 1000"},
		{"?limit=ten", "want an integer from 1 to 1000"},
		{"?offset=-1", "want an integer from 0 to 100000"},
		{"?offset=100001", "want an integer from 0 to 100000"},
		{"?state=DONE", "want one of PENDING, STARTED, PROCESSING, RETRY, SUCCESS, FAILURE, REVOKED"},
		{"?queue=a%20b", "queue name"},
		{"?page=2", "want queue, state, offset or limit"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			rec := httpDo(h, http.MethodGet, "/tasks"+tt.query, "")
			require.Equal(t, http.StatusBadRequest, rec.Code, "body %s", rec.Body)
			assert.Contains(t, httpErrorOf(t, rec), tt.want)
		})
	}
}

func TestHTTPCancelTask(t *testing.T) {
	ctx := context.Background()
	b, c, h := httpFixture(t, queue.HTTPConfig{})
	_, err := c.Enqueue(ctx, "embed", nil, queue.WithTaskID("waiting"))
	require.NoError(t, err)

	rec := httpDo(h, http.MethodDelete, "/tasks/waiting", "")
	require.Equal(t, http.StatusOK, rec.Code, "body %s", rec.Body)
	var v httpView
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v))
	assert.Equal(t, queue.StateRevoked, v.Status)
	assert.Equal(t, "waiting", v.TaskID)
	task, err := b.Get(ctx, "waiting")
	require.NoError(t, err)
	assert.Equal(t, queue.StateRevoked, task.State, "in the broker")

	rec = httpDo(h, http.MethodDelete, "/tasks/waiting", "")
	require.Equal(t, http.StatusOK, rec.Code, "cancelling a done task answers it; body %s", rec.Body)

	rec = httpDo(h, http.MethodDelete, "/tasks/nope", "")
	require.Equal(t, http.StatusNotFound, rec.Code)
	assert.Contains(t, httpErrorOf(t, rec), "task not found")

	_, err = c.Enqueue(ctx, "embed", nil, queue.WithTaskID("running"))
	require.NoError(t, err)
	_, _, err = b.Claim(ctx, []string{queue.DefaultQueue}, time.Minute)
	require.NoError(t, err)
	rec = httpDo(h, http.MethodDelete, "/tasks/running", "")
	require.Equal(t, http.StatusOK, rec.Code, "body %s", rec.Body)
	var raw map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &raw))
	assert.Equal(t, true, raw["cancel_requested"], "a running task: cancel requested; body %s", rec.Body)
}

func TestHTTPGetTaskShowsPayloadHeadersAndRedeliveries(t *testing.T) {
	_, c, h := httpFixture(t, queue.HTTPConfig{})
	_, err := c.Enqueue(context.Background(), "embed", []int{1, 2}, queue.WithTaskID("t1"),
		queue.WithHeaders(map[string]string{"traceparent": "00-abc-01"}))
	require.NoError(t, err)
	rec := httpDo(h, http.MethodGet, "/tasks/t1", "")
	require.Equal(t, http.StatusOK, rec.Code)
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &raw))
	assert.JSONEq(t, `[1,2]`, string(raw["payload"]))
	assert.JSONEq(t, `{"traceparent": "00-abc-01"}`, string(raw["headers"]))
	assert.JSONEq(t, `0`, string(raw["redeliveries"]))
}

// hiddenBroker is a broker with none of the optional interfaces.
type hiddenBroker struct{ queue.Broker }

func TestHTTPUnsupportedRoutesAre501InTheRequestsTerms(t *testing.T) {
	b := queue.NewMemoryBroker()
	defer b.Close()
	h, err := queue.NewHTTPHandlerWith(queue.NewClient(hiddenBroker{b}), queue.HTTPConfig{})
	require.NoError(t, err)
	for _, tt := range []struct{ method, target string }{
		{http.MethodGet, "/queues"},
		{http.MethodGet, "/tasks"},
		{http.MethodDelete, "/tasks/t1"},
		{http.MethodPost, "/queues/low/pause"},
	} {
		rec := httpDo(h, tt.method, tt.target, "")
		require.Equal(t, http.StatusNotImplemented, rec.Code, "%s %s: body %s", tt.method, tt.target, rec.Body)
		assert.Equal(t, "queue: "+tt.method+" "+tt.target+" is not supported by this broker", httpErrorOf(t, rec))
	}
}
