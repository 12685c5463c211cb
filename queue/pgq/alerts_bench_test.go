package pgq

import (
	"fmt"
	"testing"

	"github.com/resilience-go/resilience/internal/pgtest"
)

// BenchmarkDeadLetterStoreFailureCounts reads a dashboard's overview (the
// top 50) from a window with few and with many task names: with the index
// of migration 003 the cost follows the 50 rows returned, not the names.
func BenchmarkDeadLetterStoreFailureCounts(b *testing.B) {
	pool := pgtest.Pool(b, 4)
	for _, names := range []int{100, 100_000} {
		b.Run(fmt.Sprintf("names=%d", names), func(b *testing.B) {
			s := NewDeadLetterStore(pool, Options{Schema: pgtest.Schema(b, pool)})
			fillCounts(b, s, names)
			for b.Loop() {
				got, err := s.FailureCounts(b.Context(), hourWindow, 50)
				if err != nil || len(got) != 50 {
					b.Fatalf("FailureCounts: got %d counts and error %v, want 50", len(got), err)
				}
			}
		})
	}
}

// BenchmarkDeadLetterStoreCountFailure counts failures of 10 names, one
// after another, to show what the index on the count costs a failure.
func BenchmarkDeadLetterStoreCountFailure(b *testing.B) {
	pool := pgtest.Pool(b, 4)
	s := NewDeadLetterStore(pool, Options{Schema: pgtest.Schema(b, pool)})
	i := 0
	for b.Loop() {
		if _, err := s.CountFailure(b.Context(), fmt.Sprintf("task-%d", i%10), hourWindow); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
