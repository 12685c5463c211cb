package pgq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/resilience-go/resilience/queue"
)

// Broker is a [queue.Broker] on PostgreSQL: several processes on several
// machines that use the same database and [Options.Schema] share one set of
// queues, leases and results. Each state change is one SQL statement, so
// it is atomic; times (leases, result expiry) come from the database
// server's clock, except a task's EnqueuedAt and NotBefore, which the
// enqueuing process sets.
//
// Claims take a row with SELECT ... FOR UPDATE SKIP LOCKED inside one
// function call per claim. An idle claim waits for a notification on the
// schema's LISTEN/NOTIFY channel (one listening connection per Broker,
// shared by all its claims and watchers, reconnected when it drops), for
// the earliest delayed task or lease end, or at most [WakeTimeout]: a
// safety net, not a polling interval. Beyond queue.Broker it is a
// queue.Watcher, a queue.CompleteClaimer, a queue.Canceler, a queue.Pauser
// and a queue.Inspector. [Broker.EnqueueTx] and [Enqueue] store a task
// inside the caller's transaction.
//
// A Broker is safe for concurrent use. It does not own pool: Close stops
// the broker, not the pool. The schema is migrated ([Migrate]) before the
// first statement.
type Broker struct {
	pool    *pgxpool.Pool
	n       names
	sql     statements
	err     error // a bad argument to NewBroker, returned by every call
	closing context.Context
	close   context.CancelFunc
	hub     *hub
	mig     migrator
	changes atomic.Int64 // claims made since the last VACUUM (see Recover)
}

var (
	_ queue.Broker          = (*Broker)(nil)
	_ queue.Watcher         = (*Broker)(nil)
	_ queue.CompleteClaimer = (*Broker)(nil)
)

// WakeTimeout bounds how long an idle [Broker.Claim] waits for a
// notification before it looks again by itself: a safety net for a
// notification lost with a dropped connection. Claims normally wake on the
// notification, on the earliest delay or lease end, or at once after the
// listening connection reconnects.
const WakeTimeout = 10 * time.Second

