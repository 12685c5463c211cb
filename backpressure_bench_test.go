package resilience

import (
	"context"
	"testing"
)

// BenchmarkStream measures Stream's cost per item with a producer that
// emits 10,000 ints as fast as it can and a consumer that does nothing,
// through a buffer of 100 (the default). Compare ns/item with a raw
// buffered channel of the same size in bench/.
func BenchmarkStream(b *testing.B) {
	const items = 10_000
	ctx := context.Background()
	produce := func(_ context.Context, emit func(int) error) error {
		for i := range items {
			if err := emit(i); err != nil {
				return err
			}
		}
		return nil
	}
	consume := func(context.Context, int) error { return nil }
	for _, cfg := range []struct {
		name string
		cfg  StreamConfig
	}{
		{"no-timeouts", StreamConfig{}},
		{"idle-timeout", StreamConfig{FirstItemTimeout: 1e9, IdleTimeout: 1e9}},
	} {
		b.Run(cfg.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := Stream(ctx, cfg.cfg, produce, consume); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*items), "ns/item")
		})
	}
}
