// Package faultjob is the part of the broker fault-test worker programs
// that does not depend on the broker: the "job" payload and handler, the
// worker configuration, the common flags and the signal handling. Each
// broker's worker program adds its own connection and a [Recorder] that
// stores, where the test can read it back, what happened across processes.
package faultjob

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

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/queue"
)

// Name is the task name the fault workers handle.
const Name = "job"

// Job is the payload of a [Name] task.
type Job struct {
	// N is returned as the result.
	N int `json:"n"`
	// SleepMS is how long the handler works.
	SleepMS int `json:"sleep_ms,omitempty"`
	// Transient fails the first attempt (Retries == 0) with a retryable error.
	Transient bool `json:"transient,omitempty"`
	// Permanent fails every attempt with a permanent error.
	Permanent bool `json:"permanent,omitempty"`
	// Block makes the first delivery (Redeliveries == 0) call
	// [Recorder.Started] and then hang until its context ends (the process
	// dies, or the task is cancelled); then it calls [Recorder.Ended] with
	// the cause of the context's end.
	Block bool `json:"block,omitempty"`
}

// Recorder stores what the handler did, for a test in another process.
// Its methods are called from several goroutines at once.
type Recorder interface {
	// Executed counts one execution of task id. The handler retries an
	// error every 50ms until ctx ends, so that an outage of the store does
	// not lose a count.
	Executed(ctx context.Context, id string) error
	// Started records that the blocking task id has started. Errors are
	// the recorder's to ignore or log.
	Started(ctx context.Context, id string)
	// Ended records that the blocking task id has stopped hanging, and
	// why. It is called after the task's context ended, so it must use a
	// context of its own.
	Ended(id string, cause error)
}

// Handler returns the handler of [Name] tasks, recording in rec. A payload
// that is not a [Job] fails permanently.
func Handler(rec Recorder) queue.HandlerFunc {
	return func(ctx context.Context, t *queue.Task) (any, error) {
		var j Job
		if err := json.Unmarshal(t.Payload, &j); err != nil {
			return nil, resilience.Permanent(err)
		}
		// Count the execution first: a kill right after still counts it.
		for rec.Executed(ctx, t.ID) != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			time.Sleep(50 * time.Millisecond)
		}
		if j.Block && t.Redeliveries == 0 {
			rec.Started(ctx, t.ID)
			<-ctx.Done()
			rec.Ended(t.ID, context.Cause(ctx))
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
	}
}

// Flags are the flags every fault worker takes, besides its broker's own.
type Flags struct {
	// Concurrency is how many tasks run at once.
	Concurrency int
	// Lease is the lease of a claimed task.
	Lease time.Duration
}

// AddFlags registers -concurrency (default 4) and -lease (default 1s) on
// fs and returns where their values land once fs is parsed.
func AddFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{}
	fs.IntVar(&f.Concurrency, "concurrency", 4, "tasks run at once")
	fs.DurationVar(&f.Lease, "lease", time.Second, "lease of a claimed task")
	return f
}

// Run starts a worker on b with the fault workers' configuration (short
// retry delays, a one-second shutdown, dead letters in dead, warnings and
// worse logged to stderr), registers [Handler] of rec, and runs it until
// SIGINT or SIGTERM.
func Run(b queue.Broker, f *Flags, dead dlq.Store, rec Recorder) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	w, err := queue.NewWorker(b, queue.WorkerConfig{
		Concurrency: f.Concurrency, Lease: f.Lease, ShutdownTimeout: time.Second,
		Retry:       resilience.RetryPolicy{BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond},
		DeadLetters: dead,
		Alerts:      dlq.AlertConfig{Logger: slog.New(slog.DiscardHandler)},
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	w.Handle(Name, Handler(rec))
	return w.Run(ctx)
}

// Exit ends the program: with status 1 and err on stderr, or normally
// when err is nil.
func Exit(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "faultworker:", err)
		os.Exit(1)
	}
}
