package pgq

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/resilience-go/resilience/queue"
)

// The lease-holding calls: each is one UPDATE of the task's row under the
// condition that the token is its current lease and the lease has not run
// out, with ErrLeaseLost or ErrTaskNotFound worked out by the same
// statement when it changed nothing.

// settle runs one settling statement and turns its status into an error.
func (b *Broker) settle(ctx context.Context, op, id, sql string, args ...any) error {
	if err := b.check(ctx); err != nil {
		return err
	}
	var status int
	if err := b.pool.QueryRow(ctx, sql, args...).Scan(&status); err != nil {
		return b.wrap(ctx, op+" "+id, err)
	}
	return settled(id, status)
}

// Renew implements [queue.Broker.Renew]. On a task whose cancellation was
// requested it renews the lease and returns an error wrapping
// [queue.ErrRevoked].
func (b *Broker) Renew(ctx context.Context, id, token string, lease time.Duration) error {
	if lease <= 0 {
		return fmt.Errorf("%w: Renew: lease is %v; want > 0", queue.ErrInvalidArgument, lease)
	}
	return b.settle(ctx, "renew", id, b.sql.renew, id, token, micros(lease))
}

// Progress implements [queue.Broker.Progress]. On a task whose
// cancellation was requested it records p and returns an error wrapping
// [queue.ErrRevoked].
func (b *Broker) Progress(ctx context.Context, id, token string, p queue.Progress, lease time.Duration) error {
	if lease <= 0 {
		return fmt.Errorf("%w: Progress: lease is %v; want > 0", queue.ErrInvalidArgument, lease)
	}
	return b.settle(ctx, "progress", id, b.sql.progress, id, token, p.Current, p.Total, p.Status, micros(lease))
}

// ttlArg checks the result TTL given to method op.
func ttlArg(op string, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("%w: %s: result TTL is %v; want > 0", queue.ErrInvalidArgument, op, ttl)
	}
	return nil
}

// resultArgs checks the result and its TTL given to method op.
func resultArgs(op string, result json.RawMessage, ttl time.Duration) error {
	if err := ttlArg(op, ttl); err != nil {
		return err
	}
	if len(result) > 0 && !json.Valid(result) {
		return fmt.Errorf("%w: %s: result is not valid JSON", queue.ErrInvalidArgument, op)
	}
	return nil
}

// Complete implements [queue.Broker.Complete].
func (b *Broker) Complete(ctx context.Context, id, token string, result json.RawMessage, ttl time.Duration) error {
	if err := resultArgs("Complete", result, ttl); err != nil {
		return err
	}
	return b.settle(ctx, "complete", id, b.sql.complete, id, token, rawArg(result), micros(ttl))
}

// Fail implements [queue.Broker.Fail].
func (b *Broker) Fail(ctx context.Context, id, token, errMsg string, ttl time.Duration) error {
	if err := ttlArg("Fail", ttl); err != nil {
		return err
	}
	return b.settle(ctx, "fail", id, b.sql.fail, id, token, errMsg, micros(ttl))
}

// Retry implements [queue.Broker.Retry]. The task goes to the back of its
// queue.
func (b *Broker) Retry(ctx context.Context, id, token, errMsg string, notBefore time.Time) error {
	return b.settle(ctx, "retry", id, b.sql.retry, id, token, errMsg, dbTime(notBefore), micros(queue.DefaultResultTTL))
}

// Release implements [queue.Broker.Release]: the task goes to the front of
// its queue.
func (b *Broker) Release(ctx context.Context, id, token string) error {
	return b.settle(ctx, "release", id, b.sql.release, id, token, micros(queue.DefaultResultTTL))
}

// Batch sizes of Recover: each statement touches at most this many rows,
// and one call runs at most maxBatches statements of each kind, so no
// statement holds many row locks or writes much WAL at once.
const (
	batchSize  = 1000
	maxBatches = 100
	foldBatch  = 10000 // count changes folded into the counts per statement
)