// NewBroker returns a broker on pool under opts.Schema. A nil pool or a bad
// schema name is kept as an error wrapping [queue.ErrInvalidArgument] that
// every call returns. NewBroker does not touch the database; the schema is
// migrated by the first call that needs it.
func NewBroker(pool *pgxpool.Pool, opts Options) *Broker {
	n, err := newNames(opts.Schema)
	if pool == nil && err == nil {
		err = errors.New("pool is nil; want a *pgxpool.Pool")
	}
	if err != nil {
		err = fmt.Errorf("%w: pgq.NewBroker: %w", queue.ErrInvalidArgument, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Broker{pool: pool, n: n, sql: newStatements(n), err: err, closing: ctx, close: cancel}
	b.mig = migrator{pool: pool, n: n}
	b.hub = newHub(b)
	return b
}

// Close stops the broker: claims blocked in [Broker.Claim] return an error
// wrapping [queue.ErrClosed], as does every later call; channels from
// [Broker.Changed] are closed and the listening connection is closed.
// Tasks stay in the database. Close does not close the pool. It is
// idempotent and returns nil.
func (b *Broker) Close() error {
	b.close()
	b.hub.shutdown()
	return nil
}

// Schema returns the schema the broker uses.
func (b *Broker) Schema() string { return b.n.schema }

// check returns the error that stops a call before it reaches the
// database, and migrates the schema on first use.
func (b *Broker) check(ctx context.Context) error {
	if b.err != nil {
		return b.err
	}
	if b.closing.Err() != nil {
		return queue.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return b.mig.ensure(ctx)
}

// wrap translates a database error at the package boundary.
func (b *Broker) wrap(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if b.closing.Err() != nil {
		return fmt.Errorf("pgq: %s: %w (%w)", op, queue.ErrClosed, err)
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("pgq: %s: %w (%w)", op, cerr, err)
	}
	return fmt.Errorf("pgq: %s: %w", op, err)
}

// migrator runs Migrate once per broker or store, again after a failure.
type migrator struct {
	pool *pgxpool.Pool
	n    names
	done atomic.Bool
	mu   sync.Mutex
}

func (m *migrator) ensure(ctx context.Context) error {
	if m.done.Load() {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done.Load() {
		return nil
	}
	if err := migrate(ctx, m.pool, m.n); err != nil {
		return err
	}
	m.done.Store(true)
	return nil
}

// querier is what both a pool and a transaction offer.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Enqueue implements [queue.Broker.Enqueue] with one INSERT, durable when
// Enqueue returns. When ctx carries a transaction (see [Enqueue], the
// package function) the task is stored in it, as [Broker.EnqueueTx] does.
//
// The notification that wakes idle claims is not sent by the INSERT's own
// transaction: PostgreSQL holds one lock for every transaction that
// notifies until its commit is flushed to disk, so enqueues that notify
// wait for each other's disk flushes. The broker sends it just after the
// commit instead, from a background goroutine that gathers the queues of
// every enqueue made meanwhile into one statement that does not wait for a
// flush. Claims in this process are woken at once.

func (b *Broker) Enqueue(ctx context.Context, t *queue.Task) (*queue.Task, bool, error) {
	if tx, ok := ctx.Value(txKey{}).(pgx.Tx); ok && tx != nil {
		return b.EnqueueTx(ctx, tx, t)
	}
	if err := enqueueArgs(t); err != nil {
		return nil, false, err
	}
	if err := b.check(ctx); err != nil {
		return nil, false, err
	}
	stored, created, err := b.enqueue(ctx, b.pool, b.sql.enqueueDeferred, t)
	if err == nil && created {
		b.hub.announce(t.Queue)
	}
	return stored, created, err
}

// EnqueueTx stores t as [Broker.Enqueue] does, inside the caller's
// transaction tx: the task exists if and only if tx commits, and no worker
// sees it before then (the notification that wakes idle workers is sent at
// commit). Idempotent enqueue by id works as in Enqueue; a task with the
// same id enqueued by another transaction that has not yet ended makes
// EnqueueTx wait for that transaction. The schema must be migrated (the
// broker does it on first use, outside tx). EnqueueTx neither commits nor
// rolls back tx; an error it returns leaves tx to the caller, who should
// roll it back. To build the task as [queue.Client.Enqueue] does (queues,
// options, hooks), use the package function [Enqueue].
func (b *Broker) EnqueueTx(ctx context.Context, tx pgx.Tx, t *queue.Task) (*queue.Task, bool, error) {
	if err := enqueueArgs(t); err != nil {
		return nil, false, err
	}
	if tx == nil {
		return nil, false, fmt.Errorf("%w: EnqueueTx: tx is nil", queue.ErrInvalidArgument)
	}
	if err := b.check(ctx); err != nil {
		return nil, false, err
	}
	return b.enqueue(ctx, tx, b.sql.enqueue, t)
}

func enqueueArgs(t *queue.Task) error {
	if t == nil {
		return fmt.Errorf("%w: Enqueue: task is nil", queue.ErrInvalidArgument)
	}
	if t.ID == "" || t.Name == "" || t.Queue == "" {
		return fmt.Errorf("%w: Enqueue: task ID, Name and Queue must be set, got %q, %q, %q",
			queue.ErrInvalidArgument, t.ID, t.Name, t.Queue)
	}
	return nil
}

// enqueue inserts t through q (the pool or a transaction). A row with the
// same id whose result expired is replaced; a live one is returned.
func (b *Broker) enqueue(ctx context.Context, q querier, sql string, t *queue.Task) (*queue.Task, bool, error) {
	headers, err := headersArg(t.Headers)
	if err != nil {
		return nil, false, fmt.Errorf("%w: Enqueue: headers of task %s: %w", queue.ErrInvalidArgument, t.ID, err)
	}
	for range 3 {
		r, err := scanTask(q.QueryRow(ctx, sql, t.ID, t.Name, t.Queue, rawArg(t.Payload), headers,
			t.MaxRetries, dbTime(t.EnqueuedAt), dbTime(t.NotBefore)))
		if err == nil {
			got, err := r.task()
			return got, true, err
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return nil, false, b.wrap(ctx, "enqueue "+t.ID, err)
		}
		// A live task holds the id: return it. (It may expire or be
		// removed in between: then try the insert again.)
		r, err = scanTask(q.QueryRow(ctx, b.sql.get, t.ID))
		if err == nil {
			got, err := r.task()
			return got, false, err
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return nil, false, b.wrap(ctx, "enqueue "+t.ID, err)
		}
	}
	return nil, false, fmt.Errorf("pgq: enqueue %s: the id was taken and freed three times in a row; try again", t.ID)
}

// Get implements [queue.Broker.Get]. A task whose row does not decode is
// an error wrapping [ErrCorruptTask].
func (b *Broker) Get(ctx context.Context, id string) (*queue.Task, error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	r, err := scanTask(b.pool.QueryRow(ctx, b.sql.get, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, queue.ErrTaskNotFound
	}
	if err != nil {
		return nil, b.wrap(ctx, "get "+id, err)
	}
	return r.task()
}
