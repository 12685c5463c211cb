package queuetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/queue"
)

// testWorkerCancel runs real workers and cancels their running tasks
// through a Client: each handler's ctx ends with cause ErrRevoked, and the
// task ends REVOKED whatever the handler returns (an error, which would
// otherwise be retried, or a result), with no dead letter and no alert.
//
// On a [queue.Watcher] the lease is long (30 s, renewals every 10 s), so a
// cancellation must arrive through the watch: the bound checked is 2 s, far
// below a renewal, on a machine where the suite's own timing is noisy.
// Otherwise the lease is short and the renewal brings it.
func testWorkerCancel(t *testing.T, b queue.Broker) {
	canceler(t, b)
	lease, bound := 600*time.Millisecond, waitFor
	if _, ok := b.(queue.Watcher); ok {
		lease, bound = 30*time.Second, 2*time.Second
	}
	store := dlq.NewMemoryStore()
	alerts := make(chan dlq.Alert, 10)
	cfg := queue.WorkerConfig{
		Concurrency: 2, Lease: lease, DeadLetters: store, Logger: discard,
		Alerts: dlq.AlertConfig{Threshold: 1, OnAlert: func(a dlq.Alert) { alerts <- a }, Logger: discard},
	}
	w, err := queue.NewWorker(b, cfg)
	must(t, err, "NewWorker")
	started := make(chan string, 2)
	ended := make(chan error, 2)
	returns := map[string]func(ctx context.Context) (any, error){
		"returns-error":  func(ctx context.Context) (any, error) { return nil, ctx.Err() },
		"returns-result": func(context.Context) (any, error) { return "finished anyway", nil },
	}
	for name, ret := range returns {
		w.Handle(name, func(ctx context.Context, _ *queue.Task) (any, error) {
			started <- name
			<-ctx.Done()
			ended <- context.Cause(ctx)
			return ret(ctx)
		})
	}
	startWorker(t, w)
	client := queue.NewClient(b)
	ctx := ctxFor(t, waitFor)
	for name := range returns {
		task, err := client.Enqueue(ctx, name, nil, queue.WithTaskID(name))
		must(t, err, "Enqueue("+name+")")
		<-started
		time.Sleep(50 * time.Millisecond) // let the handler run a while; the test holds either way
		got, err := client.Cancel(ctx, task.ID)
		must(t, err, "Client.Cancel")
		if !got.CancelRequested || !got.State.Leased() {
			t.Fatalf("Cancel of a running task: got state %s, CancelRequested %v; want running with it set", got.State, got.CancelRequested)
		}
		sent := time.Now()
		select {
		case cause := <-ended:
			if !errors.Is(cause, queue.ErrRevoked) {
				t.Fatalf("%s: handler ctx cause: got %v, want ErrRevoked", name, cause)
			}
			if took := time.Since(sent); took > bound {
				t.Fatalf("%s: the handler's ctx ended %v after Cancel, want within %v", name, took, bound)
			}
		case <-time.After(waitFor):
			t.Fatalf("%s: the handler's ctx did not end within %v of Cancel", name, waitFor)
		}
		final, err := client.Wait(ctx, task.ID)
		must(t, err, "Wait")
		if final.State != queue.StateRevoked || final.Attempt != 1 || final.Retries != 0 {
			t.Fatalf("%s: got state %s, attempt %d, retries %d; want REVOKED, 1, 0", name, final.State, final.Attempt, final.Retries)
		}
	}
	if n, err := store.Len(ctx); err != nil || n != 0 {
		t.Fatalf("dead letters: got %d (error %v), want none for revoked tasks", n, err)
	}
	select {
	case a := <-alerts:
		t.Fatalf("got an alert for %q, want none for revoked tasks", a.TaskName)
	default:
	}
}
