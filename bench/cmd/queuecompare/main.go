// Command queuecompare runs the same task-queue workloads through
// resilience's queue on redisq and through hibiken/asynq v0.26.0, in turn,
// against one private redis-server, and prints a Markdown table with the
// ratios between them.
//
//	go run ./cmd/queuecompare [-runs 3] [-n 20000] [-rate 500] [-duration 10s]
//
// Workloads: enqueue throughput (n small tasks from one client, one after
// the other); end-to-end throughput (n no-op tasks, concurrency 10, from
// the first enqueue to the last handler's return), enqueued once by one
// goroutine back to back (the common case: an HTTP handler, a loop over
// documents) and once by 4 goroutines sharing one client, the workers
// having their own client; pickup latency (enqueue start to handler start) at
// a steady rate. Throughput runs alternate between the two systems and
// report medians; the server is flushed before every run. It needs
// redis-server on PATH.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/resilience-go/resilience/bench"
)

func main() {
	runs := flag.Int("runs", 3, "runs of each throughput workload; medians are reported")
	n := flag.Int("n", 20_000, "tasks per throughput run")
	concurrency := flag.Int("concurrency", 10, "worker concurrency")
	producers := flag.Int("producers", 4, "enqueueing goroutines in the end-to-end workload")
	rate := flag.Int("rate", 500, "tasks per second in the latency workload")
	duration := flag.Duration("duration", 10*time.Second, "length of the latency workload")
	flag.Parse()
	if err := run(*runs, *n, *concurrency, *producers, *rate, *duration); err != nil {
		fmt.Fprintln(os.Stderr, "queuecompare:", err)
		os.Exit(1)
	}
}

func run(runs, n, concurrency, producers, rate int, duration time.Duration) error {
	srv, err := bench.StartRedisServer()
	if err != nil {
		return err
	}
	defer srv.Stop()
	ctx := context.Background()
	systems := []bench.QueueSystem{bench.NewRedisqSystem(srv.Addr), bench.NewAsynqSystem(srv.Addr)}
	defer func() {
		for _, s := range systems {
			_ = s.Close()
		}
	}()

	enq := make([][]float64, len(systems))
	e2e1 := make([][]float64, len(systems))
	e2e := make([][]float64, len(systems))
	for range runs {
		for i, sys := range systems {
			if err := srv.Flush(); err != nil {
				return err
			}
			v, err := bench.MeasureEnqueue(ctx, sys, n)
			if err != nil {
				return err
			}
			enq[i] = append(enq[i], v)
		}
		for i, sys := range systems {
			if err := srv.Flush(); err != nil {
				return err
			}
			v, err := bench.MeasureEndToEnd(ctx, sys, n, concurrency, 1)
			if err != nil {
				return err
			}
			e2e1[i] = append(e2e1[i], v)
		}
		for i, sys := range systems {
			if err := srv.Flush(); err != nil {
				return err
			}
			v, err := bench.MeasureEndToEnd(ctx, sys, n, concurrency, producers)
			if err != nil {
				return err
			}
			e2e[i] = append(e2e[i], v)
		}
	}
	pick := make([]bench.Pickup, len(systems))
	for i, sys := range systems {
		if err := srv.Flush(); err != nil {
			return err
		}
		if pick[i], err = bench.MeasurePickup(ctx, sys, rate, duration, concurrency); err != nil {
			return err
		}
	}

	ours, peer := systems[0].Name(), systems[1].Name()
	fmt.Printf("| Workload | %s | %s | Ratio |\n|---|---|---|---|\n", ours, peer)
	oe, pe := bench.Median(enq[0]), bench.Median(enq[1])
	fmt.Printf("| Enqueue throughput (%s small tasks, one client) | %s tasks/s | %s tasks/s | %.2fx |\n",
		bench.Count(n), bench.Count(int(oe)), bench.Count(int(pe)), oe/pe)
	o1, p1 := bench.Median(e2e1[0]), bench.Median(e2e1[1])
	fmt.Printf("| End-to-end throughput, one producer (%s no-op tasks, concurrency %d) | %s tasks/s | %s tasks/s | %.2fx |\n",
		bench.Count(n), concurrency, bench.Count(int(o1)), bench.Count(int(p1)), o1/p1)
	ot, pt := bench.Median(e2e[0]), bench.Median(e2e[1])
	fmt.Printf("| End-to-end throughput, %d producers (%s no-op tasks, concurrency %d) | %s tasks/s | %s tasks/s | %.2fx |\n",
		producers, bench.Count(n), concurrency, bench.Count(int(ot)), bench.Count(int(pt)), ot/pt)
	fmt.Printf("| Pickup latency p50 at %d tasks/s | %s | %s | %.0fx lower |\n",
		rate, bench.Ms(pick[0].P50), bench.Ms(pick[1].P50), bench.Ratio(pick[1].P50, pick[0].P50))
	fmt.Printf("| Pickup latency p99 at %d tasks/s | %s | %s | %.0fx lower |\n",
		rate, bench.Ms(pick[0].P99), bench.Ms(pick[1].P99), bench.Ratio(pick[1].P99, pick[0].P99))
	fmt.Printf("\nThroughput: medians of %d runs each. Pickup: %d and %d samples over %v (max %s and %s). GOMAXPROCS %d.\n",
		runs, pick[0].Samples, pick[1].Samples, duration, bench.Ms(pick[0].Max), bench.Ms(pick[1].Max), gomaxprocs())
	fmt.Printf("Each run, %s / %s: enqueue alone %s, end-to-end with one producer %s.\n",
		ours, peer, runsOf(enq), runsOf(e2e1))
	return nil
}

// runsOf renders each run's figures of both systems, "a/b" per run.
func runsOf(v [][]float64) string {
	parts := make([]string, len(v[0]))
	for i := range v[0] {
		parts[i] = bench.Count(int(v[0][i])) + "/" + bench.Count(int(v[1][i]))
	}
	return strings.Join(parts, ", ")
}

func gomaxprocs() int { return runtime.GOMAXPROCS(0) }
