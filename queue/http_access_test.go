package queue_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/queue"
)

// changes lists every state-changing request of the API.
var changes = []struct{ method, target string }{
	{http.MethodPost, "/tasks/greet"},
	{http.MethodDelete, "/tasks/t1"},
	{http.MethodPost, "/queues/default/pause"},
	{http.MethodPost, "/queues/default/resume"},
	{http.MethodPost, "/dead-letters/d1/replay"},
	{http.MethodDelete, "/dead-letters/d1"},
}

func TestHTTPReadOnlyRefusesEveryChange(t *testing.T) {
	ctx := context.Background()
	store := dlq.NewMemoryStore()
	require.NoError(t, store.Push(ctx, deadEntry("d1")))
	b, c, h := httpFixture(t, queue.HTTPConfig{DeadLetters: store, ReadOnly: true})
	_, err := c.Enqueue(ctx, "greet", nil, queue.WithTaskID("t1"))
	require.NoError(t, err)
	for _, ch := range changes {
		rec := httpDo(h, ch.method, ch.target, `{}`)
		require.Equal(t, http.StatusForbidden, rec.Code, "%s %s: body %s", ch.method, ch.target, rec.Body)
		assert.Contains(t, httpErrorOf(t, rec), "read-only")
	}
	assert.Equal(t, 1, b.Len(), "tasks")
	task, err := c.Get(ctx, "t1")
	require.NoError(t, err)
	assert.Equal(t, queue.StatePending, task.State, "not cancelled")
	n, err := store.Len(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "dead letters")
	assert.False(t, statsOf(t, getQueues(t, h), queue.DefaultQueue).Paused)

	for _, target := range []string{"/tasks/t1", "/tasks", "/queues", "/dead-letters", "/dead-letters/d1", "/ui/"} {
		rec := httpDo(h, http.MethodGet, target, "")
		assert.Equal(t, http.StatusOK, rec.Code, "GET %s in read-only mode", target)
	}
	rec := httpDo(h, http.MethodGet, "/nope", "")
	assert.Equal(t, http.StatusNotFound, rec.Code, "an unknown route is still 404")
}

func TestHTTPAuthorize(t *testing.T) {
	errNoSession := fmt.Errorf("sign in first: %w", queue.ErrUnauthenticated)
	var seen []string
	authorize := func(r *http.Request) error {
		seen = append(seen, r.Method+" "+r.URL.Path)
		switch r.Header.Get("X-User") {
		case "":
			return errNoSession
		case "admin":
			return nil
		}
		if r.Method != http.MethodGet {
			return errors.New("viewers may not change anything")
		}
		return nil
	}
	b, _, h := httpFixture(t, queue.HTTPConfig{Authorize: authorize})
	do := func(user, method, target string) (int, string) {
		req := httptest.NewRequest(method, target, nil)
		req.Header.Set("Content-Type", "application/json")
		if user != "" {
			req.Header.Set("X-User", user)
		}
		rec := httpRecord(h, req)
		if rec.Code >= 400 {
			return rec.Code, httpErrorOf(t, rec)
		}
		return rec.Code, ""
	}

	code, msg := do("", http.MethodGet, "/ui/")
	assert.Equal(t, http.StatusUnauthorized, code, "the dashboard too")
	assert.Equal(t, errNoSession.Error(), msg)
	code, msg = do("viewer", http.MethodPost, "/tasks/greet")
	assert.Equal(t, http.StatusForbidden, code)
	assert.Equal(t, "viewers may not change anything", msg)
	assert.Zero(t, b.Len(), "a refused request reaches no route")
	code, _ = do("viewer", http.MethodGet, "/queues")
	assert.Equal(t, http.StatusOK, code)
	code, _ = do("admin", http.MethodPost, "/tasks/greet")
	assert.Equal(t, http.StatusAccepted, code)
	assert.Equal(t, 1, b.Len())
	assert.Len(t, seen, 4, "Authorize is asked once per request")
}
