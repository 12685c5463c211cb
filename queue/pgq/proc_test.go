package pgq

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/resilience-go/resilience/internal/proctest"
	"github.com/resilience-go/resilience/internal/proctest/faultjob"
	"github.com/resilience-go/resilience/queue"
)

// job is the payload of the fault worker's "job" tasks.
type job = faultjob.Job

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
	return proctest.Enqueue(t, c, faultjob.Name, jobs, 16, 5*time.Minute)
}

// waitDone waits for every task to be done, retrying through outages, and
// returns them in order.
func waitDone(t *testing.T, c *queue.Client, ids []string, within time.Duration) []*queue.Task {
	t.Helper()
	return proctest.WaitDone(t, c, ids, within)
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
