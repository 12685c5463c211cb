package pgq

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/resilience-go/resilience/internal/pgtest"
	"github.com/resilience-go/resilience/queue"
)

// TestTablesStaySmall runs three rounds of n tasks whose results expire
// quickly through a worker, with Recover removing them. After each round
// the tasks table and the count changes hold no row, and a plain VACUUM
// (what autovacuum does) lets PostgreSQL reuse the space. The first round
// leaves the table at its working size (heap and index pages of tasks in
// flight); the third round must fit in at most 1.5 times the space of the
// second, so the table does not grow with the number of tasks that went
// through it. The default run has 5,000 tasks per round; PGQ_SIZE_TASKS=N
// runs N (100,000 for the README's figure).
func TestTablesStaySmall(t *testing.T) {
	n := 5_000
	if v, err := strconv.Atoi(os.Getenv("PGQ_SIZE_TASKS")); err == nil && v > 0 {
		n = v
	}
	pool := pgtest.Pool(t, 32)
	b, opts := newBroker(t, pool)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	var ran atomic.Int64
	w, err := queue.NewWorker(b, queue.WorkerConfig{Concurrency: 10, Queues: []string{"default"}, ResultTTL: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	w.Handle("noop", func(context.Context, *queue.Task) (any, error) { ran.Add(1); return nil, nil })
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	defer func() { stop(); <-done }()

	s := `"` + opts.Schema + `"`
	size := func() (rows, bytes int64) {
		t.Helper()
		q := `SELECT (SELECT count(*) FROM ` + s + `.tasks) + (SELECT count(*) FROM ` + s + `.count_deltas),
			pg_total_relation_size('` + s + `.tasks')`
		if err := pool.QueryRow(ctx, q).Scan(&rows, &bytes); err != nil {
			t.Fatal(err)
		}
		return rows, bytes
	}
	var after [3]int64
	start := time.Now()
	for round := range 3 {
		var g errgroup.Group
		g.SetLimit(24)
		for i := range n {
			g.Go(func() error {
				_, _, err := b.Enqueue(ctx, &queue.Task{ID: fmt.Sprintf("r%d-%d", round, i), Name: "noop", Queue: "default",
					Payload: json.RawMessage(`{"doc":"0123456789abcdef"}`), MaxRetries: queue.DefaultRetries})
				return err
			})
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
		waitRow(t, "every task to run", 20*time.Minute, func() bool { return ran.Load() >= int64((round+1)*n) })
		waitRow(t, "every result to expire and be removed", time.Minute, func() bool {
			if _, err := b.Recover(ctx); err != nil {
				t.Fatal(err)
			}
			rows, _ := size()
			return rows == 0
		})
		if _, err := pool.Exec(ctx, `VACUUM `+s+`.tasks, `+s+`.count_deltas, `+s+`.counts`); err != nil {
			t.Fatal(err)
		}
		_, after[round] = size()
	}
	if after[2] > after[1]*3/2 {
		t.Fatalf("tasks table after round 3: %d kB, want at most 1.5 x the %d kB after round 2 (the space is reused)",
			after[2]/1024, after[1]/1024)
	}
	t.Logf("%d tasks per round in %v: tasks table (with indexes) %d kB, %d kB and %d kB after rounds 1, 2 and 3, 0 rows left",
		n, time.Since(start).Round(time.Second), after[0]/1024, after[1]/1024, after[2]/1024)
}
