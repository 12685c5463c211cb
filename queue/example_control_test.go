package queue_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/resilience-go/resilience/queue"
)

// Cancel a waiting task (revoked at once, it never runs) and a running one
// (its handler's ctx ends with cause ErrRevoked; it ends REVOKED whatever
// the handler returns).
func ExampleClient_Cancel() {
	ctx := context.Background()
	broker := queue.NewMemoryBroker()
	defer broker.Close()
	client := queue.NewClient(broker)

	later, _ := client.Enqueue(ctx, "embed", "chapter 2", queue.WithDelay(time.Hour))
	waiting, _ := client.Cancel(ctx, later.ID)
	fmt.Println("waiting task:", waiting.State)

	// The worker logs the revoked task at info level; keep the output short.
	worker, _ := queue.NewWorker(broker, queue.WorkerConfig{Logger: slog.New(slog.DiscardHandler)})
	started := make(chan struct{})
	worker.Handle("embed", func(ctx context.Context, t *queue.Task) (any, error) {
		close(started)
		<-ctx.Done() // a long model call would see its ctx end here
		fmt.Println("handler stopped:", errors.Is(context.Cause(ctx), queue.ErrRevoked))
		return nil, ctx.Err()
	})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- worker.Run(runCtx) }()

	task, _ := client.Enqueue(ctx, "embed", "chapter 1")
	<-started
	running, _ := client.Cancel(ctx, task.ID)
	fmt.Println("running task:", running.State, "cancel requested:", running.CancelRequested)
	final, _ := client.Wait(ctx, task.ID)
	fmt.Println("final:", final.State, "after", final.Attempt, "attempt")

	_, err := client.Cancel(ctx, "no-such-id")
	fmt.Println("unknown id:", errors.Is(err, queue.ErrTaskNotFound))
	stop()
	<-done
	// Output:
	// waiting task: REVOKED
	// running task: STARTED cancel requested: true
	// handler stopped: true
	// final: REVOKED after 1 attempt
	// unknown id: true
}

// Count the tasks of each queue by state, and pause a queue.
func ExampleClient_Stats() {
	ctx := context.Background()
	broker := queue.NewMemoryBroker()
	defer broker.Close()
	client := queue.NewClient(broker)
	for i := range 3 {
		if _, err := client.Enqueue(ctx, "embed", i); err != nil {
			panic(err)
		}
	}
	if _, err := client.Enqueue(ctx, "reindex", nil, queue.WithQueue(queue.QueueLow), queue.WithDelay(time.Hour)); err != nil {
		panic(err)
	}
	if err := client.PauseQueue(ctx, queue.QueueLow); err != nil {
		panic(err)
	}

	stats, err := client.Stats(ctx)
	if err != nil {
		panic(err)
	}
	for _, s := range stats {
		fmt.Printf("%-7s paused=%-5v pending=%d scheduled=%d active=%d\n", s.Queue, s.Paused, s.Pending, s.Scheduled, s.Active)
	}
	newest, _ := client.List(ctx, queue.ListOptions{Queue: queue.QueueDefault, Limit: 2})
	fmt.Println("newest two in default:", string(newest[0].Payload), string(newest[1].Payload))
	// Output:
	// default paused=false pending=3 scheduled=0 active=0
	// high    paused=false pending=0 scheduled=0 active=0
	// low     paused=true  pending=0 scheduled=1 active=0
	// newest two in default: 2 1
}
