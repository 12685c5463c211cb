// Command quickstart runs the patterns of asynchronous AI workloads
// (concurrency, background tasks, resilience) as one pipeline in one
// process, offline, in under ten seconds:
//
//	go run ./examples/quickstart [-seed N] [-redis ADDR] [-serve] [-addr HOST:PORT]
//
// It starts a fake OpenAI-style provider (package llmtest) with realistic
// latency, 429s that carry retry-after-ms, 5xx errors, requests that hang
// past their timeout and a scripted storm of 503s, and an HTTP task API
// (package queue), with its dashboard at /ui/, and a worker on the
// in-memory broker. Then:
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
//
// The dashboard's address (http://127.0.0.1:PORT/ui/) is printed at the
// start. It lasts as long as the run unless -serve is given: then the task
// API, its dashboard and the workers stay up after the summary, with the
// run's tasks (the poisoned one in FAILURE, its replay in SUCCESS) and
// alert states, and the address is printed again, until Ctrl-C or
// SIGTERM; the workers then finish the tasks in flight (their shutdown
// grace) before the server shuts down. -addr picks where the task API
// listens, by default a free port on the loopback interface. The API has
// no authentication (see queue.HTTPConfig.Authorize for a real service):
// keep it on a loopback address.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		os.Exit(2) // the flag package has printed the error and the usage
	}
	cfg.Out, cfg.Live = os.Stdout, isTerminal(os.Stdout)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop) // once asked to stop, a second Ctrl-C ends the process at once
	if _, err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		stop()
		os.Exit(1)
	}
}

// parseFlags returns the configuration that the command line args asks
// for, on top of defaultConfig. Errors and the usage go to stderr; -h
// returns [flag.ErrHelp].
func parseFlags(args []string, stderr io.Writer) (Config, error) {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("quickstart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the provider's faults: the same seed gives each request the same fault")
	fs.StringVar(&cfg.RedisAddr, "redis", "", "run on the Redis broker at `ADDR` (host:port) with two worker pools; empty runs on the in-memory broker")
	fs.BoolVar(&cfg.Serve, "serve", false, "keep the task API, its dashboard (/ui/) and the workers up after the run, until Ctrl-C or SIGTERM")
	fs.StringVar(&cfg.Addr, "addr", defaultAddr, "serve the task API and its dashboard on `HOST:PORT` (port 0: a free one); it has no authentication")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected arguments %q", fs.Args())
		fmt.Fprintln(stderr, "quickstart:", err)
		fs.Usage()
		return Config{}, err
	}
	return cfg, nil
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
