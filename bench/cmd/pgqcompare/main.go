// Command pgqcompare runs the same task-queue workloads through
// resilience's queue on pgq and through riverqueue/river v0.51.0 (with
// riverpgxv5), in turn, against one PostgreSQL database, and prints a
// Markdown table with the ratios between them.
//
//	go run ./cmd/pgqcompare [-runs 3] [-n 5000] [-rate 200] [-duration 10s]
//
// The database is PGBENCH_URL, or postgres://postgres@127.0.0.1:5432/test;
// each library gets a schema of its own (bench_pgq, bench_river), emptied
// before every run. Workloads: enqueue throughput (n small tasks from one
// client, one after the other, and in batches where the library offers a
// batch insert); end-to-end throughput (n no-op tasks, concurrency 10, from
// the first enqueue to the last handler's return, enqueued by 4 goroutines
// sharing one client); pickup latency (enqueue start to handler start) at
// a steady rate. Throughput runs alternate between the two libraries and
// report medians. River runs with its default settings; with
// -river-fetch-cooldown its workers fetch more often than its default
// 100 ms allows (which caps 10 workers at about 100 jobs/s).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/resilience-go/resilience/bench"
)

func main() {
	runs := flag.Int("runs", 3, "runs of each throughput workload; medians are reported")
	n := flag.Int("n", 5_000, "tasks per throughput run")
	batch := flag.Int("batch", 100, "tasks per batch in the batched enqueue workload")
	concurrency := flag.Int("concurrency", 10, "worker concurrency")
	producers := flag.Int("producers", 4, "enqueueing goroutines in the end-to-end workload")
	rate := flag.Int("rate", 200, "tasks per second in the latency workload")
	duration := flag.Duration("duration", 10*time.Second, "length of the latency workload")
	cooldown := flag.Duration("river-fetch-cooldown", 0, "river's FetchCooldown (0: river's default, 100 ms)")
	e2eOnly := flag.Bool("e2e-only", false, "run only pgq's end-to-end workload and print its rate (for A/B runs)")
	flag.Parse()
	if *e2eOnly {
		if err := e2e(*runs, *n, *concurrency, *producers); err != nil {
			fmt.Fprintln(os.Stderr, "pgqcompare:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*runs, *n, *batch, *concurrency, *producers, *rate, *duration, *cooldown); err != nil {
		fmt.Fprintln(os.Stderr, "pgqcompare:", err)
		os.Exit(1)
	}
}

func run(runs, n, batch, concurrency, producers, rate int, duration, cooldown time.Duration) error {
	ctx := context.Background()
	url := bench.PostgresURL()
	ours, err := bench.NewPgqSystem(ctx, url)
	if err != nil {
		return fmt.Errorf("pgq on %s: %w", url, err)
	}
	defer ours.Close()
	peer, err := bench.NewRiverSystem(ctx, url, cooldown)
	if err != nil {
		return fmt.Errorf("river on %s: %w", url, err)
	}
	defer peer.Close()
	systems := []bench.QueueSystem{ours, peer}
	reset := func(s bench.QueueSystem) error { return s.(bench.Resetter).Reset(ctx) }

	enq := make([][]float64, len(systems))
	batched := make([][]float64, len(systems))
	e2e := make([][]float64, len(systems))
	for range runs {
		for i, sys := range systems {
			if err := reset(sys); err != nil {
				return err
			}
			v, err := bench.MeasureEnqueue(ctx, sys, n)
			if err != nil {
				return err
			}
			enq[i] = append(enq[i], v)
			if b, ok := sys.(bench.Batcher); ok {
				if err := reset(sys); err != nil {
					return err
				}
				v, err := bench.MeasureEnqueueBatch(ctx, b, n, batch)
				if err != nil {
					return err
				}
				batched[i] = append(batched[i], v)
			}
		}
		for i, sys := range systems {
			if err := reset(sys); err != nil {
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
		if err := reset(sys); err != nil {
			return err
		}
		if pick[i], err = bench.MeasurePickup(ctx, sys, rate, duration, concurrency); err != nil {
			return err
		}
	}

	fmt.Printf("| Workload | %s | %s | Ratio |\n|---|---|---|---|\n", ours.Name(), peer.Name())
	oe, pe := bench.Median(enq[0]), bench.Median(enq[1])
	fmt.Printf("| Enqueue throughput (%s small tasks, one client) | %s tasks/s | %s tasks/s | %.2fx |\n",
		bench.Count(n), bench.Count(int(oe)), bench.Count(int(pe)), oe/pe)
	ob, pb := bench.Median(batched[0]), bench.Median(batched[1])
	fmt.Printf("| Batched enqueue (%s tasks in batches of %d, one client) | %s tasks/s | %s tasks/s | %.2fx |\n",
		bench.Count(n), batch, bench.Count(int(ob)), bench.Count(int(pb)), ob/pb)
	ot, pt := bench.Median(e2e[0]), bench.Median(e2e[1])
	fmt.Printf("| End-to-end throughput (%s no-op tasks, concurrency %d) | %s tasks/s | %s tasks/s | %.2fx |\n",
		bench.Count(n), concurrency, bench.Count(int(ot)), bench.Count(int(pt)), ot/pt)
	fmt.Printf("| Pickup latency p50 at %d tasks/s | %s | %s | %.1fx lower |\n",
		rate, bench.Ms(pick[0].P50), bench.Ms(pick[1].P50), bench.Ratio(pick[1].P50, pick[0].P50))
	fmt.Printf("| Pickup latency p99 at %d tasks/s | %s | %s | %.1fx lower |\n",
		rate, bench.Ms(pick[0].P99), bench.Ms(pick[1].P99), bench.Ratio(pick[1].P99, pick[0].P99))
	fmt.Printf("\nThroughput: medians of %d runs each. Pickup: %d and %d samples over %v (max %s and %s). GOMAXPROCS %d.\n",
		runs, pick[0].Samples, pick[1].Samples, duration, bench.Ms(pick[0].Max), bench.Ms(pick[1].Max), runtime.GOMAXPROCS(0))
	return nil
}

// e2e prints pgq's end-to-end rate of each of runs runs.
func e2e(runs, n, concurrency, producers int) error {
	ctx := context.Background()
	sys, err := bench.NewPgqSystem(ctx, bench.PostgresURL())
	if err != nil {
		return err
	}
	defer sys.Close()
	for range runs {
		if err := sys.(bench.Resetter).Reset(ctx); err != nil {
			return err
		}
		v, err := bench.MeasureEndToEnd(ctx, sys, n, concurrency, producers)
		if err != nil {
			return err
		}
		fmt.Printf("%s end-to-end: %.0f tasks/s\n", sys.Name(), v)
	}
	return nil
}
