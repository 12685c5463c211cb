package faultjob

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"sync"
	"testing"
	"time"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/queue"
)

// fakeRecorder keeps what it is told; Executed fails failFirst times.
type fakeRecorder struct {
	mu        sync.Mutex
	failFirst int
	execs     map[string]int
	started   []string
	ended     []string
}

func (r *fakeRecorder) Executed(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failFirst > 0 {
		r.failFirst--
		return errors.New("store away")
	}
	if r.execs == nil {
		r.execs = map[string]int{}
	}
	r.execs[id]++
	return nil
}

func (r *fakeRecorder) Started(_ context.Context, id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started = append(r.started, id)
}

func (r *fakeRecorder) Ended(id string, cause error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ended = append(r.ended, id+" "+cause.Error())
}

func task(t *testing.T, id string, j any, retries, redeliveries int) *queue.Task {
	t.Helper()
	p, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	return &queue.Task{ID: id, Payload: p, Retries: retries, Redeliveries: redeliveries}
}

func TestHandlerOutcomes(t *testing.T) {
	rec := &fakeRecorder{}
	h := Handler(rec)
	ctx := context.Background()

	if res, err := h(ctx, task(t, "ok", Job{N: 7}, 0, 0)); err != nil || res != 7 {
		t.Fatalf("plain job: got %v, %v; want 7, nil", res, err)
	}
	_, err := h(ctx, task(t, "tr", Job{Transient: true}, 0, 0))
	if err == nil || resilience.IsPermanent(err) {
		t.Fatalf("transient job, first attempt: got %v, want a retryable error", err)
	}
	if _, err := h(ctx, task(t, "tr", Job{Transient: true}, 1, 0)); err != nil {
		t.Fatalf("transient job, retry: got %v, want success", err)
	}
	if _, err := h(ctx, task(t, "pm", Job{Permanent: true}, 3, 0)); !resilience.IsPermanent(err) {
		t.Fatalf("permanent job: got %v, want a permanent error", err)
	}
	if _, err := h(ctx, &queue.Task{ID: "bad", Payload: json.RawMessage(`"x"`)}); !resilience.IsPermanent(err) {
		t.Fatalf("payload that is not a Job: got %v, want a permanent error", err)
	}
	want := map[string]int{"ok": 1, "tr": 2, "pm": 1, "bad": 0}
	for id, n := range want {
		if rec.execs[id] != n {
			t.Fatalf("executions of %s: got %d, want %d (all: %v)", id, rec.execs[id], n, rec.execs)
		}
	}
}

func TestHandlerRetriesTheCount(t *testing.T) {
	rec := &fakeRecorder{failFirst: 2}
	if _, err := Handler(rec)(context.Background(), task(t, "a", Job{}, 0, 0)); err != nil {
		t.Fatal(err)
	}
	if rec.execs["a"] != 1 || rec.failFirst != 0 {
		t.Fatalf("got %d executions counted after %d failures left, want 1 after 0", rec.execs["a"], rec.failFirst)
	}

	// A store that never answers gives up when the task's context ends.
	rec = &fakeRecorder{failFirst: 1 << 30}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := Handler(rec)(ctx, task(t, "b", Job{}, 0, 0)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the context's end", err)
	}
}

func TestHandlerBlockRecordsStartAndEnd(t *testing.T) {
	rec := &fakeRecorder{}
	h := Handler(rec)
	ctx, cancel := context.WithCancelCause(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := h(ctx, task(t, "blk", Job{Block: true}, 0, 0))
		errc <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec.mu.Lock()
		n := len(rec.started)
		rec.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the blocking job did not record its start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-errc:
		t.Fatalf("the blocking job returned %v before its context ended", err)
	default:
	}
	cancel(errors.New("revoked by test"))
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if len(rec.ended) != 1 || rec.ended[0] != "blk revoked by test" {
		t.Fatalf("ended: got %q, want [\"blk revoked by test\"]", rec.ended)
	}

	// A redelivered blocking job runs through.
	if res, err := h(context.Background(), task(t, "blk", Job{N: 3, Block: true}, 0, 1)); err != nil || res != 3 {
		t.Fatalf("redelivered blocking job: got %v, %v; want 3, nil", res, err)
	}
}

func TestAddFlags(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	f := AddFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if f.Concurrency != 4 || f.Lease != time.Second {
		t.Fatalf("defaults: got %+v, want concurrency 4, lease 1s", *f)
	}
	if err := fs.Parse([]string{"-concurrency", "2", "-lease", "250ms"}); err != nil {
		t.Fatal(err)
	}
	if f.Concurrency != 2 || f.Lease != 250*time.Millisecond {
		t.Fatalf("parsed: got %+v, want concurrency 2, lease 250ms", *f)
	}
}
