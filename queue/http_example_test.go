package queue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
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
