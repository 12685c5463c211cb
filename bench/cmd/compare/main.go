// Command compare runs resilience and its peers on the same workloads in
// one process and prints a Markdown table of medians with the ratio of
// each pair.
//
//	go run ./cmd/compare [-runs 5] [-benchtime 300ms] [-headline=true]
//
// Every pair is run interleaved (ours, peer, ours, peer, ...) so that noise
// on a shared machine hits both sides alike; the figures are medians.
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/resilience-go/resilience/bench"
)

type pair struct {
	name     string
	ours     func(*testing.B)
	peerName string
	peer     func(*testing.B)
	perItem  float64 // divide ns/op by this for a per-item figure (batches)
}

func main() {
	runs := flag.Int("runs", 5, "runs per benchmark; medians are reported")
	benchtime := flag.Duration("benchtime", 300*time.Millisecond, "time per benchmark run")
	headline := flag.Bool("headline", true, "run the 10,000 x 1 s headline workload")
	flag.Parse()
	testing.Init()
	if err := flag.Set("test.benchtime", benchtime.String()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}

	pairs := []pair{
		{"breaker, closed, success", bench.BreakerClosedOurs, "sony/gobreaker/v2", bench.BreakerClosedGobreaker, 1},
		{"breaker, closed, success, RunParallel", bench.BreakerClosedParallelOurs, "sony/gobreaker/v2", bench.BreakerClosedParallelGobreaker, 1},
		{"breaker, closed, success", bench.BreakerClosedOurs, "failsafe-go", bench.BreakerClosedFailsafe, 1},
		{"breaker, open, rejection", bench.BreakerOpenOurs, "sony/gobreaker/v2", bench.BreakerOpenGobreaker, 1},
		{"retry, first attempt succeeds", bench.RetryFirstTryOurs, "cenkalti/backoff/v4", bench.RetryFirstTryBackoff, 1},
		{"retry, first attempt succeeds", bench.RetryFirstTryOurs, "avast/retry-go/v4", bench.RetryFirstTryRetryGo, 1},
		{"Execute(Pipeline(semaphore, breaker, retry))", bench.PipelineOurs, "failsafe-go retry+breaker", bench.PipelineFailsafe, 1},
		{"Parallel, per item (10,000 trivial, limit 8)", bench.ParallelTrivialOurs, "x/sync/errgroup SetLimit", bench.ParallelTrivialErrgroup, bench.TrivialItems},
		{"Parallel, per item (10,000 trivial, limit 8)", bench.ParallelTrivialOurs, "sourcegraph/conc pool", bench.ParallelTrivialConc, bench.TrivialItems},
		{"Parallel, per item (10,000 trivial, limit 8)", bench.ParallelTrivialOurs, "hand-rolled index pool", bench.ParallelTrivialHandRolled, bench.TrivialItems},
		{"Stream, per item (buffer 100)", bench.StreamOurs, "raw buffered channel", bench.StreamRawChannel, 1},
	}

	fmt.Printf("Medians of %d runs of %v each, %s.\n\n", *runs, *benchtime, time.Now().Format("2006-01-02"))
	fmt.Println("| workload | resilience | peer | peer figure | ratio |")
	fmt.Println("|---|---|---|---|---|")
	for _, p := range pairs {
		ours, peer := measure(p.ours, p.peer, *runs)
		oNs, pNs := ours.ns/p.perItem, peer.ns/p.perItem
		fmt.Printf("| %s | %s | %s | %s | %.3f |\n", p.name, fig(oNs, ours.allocs, p.perItem), p.peerName, fig(pNs, peer.allocs, p.perItem), oNs/pNs)
	}

	// Parallel efficiency with real sleeps.
	effs := make([]float64, 0, *runs)
	floors := make([]float64, 0, *runs)
	var sleep time.Duration
	for range *runs {
		sleep = bench.MedianSleep(time.Millisecond, 200)
		wall, err := bench.ParallelSleepWall(1000, 100, time.Millisecond)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		effs = append(effs, float64(10*sleep)/float64(wall))
		floors = append(floors, float64(10*sleep)/float64(bench.HandRolledSleepWall(1000, 100, time.Millisecond)))
	}
	sort.Float64s(effs)
	sort.Float64s(floors)
	eff, floor := effs[len(effs)/2], floors[len(floors)/2]
	fmt.Printf("| Parallel efficiency (1,000 x 1 ms sleep, limit 100; ideal = 10 x median sleep of %v) | %.3f | hand-rolled index pool | %.3f | %.3f |\n",
		sleep.Round(time.Microsecond), eff, floor, eff/floor)

	if *headline {
		h, err := bench.Headline(10_000, time.Second)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("| 10,000 LLM calls of 1 s, limit 10,000 | %v wall, %.1f KiB per in-flight call | sequential | %.0f s | %.5f |\n",
			h.Wall.Round(time.Millisecond), h.BytesPerOp/1024, h.SequentialS, h.Wall.Seconds()/h.SequentialS)
	}
}

type figure struct {
	ns     float64
	allocs int64
}

// measure runs a and b interleaved n times and returns the medians.
func measure(a, b func(*testing.B), n int) (figure, figure) {
	var as, bs []testing.BenchmarkResult
	for range n {
		as = append(as, testing.Benchmark(a))
		bs = append(bs, testing.Benchmark(b))
	}
	return median(as), median(bs)
}

func median(rs []testing.BenchmarkResult) figure {
	ns := make([]float64, len(rs))
	for i, r := range rs {
		ns[i] = float64(r.T.Nanoseconds()) / float64(r.N)
	}
	sort.Float64s(ns)
	return figure{ns: ns[len(ns)/2], allocs: rs[0].AllocsPerOp()}
}

func fig(ns float64, allocs int64, perItem float64) string {
	if perItem > 1 {
		return fmt.Sprintf("%.1f ns/item", ns)
	}
	return fmt.Sprintf("%.1f ns, %d allocs", ns, allocs)
}
