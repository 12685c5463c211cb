package dlq_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/resilience-go/resilience/dlq"
)

// benchEntry is an entry with a small payload, like a failed LLM task.
func benchEntry(id string) dlq.Entry {
	return dlq.Entry{
		TaskID: id, TaskName: "embed", Queue: "default",
		Payload: json.RawMessage(`{"texts":["hello world"],"model":"small"}`),
		Error:   "upstream returned 503", FailedAt: time.Unix(1700000000, 0), Retries: 3,
	}
}

// filledStore returns a store holding n entries with ids "0" ... "n-1".
func filledStore(b *testing.B, n int) *dlq.MemoryStore {
	s := dlq.NewMemoryStore()
	for i := range n {
		if err := s.Push(b.Context(), benchEntry(strconv.Itoa(i))); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

func BenchmarkMemoryStorePush(b *testing.B) {
	s := dlq.NewMemoryStore()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := s.Push(b.Context(), benchEntry(strconv.Itoa(i))); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkMemoryStorePopBatch pops a batch of 10 and pushes it back, at two
// store sizes: the time per operation should not depend on the size.
func BenchmarkMemoryStorePopBatch(b *testing.B) {
	for _, size := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			s := filledStore(b, size)
			b.ReportAllocs()
			for b.Loop() {
				batch, err := s.Pop(b.Context(), 10)
				if err != nil || len(batch) != 10 {
					b.Fatalf("Pop(10): got %d entries, %v", len(batch), err)
				}
				for _, e := range batch {
					_ = s.Push(b.Context(), e)
				}
			}
		})
	}
}

// BenchmarkMemoryStoreGetDelete gets, deletes and re-pushes one entry in the
// middle of the store, at two store sizes.
func BenchmarkMemoryStoreGetDelete(b *testing.B) {
	for _, size := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			s := filledStore(b, size)
			id := strconv.Itoa(size / 2)
			b.ReportAllocs()
			for b.Loop() {
				e, err := s.Get(b.Context(), id)
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Delete(b.Context(), id); err != nil {
					b.Fatal(err)
				}
				_ = s.Push(b.Context(), e)
			}
		})
	}
}

func BenchmarkMemoryStoreCountFailureParallel(b *testing.B) {
	s := dlq.NewMemoryStore()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.CountFailure(b.Context(), "embed", time.Hour); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkRecorderRecord(b *testing.B) {
	rec, err := dlq.NewRecorder(dlq.NewMemoryStore(), dlq.AlertConfig{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := rec.Record(b.Context(), benchEntry(strconv.Itoa(i))); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
