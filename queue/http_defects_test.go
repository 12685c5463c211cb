package queue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/queue"
	"github.com/resilience-go/resilience/queue/redisq"
)

// A page on another site can make a visitor's browser POST a form
// (enctype text/plain, urlencoded or multipart) or a plain fetch without a
// Content-Type to the API, with no CORS preflight. None of them may
// enqueue, replay or pause.
func TestHTTPCrossSiteFormPostChangesNothing(t *testing.T) {
	ctx := context.Background()
	store := dlq.NewMemoryStore()
	require.NoError(t, store.Push(ctx, deadEntry("d1")))
	b, c, h := httpFixture(t, queue.HTTPConfig{DeadLetters: store})
	// What <form enctype="text/plain"> sends for <input name='{"payload": 1, "x": "' value='"}'>.
	formBody := `{"payload": 1, "x": "="}`
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""} {
		for _, target := range []string{"/tasks/delete-everything", "/dead-letters/d1/replay", "/queues/default/pause"} {
			rec := httpDoAs(h, http.MethodPost, target, ct, formBody)
			require.Equal(t, http.StatusUnsupportedMediaType, rec.Code, "POST %s as %q: body %s", target, ct, rec.Body)
			assert.Contains(t, httpErrorOf(t, rec), `want "application/json"`)
		}
	}
	assert.Zero(t, b.Len(), "tasks enqueued by form posts")
	n, err := store.Len(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the dead letter is still there")
	st, err := c.Stats(ctx)
	require.NoError(t, err)
	for _, s := range st {
		assert.False(t, s.Paused, "queue %s paused by a form post", s.Queue)
	}

	rec := httpDoAs(h, http.MethodPost, "/tasks/greet", "application/json; charset=utf-8", `{}`)
	assert.Equal(t, http.StatusAccepted, rec.Code, "JSON with a charset is JSON; body %s", rec.Body)
}

// POST to a task's event stream is a wrong method, not a task named
// "x/events".
func TestHTTPPostToEventStreamEnqueuesNothing(t *testing.T) {
	b, _, h := httpFixture(t, queue.HTTPConfig{})
	for _, target := range []string{"/tasks/x/events", "/tasks/chat/x/events"} {
		rec := httpDo(h, http.MethodPost, target, `{}`)
		require.Equal(t, http.StatusMethodNotAllowed, rec.Code, "POST %s: body %s", target, rec.Body)
		assert.Equal(t, "GET, HEAD", rec.Header().Get("Allow"))
		assert.Contains(t, httpErrorOf(t, rec), `may not end in "/events"`)
	}
	assert.Zero(t, b.Len(), "tasks enqueued")
	rec := httpDo(h, http.MethodPost, "/tasks/events", `{}`)
	assert.Equal(t, http.StatusAccepted, rec.Code, "a task named events is fine; body %s", rec.Body)
}

func TestHTTPPostTasksWithoutNameIs405NotRedirect(t *testing.T) {
	b, _, h := httpFixture(t, queue.HTTPConfig{})
	rec := httpDo(h, http.MethodPost, "/tasks", `{}`)
	require.Equal(t, http.StatusMethodNotAllowed, rec.Code, "body %s", rec.Body)
	assert.Empty(t, rec.Header().Get("Location"))
	assert.Contains(t, httpErrorOf(t, rec), "task name is missing")
	assert.Zero(t, b.Len())
}

func TestHTTPTrailingObjectIsNotAnUnknownField(t *testing.T) {
	_, _, h := httpFixture(t, queue.HTTPConfig{})
	rec := httpDo(h, http.MethodPost, "/tasks/greet", `{"payload": 1} {"queue": "high"}`)
	require.Equal(t, http.StatusBadRequest, rec.Code)
	msg := httpErrorOf(t, rec)
	assert.Contains(t, msg, "a second JSON value follows the object")
	assert.NotContains(t, msg, "unknown field")
}

