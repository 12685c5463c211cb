package pgq

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/resilience-go/resilience/internal/pgtest"
	"github.com/resilience-go/resilience/queue"
)

func enqueueN(t *testing.T, b *Broker, q string, ids ...string) {
	t.Helper()
	for _, id := range ids {
		_, created, err := b.Enqueue(context.Background(), &queue.Task{ID: id, Name: "work", Queue: q,
			Payload: json.RawMessage(`{}`), EnqueuedAt: time.Now()})
		if err != nil || !created {
			t.Fatalf("Enqueue(%s): got created %v, error %v; want true, nil", id, created, err)
		}
	}
}

// TestCancel revokes a waiting task at once and a leased one at its next
// settling call.
func TestCancel(t *testing.T) {
	b, _ := newBroker(t, pgtest.Pool(t, 8))
	ctx := context.Background()
	enqueueN(t, b, "default", "wait", "run")
	if _, err := b.Cancel(ctx, "nope", time.Minute); !errors.Is(err, queue.ErrTaskNotFound) {
		t.Fatalf("Cancel of an unknown id: got %v, want ErrTaskNotFound", err)
	}
	got, err := b.Cancel(ctx, "wait", time.Minute)
	if err != nil || got.State != queue.StateRevoked || got.FinishedAt.IsZero() {
		t.Fatalf("Cancel of a waiting task: got %+v, %v; want REVOKED with a finish time", got, err)
	}
	run, token, err := b.Claim(ctx, []string{"default"}, time.Minute)
	if err != nil || run.ID != "run" {
		t.Fatalf("Claim: got %v, %v; want run (the revoked task never runs)", run, err)
	}
	got, err = b.Cancel(ctx, "run", time.Minute)
	if err != nil || got.State != queue.StateStarted || !got.CancelRequested {
		t.Fatalf("Cancel of a running task: got %+v, %v; want STARTED with CancelRequested", got, err)
	}
	if err := b.Renew(ctx, "run", token, time.Minute); !errors.Is(err, queue.ErrRevoked) {
		t.Fatalf("Renew after Cancel: got %v, want ErrRevoked", err)
	}
	if err := b.Complete(ctx, "run", token, json.RawMessage(`1`), time.Minute); !errors.Is(err, queue.ErrRevoked) {
		t.Fatalf("Complete after Cancel: got %v, want ErrRevoked", err)
	}
	if got, _ := b.Get(ctx, "run"); got.State != queue.StateRevoked || got.Result != nil {
		t.Fatalf("after Complete: got state %s, result %s; want REVOKED, none", got.State, got.Result)
	}
	if again, err := b.Cancel(ctx, "run", time.Minute); err != nil || again.State != queue.StateRevoked {
		t.Fatalf("Cancel of a done task: got %+v, %v; want it unchanged", again, err)
	}
}

// TestPauseResume: a paused queue gives nothing to claims; resuming wakes
// a claim that waits on it.
func TestPauseResume(t *testing.T) {
	b, _ := newBroker(t, pgtest.Pool(t, 8))
	ctx := context.Background()
	if err := b.SetPaused(ctx, "default", true); err != nil {
		t.Fatal(err)
	}
	enqueueN(t, b, "default", "a")
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if got, _, err := b.Claim(short, []string{"default"}, time.Minute); err == nil {
		t.Fatalf("Claim from a paused queue: got %s, want nothing", got.ID)
	}
	res := make(chan string, 1)
	go func() {
		got, _, err := b.Claim(ctx, []string{"default"}, time.Minute)
		if err != nil {
			res <- err.Error()
			return
		}
		res <- got.ID
	}()
	time.Sleep(50 * time.Millisecond)
	if err := b.SetPaused(ctx, "default", false); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-res:
		if id != "a" {
			t.Fatalf("Claim after resume: got %s, want a", id)
		}
	case <-time.After(WakeTimeout / 2):
		t.Fatal("a claim waiting on a paused queue did not wake when it was resumed")
	}
	if err := b.SetPaused(ctx, "bad name", true); !errors.Is(err, queue.ErrInvalidArgument) {
		t.Fatalf("SetPaused with a space in the name: got %v, want ErrInvalidArgument", err)
	}
}

// TestStatsAndList checks counts by state, before and after Recover folds
// the recorded changes, and the newest-first list with paging.
func TestStatsAndList(t *testing.T) {
	b, _ := newBroker(t, pgtest.Pool(t, 8))
	ctx := context.Background()
	enqueueN(t, b, "default", "d1", "d2", "d3")
	enqueueN(t, b, "low", "l1")
	_, _, err := b.Enqueue(ctx, &queue.Task{ID: "later", Name: "w", Queue: "low", NotBefore: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	_, token, err := b.Claim(ctx, []string{"default"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Complete(ctx, "d1", token, nil, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := b.SetPaused(ctx, "empty", true); err != nil {
		t.Fatal(err)
	}
	want := []queue.QueueStats{
		{Queue: "default", Pending: 2, Succeeded: 1},
		{Queue: "empty", Paused: true},
		{Queue: "low", Pending: 1, Scheduled: 1},
	}
	for _, when := range []string{"before Recover", "after Recover"} {
		got, err := b.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("Stats %s: got %+v, want %+v", when, got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("Stats %s: got %+v, want %+v", when, got[i], want[i])
			}
		}
		if _, err := b.Recover(ctx); err != nil {
			t.Fatal(err)
		}
	}
	list, err := b.List(ctx, queue.ListOptions{Limit: 10})
	if err != nil || len(list) != 5 || list[0].ID != "later" || list[4].ID != "d1" {
		t.Fatalf("List: got %d tasks, %v; want 5, newest (later) first, d1 last", len(list), err)
	}
	page, err := b.List(ctx, queue.ListOptions{Queue: "default", State: queue.StatePending, Offset: 1, Limit: 1})
	if err != nil || len(page) != 1 || page[0].ID != "d2" {
		t.Fatalf("List default PENDING offset 1 limit 1: got %v, %v; want d2", page, err)
	}
}
