package queue_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/resilience-go/resilience/queue"
)

// tenantKey is the context key of the tenant a request runs for.
type tenantKey struct{}

// Carry a value from the enqueuing request to the handler in a header: an
// enqueue hook copies it from the ctx into the task's headers, and a
// middleware puts it back in the handler's ctx.
func ExampleClient_Use() {
	ctx := context.Background()
	broker := queue.NewMemoryBroker()
	defer broker.Close()

	client := queue.NewClient(broker)
	client.Use(func(next queue.EnqueueFunc) queue.EnqueueFunc {
		return func(ctx context.Context, t *queue.Task) (*queue.Task, error) {
			if tenant, ok := ctx.Value(tenantKey{}).(string); ok {
				if t.Headers == nil {
					t.Headers = map[string]string{}
				}
				t.Headers["tenant"] = tenant
			}
			return next(ctx, t)
		}
	})

	worker, _ := queue.NewWorker(broker, queue.WorkerConfig{Logger: slog.New(slog.DiscardHandler)})
	worker.Use(func(next queue.HandlerFunc) queue.HandlerFunc {
		return func(ctx context.Context, t *queue.Task) (any, error) {
			if tenant := t.Headers["tenant"]; tenant != "" {
				ctx = context.WithValue(ctx, tenantKey{}, tenant)
			}
			return next(ctx, t)
		}
	})
	worker.Handle("summarize", func(ctx context.Context, t *queue.Task) (any, error) {
		return "summary for " + ctx.Value(tenantKey{}).(string), nil
	})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- worker.Run(runCtx) }()

	task, _ := client.Enqueue(context.WithValue(ctx, tenantKey{}, "acme"), "summarize", "report.pdf")
	final, _ := client.Wait(ctx, task.ID)
	fmt.Println(final.State, string(final.Result), final.Headers["tenant"])
	stop()
	<-done
	// Output:
	// SUCCESS "summary for acme" acme
}