func TestHTTPBodyErrorsNameJSONFieldsNotGoTypes(t *testing.T) {
	_, _, h := httpFixture(t, queue.HTTPConfig{})
	tests := []struct{ body, want string }{
		{`[1]`, "the body is a JSON array; want an object with the fields payload, queue, max_retries, delay, task_id"},
		{`"x"`, "the body is a JSON string; want an object"},
		{`{"queue": 5}`, `field "queue" is a JSON number; want a string`},
		{`{"max_retries": "3"}`, `field "max_retries" is a JSON string; want an integer`},
		{`{"max_retries": 1.5}`, `field "max_retries" is a JSON number 1.5; want an integer`},
		{`{"retries": 3}`, `unknown field "retries"; want only payload, queue, max_retries, delay, task_id`},
		{`{"payload": `, "the body ends inside a JSON value"},
		{`{"payload" 1}`, "invalid character '1' after object key"},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			rec := httpDo(h, http.MethodPost, "/tasks/greet", tt.body)
			require.Equal(t, http.StatusBadRequest, rec.Code, "body %s", rec.Body)
			msg := httpErrorOf(t, rec)
			assert.Contains(t, msg, tt.want)
			for _, leak := range []string{"enqueueRequest", "Go struct", "Go value", "queue.", "json: "} {
				assert.NotContains(t, msg, leak)
			}
		})
	}
}

// closedAddr returns a local address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// A Redis that cannot be reached is a 503 that says the broker is
// unavailable, on every route that asks it; no Redis server is needed.
func TestHTTPUnreachableRedisIs503(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: closedAddr(t), DialTimeout: 200 * time.Millisecond, MaxRetries: -1, DialerRetries: 1})
	defer rdb.Close()
	b := redisq.NewBroker(rdb, redisq.Options{})
	defer b.Close()
	c := queue.NewClient(b)
	h, err := queue.NewHTTPHandlerWith(c, queue.HTTPConfig{DeadLetters: redisq.NewDeadLetterStore(rdb, redisq.Options{}), Logger: httpDiscard})
	require.NoError(t, err)
	for _, tt := range []struct{ method, target string }{
		{http.MethodPost, "/tasks/greet"},
		{http.MethodGet, "/tasks/t1"},
		{http.MethodGet, "/tasks/t1/events"},
		{http.MethodGet, "/dead-letters"},
		{http.MethodPost, "/dead-letters/d1/replay"},
	} {
		rec := httpDo(h, tt.method, tt.target, "")
		require.Equal(t, http.StatusServiceUnavailable, rec.Code, "%s %s: body %s", tt.method, tt.target, rec.Body)
		assert.Equal(t, "queue: broker unavailable", httpErrorOf(t, rec))
	}
}

// A page of dead letters is capped by bytes: big entries make short pages
// that still cover every entry once, in order.
func TestHTTPDeadLettersPageCappedByBytes(t *testing.T) {
	ctx := context.Background()
	store := dlq.NewMemoryStore()
	const n, size = 12, 1 << 20 // 12 MiB of payloads
	big := json.RawMessage(`"` + strings.Repeat("x", size) + `"`)
	for i := range n {
		e := deadEntry(fmt.Sprintf("d%02d", i))
		e.Payload = big
		require.NoError(t, store.Push(ctx, e))
	}
	_, _, h := httpFixture(t, queue.HTTPConfig{DeadLetters: store})
	var seen []string
	offset, pages := 0, 0
	for {
		rec := httpDo(h, http.MethodGet, fmt.Sprintf("/dead-letters?offset=%d&limit=1000", offset), "")
		require.Equal(t, http.StatusOK, rec.Code)
		assert.LessOrEqual(t, rec.Body.Len(), queue.MaxDeadLetterPageBytes+1024, "page %d bytes", pages)
		var page struct {
			Entries    []dlq.Entry `json:"entries"`
			Total      int         `json:"total"`
			NextOffset *int        `json:"next_offset"`
		}
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &page))
		require.NotEmpty(t, page.Entries, "page at offset %d", offset)
		assert.Equal(t, n, page.Total)
		for _, e := range page.Entries {
			seen = append(seen, e.TaskID)
		}
		pages++
		if page.NextOffset == nil {
			break
		}
		require.Equal(t, offset+len(page.Entries), *page.NextOffset)
		offset = *page.NextOffset
	}
	require.Len(t, seen, n)
	for i, id := range seen {
		assert.Equal(t, fmt.Sprintf("d%02d", i), id)
	}
	assert.GreaterOrEqual(t, pages, n*size/queue.MaxDeadLetterPageBytes, "pages")
}
