package pgq

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/resilience-go/resilience/internal/pgtest"
	"github.com/resilience-go/resilience/queue"
)

// runWorker runs a worker of b with handler "embed" counting its runs by
// task id, stopped when t ends.
func runWorker(t *testing.T, b *Broker) *sync.Map {
	t.Helper()
	runs := &sync.Map{}
	w, err := queue.NewWorker(b, queue.WorkerConfig{Concurrency: 2, Queues: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	w.Handle("embed", func(_ context.Context, task *queue.Task) (any, error) {
		n, _ := runs.LoadOrStore(task.ID, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		return "ok", nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("worker: %v", err)
		}
	})
	return runs
}

func runCount(runs *sync.Map, id string) int64 {
	n, ok := runs.Load(id)
	if !ok {
		return 0
	}
	return n.(*atomic.Int64).Load()
}

// TestEnqueueInTransaction stores a document and enqueues its embedding in
// one transaction: a rollback leaves neither (the task never exists and
// never runs), a commit leaves both and the task runs once, and no worker
// sees the task before the commit.
func TestEnqueueInTransaction(t *testing.T) {
	pool := pgtest.Pool(t, 16)
	b, opts := newBroker(t, pool)
	c := queue.NewClient(b)
	ctx := context.Background()
	if err := Migrate(ctx, pool, opts); err != nil {
		t.Fatal(err)
	}
	docs := `"` + opts.Schema + `".documents`
	if _, err := pool.Exec(ctx, `CREATE TABLE `+docs+` (id text PRIMARY KEY, body text)`); err != nil {
		t.Fatal(err)
	}
	runs := runWorker(t, b)
	store := func(id string, commit bool) {
		t.Helper()
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO `+docs+` VALUES ($1, 'text')`, id); err != nil {
				return err
			}
			if _, err := Enqueue(ctx, tx, c, "embed", map[string]string{"doc": id}, queue.WithTaskID(id)); err != nil {
				return err
			}
			if !commit {
				return errors.New("roll back")
			}
			return nil
		})
		if commit && err != nil {
			t.Fatalf("transaction of %s: %v", id, err)
		}
	}

	store("rolled-back", false)
	if _, err := c.Get(ctx, "rolled-back"); !errors.Is(err, queue.ErrTaskNotFound) {
		t.Fatalf("Get after rollback: got %v, want ErrTaskNotFound", err)
	}

	// Before the commit: the task is invisible to Get and to claims.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := Enqueue(ctx, tx, c, "embed", nil, queue.WithTaskID("pending-commit"), queue.WithQueue("low")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "pending-commit"); !errors.Is(err, queue.ErrTaskNotFound) {
		t.Fatalf("Get before commit: got %v, want ErrTaskNotFound", err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if got, _, err := b.Claim(short, []string{"low"}, time.Minute); err == nil {
		t.Fatalf("Claim before commit: got %s, want nothing", got.ID)
	}
	claimed := make(chan string, 1)
	go func() {
		got, _, err := b.Claim(ctx, []string{"low"}, time.Minute)
		if err != nil {
			claimed <- err.Error()
			return
		}
		claimed <- got.ID
	}()
	time.Sleep(50 * time.Millisecond)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-claimed:
		if id != "pending-commit" {
			t.Fatalf("Claim after commit: got %s, want pending-commit", id)
		}
	case <-time.After(WakeTimeout / 2):
		t.Fatal("a waiting claim did not wake at the commit")
	}

	store("committed", true)
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	got, err := c.Wait(wctx, "committed")
	if err != nil || got.State != queue.StateSuccess {
		t.Fatalf("Wait(committed): got %+v, %v; want SUCCESS", got, err)
	}
	if n := runCount(runs, "committed"); n != 1 {
		t.Fatalf("committed task ran %d times, want 1", n)
	}
	// A task enqueued after the rolled-back one has run, so the rolled-back
	// one would have too if it existed.
	if n := runCount(runs, "rolled-back"); n != 0 {
		t.Fatalf("rolled-back task ran %d times, want 0", n)
	}
	var ndocs int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+docs).Scan(&ndocs); err != nil || ndocs != 1 {
		t.Fatalf("documents: got %d, %v; want 1 (the committed one)", ndocs, err)
	}
}

// TestEnqueueTxIdempotent: EnqueueTx of an id that exists returns the
// existing task and stores nothing.
func TestEnqueueTxIdempotent(t *testing.T) {
	pool := pgtest.Pool(t, 8)
	b, _ := newBroker(t, pool)
	ctx := context.Background()
	enqueueN(t, b, "high", "same")
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		got, created, err := b.EnqueueTx(ctx, tx, &queue.Task{ID: "same", Name: "other", Queue: "low"})
		if err != nil {
			return err
		}
		if created || got.Queue != "high" || got.Name != "work" {
			t.Errorf("EnqueueTx of an existing id: got created %v, queue %s, name %s; want false, high, work", created, got.Queue, got.Name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.EnqueueTx(ctx, nil, &queue.Task{ID: "x", Name: "w", Queue: "q"}); !errors.Is(err, queue.ErrInvalidArgument) {
		t.Fatalf("EnqueueTx with a nil tx: got %v, want ErrInvalidArgument", err)
	}
}

// TestEnqueueNeedsPgqBroker: the helper refuses a client of another broker,
// which would silently ignore the transaction.
func TestEnqueueNeedsPgqBroker(t *testing.T) {
	pool := pgtest.Pool(t, 4)
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	mem := queue.NewMemoryBroker()
	defer mem.Close()
	if _, err := Enqueue(ctx, tx, queue.NewClient(mem), "embed", nil); !errors.Is(err, queue.ErrInvalidArgument) {
		t.Fatalf("Enqueue through a memory broker's client: got %v, want ErrInvalidArgument", err)
	}
}
