package bench

import (
	"context"
	"runtime"
	"time"

	"github.com/resilience-go/resilience"
)

// HeadlineResult is the outcome of [Headline].
type HeadlineResult struct {
	Calls       int
	Wall        time.Duration
	BytesPerOp  float64 // heap and stack in use per in-flight call, sampled mid-run
	SequentialS float64 // what the calls would take one after another, in seconds
}

// Headline runs n simulated LLM calls of latency d each (a sleep), all at
// once (limit n), and samples memory while they are in flight.
func Headline(n int, d time.Duration) (HeadlineResult, error) {
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	started := make(chan struct{}, n)
	sampled := make(chan uint64, 1)
	go func() {
		for range n {
			<-started
		}
		var mid runtime.MemStats
		runtime.ReadMemStats(&mid)
		sampled <- (mid.HeapInuse + mid.StackInuse) - min(before.HeapInuse+before.StackInuse, mid.HeapInuse+mid.StackInuse)
	}()

	in := make([]int, n)
	start := time.Now()
	_, err := resilience.Parallel(context.Background(), in, n, func(ctx context.Context, _ int) (struct{}, error) {
		started <- struct{}{}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return struct{}{}, nil
		case <-ctx.Done():
			return struct{}{}, ctx.Err()
		}
	})
	wall := time.Since(start)
	inUse := <-sampled
	return HeadlineResult{
		Calls:       n,
		Wall:        wall,
		BytesPerOp:  float64(inUse) / float64(n),
		SequentialS: float64(n) * d.Seconds(),
	}, err
}
