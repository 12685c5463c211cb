package redisq

import (
	"fmt"
	"testing"
	"time"

	"github.com/resilience-go/resilience/internal/redistest"
)

// benchWindow is long, so that no window ends between counting and
// reading.
const benchWindow = 1000 * time.Hour

// BenchmarkCountFailure counts failures of 100 task names in turn: the
// cost of the count script, which keeps the ranking up to date too.
func BenchmarkCountFailure(b *testing.B) {
	srv := redistest.Start(b, redistest.Options{})
	store := NewDeadLetterStore(newClient(b, srv), Options{Prefix: uniquePrefix(b)})
	ctx := b.Context()
	i := 0
	for b.Loop() {
		if _, err := store.CountFailure(ctx, fmt.Sprintf("task-%02d", i%100), benchWindow); err != nil {
			b.Fatalf("CountFailure: %v", err)
		}
		i++
	}
}
