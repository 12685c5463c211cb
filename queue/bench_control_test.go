package queue_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/resilience-go/resilience/queue"
)

// fillBroker returns a memory broker holding n tasks over three queues: a
// tenth delayed, a tenth completed (results kept), a hundredth running,
// the rest pending.
func fillBroker(b *testing.B, n int) *queue.MemoryBroker {
	m := queue.NewMemoryBroker()
	ctx := context.Background()
	queues := []string{"high", "default", "low"}
	start := time.Now()
	for i := range n {
		t := &queue.Task{ID: fmt.Sprintf("t%07d", i), Name: "embed", Queue: queues[i%3],
			EnqueuedAt: start.Add(time.Duration(i) * time.Microsecond)}
		if i%10 == 1 {
			t.NotBefore = start.Add(time.Hour)
		}
		if _, _, err := m.Enqueue(ctx, t); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < n/10+n/100; i++ {
		t, token, err := m.Claim(ctx, queues, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		if i < n/10 {
			if err := m.Complete(ctx, t.ID, token, nil, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
	}
	return m
}

// BenchmarkMemoryStats measures Stats on 10,000 and 100,000 stored tasks:
// its cost depends on the number of queues, not of tasks.
func BenchmarkMemoryStats(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("tasks=%d", n), func(b *testing.B) {
			m := fillBroker(b, n)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				st, err := m.Stats(ctx)
				if err != nil || len(st) != 3 {
					b.Fatalf("Stats: %v, %v", st, err)
				}
			}
		})
	}
}

// BenchmarkMemoryList measures List on 10,000 and 100,000 stored tasks: the
// newest 50 of every queue, and a page of 50 completed tasks of one queue
// after skipping 200. Its cost depends on Offset+Limit, not on the
// number of tasks.
func BenchmarkMemoryList(b *testing.B) {
	pages := map[string]queue.ListOptions{
		"newest50":          {Limit: 50},
		"success-offset200": {Queue: "default", State: queue.StateSuccess, Offset: 200, Limit: 50},
	}
	for _, n := range []int{10_000, 100_000} {
		m := fillBroker(b, n)
		for name, opts := range pages {
			b.Run(fmt.Sprintf("%s/tasks=%d", name, n), func(b *testing.B) {
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					ts, err := m.List(ctx, opts)
					if err != nil || len(ts) != 50 {
						b.Fatalf("List: %d tasks, %v", len(ts), err)
					}
				}
			})
		}
	}
}
