// Command faultworker is the worker process of the pgq fault tests: a
// queue.Worker on a pgq.Broker that the tests kill with SIGKILL and start
// again. It is not part of the API.
//
//	faultworker -url postgres://postgres@127.0.0.1:5432/test -schema t_x -concurrency 4 -lease 1s
//
// Its one handler, "job", takes a faultjob.Job payload. Every execution is
// counted in the table <schema>.test_execs (task id, executions), so a test
// can count duplicates across processes. A blocking job inserts its id into
// <schema>.test_started when it starts.
package main

import (
	"context"
	"flag"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/resilience-go/resilience/internal/proctest/faultjob"
	"github.com/resilience-go/resilience/queue/pgq"
)

func main() {
	url := flag.String("url", "", "PostgreSQL connection string")
	schema := flag.String("schema", pgq.DefaultSchema, "schema")
	f := faultjob.AddFlags(flag.CommandLine)
	flag.Parse()
	faultjob.Exit(run(*url, *schema, f))
}

func run(url, schema string, f *faultjob.Flags) error {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return err
	}
	cfg.MaxConns = int32(f.Concurrency + 4)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	opts := pgq.Options{Schema: schema}
	b := pgq.NewBroker(pool, opts)
	defer b.Close()
	return faultjob.Run(b, f, pgq.NewDeadLetterStore(pool, opts), recorder{pool, `"` + schema + `".`})
}

// recorder keeps what the handler did in tables of the schema, which the
// test creates.
type recorder struct {
	pool *pgxpool.Pool
	q    string // the quoted schema and a dot
}

func (r recorder) Executed(ctx context.Context, id string) error {
	_, err := r.pool.Exec(ctx, `INSERT INTO `+r.q+`test_execs (id, n) VALUES ($1, 1)
		ON CONFLICT (id) DO UPDATE SET n = test_execs.n + 1`, id)
	return err
}

func (r recorder) Started(ctx context.Context, id string) {
	_, _ = r.pool.Exec(ctx, `INSERT INTO `+r.q+`test_started (id) VALUES ($1)`, id)
}

// Ended records nothing: no pgq test waits for it.
func (recorder) Ended(string, error) {}
