package redisq

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/internal/redistest"
	"github.com/resilience-go/resilience/queue"
)

// TestRecoverReconcilesLeasedTaskWithoutLease reproduces asynq's hole: a
// task in STARTED whose lease entry is gone (evicted, or lost in a
// failover). Recover leases it again; when that lease runs out the task is
// redelivered like any other.
func TestRecoverReconcilesLeasedTaskWithoutLease(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := newClient(t, srv)
	b, _ := newBroker(t, rdb)
	ctx := ctxFor(t, 10*time.Second)
	mustEnqueue(t, b, "t1", "default", time.Time{})
	if _, _, err := b.Claim(ctx, []string{"default"}, 200*time.Millisecond); err != nil {
		t.Fatalf("Claim: %v", err)
	}
	if err := rdb.ZRem(ctx, b.k.leases, "t1").Err(); err != nil {
		t.Fatalf("ZREM: %v", err)
	}
	// The sweep covers the key space in steps; a few calls cover a test DB.
	for i := 0; ; i++ {
		if _, err := b.Recover(ctx); err != nil {
			t.Fatalf("Recover: %v", err)
		}
		if rdb.ZScore(ctx, b.k.leases, "t1").Err() == nil {
			break
		}
		if i == 100 {
			t.Fatal("Recover did not lease again a STARTED task without a lease entry after 100 calls")
		}
	}
	got, _, err := b.Claim(ctx, []string{"default"}, time.Minute)
	if err != nil || got.ID != "t1" || got.Redeliveries != 1 {
		t.Fatalf("Claim after the new lease ran out: got %+v, %v; want t1 redelivered once", got, err)
	}
}

// TestCorruptTaskIsDeadLettered writes tasks that do not decode straight
// into Redis (a bad field, a key of the wrong type) between good ones, and
// runs a real worker: the corrupt ones end in the dead letters with a
// decode error, the good ones succeed, and the worker keeps running.
func TestCorruptTaskIsDeadLettered(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := newClient(t, srv)
	b, opts := newBroker(t, rdb)
	store := NewDeadLetterStore(rdb, opts)
	ctx := ctxFor(t, 20*time.Second)

	mustEnqueue(t, b, "bad-attempt", "default", time.Time{})
	rdb.HSet(ctx, b.k.task+"bad-attempt", fAttempt, "many", fPayload, "{not json")
	mustEnqueue(t, b, "bad-retries", "default", time.Time{})
	rdb.HSet(ctx, b.k.task+"bad-retries", fMaxRetries, "3.5")
	mustEnqueue(t, b, "wrong-type", "default", time.Time{})
	rdb.Del(ctx, b.k.task+"wrong-type")
	rdb.Set(ctx, b.k.task+"wrong-type", "garbage", 0)

	client := queue.NewClient(b)
	good, err := client.Enqueue(ctx, "work", 1)
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	w, err := queue.NewWorker(b, queue.WorkerConfig{
		Concurrency: 2, DeadLetters: store, Logger: slog.New(slog.DiscardHandler),
		Alerts: dlq.AlertConfig{Logger: slog.New(slog.DiscardHandler)},
	})
	if err != nil {
		t.Fatalf("NewWorker: %v", err)
	}
	w.Handle("work", func(context.Context, *queue.Task) (any, error) { return "ok", nil })
	runCtx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- w.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-ran; err != nil {
			t.Errorf("Worker.Run: got %v, want nil", err)
		}
	}()

	if done, err := client.Wait(ctx, good.ID); err != nil || done.State != queue.StateSuccess {
		t.Fatalf("good task: got %v, %v; want SUCCESS", done, err)
	}
	for _, id := range []string{"bad-attempt", "bad-retries", "wrong-type"} {
		var e dlq.Entry
		for {
			if e, err = store.Get(ctx, id); err == nil || !errors.Is(err, dlq.ErrNotFound) || ctx.Err() != nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil || !strings.Contains(e.Error, ErrCorruptTask.Error()) {
			t.Fatalf("dead letter of %s: got %+v, %v; want one with a decode error", id, e, err)
		}
		if e.Payload != nil && !json.Valid(e.Payload) {
			t.Fatalf("dead letter of %s: payload %q is not valid JSON", id, e.Payload)
		}
	}
	if _, err := b.Get(ctx, "bad-retries"); !errors.Is(err, ErrCorruptTask) {
		t.Fatalf("Get of a corrupt task: got %v, want ErrCorruptTask", err)
	}
	state := rdb.HGet(ctx, b.k.task+"bad-attempt", fState).Val()
	if state != string(queue.StateFailure) {
		t.Fatalf("corrupt task: got state %q, want FAILURE", state)
	}
}
