package pgq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/resilience-go/resilience/dlq"
)

// DeadLetterStore is a [dlq.Store] on PostgreSQL, shared by every process
// that uses the same database and [Options.Schema]: entries as JSON in the
// table <schema>.dead_letters, in push order (a sequence number kept when an
// entry is pushed again), and the failure counts of [dlq.Recorder] alerts
// in <schema>.failure_counts, one row per task name, window length and
// window number. Each change is one statement.
//
// Failure windows are numbered from the database server's clock, in whole
// microseconds, so all workers agree on them; a window shorter than a
// microsecond counts as one microsecond. Counts of past windows are
// deleted in small batches by later calls. The store is also a
// [dlq.AlertReader]: [DeadLetterStore.FailureCounts] reads the counts of
// the current window, for [dlq.Recorder.AlertStates], without adding to
// them.
//
// An entry whose stored JSON does not decode is returned (not dropped)
// with its TaskID, an Error saying so, and the stored text as its Trace.
// A DeadLetterStore is safe for concurrent use and holds no goroutines.
type DeadLetterStore struct {
	pool  *pgxpool.Pool
	n     names
	err   error
	mig   migrator
	calls atomic.Uint64
}

var _ dlq.Store = (*DeadLetterStore)(nil)

// NewDeadLetterStore returns the dead-letter store of opts.Schema on pool.
// A nil pool or a bad schema name is kept as an error wrapping
// [dlq.ErrInvalidArgument] that every call returns. The schema is migrated
// by the first call. Give it the Options of the [Broker] its workers use:
// a task whose row does not decode is dead-lettered by the broker into
// this store.
func NewDeadLetterStore(pool *pgxpool.Pool, opts Options) *DeadLetterStore {
	n, err := newNames(opts.Schema)
	if pool == nil && err == nil {
		err = errors.New("pool is nil; want a *pgxpool.Pool")
	}
	if err != nil {
		err = fmt.Errorf("%w: pgq.NewDeadLetterStore: %w", dlq.ErrInvalidArgument, err)
	}
	return &DeadLetterStore{pool: pool, n: n, err: err, mig: migrator{pool: pool, n: n}}
}

func (s *DeadLetterStore) check(ctx context.Context) error {
	if s.err != nil {
		return s.err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.mig.ensure(ctx)
}

func (s *DeadLetterStore) wrap(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("pgq: dead letters: %s: %w (%w)", op, cerr, err)
	}
	return fmt.Errorf("pgq: dead letters: %s: %w", op, err)
}

func (s *DeadLetterStore) table() string { return s.n.quoted + ".dead_letters" }

// Push implements [dlq.Store.Push].
func (s *DeadLetterStore) Push(ctx context.Context, e dlq.Entry) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if e.TaskID == "" {
		return fmt.Errorf("%w: Entry.TaskID must not be empty", dlq.ErrInvalidArgument)
	}
	if len(e.Payload) > 0 && !json.Valid(e.Payload) {
		return fmt.Errorf("%w: Entry.Payload of task %s is not valid JSON", dlq.ErrInvalidArgument, e.TaskID)
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("%w: Entry of task %s does not marshal: %w", dlq.ErrInvalidArgument, e.TaskID, err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO `+s.table()+` (task_id, entry) VALUES ($1, $2)
		ON CONFLICT (task_id) DO UPDATE SET entry = EXCLUDED.entry`, e.TaskID, raw)
	if err != nil {
		return s.wrap(ctx, "push "+e.TaskID, err)
	}
	return nil
}

// Pop implements [dlq.Store.Pop]: one DELETE of the n oldest entries that
// no concurrent Pop holds (FOR UPDATE SKIP LOCKED).
func (s *DeadLetterStore) Pop(ctx context.Context, n int) ([]dlq.Entry, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if n < 1 {
		return nil, fmt.Errorf("%w: Pop n must be >= 1, got %d", dlq.ErrInvalidArgument, n)
	}
	rows, err := s.pool.Query(ctx, `WITH x AS (SELECT task_id FROM `+s.table()+` ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED)
		DELETE FROM `+s.table()+` d USING x WHERE d.task_id = x.task_id RETURNING d.task_id, d.seq, d.entry`, n)
	if err != nil {
		return nil, s.wrap(ctx, "pop", err)
	}
	return s.collect(ctx, "pop", rows, true)
}

// List implements [dlq.Store.List].
func (s *DeadLetterStore) List(ctx context.Context, offset, limit int) ([]dlq.Entry, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if offset < 0 || limit < 0 {
		return nil, fmt.Errorf("%w: List offset and limit must be >= 0, got %d and %d", dlq.ErrInvalidArgument, offset, limit)
	}
	if limit == 0 {
		return []dlq.Entry{}, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT task_id, seq, entry FROM `+s.table()+` ORDER BY seq OFFSET $1 LIMIT $2`,
		int64(offset), int64(min(limit, math.MaxInt32)))
	if err != nil {
		return nil, s.wrap(ctx, "list", err)
	}
	return s.collect(ctx, "list", rows, false)
}

