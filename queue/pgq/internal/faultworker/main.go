// Command faultworker is the worker process of the pgq fault tests: a
// queue.Worker on a pgq.Broker that the tests kill with SIGKILL and start
// again. It is not part of the API.
//
//	faultworker -url postgres://postgres@127.0.0.1:5432/test -schema t_x -concurrency 4 -lease 1s
//
// Its one handler, "job", takes a [Job] payload. Every execution is counted
// in the table <schema>.test_execs (task id, executions), so a test can
// count duplicates across processes.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/queue"
	"github.com/resilience-go/resilience/queue/pgq"
)

// Job is the payload of a "job" task.
type Job struct {
	// N is returned as the result.
	N int `json:"n"`
	// SleepMS is how long the handler works.
	SleepMS int `json:"sleep_ms,omitempty"`
	// Transient fails the first attempt (Retries == 0) with a retryable error.
	Transient bool `json:"transient,omitempty"`
	// Permanent fails every attempt with a permanent error.
	Permanent bool `json:"permanent,omitempty"`
	// Block makes the first delivery (Redeliveries == 0) insert the task id
	// into <schema>.test_started and then hang until the process dies.
	Block bool `json:"block,omitempty"`
}

func main() {
	url := flag.String("url", "", "PostgreSQL connection string")
	schema := flag.String("schema", pgq.DefaultSchema, "schema")
	concurrency := flag.Int("concurrency", 4, "tasks run at once")
	lease := flag.Duration("lease", time.Second, "lease of a claimed task")
	flag.Parse()
	if err := run(*url, *schema, *concurrency, *lease); err != nil {
		fmt.Fprintln(os.Stderr, "faultworker:", err)
		os.Exit(1)
	}
}

func run(url, schema string, concurrency int, lease time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return err
	}
	cfg.MaxConns = int32(concurrency + 4)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	opts := pgq.Options{Schema: schema}
	b := pgq.NewBroker(pool, opts)
	defer b.Close()
	q := `"` + schema + `".`
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	w, err := queue.NewWorker(b, queue.WorkerConfig{
		Concurrency: concurrency, Lease: lease, ShutdownTimeout: time.Second,
		Retry:       resilience.RetryPolicy{BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond},
		DeadLetters: pgq.NewDeadLetterStore(pool, opts),
		Alerts:      dlq.AlertConfig{Logger: slog.New(slog.DiscardHandler)},
		Logger:      log,
	})
	if err != nil {
		return err
	}
	w.Handle("job", func(ctx context.Context, t *queue.Task) (any, error) {
		var j Job
		if err := json.Unmarshal(t.Payload, &j); err != nil {
			return nil, resilience.Permanent(err)
		}
		// Count the execution first: a kill right after still counts it.
		for {
			_, err := pool.Exec(ctx, `INSERT INTO `+q+`test_execs (id, n) VALUES ($1, 1)
				ON CONFLICT (id) DO UPDATE SET n = test_execs.n + 1`, t.ID)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			time.Sleep(50 * time.Millisecond)
		}
		if j.Block && t.Redeliveries == 0 {
			_, _ = pool.Exec(ctx, `INSERT INTO `+q+`test_started (id) VALUES ($1)`, t.ID)
			<-ctx.Done()
			return nil, ctx.Err()
		}
		if j.SleepMS > 0 {
			select {
			case <-time.After(time.Duration(j.SleepMS) * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		switch {
		case j.Permanent:
			return nil, resilience.Permanent(errors.New("permanent failure"))
		case j.Transient && t.Retries == 0:
			return nil, errors.New("transient failure")
		}
		return j.N, nil
	})
	return w.Run(ctx)
}
