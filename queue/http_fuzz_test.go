package queue_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"testing"

	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/queue"
)

// FuzzDecodeEnqueueRequest sends arbitrary task names and bodies to POST
// /tasks/{name...}. The handler must never panic, and must answer either
// 202 with a task that is in the broker with a valid JSON payload, a
// redirect for a path that is not clean (the mux's doing), or a 4xx with a
// JSON error; never a 5xx.
func FuzzDecodeEnqueueRequest(f *testing.F) {
	seeds := []struct{ name, body string }{
		{"greet", `{"payload": {"who": "Ada"}}`},
		{"chat/completions", `{"payload": [1, 2.5, "x", null, true], "queue": "high", "max_retries": 3, "delay": "10s", "task_id": "k1"}`},
		{"greet", ``},
		{"greet", `null`},
		{"greet", `{"payload": `},
		{"greet", `{"max_retries": -1}`},
		{"greet", `{"max_retries": 1e400}`},
		{"greet", `{"delay": "-5ms"}`},
		{"greet", `{"delay": "9999999999h"}`},
		{"greet", `{"queue": "nope"}`},
		{"greet", `{"task_id": "a/b"}`},
		{"greet", `{"task_id": "` + strings.Repeat("x", 300) + `"}`},
		{"greet", `{"unknown": 1}`},
		{"greet", `{} {}`},
		{"greet", `{"payload": "\ud800"}`},
		{"greet", `{"payload": [[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]}`},
		{"greet", `{"payload": "` + strings.Repeat("y", 600) + `"}`},
		{"", `{}`},
		{"a b", `{}`},
		{"../x", `{}`},
		{"x\x00y", `{}`},
	}
	for _, s := range seeds {
		f.Add(s.name, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, name string, body []byte) {
		b := queue.NewMemoryBroker()
		defer b.Close()
		h, err := queue.NewHTTPHandlerWith(queue.NewClient(b), queue.HTTPConfig{MaxBodyBytes: 512, Logger: httpDiscard})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "/tasks/x", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.URL.Path = "/tasks/" + name
		req.URL.RawPath = ""
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		switch code := rec.Code; {
		case code == http.StatusAccepted:
			var got struct {
				TaskID string `json:"task_id"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.TaskID == "" {
				t.Fatalf("202 body %q: want {\"task_id\": ...} (error %v)", rec.Body, err)
			}
			task, err := b.Get(req.Context(), got.TaskID)
			if err != nil {
				t.Fatalf("202 for task %q, but the broker has none: %v", got.TaskID, err)
			}
			if !json.Valid(task.Payload) {
				t.Fatalf("stored payload %q is not valid JSON", task.Payload)
			}
		case code == http.StatusMovedPermanently || code == http.StatusTemporaryRedirect || code == http.StatusPermanentRedirect:
			if p := req.URL.Path; path.Clean(p) == p && !strings.Contains(p, "//") {
				t.Fatalf("redirect %d for the clean path %q", code, p)
			}
		case code >= 400 && code < 500:
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("%d with Content-Type %q, want application/json", code, ct)
			}
			var e struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("%d body %q: want {\"error\": \"...\"} (error %v)", code, rec.Body, err)
			}
		default:
			t.Fatalf("status %d for name %q body %q: want 202, a redirect or 4xx; body %s", code, name, body, rec.Body)
		}
	})
}

// FuzzHTTPListQuery sends arbitrary query strings to GET /tasks and GET
// /dead-letters. The answer must be 200 with a page no longer than its
// limit, or 400 with a JSON error that says what is allowed; never a panic
// or a 5xx.
func FuzzHTTPListQuery(f *testing.F) {
	for _, q := range []string{
		"", "queue=default&state=PENDING&offset=0&limit=50", "state=success", "state=DONE", "limit=0",
		"limit=1001", "limit=-1", "offset=100001", "offset=99999999999999999999", "limit=1e3", "queue=a%20b",
		"queue=%ZZ", "state=", "page=2", "limit=1&limit=2", "queue=" + strings.Repeat("q", 300), "offset=%00",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		b := queue.NewMemoryBroker()
		defer b.Close()
		c := queue.NewClient(b)
		for range 3 {
			if _, err := c.Enqueue(context.Background(), "greet", nil); err != nil {
				t.Fatal(err)
			}
		}
		h, err := queue.NewHTTPHandlerWith(c, queue.HTTPConfig{DeadLetters: dlq.NewMemoryStore(), Logger: httpDiscard})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"/tasks", "/dead-letters"} {
			req := httptest.NewRequest(http.MethodGet, p, nil)
			req.URL.RawQuery = rawQuery
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			switch rec.Code {
			case http.StatusOK:
				var page struct {
					Tasks   []json.RawMessage `json:"tasks"`
					Entries []json.RawMessage `json:"entries"`
					Limit   int               `json:"limit"`
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
					t.Fatalf("GET %s?%s: 200 body %q: %v", p, rawQuery, rec.Body, err)
				}
				if n := len(page.Tasks) + len(page.Entries); page.Limit < 1 || n > page.Limit {
					t.Fatalf("GET %s?%s: %d items with limit %d", p, rawQuery, n, page.Limit)
				}
			case http.StatusBadRequest:
				var e struct {
					Error string `json:"error"`
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || !strings.Contains(e.Error, "want") {
					t.Fatalf("GET %s?%s: 400 body %q does not say what is allowed", p, rawQuery, rec.Body)
				}
			default:
				t.Fatalf("GET %s?%s: status %d, want 200 or 400; body %s", p, rawQuery, rec.Code, rec.Body)
			}
		}
	})
}
