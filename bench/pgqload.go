package bench

import (
	"context"
	"fmt"
	"time"
)

// MeasureEnqueueBatch enqueues n small tasks in batches of size from one
// client and returns tasks per second.
func MeasureEnqueueBatch(ctx context.Context, sys Batcher, n, size int) (float64, error) {
	start := time.Now()
	for i := 0; i < n; i += size {
		batch := make([][]byte, 0, size)
		for j := i; j < min(i+size, n); j++ {
			batch = append(batch, smallPayload(j))
		}
		if err := sys.EnqueueBatch(ctx, batch); err != nil {
			return 0, fmt.Errorf("enqueue batch at %d: %w", i, err)
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
