package queue_test

import (
	"context"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resilience-go/resilience/queue"
)

// BenchmarkEnqueueToDone measures end-to-end throughput on the memory
// broker: one client enqueues b.N no-op tasks while a worker with 8 slots
// runs them; the time runs from the first enqueue to the last completion.
func BenchmarkEnqueueToDone(b *testing.B) {
	broker := queue.NewMemoryBroker()
	defer broker.Close()
	w, err := queue.NewWorker(broker, quiet(queue.WorkerConfig{Concurrency: 8}))
	if err != nil {
		b.Fatal(err)
	}
	var ran atomic.Int64
	w.Handle("noop", func(context.Context, *queue.Task) (any, error) {
		ran.Add(1)
		return nil, nil
	})
	stop := start(w)
	defer stop()
	client := queue.NewClient(broker)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	begin := time.Now()
	var last *queue.Task
	for range b.N {
		last, err = client.Enqueue(ctx, "noop", nil)
		if err != nil {
			b.Fatal(err)
		}
	}
	if _, err := client.Wait(ctx, last.ID); err != nil {
		b.Fatal(err)
	}
	for ran.Load() < int64(b.N) {
		runtime.Gosched()
	}
	elapsed := time.Since(begin)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "tasks/s")
}

// BenchmarkPickupLatency measures enqueue-to-handler-start latency with
// idle workers: each task is enqueued once the previous one is done.
func BenchmarkPickupLatency(b *testing.B) {
	broker := queue.NewMemoryBroker()
	defer broker.Close()
	w, err := queue.NewWorker(broker, quiet(queue.WorkerConfig{Concurrency: 8}))
	if err != nil {
		b.Fatal(err)
	}
	started := make(chan time.Time, 1)
	w.Handle("ping", func(context.Context, *queue.Task) (any, error) {
		started <- time.Now()
		return nil, nil
	})
	stop := start(w)
	defer stop()
	client := queue.NewClient(broker)
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		sent := time.Now()
		task, err := client.Enqueue(ctx, "ping", nil)
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, (<-started).Sub(sent))
		if _, err := client.Wait(ctx, task.ID); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkMemoryPerPendingTask measures the heap held per pending task
// with a 100-byte payload, beyond the payload itself.
func BenchmarkMemoryPerPendingTask(b *testing.B) {
	payload := strings.Repeat("x", 98) // 100 bytes as a JSON string
	ctx := context.Background()
	var ms runtime.MemStats
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		broker := queue.NewMemoryBroker()
		client := queue.NewClient(broker)
		const n = 20000
		runtime.GC()
		runtime.ReadMemStats(&ms)
		before := ms.HeapAlloc
		b.StartTimer()
		for range n {
			if _, err := client.Enqueue(ctx, "embed", payload); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		perTask := float64(ms.HeapAlloc-before) / n
		b.ReportMetric(perTask, "B/pending-task")
		b.ReportMetric(perTask-100, "B/pending-task-beyond-payload")
		runtime.KeepAlive(broker)
		b.StartTimer()
	}
}
