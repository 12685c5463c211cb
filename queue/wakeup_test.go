package queue_test

import (
	"context"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/queue"
)

// A Claim that is already blocked wakes for a delayed task enqueued after it
// began to wait: its timer was set from the deadlines of that moment.
func TestMemoryClaimWakesForALaterDelayedTask(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		defer b.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		got := make(chan *queue.Task, 1)
		go func() {
			task, _, _ := b.Claim(ctx, []string{"default"}, time.Minute)
			got <- task
		}()
		synctest.Wait() // the claim is blocked on an empty broker
		_, _, err := b.Enqueue(ctx, &queue.Task{ID: "d", Name: "n", Queue: "default", NotBefore: time.Now().Add(time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		select {
		case task := <-got:
			if task == nil || task.ID != "d" {
				t.Fatalf("claim returned %v", task)
			}
		default:
			t.Fatalf("a task delayed by 1s is still not claimed after 10s: the blocked Claim never woke")
		}
	})
}

// At the worker level: a task delayed by a second into an idle worker
// starts on time, not at the next recovery sweep (Lease/2 later).
func TestWorkerStartsADelayedTaskOnTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		defer b.Close()
		w := newWorker(t, b, queue.WorkerConfig{Concurrency: 1})
		w.Handle("n", func(context.Context, *queue.Task) (any, error) { return nil, nil })
		stop := start(w)
		defer stop()
		synctest.Wait()
		time.Sleep(time.Second) // the worker is idle in Claim
		c := queue.NewClient(b)
		task, err := c.Enqueue(context.Background(), "n", nil, queue.WithDelay(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		done := wait(t, c, task.ID)
		if late := done.StartedAt.Sub(task.NotBefore); late != 0 {
			t.Fatalf("task delayed by 1s started %v after its NotBefore, want at it exactly", late)
		}
	})
}

// No lost wake-up between claims on different queue lists: claim A waits
// on [high, default], claim B on [default]. Task X in default wakes A; task
// Y in high then finds no waiter on high, and A takes Y. B must still get X.
func TestMemoryClaimsOnDifferentQueueListsLoseNoWakeUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		defer b.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		gotA := make(chan *queue.Task, 1)
		gotB := make(chan *queue.Task, 1)
		go func() {
			task, _, _ := b.Claim(ctx, []string{"high", "default"}, time.Hour)
			gotA <- task
		}()
		synctest.Wait()
		go func() {
			task, _, _ := b.Claim(ctx, []string{"default"}, time.Hour)
			gotB <- task
		}()
		synctest.Wait() // both claims blocked, A first
		for _, in := range []*queue.Task{
			{ID: "x", Name: "n", Queue: "default"},
			{ID: "y", Name: "n", Queue: "high"},
		} {
			if _, _, err := b.Enqueue(ctx, in); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		a := <-gotA
		select {
		case bt := <-gotB:
			t.Logf("A got %s, B got %s", a.ID, bt.ID)
		default:
			t.Fatalf("A claimed %q; B still blocked after a minute although task x is ready in its queue", a.ID)
		}
	})
}

// A handler that ends its goroutine with runtime.Goexit (t.FailNow does)
// never returned: its task is not a success.
func TestWorkerGoexitHandlerIsNotASuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		defer b.Close()
		w := newWorker(t, b, queue.WorkerConfig{Concurrency: 1, Retry: resilience.RetryPolicy{MaxAttempts: 1}})
		w.Handle("n", func(context.Context, *queue.Task) (any, error) {
			runtime.Goexit()
			return "unreachable", nil
		})
		stop := start(w)
		defer stop()
		c := queue.NewClient(b)
		task, err := c.Enqueue(context.Background(), "n", nil)
		if err != nil {
			t.Fatal(err)
		}
		if done := wait(t, c, task.ID); done.State == queue.StateSuccess {
			t.Fatalf("handler that exited via runtime.Goexit is recorded as %s (result %s)", done.State, done.Result)
		}
	})
}

// A renewal that shortens a lease moves the earliest deadline earlier: a
// claim already waiting wakes when the shorter lease runs out and gets the
// task back, not when the old lease would have.
func TestMemoryClaimWakesForAShortenedLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		defer b.Close()
		ctx := context.Background()
		if _, _, err := b.Enqueue(ctx, &queue.Task{ID: "a", Name: "n", Queue: "default"}); err != nil {
			t.Fatal(err)
		}
		_, token, err := b.Claim(ctx, []string{"default"}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		got := make(chan *queue.Task, 1)
		go func() {
			task, _, _ := b.Claim(ctx, []string{"default"}, time.Hour)
			got <- task
		}()
		synctest.Wait() // the second claim waits, timed on the hour-long lease
		if err := b.Renew(ctx, "a", token, time.Minute); err != nil {
			t.Fatal(err)
		}
		task := <-got
		if task == nil || task.ID != "a" || task.Redeliveries != 1 {
			t.Fatalf("waiting claim: got %+v, want task a redelivered once", task)
		}
		if waited := time.Since(start); waited != time.Minute {
			t.Fatalf("waiting claim got the task after %v, want exactly the shortened lease (1m)", waited)
		}
	})
}
