// Command tasks serves a task management API, a Go port of the common
// Python FastAPI + Celery one, on the in-memory
// broker: POST a chat completion or a batch embedding, get a task id at
// once, and follow the task while a worker in the same process runs it
// against a simulated LLM (latency, transient failures, retries, dead
// letters). It works offline.
//
//	go run ./examples/tasks [-addr 127.0.0.1:8080] [-latency 500ms] [-fail-rate 0.2]
//
// Routes: POST /tasks/chat/completions, POST /tasks/embeddings/batch, GET
// /tasks/{id}, GET /tasks/{id}/events (Server-Sent Events), GET
// /dead-letters, GET /dead-letters/{id}, POST /dead-letters/{id}/replay,
// DELETE /dead-letters/{id}, and PUT /simulator/outage {"down": true} to
// make every LLM call fail until it is set back.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/queue"
)

// config is what the flags set; tests set it directly.
type config struct {
	latency   time.Duration // per simulated LLM call
	failRate  float64       // share of calls that fail transiently
	seed      uint64
	retryBase time.Duration // first retry delay; capped at 10x
	logger    *slog.Logger  // the worker's and the API's records
	model     func(*simLLM) llm
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	latency := flag.Duration("latency", 500*time.Millisecond, "simulated LLM latency per call (jittered ±50%)")
	failRate := flag.Float64("fail-rate", 0.2, "share of simulated LLM calls that fail transiently, 0 to 1")
	seed := flag.Uint64("seed", 1, "seed of the simulated LLM")
	flag.Parse()
	if !(*failRate >= 0 && *failRate <= 1) || *latency < 0 {
		fmt.Fprintln(os.Stderr, "tasks: -fail-rate must be in [0, 1] and -latency >= 0")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tasks:", err)
		os.Exit(1)
	}
	cfg := config{
		latency: *latency, failRate: *failRate, seed: *seed, retryBase: 500 * time.Millisecond,
		logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
	}
	if err := run(ctx, ln, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tasks:", err)
		os.Exit(1)
	}
}

// run serves the API on ln, with a worker, until ctx ends; then it stops
// accepting requests, ends open event streams, lets the worker finish or
// hand back its tasks, and returns. It closes ln.
func run(ctx context.Context, ln net.Listener, cfg config, out io.Writer) error {
	broker := queue.NewMemoryBroker()
	defer broker.Close()
	client := queue.NewClient(broker)
	deadLetters := dlq.NewMemoryStore()

	worker, err := queue.NewWorker(broker, queue.WorkerConfig{
		Concurrency: 4,
		Retry:       resilience.RetryPolicy{BaseDelay: cfg.retryBase, MaxDelay: 10 * cfg.retryBase},
		DeadLetters: deadLetters,
		Logger:      cfg.logger, // not slog.Default, so the records go where the program says
		Alerts:      dlq.AlertConfig{Logger: cfg.logger},
	})
	if err != nil {
		ln.Close()
		return err
	}
	sim := newSimLLM(cfg.latency, cfg.failRate, cfg.seed)
	var model llm = sim
	if cfg.model != nil {
		model = cfg.model(sim)
	}
	worker.Handle(taskChat, chatHandler(model))
	worker.Handle(taskEmbed, embedHandler(model))

	queueAPI, err := queue.NewHTTPHandlerWith(client, queue.HTTPConfig{DeadLetters: deadLetters, Logger: cfg.logger})
	if err != nil {
		ln.Close()
		return err
	}
	// Requests derive from streams, which Shutdown cancels: an open event
	// stream would otherwise hold the shutdown until its task ends.
	streams, endStreams := context.WithCancel(context.Background())
	defer endStreams()
	srv := &http.Server{
		Handler:           newAPI(client, queueAPI, sim),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return streams },
	}
	srv.RegisterOnShutdown(endStreams)

	base := "http://" + ln.Addr().String()
	printUsage(out, base, cfg)

	workerCtx, stopWorker := context.WithCancel(context.Background())
	defer stopWorker()
	workerDone := make(chan error, 1)
	go func() { workerDone <- worker.Run(workerCtx) }()
	serveDone := make(chan error, 1)
	go func() { serveDone <- srv.Serve(ln) }()

	// Run until ctx ends, or the server or the worker stops by itself.
	var serveErr, workerErr error
	serving, working := true, true
	select {
	case <-ctx.Done():
	case serveErr = <-serveDone:
		serving = false
	case workerErr = <-workerDone:
		working = false
		if workerErr == nil {
			workerErr = errors.New("the worker stopped")
		}
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	shutdownErr := srv.Shutdown(shutdownCtx)
	if serving {
		serveErr = <-serveDone
	}
	stopWorker()
	if working {
		workerErr = <-workerDone
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return errors.Join(serveErr, shutdownErr, workerErr)
}

// printUsage prints where the API is and curl commands to try.
func printUsage(out io.Writer, base string, cfg config) {
	fmt.Fprintf(out, "task API on %s (simulated LLM: %v latency, %.0f%% transient failures)\n\n", base, cfg.latency, 100*cfg.failRate)
	fmt.Fprintf(out, `Dashboard: %[1]s/ui/

Try:
  # a chat completion on the high-priority queue; answers {"task_id": ..., "status": "PENDING"}
  curl -s -X POST %[1]s/tasks/chat/completions -H 'Content-Type: application/json' -d '{"messages": [{"role": "user", "content": "Explain backpressure in one sentence."}], "priority": "high"}'
  # its status, progress and result
  curl -s %[1]s/tasks/TASK_ID
  # its state changes as Server-Sent Events, until it ends
  curl -sN %[1]s/tasks/TASK_ID/events
  # a batch embedding that reports progress per batch
  curl -s -X POST %[1]s/tasks/embeddings/batch -H 'Content-Type: application/json' -d '{"documents": ["a", "b", "c", "d", "e"], "batch_size": 2}'
  # an outage: tasks exhaust their retries and land in the dead letters
  curl -s -X PUT %[1]s/simulator/outage -d '{"down": true}'
  curl -s %[1]s/dead-letters
  # after the outage, replay a dead letter
  curl -s -X PUT %[1]s/simulator/outage -d '{"down": false}'
  curl -s -X POST -H 'Content-Type: application/json' %[1]s/dead-letters/TASK_ID/replay

`, base)
}
