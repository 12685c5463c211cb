package resilience

import (
	"context"
	"testing"
)

// BenchmarkSemaphoreDo measures an uncontended Do (the cost a Semaphore adds
// to a call in a Pipeline), serially and from parallel goroutines with the
// capacity at GOMAXPROCS so callers rarely wait.
func BenchmarkSemaphoreDo(b *testing.B) {
	ctx := context.Background()
	fn := func(context.Context) error { return nil }
	b.Run("serial", func(b *testing.B) {
		s := NewSemaphore(8)
		b.ReportAllocs()
		for b.Loop() {
			if err := s.Do(ctx, fn); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		s := NewSemaphore(1 << 20)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := s.Do(ctx, fn); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
