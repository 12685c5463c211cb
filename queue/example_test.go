package queue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/queue"
)

// Enqueue a task, run it on a worker, and wait for its result.
func Example() {
	ctx := context.Background()
	broker := queue.NewMemoryBroker()
	defer broker.Close()

	worker, err := queue.NewWorker(broker, queue.WorkerConfig{Concurrency: 2})
	if err != nil {
		panic(err)
	}
	worker.Handle("shout", func(ctx context.Context, t *queue.Task) (any, error) {
		var text string
		if err := json.Unmarshal(t.Payload, &text); err != nil {
			return nil, resilience.Permanent(err) // retrying would not help
		}
		return strings.ToUpper(text), nil
	})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- worker.Run(runCtx) }()

	client := queue.NewClient(broker)
	task, err := client.Enqueue(ctx, "shout", "hello", queue.WithQueue(queue.QueueHigh))
	if err != nil {
		panic(err)
	}
	fmt.Println("enqueued:", task.State)

	task, err = client.Wait(ctx, task.ID)
	if err != nil {
		panic(err)
	}
	fmt.Println("finished:", task.State, string(task.Result), "after", task.Attempt, "attempt")

	stop()
	fmt.Println("worker stopped:", <-done)
	// Output:
	// enqueued: PENDING
	// finished: SUCCESS "HELLO" after 1 attempt
	// worker stopped: <nil>
}

// A handler reports progress; clients see it while the task runs.
func ExampleReportProgress() {
	ctx := context.Background()
	broker := queue.NewMemoryBroker()
	defer broker.Close()
	worker, err := queue.NewWorker(broker, queue.WorkerConfig{})
	if err != nil {
		panic(err)
	}
	reported, proceed := make(chan struct{}), make(chan struct{})
	worker.Handle("embed", queue.Typed(func(ctx context.Context, docs []string) (int, error) {
		for i := 0; i < len(docs); i += 2 {
			status := fmt.Sprintf("Processing batch %d", i/2+1)
			if err := queue.ReportProgress(ctx, queue.Progress{Current: int64(i), Total: int64(len(docs)), Status: status}); err != nil {
				return 0, err
			}
			reported <- struct{}{} // (only so that this example's output is deterministic)
			<-proceed
		}
		return len(docs), nil
	}))
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- worker.Run(runCtx) }()

	client := queue.NewClient(broker)
	task, err := client.Enqueue(ctx, "embed", []string{"a", "b", "c", "d"})
	if err != nil {
		panic(err)
	}
	for range 2 {
		<-reported
		t, err := client.Get(ctx, task.ID)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s %d/%d %s\n", t.State, t.Progress.Current, t.Progress.Total, t.Progress.Status)
		proceed <- struct{}{}
	}
	task, err = client.Wait(ctx, task.ID)
	if err != nil {
		panic(err)
	}
	fmt.Println(task.State, string(task.Result))
	stop()
	<-done
	// Output:
	// PROCESSING 0/4 Processing batch 1
	// PROCESSING 2/4 Processing batch 2
	// SUCCESS 4
}

// Typed handlers decode the payload into a Go type and encode the result.
func ExampleTyped() {
	type ChatRequest struct {
		Messages []string `json:"messages"`
		Model    string   `json:"model"`
	}
	type ChatResponse struct {
		Content string `json:"content"`
	}
	ctx := context.Background()
	broker := queue.NewMemoryBroker()
	defer broker.Close()
	worker, err := queue.NewWorker(broker, queue.WorkerConfig{})
	if err != nil {
		panic(err)
	}
	worker.Handle("chat.completion", queue.Typed(func(ctx context.Context, req ChatRequest) (ChatResponse, error) {
		// Call the LLM here.
		return ChatResponse{Content: req.Model + " says hi to " + req.Messages[0]}, nil
	}))
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- worker.Run(runCtx) }()

	client := queue.NewClient(broker)
	task, err := client.Enqueue(ctx, "chat.completion", ChatRequest{Messages: []string{"Ada"}, Model: "gpt-4o-mini"})
	if err != nil {
		panic(err)
	}
	task, err = client.Wait(ctx, task.ID)
	if err != nil {
		panic(err)
	}
	fmt.Println(task.State, string(task.Result))
	stop()
	<-done
	// Output:
	// SUCCESS {"content":"gpt-4o-mini says hi to Ada"}
}

// Enqueueing with a task id is idempotent: the second call returns the
// task the first one created.
func ExampleWithTaskID() {
	ctx := context.Background()
	client := queue.NewClient(queue.NewMemoryBroker())
	first, err := client.Enqueue(ctx, "embed", []string{"doc"}, queue.WithTaskID("doc-42"))
	if err != nil {
		panic(err)
	}
	again, err := client.Enqueue(ctx, "embed", []string{"doc"}, queue.WithTaskID("doc-42"))
	if err != nil {
		panic(err)
	}
	fmt.Println(first.ID, again.ID, first.EnqueuedAt.Equal(again.EnqueuedAt))

	_, err = client.Enqueue(ctx, "embed", nil, queue.WithQueue("urgent"))
	fmt.Println(err)
	// Output:
	// doc-42 doc-42 true
	// queue: unknown queue "urgent": known queues are high, default, low (declare more with Client.AddQueues)
}
