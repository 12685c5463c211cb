package queuetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/queue"
)

var discard = slog.New(slog.DiscardHandler)

// startWorker runs w until the test ends (or stop is called) and checks
// that Run returns nil.
func startWorker(t *testing.T, w *queue.Worker) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Worker.Run: got %v, want nil after its ctx ended", err)
				}
			case <-time.After(waitFor):
				t.Errorf("Worker.Run did not return within %v of its ctx's end", waitFor)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

type payload struct {
	N      int  `json:"n"`
	Poison bool `json:"poison,omitempty"`
}

// testWorkerNothingLost runs 1,000 tasks through two workers sharing the
// broker and a dead-letter store, with random transient failures, panics,
// permanent failures, tasks with no handler, delays and per-task retry
// caps, and checks that every task ends SUCCESS with the right result or
// FAILURE with exactly one dead letter.
func testWorkerNothingLost(t *testing.T, b queue.Broker) {
	const n = 1000
	store := dlq.NewMemoryStore()
	var mu sync.Mutex
	successes := map[string]int{}
	handler := func(ctx context.Context, p payload) (int, error) {
		if p.Poison {
			return 0, resilience.Permanent(errors.New("poison payload"))
		}
		switch r := rand.IntN(100); {
		case r < 25:
			return 0, errors.New("transient failure")
		case r < 28:
			panic("handler panic")
		}
		return 2 * p.N, nil
	}
	cfg := queue.WorkerConfig{
		Concurrency: 4, Lease: 5 * time.Second, ResultTTL: time.Minute,
		Retry:       resilience.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond},
		DeadLetters: store, Alerts: dlq.AlertConfig{Logger: discard}, Logger: discard,
	}
	for range 2 {
		w, err := queue.NewWorker(b, cfg)
		must(t, err, "NewWorker")
		w.Handle("double", func(ctx context.Context, task *queue.Task) (any, error) {
			var p payload
			if err := json.Unmarshal(task.Payload, &p); err != nil {
				return nil, resilience.Permanent(err)
			}
			res, err := handler(ctx, p)
			if err == nil {
				mu.Lock()
				successes[task.ID]++
				mu.Unlock()
			}
			return res, err
		})
		startWorker(t, w)
	}

	client := queue.NewClient(b)
	ctx := ctxFor(t, 60*time.Second)
	ids := make([]string, n)
	for i := range n {
		name, opts := "double", []queue.EnqueueOption{queue.WithQueue(queue.DefaultQueues()[i%3])}
		switch {
		case i%97 == 0:
			name = "no-handler"
		case i%53 == 0:
			opts = append(opts, queue.WithMaxRetries(0))
		case i%11 == 0:
			opts = append(opts, queue.WithDelay(time.Duration(i%7)*time.Millisecond))
		}
		task, err := client.Enqueue(ctx, name, payload{N: i, Poison: i%31 == 0}, opts...)
		must(t, err, "Enqueue")
		ids[i] = task.ID
	}

	var succeeded, failed int
	for i, id := range ids {
		task, err := client.Wait(ctx, id)
		must(t, err, fmt.Sprintf("Wait(task %d)", i))
		mu.Lock()
		ran := successes[id]
		mu.Unlock()
		switch task.State {
		case queue.StateSuccess:
			succeeded++
			var got int
			if err := json.Unmarshal(task.Result, &got); err != nil || got != 2*i {
				t.Fatalf("task %d: got result %s, want %d", i, task.Result, 2*i)
			}
			if ran < 1 {
				t.Fatalf("task %d is SUCCESS but its handler never succeeded", i)
			}
			if _, err := store.Get(ctx, id); !errors.Is(err, dlq.ErrNotFound) {
				t.Fatalf("task %d is SUCCESS but has a dead letter (Get: %v)", i, err)
			}
		case queue.StateFailure:
			failed++
			e, err := store.Get(ctx, id)
			must(t, err, fmt.Sprintf("dead letter of failed task %d", i))
			if e.TaskName != task.Name || e.Queue != task.Queue || string(e.Payload) != string(task.Payload) ||
				e.Error != task.Error || e.Retries != task.Retries || e.FailedAt.IsZero() {
				t.Fatalf("task %d: dead letter %+v does not match the failed task %+v", i, e, task)
			}
			if ran != 0 {
				t.Fatalf("task %d is FAILURE but its handler succeeded %d times", i, ran)
			}
			checkFailureCause(t, i, task, e)
		default:
			t.Fatalf("task %d: Wait returned state %s, want SUCCESS or FAILURE", i, task.State)
		}
	}
	if dead, err := store.Len(ctx); err != nil || dead != failed {
		t.Fatalf("dead letters: got %d (%v), want %d, one per failed task", dead, err, failed)
	}
	if succeeded+failed != n {
		t.Fatalf("got %d SUCCESS + %d FAILURE, want %d tasks accounted for", succeeded, failed, n)
	}
	t.Logf("%d tasks: %d succeeded, %d failed into the dead letters", n, succeeded, failed)
}

