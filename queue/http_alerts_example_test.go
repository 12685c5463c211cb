package queue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"

	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/queue"
)

// GET /queues shows the failures per task name in the current alert window.
// Give the handler the workers' AlertConfig, so that it reads their counts
// with their threshold. Here a Recorder stands in for the worker that
// records the failures.
func ExampleHTTPConfig_alerts() {
	alerts := dlq.AlertConfig{Threshold: 2, Logger: slog.New(slog.DiscardHandler)}
	store := dlq.NewMemoryStore()
	rec, err := dlq.NewRecorder(store, alerts) // what a worker with WorkerConfig{DeadLetters: store, Alerts: alerts} does
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, name := range []string{"embed", "summarize", "summarize"} {
		_ = rec.Record(context.Background(), dlq.Entry{TaskID: fmt.Sprint("t", i), TaskName: name})
	}

	broker := queue.NewMemoryBroker()
	defer broker.Close()
	api, err := queue.NewHTTPHandlerWith(queue.NewClient(broker), queue.HTTPConfig{DeadLetters: store, Alerts: alerts})
	if err != nil {
		fmt.Println(err)
		return
	}
	w := httptest.NewRecorder()
	api.ServeHTTP(w, httptest.NewRequest("GET", "/queues", nil))
	var body struct {
		DeadLetters int `json:"dead_letters"`
		Alerts      []struct {
			TaskName  string `json:"task_name"`
			Failures  int    `json:"failures"`
			Threshold int    `json:"threshold"`
			Window    string `json:"window"`
			Alerted   bool   `json:"alerted"`
		} `json:"alerts"`
	}
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	fmt.Println("dead letters:", body.DeadLetters)
	for _, a := range body.Alerts {
		fmt.Printf("%s: %d of %d within %s, alerted: %v\n", a.TaskName, a.Failures, a.Threshold, a.Window, a.Alerted)
	}
	// Output:
	// dead letters: 3
	// summarize: 2 of 2 within 1h0m0s, alerted: true
	// embed: 1 of 2 within 1h0m0s, alerted: false
}
