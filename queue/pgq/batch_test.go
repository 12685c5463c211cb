package pgq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/resilience-go/resilience/internal/pgtest"
	"github.com/resilience-go/resilience/queue"
)

// TestEnqueueMany stores a batch in order (claimed first in, first out),
// skips an id that is live already, wakes a waiting claim, and refuses a
// batch with a repeated id without storing any of it.
func TestEnqueueMany(t *testing.T) {
	b, _ := newBroker(t, pgtest.Pool(t, 8))
	ctx := context.Background()
	enqueueN(t, b, "default", "b1")
	claimed := make(chan string, 1)
	go func() {
		got, _, err := b.Claim(ctx, []string{"low"}, time.Minute)
		if err != nil {
			claimed <- err.Error()
			return
		}
		claimed <- got.ID
	}()
	time.Sleep(50 * time.Millisecond)
	var batch []*queue.Task
	for i := range 5 {
		batch = append(batch, &queue.Task{ID: fmt.Sprintf("b%d", i), Name: "work", Queue: "low",
			Payload: json.RawMessage(`{"i":1}`), Headers: map[string]string{"k": "v"}, MaxRetries: 2})
	}
	created, err := b.EnqueueMany(ctx, batch)
	if err != nil || created != 4 {
		t.Fatalf("EnqueueMany: got %d created, %v; want 4 (b1 exists)", created, err)
	}
	select {
	case id := <-claimed:
		if id != "b0" {
			t.Fatalf("waiting claim: got %s, want b0 (the first of the batch)", id)
		}
	case <-time.After(WakeTimeout / 2):
		t.Fatal("a claim waiting on the queue did not wake after EnqueueMany")
	}
	for _, want := range []string{"b2", "b3", "b4"} {
		got, _, err := b.Claim(ctx, []string{"low"}, time.Minute)
		if err != nil || got.ID != want || got.Headers["k"] != "v" || got.MaxRetries != 2 {
			t.Fatalf("Claim: got %+v, %v; want %s with its headers and max retries", got, err, want)
		}
	}
	if got, _ := b.Get(ctx, "b1"); got.Queue != "default" {
		t.Fatalf("b1: got queue %s, want default (the existing task is kept)", got.Queue)
	}
	dup := []*queue.Task{{ID: "x", Name: "w", Queue: "q"}, {ID: "y", Name: "w", Queue: "q"}, {ID: "x", Name: "w", Queue: "q"}}
	if _, err := b.EnqueueMany(ctx, dup); !errors.Is(err, queue.ErrInvalidArgument) {
		t.Fatalf("EnqueueMany with a repeated id: got %v, want ErrInvalidArgument", err)
	}
	if _, err := b.Get(ctx, "y"); !errors.Is(err, queue.ErrTaskNotFound) {
		t.Fatalf("after a refused batch: Get(y) got %v, want ErrTaskNotFound (nothing stored)", err)
	}
}