// checkFailureCause checks that a failed task failed for the reason its
// index implies.
func checkFailureCause(t *testing.T, i int, task *queue.Task, e dlq.Entry) {
	t.Helper()
	switch {
	case i%97 == 0:
		if !strings.Contains(e.Error, queue.ErrNoHandler.Error()) || task.Retries != 0 {
			t.Fatalf("task %d without handler: got error %q after %d retries, want %q at once", i, e.Error, task.Retries, queue.ErrNoHandler)
		}
	case i%31 == 0:
		if !strings.Contains(e.Error, "poison payload") || task.Retries != 0 {
			t.Fatalf("poison task %d: got error %q after %d retries, want poison payload at once", i, e.Error, task.Retries)
		}
	case i%53 == 0:
		if task.Retries != 0 {
			t.Fatalf("task %d with WithMaxRetries(0): got %d retries, want 0", i, task.Retries)
		}
	default:
		if task.Retries != queue.DefaultMaxRetries {
			t.Fatalf("task %d failed after %d retries (error %q), want %d", i, task.Retries, e.Error, queue.DefaultMaxRetries)
		}
		if strings.Contains(e.Error, "panicked") && !strings.Contains(e.Trace, "goroutine") {
			t.Fatalf("task %d failed by a panic but its trace has no stack: %q", i, e.Trace)
		}
	}
}

// testWorkerShutdown stops a worker while its handler ignores the end of
// the work until its own ctx is cancelled: after ShutdownTimeout the task
// must be handed back (PENDING, attempt not counted) and another worker
// must then finish it.
func testWorkerShutdown(t *testing.T, b queue.Broker) {
	started := make(chan struct{})
	cause := make(chan error, 1)
	cfg := queue.WorkerConfig{Concurrency: 1, ShutdownTimeout: 50 * time.Millisecond, Logger: discard}
	w, err := queue.NewWorker(b, cfg)
	must(t, err, "NewWorker")
	w.Handle("slow", func(ctx context.Context, _ *queue.Task) (any, error) {
		close(started)
		<-ctx.Done()
		cause <- context.Cause(ctx)
		return nil, ctx.Err()
	})
	stop := startWorker(t, w)
	client := queue.NewClient(b)
	ctx := ctxFor(t, waitFor)
	task, err := client.Enqueue(ctx, "slow", nil)
	must(t, err, "Enqueue")
	<-started
	stop()
	if got := <-cause; !errors.Is(got, queue.ErrShutdown) {
		t.Fatalf("handler ctx cause: got %v, want ErrShutdown", got)
	}
	got := get(t, b, task.ID)
	if got.State != queue.StatePending || got.Attempt != 0 || got.Redeliveries != 0 {
		t.Fatalf("after shutdown: got state %s, attempt %d, redeliveries %d; want PENDING, 0, 0", got.State, got.Attempt, got.Redeliveries)
	}

	w2, err := queue.NewWorker(b, cfg)
	must(t, err, "NewWorker")
	w2.Handle("slow", func(context.Context, *queue.Task) (any, error) { return "done", nil })
	startWorker(t, w2)
	done, err := client.Wait(ctx, task.ID)
	must(t, err, "Wait")
	if done.State != queue.StateSuccess || done.Attempt != 1 {
		t.Fatalf("second worker: got state %s, attempt %d; want SUCCESS, 1", done.State, done.Attempt)
	}
}
