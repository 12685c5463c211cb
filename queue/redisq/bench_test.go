package redisq

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/resilience-go/resilience/internal/redistest"
	"github.com/resilience-go/resilience/queue"
)

// BenchmarkEnqueue measures one Enqueue (one script call) from one
// goroutine.
func BenchmarkEnqueue(b *testing.B) {
	srv := redistest.Start(b, redistest.Options{})
	br, _ := newBroker(b, newClient(b, srv))
	ctx := context.Background()
	payload := []byte(`{"i":1}`)
	i := 0
	for b.Loop() {
		i++
		if _, _, err := br.Enqueue(ctx, &queue.Task{ID: strconv.Itoa(i), Name: "noop", Queue: "default",
			Payload: payload, MaxRetries: -1, EnqueuedAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClaimComplete measures one Claim plus one Complete of a ready
// task (two script calls) from one goroutine.
func BenchmarkClaimComplete(b *testing.B) {
	srv := redistest.Start(b, redistest.Options{})
	br, _ := newBroker(b, newClient(b, srv))
	ctx := context.Background()
	for i := range b.N {
		if _, _, err := br.Enqueue(ctx, &queue.Task{ID: strconv.Itoa(i), Name: "noop", Queue: "default",
			Payload: []byte(`{}`), MaxRetries: -1, EnqueuedAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	queues := []string{"default"}
	b.ResetTimer()
	for range b.N {
		t, token, err := br.Claim(ctx, queues, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if err := br.Complete(ctx, t.ID, token, nil, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}
