package bench

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resilience-go/resilience"
	"github.com/sourcegraph/conc/pool"
	"golang.org/x/sync/errgroup"
)

// TrivialItems is the item count of the per-item overhead workloads.
const TrivialItems = 10_000

// TrivialLimit is their concurrency limit.
const TrivialLimit = 8

var items = func() []int {
	s := make([]int, TrivialItems)
	for i := range s {
		s[i] = i
	}
	return s
}()

func double(_ context.Context, v int) (int, error) { return 2 * v, nil }

// ParallelTrivialOurs: Parallel over 10,000 trivial items, limit 8. One op is
// the whole batch; divide by TrivialItems for the per-item cost.
func ParallelTrivialOurs(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := resilience.Parallel(ctx, items, TrivialLimit, double); err != nil {
			b.Fatal(err)
		}
	}
}

// ParallelTrivialErrgroup: errgroup with SetLimit, one Go per item, results
// written by index.
func ParallelTrivialErrgroup(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		out := make([]int, len(items))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(TrivialLimit)
		for i, v := range items {
			g.Go(func() error {
				r, err := double(gctx, v)
				out[i] = r
				return err
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
	}
}

// ParallelTrivialConc: sourcegraph/conc's result pool with a limit.
func ParallelTrivialConc(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		p := pool.NewWithResults[int]().WithContext(ctx).WithMaxGoroutines(TrivialLimit)
		for _, v := range items {
			p.Go(func(ctx context.Context) (int, error) { return double(ctx, v) })
		}
		if _, err := p.Wait(); err != nil {
			b.Fatal(err)
		}
	}
}

// ParallelTrivialHandRolled: the floor, limit goroutines pulling indexes.
func ParallelTrivialHandRolled(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		out := make([]int, len(items))
		var next atomic.Int64
		var wg sync.WaitGroup
		for range TrivialLimit {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1) - 1)
					if i >= len(items) {
						return
					}
					out[i], _ = double(ctx, items[i])
				}
			}()
		}
		wg.Wait()
	}
}

// MedianSleep returns the median real duration of time.Sleep(d) over n runs.
func MedianSleep(d time.Duration, n int) time.Duration {
	s := make([]time.Duration, n)
	for i := range s {
		start := time.Now()
		time.Sleep(d)
		s[i] = time.Since(start)
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[n/2]
}

// ParallelSleepWall runs n items that each sleep d with the given limit
// and returns the wall time.
func ParallelSleepWall(n, limit int, d time.Duration) (time.Duration, error) {
	in := make([]int, n)
	start := time.Now()
	_, err := resilience.Parallel(context.Background(), in, limit, func(ctx context.Context, _ int) (struct{}, error) {
		time.Sleep(d)
		return struct{}{}, nil
	})
	return time.Since(start), err
}

// HandRolledSleepWall is ParallelSleepWall for a hand-rolled pool of limit
// goroutines pulling indexes: the floor of what any pool can do with the
// runtime's timers and scheduler.
func HandRolledSleepWall(n, limit int, d time.Duration) time.Duration {
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range limit {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				time.Sleep(d)
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}
