package queue_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/resilience-go/resilience/queue"
)

// endsAfterOneLook is a context that ends just after a claim looked at it
// once more after arm: the next call to Err reports it ended. It stands for
// a caller that cancels between the claim's wake-up and its next take of
// the broker's mutex, a window too small to hit with real cancellation.
type endsAfterOneLook struct {
	context.Context
	armed, looked atomic.Bool
	once          sync.Once
	done          chan struct{}
}

func newEndsAfterOneLook() *endsAfterOneLook {
	return &endsAfterOneLook{Context: context.Background(), done: make(chan struct{})}
}

func (c *endsAfterOneLook) Done() <-chan struct{} { return c.done }

func (c *endsAfterOneLook) Err() error {
	if !c.armed.Load() {
		return nil
	}
	if c.looked.CompareAndSwap(false, true) {
		return nil // the claim sees its wake-up with ctx still live
	}
	c.once.Do(func() { close(c.done) })
	return context.Canceled
}

// A claim woken for a task whose context ends before it takes the task
// passes the wake-up on: another idle claim takes the task instead of
// sleeping while it waits.
func TestMemoryClaimPassesOnAWakeUpWhenItsContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		defer b.Close()
		first := newEndsAfterOneLook()
		firstErr := make(chan error, 1)
		go func() {
			_, _, err := b.Claim(first, []string{"default"}, time.Minute)
			firstErr <- err
		}()
		synctest.Wait() // the first claim waits, so it gets the first signal
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		got := make(chan *queue.Task, 1)
		go func() {
			task, _, _ := b.Claim(ctx, []string{"default"}, time.Minute)
			got <- task
		}()
		synctest.Wait()
		first.armed.Store(true)
		if _, _, err := b.Enqueue(ctx, &queue.Task{ID: "a", Name: "n", Queue: "default"}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if err := <-firstErr; err != context.Canceled {
			t.Fatalf("first claim: got %v, want context.Canceled", err)
		}
		select {
		case task := <-got:
			if task == nil || task.ID != "a" {
				t.Fatalf("second claim: got %v, want task a", task)
			}
		default:
			t.Fatal("task a is ready and a claim is idle, but the claim still sleeps: the wake-up was lost")
		}
	})
}
