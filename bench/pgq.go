package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/queue"
	"github.com/resilience-go/resilience/queue/pgq"
)

// PostgresURL is the database of the PostgreSQL comparison: PGBENCH_URL,
// or the local server at 127.0.0.1:5432, database test, user postgres.
func PostgresURL() string {
	if u := os.Getenv("PGBENCH_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// Resetter is a QueueSystem that empties its tables between runs.
type Resetter interface {
	Reset(ctx context.Context) error
}

// Batcher is a QueueSystem that inserts many tasks in one call.
type Batcher interface {
	EnqueueBatch(ctx context.Context, payloads [][]byte) error
}

func newPool(ctx context.Context, url string, conns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = conns
	return pgxpool.NewWithConfig(ctx, cfg)
}

// pgqSystem is queue.Client and queue.Worker on pgq.
type pgqSystem struct {
	url    string
	pool   *pgxpool.Pool
	broker *pgq.Broker
	client *queue.Client
	opts   pgq.Options
}

// NewPgqSystem returns resilience's queue on pgq in schema bench_pgq of
// the database at url (migrated, emptied).
func NewPgqSystem(ctx context.Context, url string) (QueueSystem, error) {
	pool, err := newPool(ctx, url, 16)
	if err != nil {
		return nil, err
	}
	opts := pgq.Options{Schema: "bench_pgq"}
	if err := pgq.Migrate(ctx, pool, opts); err != nil {
		pool.Close()
		return nil, err
	}
	b := pgq.NewBroker(pool, opts)
	s := &pgqSystem{url: url, pool: pool, broker: b, client: queue.NewClient(b), opts: opts}
	return s, s.Reset(ctx)
}

func (s *pgqSystem) Name() string { return "resilience queue/pgq" }

func (s *pgqSystem) Reset(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, `TRUNCATE bench_pgq.tasks, bench_pgq.count_deltas, bench_pgq.counts, bench_pgq.dead_letters`)
	return err
}

func (s *pgqSystem) Enqueue(ctx context.Context, payload []byte) error {
	_, err := s.client.Enqueue(ctx, "noop", json.RawMessage(payload))
	return err
}

func (s *pgqSystem) EnqueueBatch(ctx context.Context, payloads [][]byte) error {
	tasks := make([]*queue.Task, len(payloads))
	now := time.Now()
	for i, p := range payloads {
		var id [16]byte
		_, _ = rand.Read(id[:])
		tasks[i] = &queue.Task{ID: hex.EncodeToString(id[:]), Name: "noop", Queue: queue.QueueDefault,
			Payload: p, MaxRetries: queue.DefaultRetries, EnqueuedAt: now}
	}
	_, err := s.broker.EnqueueMany(ctx, tasks)
	return err
}

func (s *pgqSystem) Start(concurrency int, handle func([]byte)) (func(), error) {
	// The workers have their own pool, as river's client has.
	pool, err := newPool(context.Background(), s.url, int32(concurrency+4))
	if err != nil {
		return nil, err
	}
	b := pgq.NewBroker(pool, s.opts)
	w, err := queue.NewWorker(b, queue.WorkerConfig{
		Concurrency: concurrency, Queues: []string{queue.QueueDefault},
		Logger: discard, Alerts: dlq.AlertConfig{Logger: discard},
	})
	if err != nil {
		pool.Close()
		return nil, err
	}
	w.Handle("noop", func(_ context.Context, t *queue.Task) (any, error) {
		handle(t.Payload)
		return nil, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = w.Run(ctx) })
	return func() {
		cancel()
		wg.Wait()
		_ = b.Close()
		pool.Close()
	}, nil
}

func (s *pgqSystem) Close() error {
	_ = s.broker.Close()
	s.pool.Close()
	return nil
}

// NoopArgs is the job of the river workloads: the payload as a field.
type NoopArgs struct {
	P json.RawMessage `json:"p"`
}

// Kind implements river.JobArgs.
func (NoopArgs) Kind() string { return "noop" }

type noopWorker struct {
	river.WorkerDefaults[NoopArgs]
	handle func([]byte)
}

func (w *noopWorker) Work(_ context.Context, job *river.Job[NoopArgs]) error {
	w.handle(job.Args.P)
	return nil
}

// riverSystem is riverqueue/river v0.51.0 on riverpgxv5 with default
// settings (apart from concurrency, one queue, quiet logs and, when set,
// FetchCooldown).
type riverSystem struct {
	url      string
	pool     *pgxpool.Pool
	client   *river.Client[pgx.Tx]
	cooldown time.Duration
}

const riverSchema = "bench_river"

// NewRiverSystem returns river in schema bench_river of the database at
// url (migrated, emptied). A cooldown > 0 sets the workers' FetchCooldown
// (river's default is 100 ms); 0 keeps the default.
func NewRiverSystem(ctx context.Context, url string, cooldown time.Duration) (QueueSystem, error) {
	pool, err := newPool(ctx, url, 16)
	if err != nil {
		return nil, err
	}
	if _, err := pool.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+riverSchema); err != nil {
		pool.Close()
		return nil, err
	}
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Schema: riverSchema, Logger: discard})
	if err != nil {
		pool.Close()
		return nil, err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		pool.Close()
		return nil, fmt.Errorf("river migrate: %w", err)
	}
	// An insert-only client: no queues, no workers.
	c, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Schema: riverSchema, Logger: discard})
	if err != nil {
		pool.Close()
		return nil, err
	}
	s := &riverSystem{url: url, pool: pool, client: c, cooldown: cooldown}
	return s, s.Reset(ctx)
}

func (s *riverSystem) Name() string {
	if s.cooldown > 0 {
		return fmt.Sprintf("riverqueue/river v0.51.0 (FetchCooldown %v)", s.cooldown)
	}
	return "riverqueue/river v0.51.0"
}

func (s *riverSystem) Reset(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, `TRUNCATE `+riverSchema+`.river_job`)
	return err
}

func (s *riverSystem) Enqueue(ctx context.Context, payload []byte) error {
	_, err := s.client.Insert(ctx, NoopArgs{P: payload}, nil)
	return err
}

func (s *riverSystem) EnqueueBatch(ctx context.Context, payloads [][]byte) error {
	params := make([]river.InsertManyParams, len(payloads))
	for i, p := range payloads {
		params[i] = river.InsertManyParams{Args: NoopArgs{P: p}}
	}
	_, err := s.client.InsertMany(ctx, params)
	return err
}

func (s *riverSystem) Start(concurrency int, handle func([]byte)) (func(), error) {
	pool, err := newPool(context.Background(), s.url, int32(concurrency+4))
	if err != nil {
		return nil, err
	}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &noopWorker{handle: handle}); err != nil {
		pool.Close()
		return nil, err
	}
	c, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Schema: riverSchema, Logger: discard, Workers: workers, FetchCooldown: s.cooldown,
		Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: concurrency}},
	})
	if err != nil {
		pool.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := c.Start(ctx); err != nil {
		cancel()
		pool.Close()
		return nil, err
	}
	return func() {
		stopCtx, stopCancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer stopCancel()
		if err := c.Stop(stopCtx); err != nil && !errors.Is(err, context.Canceled) {
			_ = c.StopAndCancel(stopCtx)
		}
		cancel()
		pool.Close()
	}, nil
}

func (s *riverSystem) Close() error {
	s.pool.Close()
	return nil
}