// Recover implements [queue.Broker.Recover]. In batches of at most 1,000
// rows per statement it makes tasks whose lease ran out claimable again
// (at the front of their queue; REVOKED when their cancellation was
// requested), deletes tasks whose result expired, and fails rows whose
// state does not exist into the dead letters; and it folds the count
// changes recorded since the last call into the counts of Stats; and
// after every 10,000 claims of this broker it vacuums the tasks table. It returns how many leases
// it recovered. Any worker may call it; concurrent calls skip each other's
// rows.
func (b *Broker) Recover(ctx context.Context) (int, error) {
	if err := b.check(ctx); err != nil {
		return 0, err
	}
	recovered := 0
	for range maxBatches {
		tag, err := b.pool.Exec(ctx, b.sql.recover, batchSize, micros(queue.DefaultResultTTL))
		if err != nil {
			return recovered, b.wrap(ctx, "recover", err)
		}
		recovered += int(tag.RowsAffected())
		if tag.RowsAffected() < batchSize {
			break
		}
	}
	for range maxBatches {
		tag, err := b.pool.Exec(ctx, b.sql.cleanup, batchSize)
		if err != nil {
			return recovered, b.wrap(ctx, "remove expired results", err)
		}
		if tag.RowsAffected() < batchSize {
			break
		}
	}
	for range maxBatches {
		var moved int
		if err := b.pool.QueryRow(ctx, b.sql.fold, foldBatch).Scan(&moved); err != nil {
			return recovered, b.wrap(ctx, "fold counts", err)
		}
		if moved < foldBatch {
			break
		}
	}
	if err := b.poisonBadStates(ctx); err != nil {
		return recovered, err
	}
	b.vacuum(ctx)
	return recovered, nil
}

// vacuumAfter is how many claims a broker makes between two VACUUMs of
// its schema's busiest tables.
const vacuumAfter = 10_000

// vacuum runs VACUUM (ANALYZE, SKIP_LOCKED) on the tasks and count-changes tables
// once this broker made vacuumAfter claims since the last time. Every claim
// leaves a dead row version and a dead entry at the head of the index that
// claims scan, so a queue table needs vacuuming far more often than
// autovacuum's defaults do it (and this also keeps the queue fast on a
// server with autovacuum turned off). It is best effort: a role that may
// not vacuum the tables, or a VACUUM already running, changes nothing.
func (b *Broker) vacuum(ctx context.Context) {
	if b.changes.Load() < vacuumAfter {
		return
	}
	b.changes.Store(0)
	_, _ = b.pool.Exec(ctx, `VACUUM (ANALYZE, SKIP_LOCKED) `+b.n.quoted+`.tasks, `+b.n.quoted+`.count_deltas`)
}

// poisonBadStates fails rows whose state does not exist into the dead
// letters.
func (b *Broker) poisonBadStates(ctx context.Context) error {
	rows, err := b.pool.Query(ctx, b.sql.badState, batchSize)
	if err != nil {
		return b.wrap(ctx, "find rows with a bad state", err)
	}
	var bad []*row
	for rows.Next() {
		var r row
		if err := rows.Scan(r.dest()...); err != nil {
			rows.Close()
			return b.wrap(ctx, "find rows with a bad state", err)
		}
		bad = append(bad, &r)
	}
	if err := rows.Err(); err != nil {
		return b.wrap(ctx, "find rows with a bad state", err)
	}
	for _, r := range bad {
		_, reason := r.task()
		if err := b.poison(ctx, r, "", reason); err != nil {
			return err
		}
	}
	return nil
}

// Changed implements [queue.Watcher] on the schema's notification channel:
// every change of a task's row (state, progress, removal) is announced at
// commit. Until the broker's listening connection is up (and after it
// reconnects) every channel is closed once, so a change missed meanwhile is
// never waited for.
func (b *Broker) Changed(id string) (<-chan struct{}, func()) {
	return b.hub.changed(id)
}
