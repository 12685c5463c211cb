// Command quickstart runs the patterns of asynchronous AI workloads
// (concurrency, background tasks, resilience) as one pipeline in one
// process, offline, in under ten seconds:
//
//	go run ./examples/quickstart [-seed N] [-redis ADDR]
//
// It starts a fake OpenAI-style provider (package llmtest) with realistic
// latency, 429s that carry retry-after-ms, 5xx errors, requests that hang
// past their timeout and a scripted storm of 503s, and an HTTP task API
// (package queue) with a worker on the in-memory broker. Then:
//
//  1. chat completions are enqueued in the high, default and low queues
//     through POST /tasks/chat; each calls gpt-4o through an llmhttp
//     transport (rate limiter, one circuit breaker per model, retries that
//     honour Retry-After) and falls back to gpt-4o-mini with
//     resilience.Fallback when gpt-4o fails or its breaker is open;
//  2. one task embeds a few thousand documents, batches in parallel, and
//     reports progress, drawn as a live bar from GET /tasks/{id}/events;
//  3. a poisoned task exhausts its retries, lands in the dead letters,
//     raises the failure alert, and is replayed to SUCCESS through
//     POST /dead-letters/{id}/replay once its handler is fixed;
//  4. tokens are streamed over SSE to a deliberately slow consumer through
//     resilience.Stream, whose buffer bounds the memory held;
//
// and a summary table closes the run. -seed picks the faults: with the same
// seed each request meets the same fault on every run, though which
// requests are sent shifts a little with timing (the breaker opens on the
// clock); -redis runs the same pipeline on the Redis
// broker (package queue/redisq) with two worker pools, as two machines
// would, under a key prefix of its own that it deletes at the end.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	seed := flag.Uint64("seed", 1, "seed of the provider's faults: the same seed gives each request the same fault")
	redisAddr := flag.String("redis", "", "run on the Redis broker at `ADDR` (host:port) with two worker pools; empty runs on the in-memory broker")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "quickstart: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	cfg := defaultConfig()
	cfg.Seed, cfg.RedisAddr = *seed, *redisAddr
	cfg.Out, cfg.Live = os.Stdout, isTerminal(os.Stdout)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		stop()
		os.Exit(1)
	}
}

// isTerminal reports whether f is a terminal that can redraw a line, so
// that the progress bar is drawn live; otherwise (a pipe, a file, CI) the
// progress is printed as plain lines.
func isTerminal(f *os.File) bool {
	if os.Getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
