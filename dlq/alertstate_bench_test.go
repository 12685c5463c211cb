package dlq_test

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkMemoryStoreFailureCounts reads the counts of a dashboard's
// overview (limit 50) from stores with many entries and a few task names,
// and with few entries and many names: the cost follows the names. The
// window is long enough that no run straddles its end.
func BenchmarkMemoryStoreFailureCounts(b *testing.B) {
	for _, c := range []struct{ entries, names int }{{100_000, 10}, {10, 10}, {10, 1000}} {
		b.Run(fmt.Sprintf("entries=%d/names=%d", c.entries, c.names), func(b *testing.B) {
			s := filledStore(b, c.entries)
			for i := range c.names {
				for range i%7 + 1 {
					if _, err := s.CountFailure(b.Context(), fmt.Sprintf("task-%04d", i), 1000*time.Hour); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				got, err := s.FailureCounts(b.Context(), 1000*time.Hour, 50)
				if err != nil || len(got) != min(c.names, 50) {
					b.Fatalf("FailureCounts: got %d counts and error %v, want %d", len(got), err, min(c.names, 50))
				}
			}
		})
	}
}
