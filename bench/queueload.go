package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The three queue workloads of cmd/queuecompare. Each takes a fresh
// server state (the caller flushes between runs) and a QueueSystem.

// smallPayload is the payload of a throughput task.
func smallPayload(i int) []byte { return fmt.Appendf(nil, `{"i":%d}`, i) }

// MeasureEnqueue enqueues n small tasks one after the other from one
// client and returns tasks per second.
func MeasureEnqueue(ctx context.Context, sys QueueSystem, n int) (float64, error) {
	start := time.Now()
	for i := range n {
		if err := sys.Enqueue(ctx, smallPayload(i)); err != nil {
			return 0, fmt.Errorf("%s: enqueue %d: %w", sys.Name(), i, err)
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// MeasureEndToEnd starts workers with concurrency slots, then enqueues n
// no-op tasks from producers goroutines sharing one client, and returns
// tasks per second from the first enqueue to the last handler's return.
func MeasureEndToEnd(ctx context.Context, sys QueueSystem, n, concurrency, producers int) (float64, error) {
	var handled atomic.Int64
	all := make(chan struct{})
	var last atomic.Int64 // UnixNano of the n-th handled task
	stop, err := sys.Start(concurrency, func([]byte) {
		if handled.Add(1) == int64(n) {
			last.Store(time.Now().UnixNano())
			close(all)
		}
	})
	if err != nil {
		return 0, err
	}
	defer stop()
	time.Sleep(200 * time.Millisecond) // let the workers settle on the empty queue

	start := time.Now()
	var next atomic.Int64
	errs := make(chan error, producers)
	var wg sync.WaitGroup
	for range producers {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				if err := sys.Enqueue(ctx, smallPayload(i)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, fmt.Errorf("%s: enqueue: %w", sys.Name(), err)
	}
	select {
	case <-all:
	case <-ctx.Done():
		return 0, fmt.Errorf("%s: %d of %d tasks handled: %w", sys.Name(), handled.Load(), n, ctx.Err())
	}
	return float64(n) / time.Unix(0, last.Load()).Sub(start).Seconds(), nil
}

// Pickup is the latency from the start of Enqueue to the start of the
// handler, at a steady arrival rate.
type Pickup struct {
	P50, P99, Max time.Duration
	Samples       int
}

// MeasurePickup starts workers with concurrency slots, enqueues one task
// every 1/rate seconds for d from one client, and returns the latency
// percentiles from the start of each Enqueue to the start of its handler.
func MeasurePickup(ctx context.Context, sys QueueSystem, rate int, d time.Duration, concurrency int) (Pickup, error) {
	type stamp struct {
		At int64 `json:"at"`
	}
	var mu sync.Mutex
	var lat []time.Duration
	stop, err := sys.Start(concurrency, func(p []byte) {
		now := time.Now()
		var s stamp
		if json.Unmarshal(p, &s) == nil {
			mu.Lock()
			lat = append(lat, now.Sub(time.Unix(0, s.At)))
			mu.Unlock()
		}
	})
	if err != nil {
		return Pickup{}, err
	}
	defer stop()
	time.Sleep(200 * time.Millisecond)

	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	sent := 0
	for end := time.Now().Add(d); time.Now().Before(end); sent++ {
		<-tick.C
		p, _ := json.Marshal(stamp{At: time.Now().UnixNano()})
		if err := sys.Enqueue(ctx, p); err != nil {
			return Pickup{}, fmt.Errorf("%s: enqueue: %w", sys.Name(), err)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		got := len(lat)
		mu.Unlock()
		if got >= sent {
			break
		}
		if time.Now().After(deadline) {
			return Pickup{}, errors.New(sys.Name() + ": not every task was handled within 30s")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	return Pickup{P50: pct(lat, 0.50), P99: pct(lat, 0.99), Max: lat[len(lat)-1], Samples: len(lat)}, nil
}

func pct(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