// collect reads (task_id, seq, entry) rows, sorted by seq when sort is set.
func (s *DeadLetterStore) collect(ctx context.Context, op string, rows pgx.Rows, sort bool) ([]dlq.Entry, error) {
	type item struct {
		seq int64
		e   dlq.Entry
	}
	var items []item
	for rows.Next() {
		var id string
		var seq int64
		var raw []byte
		if err := rows.Scan(&id, &seq, &raw); err != nil {
			rows.Close()
			return nil, s.wrap(ctx, op, err)
		}
		items = append(items, item{seq, decodeEntry(id, raw)})
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(ctx, op, err)
	}
	if sort {
		for i := 1; i < len(items); i++ { // insertion sort: n is a batch
			for j := i; j > 0 && items[j].seq < items[j-1].seq; j-- {
				items[j], items[j-1] = items[j-1], items[j]
			}
		}
	}
	out := make([]dlq.Entry, len(items))
	for i, it := range items {
		out[i] = it.e
	}
	return out, nil
}

// Get implements [dlq.Store.Get].
func (s *DeadLetterStore) Get(ctx context.Context, taskID string) (dlq.Entry, error) {
	if err := s.check(ctx); err != nil {
		return dlq.Entry{}, err
	}
	var raw []byte
	err := s.pool.QueryRow(ctx, `SELECT entry FROM `+s.table()+` WHERE task_id = $1`, taskID).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return dlq.Entry{}, fmt.Errorf("%w: task %s", dlq.ErrNotFound, taskID)
	}
	if err != nil {
		return dlq.Entry{}, s.wrap(ctx, "get "+taskID, err)
	}
	return decodeEntry(taskID, raw), nil
}

// Len implements [dlq.Store.Len].
func (s *DeadLetterStore) Len(ctx context.Context) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM `+s.table()).Scan(&n); err != nil {
		return 0, s.wrap(ctx, "len", err)
	}
	return int(n), nil
}

// Delete implements [dlq.Store.Delete].
func (s *DeadLetterStore) Delete(ctx context.Context, taskID string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM `+s.table()+` WHERE task_id = $1`, taskID)
	if err != nil {
		return s.wrap(ctx, "delete "+taskID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: task %s", dlq.ErrNotFound, taskID)
	}
	return nil
}

// CountFailure implements [dlq.Store.CountFailure]: one upsert of the row
// (taskName, window in µs, window number), where the window number is
// floor(now / window) with now from the database server's clock. Every
// 64th call also deletes up to 100 rows of windows that ended.
func (s *DeadLetterStore) CountFailure(ctx context.Context, taskName string, window time.Duration) (int64, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	if window <= 0 {
		return 0, fmt.Errorf("%w: CountFailure window must be > 0, got %v", dlq.ErrInvalidArgument, window)
	}
	w := windowUS(window)
	t := s.n.quoted + ".failure_counts"
	var n int64
	err := s.pool.QueryRow(ctx, `WITH w AS (SELECT floor(extract(epoch FROM clock_timestamp()) * 1000000 / $2)::bigint AS no)
		INSERT INTO `+t+` AS f (name, window_us, window_no, count, expires_at)
		SELECT $1, $2, w.no, 1, to_timestamp(((w.no + 1) * $2::numeric) / 1000000) + interval '1 second' FROM w
		ON CONFLICT (name, window_us, window_no) DO UPDATE SET count = f.count + 1
		RETURNING f.count`, taskName, w).Scan(&n)
	if err != nil {
		return 0, s.wrap(ctx, "count failure of "+taskName, err)
	}
	if s.calls.Add(1)%64 == 0 {
		// Best effort: the count is done; a later call deletes them.
		_, _ = s.pool.Exec(ctx, `DELETE FROM `+t+` WHERE ctid IN (SELECT ctid FROM `+t+`
			WHERE expires_at < now() LIMIT 100)`)
	}
	return n, nil
}

// decodeEntry decodes a stored entry; one that does not decode comes back
// with its id, an error saying so, and the stored text as the trace.
func decodeEntry(id string, raw []byte) dlq.Entry {
	var e dlq.Entry
	if err := json.Unmarshal(raw, &e); err != nil {
		return dlq.Entry{TaskID: id, Error: fmt.Sprintf("pgq: stored dead letter does not decode: %v", err), Trace: string(raw)}
	}
	e.TaskID = id
	return e
}
