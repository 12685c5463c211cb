// Command otel runs the quickstart's chat flow with OpenTelemetry, offline:
//
//	go run . -otel [-n 6] [-serve]
//
// It starts a fake OpenAI-style provider (package llmtest) whose first
// answer is a 529, a task API (queue.NewHTTPHandler) with a worker on the
// in-memory broker, and an llmhttp transport with a circuit breaker. Chat
// tasks are posted to POST /tasks/chat; each worker call asks gpt-4o
// through the transport. With -otel, every part is instrumented
// (package resilienceotel): the program prints the trace of the first chat
// task as a tree, from the HTTP request that enqueued it through the
// worker to the LLM call and its retried attempts, and serves Prometheus
// metrics at /metrics on the task API's port, printing the lines of the
// library's metrics. -serve keeps the API and /metrics up until Ctrl-C.
//
// Without -otel the same flow runs uninstrumented: no span, no metric.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	withOTel := flag.Bool("otel", false, "instrument the flow with OpenTelemetry: print one chat task's trace tree and serve /metrics")
	tasks := flag.Int("n", 6, "chat tasks to run (`N` >= 1)")
	addr := flag.String("addr", "127.0.0.1:0", "listen `ADDR` of the task API (and /metrics)")
	serve := flag.Bool("serve", false, "keep serving the task API and /metrics until interrupted")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "otel: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := Config{OTel: *withOTel, Tasks: *tasks, Addr: *addr, Out: os.Stdout}
	if *serve {
		cfg.Hold = func(base string) {
			fmt.Printf("\nserving %s/tasks and %s/metrics; Ctrl-C stops\n", base, base)
			<-ctx.Done()
		}
	}
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "otel:", err)
		stop()
		os.Exit(1)
	}
}

// Config is one run; main fills it from the flags, the test directly.
type Config struct {
	OTel  bool   // instrument the flow
	Tasks int    // chat tasks to run
	Addr  string // listen address of the task API
	Out   interface {
		Write([]byte) (int, error)
	}
	// Hold, when set, is called with the API's base URL once the flow is
	// done, before the servers stop.
	Hold func(base string)
	// Wait is how long one task may take; 0 means 30 s.
	Wait time.Duration
}
