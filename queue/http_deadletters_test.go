package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/queue"
)

func TestHTTPDeadLetters(t *testing.T) {
	ctx := context.Background()
	store := dlq.NewMemoryStore()
	b, _, h := httpFixture(t, queue.HTTPConfig{DeadLetters: store})
	for _, id := range []string{"d1", "d2", "d3"} {
		require.NoError(t, store.Push(ctx, deadEntry(id)))
	}
	list := func(query string) (ids []string, total int) {
		t.Helper()
		rec := httpDo(h, http.MethodGet, "/dead-letters"+query, "")
		require.Equal(t, http.StatusOK, rec.Code, "body %s", rec.Body)
		var body struct {
			Entries []dlq.Entry `json:"entries"`
			Total   int         `json:"total"`
		}
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
		for _, e := range body.Entries {
			ids = append(ids, e.TaskID)
		}
		return ids, body.Total
	}

	ids, total := list("")
	assert.Equal(t, []string{"d1", "d2", "d3"}, ids)
	assert.Equal(t, 3, total)
	ids, total = list("?offset=1&limit=1")
	assert.Equal(t, []string{"d2"}, ids)
	assert.Equal(t, 3, total)
	ids, _ = list("?offset=7")
	assert.Empty(t, ids)
	for _, q := range []string{"?limit=0", "?limit=1001", "?limit=x", "?offset=-1", "?offset=1.5"} {
		rec := httpDo(h, http.MethodGet, "/dead-letters"+q, "")
		assert.Equal(t, http.StatusBadRequest, rec.Code, "GET /dead-letters%s", q)
		httpErrorOf(t, rec)
	}

	rec := httpDo(h, http.MethodGet, "/dead-letters/d2", "")
	require.Equal(t, http.StatusOK, rec.Code)
	var e dlq.Entry
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e))
	assert.Equal(t, "d2", e.TaskID)
	assert.Equal(t, "upstream 503", e.Error)
	rec = httpDo(h, http.MethodGet, "/dead-letters/nope", "")
	require.Equal(t, http.StatusNotFound, rec.Code)
	assert.Contains(t, httpErrorOf(t, rec), "entry not found")

	rec = httpDo(h, http.MethodPost, "/dead-letters/d1/replay", "")
	require.Equal(t, http.StatusAccepted, rec.Code, "body %s", rec.Body)
	assert.JSONEq(t, `{"task_id": "d1-replay-1", "status": "PENDING", "replay_of": "d1"}`, rec.Body.String())
	assert.Equal(t, "/tasks/d1-replay-1", rec.Header().Get("Location"))
	task, err := b.Get(ctx, "d1-replay-1")
	require.NoError(t, err)
	assert.Equal(t, "embed", task.Name)
	ids, _ = list("")
	assert.Equal(t, []string{"d2", "d3"}, ids, "entries after the replay")

	rec = httpDo(h, http.MethodPost, "/dead-letters/d1/replay", "")
	require.Equal(t, http.StatusNotFound, rec.Code, "replay of a replayed entry")
	httpErrorOf(t, rec)

	rec = httpDo(h, http.MethodDelete, "/dead-letters/d3", "")
	require.Equal(t, http.StatusNoContent, rec.Code)
	assert.Empty(t, rec.Body.String())
	rec = httpDo(h, http.MethodDelete, "/dead-letters/d3", "")
	require.Equal(t, http.StatusNotFound, rec.Code)
	httpErrorOf(t, rec)
	ids, _ = list("")
	assert.Equal(t, []string{"d2"}, ids)
}

func TestHTTPReplayConflictKeepsEntry(t *testing.T) {
	ctx := context.Background()
	store := dlq.NewMemoryStore()
	e := deadEntry("gpu-1")
	e.Queue = "gpu"
	require.NoError(t, store.Push(ctx, e))
	_, _, h := httpFixture(t, queue.HTTPConfig{DeadLetters: store})
	rec := httpDo(h, http.MethodPost, "/dead-letters/gpu-1/replay", "")
	require.Equal(t, http.StatusConflict, rec.Code, "body %s", rec.Body)
	assert.Contains(t, httpErrorOf(t, rec), `unknown queue "gpu"`)
	n, _ := store.Len(ctx)
	assert.Equal(t, 1, n, "entries")
}

func TestHTTPReplayDeleteFailureIs500WithTaskID(t *testing.T) {
	ctx := context.Background()
	store := &replayDeleteFails{MemoryStore: dlq.NewMemoryStore(), failing: true}
	require.NoError(t, store.Push(ctx, deadEntry("d1")))
	_, _, h := httpFixture(t, queue.HTTPConfig{DeadLetters: store, Logger: httpDiscard})
	rec := httpDo(h, http.MethodPost, "/dead-letters/d1/replay", "")
	require.Equal(t, http.StatusInternalServerError, rec.Code)
	var body struct {
		Error  string `json:"error"`
		TaskID string `json:"task_id"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	assert.Equal(t, "d1-replay-1", body.TaskID)
	assert.Contains(t, body.Error, "retry the replay")

	store.setFailing(false)
	rec = httpDo(h, http.MethodPost, "/dead-letters/d1/replay", "")
	require.Equal(t, http.StatusAccepted, rec.Code, "the retried replay; body %s", rec.Body)
	assert.Contains(t, rec.Body.String(), `"task_id":"d1-replay-1"`)
}

// httpStoreDown is a dead-letter store whose reads fail.
type httpStoreDown struct{ dlq.Store }

func (httpStoreDown) List(context.Context, int, int) ([]dlq.Entry, error) {
	return nil, errors.New("redis: connection refused at 10.0.0.7:6379")
}

func TestHTTPInternalErrorsHideDetails(t *testing.T) {
	_, _, h := httpFixture(t, queue.HTTPConfig{DeadLetters: httpStoreDown{dlq.NewMemoryStore()}, Logger: httpDiscard})
	rec := httpDo(h, http.MethodGet, "/dead-letters", "")
	require.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.Equal(t, "queue: internal error", httpErrorOf(t, rec))
}
