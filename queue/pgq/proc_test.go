package pgq

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/resilience-go/resilience/internal/proctest"
	"github.com/resilience-go/resilience/queue"
)

// job mirrors the payload of internal/faultworker.
type job struct {
	N         int  `json:"n"`
	SleepMS   int  `json:"sleep_ms,omitempty"`
	Transient bool `json:"transient,omitempty"`
	Permanent bool `json:"permanent,omitempty"`
	Block     bool `json:"block,omitempty"`
}

// newFleet builds internal/faultworker and returns a fleet of it on the
// database at url and schema, with the tables it counts executions in.
func newFleet(t *testing.T, pool *pgxpool.Pool, url, schema string, concurrency int, lease time.Duration) *proctest.Fleet {
	t.Helper()
	if err := Migrate(context.Background(), pool, Options{Schema: schema}); err != nil {
		t.Fatal(err)
	}
	q := `"` + schema + `".`
	if _, err := pool.Exec(context.Background(), `CREATE TABLE IF NOT EXISTS `+q+`test_execs (id text PRIMARY KEY, n int NOT NULL);
		CREATE TABLE IF NOT EXISTS `+q+`test_started (id text)`); err != nil {
		t.Fatal(err)
	}
	bin := proctest.Build(t, "github.com/resilience-go/resilience/queue/pgq/internal/faultworker")
	return proctest.NewFleet(t, bin, "-url", url, "-schema", schema,
		"-concurrency", strconv.Itoa(concurrency), "-lease", lease.String())
}

// enqueueJobs enqueues jobs from 16 goroutines (each enqueue is a commit,
// whose flush to disk takes milliseconds) and returns their ids in order.
func enqueueJobs(t *testing.T, c *queue.Client, jobs []job) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ids := make([]string, len(jobs))
	var g errgroup.Group
	g.SetLimit(16)
	for i, j := range jobs {
		g.Go(func() error {
			task, err := c.Enqueue(ctx, "job", j)
			if err != nil {
				return fmt.Errorf("Enqueue job %d: %w", i, err)
			}
			ids[i] = task.ID
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	return ids
}

// waitDone waits for every task to be done, retrying through outages, and
// returns them in order.
func waitDone(t *testing.T, c *queue.Client, ids []string, within time.Duration) []*queue.Task {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	out := make([]*queue.Task, len(ids))
	for i, id := range ids {
		for {
			task, err := c.Wait(ctx, id)
			if err == nil {
				out[i] = task
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("task %d (%s) not done within %v: last error %v", i, id, within, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return out
}

// executions returns how often each task's handler ran, across processes.
func executions(t *testing.T, pool *pgxpool.Pool, schema string) map[string]int {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT id, n FROM "`+schema+`".test_execs`)
	if err != nil {
		t.Fatalf("read executions: %v", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		out[id] = n
	}
	return out
}
