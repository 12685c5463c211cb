package queue_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/resilience-go/resilience/queue"
)

// Two schedulers (standing for two processes) run the same entry against
// one broker; each tick still gives one task, whose id names the entry and
// the tick. A bad spec is refused by Add.
func ExampleScheduler() {
	ctx := context.Background()
	broker := queue.NewMemoryBroker()
	defer broker.Close()

	ran := make(chan *queue.Task, 10)
	worker, err := queue.NewWorker(broker, queue.WorkerConfig{})
	if err != nil {
		panic(err)
	}
	worker.Handle("reembed", func(_ context.Context, t *queue.Task) (any, error) {
		ran <- t
		return nil, nil
	})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 3)
	go func() { done <- worker.Run(runCtx) }()

	for range 2 {
		s, err := queue.NewScheduler(queue.NewClient(broker), queue.SchedulerConfig{})
		if err != nil {
			panic(err)
		}
		if err := s.Add("reembed-docs", "@every 1s", "reembed", map[string]string{"model": "v2"}); err != nil {
			panic(err)
		}
		fmt.Println(s.Add("typo", "0 25 * * *", "reembed", nil) != nil)
		go func() { done <- s.Run(runCtx) }()
	}

	first, second := <-ran, <-ran
	for _, t := range []*queue.Task{first, second} {
		fmt.Println(t.Name, string(t.Payload), strings.HasPrefix(t.ID, "sched:reembed-docs:"))
	}
	fmt.Println("distinct ticks:", first.ID != second.ID)
	stop()
	for range 3 {
		<-done
	}
	// Output:
	// true
	// true
	// reembed {"model":"v2"} true
	// reembed {"model":"v2"} true
	// distinct ticks: true
}
