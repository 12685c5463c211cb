package redisq_test

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/resilience-go/resilience/internal/redistest"
	"github.com/resilience-go/resilience/queue"
	"github.com/resilience-go/resilience/queue/redisq"
)

// Cancel a task that waits: it ends REVOKED at once and never runs; Stats
// counts it among the revoked tasks of its queue (the client lists the
// queues it knows too).
func ExampleBroker_Cancel() {
	addr, stop, err := redistest.StartForExample()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	broker := redisq.NewBroker(rdb, redisq.Options{Prefix: "example-cancel"})
	defer broker.Close()
	client := queue.NewClient(broker)
	ctx := context.Background()

	task, err := client.Enqueue(ctx, "embed", map[string]string{"doc": "a"}, queue.WithTaskID("embed-a"))
	if err != nil {
		fmt.Println(err)
		return
	}
	task, err = client.Cancel(ctx, task.ID)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(task.ID, task.State)
	stats, err := client.Stats(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range stats {
		fmt.Printf("%s: pending %d, revoked %d\n", s.Queue, s.Pending, s.Revoked)
	}
	// Output:
	// embed-a REVOKED
	// default: pending 0, revoked 1
	// high: pending 0, revoked 0
	// low: pending 0, revoked 0
}

// Pause a queue for every worker of the prefix, look at what waits in it,
// and resume it.
func ExampleBroker_SetPaused() {
	addr, stop, err := redistest.StartForExample()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	broker := redisq.NewBroker(rdb, redisq.Options{Prefix: "example-pause"})
	defer broker.Close()
	client := queue.NewClient(broker)
	ctx := context.Background()

	if err := client.PauseQueue(ctx, queue.DefaultQueue); err != nil {
		fmt.Println(err)
		return
	}
	for _, doc := range []string{"a", "b"} {
		if _, err := client.Enqueue(ctx, "embed", doc, queue.WithTaskID("embed-"+doc)); err != nil {
			fmt.Println(err)
			return
		}
	}
	waiting, err := client.List(ctx, queue.ListOptions{Queue: queue.DefaultQueue, State: queue.StatePending})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range waiting {
		fmt.Println("waiting:", t.ID)
	}
	stats, _ := client.Stats(ctx)
	fmt.Println("paused:", stats[0].Paused)
	if err := client.ResumeQueue(ctx, queue.DefaultQueue); err != nil {
		fmt.Println(err)
		return
	}
	stats, _ = client.Stats(ctx)
	fmt.Println("paused:", stats[0].Paused)
	// Output:
	// waiting: embed-b
	// waiting: embed-a
	// paused: true
	// paused: false
}
