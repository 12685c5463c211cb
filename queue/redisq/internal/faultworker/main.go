// Command faultworker is the worker process of the redisq fault tests: a
// queue.Worker on a redisq.Broker that the tests kill with SIGKILL and
// start again. It is not part of the API.
//
//	faultworker -addr 127.0.0.1:6379 -prefix test -concurrency 4 -lease 1s
//
// Its one handler, "job", takes a [Job] payload. Every execution is counted
// in the hash "{prefix}:test:execs" (task id -> executions), so a test can
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

	"github.com/redis/go-redis/v9"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/queue"
	"github.com/resilience-go/resilience/queue/redisq"
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
	// Block makes the first delivery (Redeliveries == 0) push the task id
	// onto "{prefix}:test:started" and then hang until its context ends
	// (the process dies, or the task is cancelled); then it pushes "<id>
	// <cause of the context's end>" onto "{prefix}:test:ended".
	Block bool `json:"block,omitempty"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:6379", "Redis address")
	prefix := flag.String("prefix", redisq.DefaultPrefix, "key prefix")
	concurrency := flag.Int("concurrency", 4, "tasks run at once")
	lease := flag.Duration("lease", time.Second, "lease of a claimed task")
	flag.Parse()
	if err := run(*addr, *prefix, *concurrency, *lease); err != nil {
		fmt.Fprintln(os.Stderr, "faultworker:", err)
		os.Exit(1)
	}
}

func run(addr, prefix string, concurrency int, lease time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: concurrency + 8})
	defer rdb.Close()
	opts := redisq.Options{Prefix: prefix}
	b := redisq.NewBroker(rdb, opts)
	defer b.Close()
	tag := "{" + prefix + "}"
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	w, err := queue.NewWorker(b, queue.WorkerConfig{
		Concurrency: concurrency, Lease: lease, ShutdownTimeout: time.Second,
		Retry:       resilience.RetryPolicy{BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond},
		DeadLetters: redisq.NewDeadLetterStore(rdb, opts),
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
		for rdb.HIncrBy(ctx, tag+":test:execs", t.ID, 1).Err() != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			time.Sleep(50 * time.Millisecond)
		}
		if j.Block && t.Redeliveries == 0 {
			rdb.RPush(ctx, tag+":test:started", t.ID)
			<-ctx.Done()
			// Say why the context ended, for the cancellation tests; retry
			// while Redis is away.
			for range 200 {
				if rdb.RPush(context.Background(), tag+":test:ended", t.ID+" "+context.Cause(ctx).Error()).Err() == nil {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
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
