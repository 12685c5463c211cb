package queue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/resilience-go/resilience/queue"
)

// The HTTP API enqueues a task, a worker runs it, and the API shows its
// result. Mount the handler with http.ListenAndServe(addr, api), or under a
// prefix with http.StripPrefix.
func ExampleNewHTTPHandler() {
	broker := queue.NewMemoryBroker()
	defer broker.Close()
	client := queue.NewClient(broker)
	api := queue.NewHTTPHandler(client)
	do := func(method, target, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json") // every POST must say so
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		return rec
	}

	rec := do("POST", "/tasks/greet", `{"payload": {"name": "Ada"}, "queue": "high", "task_id": "greet-1"}`)
	fmt.Println(rec.Code, rec.Header().Get("Location"), strings.TrimSpace(rec.Body.String()))

	worker, err := queue.NewWorker(broker, queue.WorkerConfig{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println(err)
		return
	}
	worker.Handle("greet", queue.Typed(func(_ context.Context, p struct{ Name string }) (string, error) {
		return "hello, " + p.Name, nil
	}))
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- worker.Run(ctx) }()
	_, _ = client.Wait(ctx, "greet-1")
	stop()
	<-done

	rec = do("GET", "/tasks/greet-1", "")
	var task struct {
		Status  string          `json:"status"`
		Result  json.RawMessage `json:"result"`
		Attempt int             `json:"attempt"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &task)
	fmt.Println(rec.Code, task.Status, string(task.Result), task.Attempt)

	rec = do("POST", "/tasks/greet", `{"delay": "soon"}`)
	fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
	// Output:
	// 202 /tasks/greet-1 {"task_id":"greet-1","status":"PENDING"}
	// 200 SUCCESS "hello, Ada" 1
	// 400 {"error":"queue: delay \"soon\": want a duration of 0 or more such as \"10s\" or \"1m30s\""}
}

// HTTPConfig.Authorize puts the handler behind a company's sign-in: here a
// proxy in front sets a verified e-mail header. Signed-in users may look,
// admins may change things. An error wrapping ErrUnauthenticated answers
// 401, any other error 403, with the error's message.
func ExampleHTTPConfig_authorize() {
	broker := queue.NewMemoryBroker()
	defer broker.Close()
	admins := map[string]bool{"ada@example.com": true}
	api, err := queue.NewHTTPHandlerWith(queue.NewClient(broker), queue.HTTPConfig{
		Authorize: func(r *http.Request) error {
			email := r.Header.Get("X-Forwarded-Email")
			switch {
			case email == "":
				return fmt.Errorf("sign in first: %w", queue.ErrUnauthenticated)
			case r.Method == http.MethodGet || admins[email]:
				return nil
			}
			return fmt.Errorf("%s may look but not change the queue", email)
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	do := func(email, method, target string) {
		req := httptest.NewRequest(method, target, nil)
		req.Header.Set("Content-Type", "application/json")
		if email != "" {
			req.Header.Set("X-Forwarded-Email", email)
		}
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	do("", "GET", "/queues")
	do("bob@example.com", "POST", "/queues/low/pause")
	do("ada@example.com", "POST", "/queues/low/pause")
	// Output:
	// 401 {"error":"sign in first: queue: authentication required"}
	// 403 {"error":"bob@example.com may look but not change the queue"}
	// 200 {"queue":"low","paused":true}
}

// HTTPConfig.ReadOnly lets everyone look and no one change anything; the
// dashboard at /ui/ then shows no buttons.
func ExampleHTTPConfig_readOnly() {
	broker := queue.NewMemoryBroker()
	defer broker.Close()
	api, err := queue.NewHTTPHandlerWith(queue.NewClient(broker), queue.HTTPConfig{ReadOnly: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	get := httptest.NewRequest("GET", "/tasks", nil)
	post := httptest.NewRequest("POST", "/tasks/greet", strings.NewReader(`{}`))
	post.Header.Set("Content-Type", "application/json")
	for _, req := range []*http.Request{get, post} {
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		fmt.Println(req.Method, rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	// Output:
	// GET 200 {"tasks":[],"offset":0,"limit":50}
	// POST 403 {"error":"queue: POST /tasks/greet: this API is read-only (HTTPConfig.ReadOnly)"}
}
