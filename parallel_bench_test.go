package resilience

import (
	"context"
	"testing"
)

// BenchmarkParallelTrivial measures Parallel's own cost per item: 10,000
// items whose call does nothing, 8 in flight. Compare ns/item with a
// worker pool or errgroup.SetLimit in bench/.
func BenchmarkParallelTrivial(b *testing.B) {
	items := make([]int, 10_000)
	for i := range items {
		items[i] = i
	}
	ctx := context.Background()
	fn := func(_ context.Context, v int) (int, error) { return v, nil }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parallel(ctx, items, 8, fn); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/item")
}

// BenchmarkParallelSettledTrivial is BenchmarkParallelTrivial for
// ParallelSettled.
func BenchmarkParallelSettledTrivial(b *testing.B) {
	items := make([]int, 10_000)
	ctx := context.Background()
	fn := func(_ context.Context, v int) (int, error) { return v, nil }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParallelSettled(ctx, items, 8, fn); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/item")
}
