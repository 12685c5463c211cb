package pgq

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/resilience-go/resilience/queue"
)

// The control and inspection half of [Broker]: it is a [queue.Canceler], a
// [queue.Pauser] and a [queue.Inspector].

var (
	_ queue.Canceler  = (*Broker)(nil)
	_ queue.Pauser    = (*Broker)(nil)
	_ queue.Inspector = (*Broker)(nil)
)

// Cancel implements [queue.Canceler] in one statement (two when it
// changes nothing: then it reads the task's latest version): a waiting task
// (PENDING, RETRY, delayed) becomes REVOKED, kept for ttl; a leased one
// gets cancel_requested set, which every settling statement, and the
// recovery of its lease, turns into REVOKED. The change is announced on the
// schema's channel, so the [Broker.Changed] watchers of a worker running
// the task learn of it at once.
func (b *Broker) Cancel(ctx context.Context, id string, ttl time.Duration) (*queue.Task, error) {
	if err := ttlArg("Cancel", ttl); err != nil {
		return nil, err
	}
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	r, err := scanTask(b.pool.QueryRow(ctx, b.sql.cancel, id, micros(ttl)))
	if errors.Is(err, pgx.ErrNoRows) { // done, already cancelled, or unknown
		r, err = scanTask(b.pool.QueryRow(ctx, b.sql.cancelRead, id))
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, queue.ErrTaskNotFound
	}
	if err != nil {
		return nil, b.wrap(ctx, "cancel "+id, err)
	}
	return r.task()
}

// checkQueueName checks a queue name as package queue does
// ([queue.CheckQueueName]), naming the broker call op.
func checkQueueName(op, q string) error {
	if err := queue.CheckQueueName(q); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// SetPaused implements [queue.Pauser]: a row in <schema>.paused, which the
// claim function skips. Resuming notifies the queue, so claims waiting on
// it in every process wake.
func (b *Broker) SetPaused(ctx context.Context, queueName string, paused bool) error {
	if err := checkQueueName("SetPaused", queueName); err != nil {
		return err
	}
	if err := b.check(ctx); err != nil {
		return err
	}
	sql := b.sql.resume
	if paused {
		sql = b.sql.pause
	}
	if _, err := b.pool.Exec(ctx, sql, queueName); err != nil {
		return b.wrap(ctx, "set paused "+queueName, err)
	}
	return nil
}

// Stats implements [queue.Inspector]. Counts by state come from
// <schema>.counts plus the changes not yet folded into it (a row trigger
// records each change; Recover folds them in batches), so the cost grows
// with the number of queues and of recent changes, not of tasks held. The
// split of waiting tasks into Pending and Scheduled (delayed into the
// future) depends on the clock, so Scheduled is counted through the index
// of delayed tasks, and results that expired but are not yet removed
// through the index of expiry times: those costs grow with the number of
// delayed tasks and of results expired since the last Recover.
func (b *Broker) Stats(ctx context.Context) ([]queue.QueueStats, error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	rows, err := b.pool.Query(ctx, b.sql.stats)
	if err != nil {
		return nil, b.wrap(ctx, "stats", err)
	}
	defer rows.Close()
	byQueue := map[string]*queue.QueueStats{}
	for rows.Next() {
		var q, state string
		var n, scheduled int64
		var paused bool
		if err := rows.Scan(&q, &state, &n, &scheduled, &paused); err != nil {
			return nil, b.wrap(ctx, "stats", err)
		}
		s := byQueue[q]
		if s == nil {
			s = &queue.QueueStats{Queue: q}
			byQueue[q] = s
		}
		s.Paused = s.Paused || paused
		s.Scheduled += scheduled
		switch queue.State(state) {
		case queue.StatePending:
			s.Pending += n - scheduled
		case queue.StateStarted, queue.StateProcessing:
			s.Active += n
		case queue.StateRetry:
			s.Retry += n
		case queue.StateSuccess:
			s.Succeeded += n
		case queue.StateFailure:
			s.Failed += n
		case queue.StateRevoked:
			s.Revoked += n
		}
	}
	if err := rows.Err(); err != nil {
		return nil, b.wrap(ctx, "stats", err)
	}
	out := make([]queue.QueueStats, 0, len(byQueue))
	for _, s := range byQueue {
		if s.Paused || s.Pending+s.Scheduled+s.Active+s.Retry+s.Succeeded+s.Failed+s.Revoked > 0 {
			out = append(out, *s)
		}
	}
	slices.SortFunc(out, func(a, b queue.QueueStats) int { return strings.Compare(a.Queue, b.Queue) })
	return out, nil
}

// List implements [queue.Inspector]: for each selected queue and state, an
// index scan of (queue, state, enqueued_at DESC, id DESC) that reads at
// most Offset+Limit rows, merged newest first. With no queue given the
// queues are those Stats knows.
func (b *Broker) List(ctx context.Context, opts queue.ListOptions) ([]*queue.Task, error) {
	if opts.Limit < 1 || opts.Limit > queue.MaxListLimit || opts.Offset < 0 {
		return nil, fmt.Errorf("%w: List: offset %d and limit %d; want offset >= 0 and limit 1 to %d",
			queue.ErrInvalidArgument, opts.Offset, opts.Limit, queue.MaxListLimit)
	}
	if opts.State != "" && !opts.State.Valid() {
		return nil, fmt.Errorf("%w: List: state %q does not exist", queue.ErrInvalidArgument, opts.State)
	}
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	queues := []string{opts.Queue}
	if opts.Queue == "" {
		var err error
		if queues, err = b.knownQueues(ctx); err != nil {
			return nil, err
		}
	}
	states := []string{string(opts.State)}
	if opts.State == "" {
		states = states[:0]
		for _, s := range queue.States() {
			states = append(states, string(s))
		}
	}
	rows, err := b.pool.Query(ctx, b.sql.list, queues, states, int64(opts.Offset)+int64(opts.Limit),
		int64(opts.Offset), int64(opts.Limit))
	if err != nil {
		return nil, b.wrap(ctx, "list", err)
	}
	defer rows.Close()
	out := []*queue.Task{}
	for rows.Next() {
		var r row
		if err := rows.Scan(r.dest()...); err != nil {
			return nil, b.wrap(ctx, "list", err)
		}
		t, err := r.task()
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, b.wrap(ctx, "list", err)
	}
	return out, nil
}

// knownQueues returns the queues that hold tasks, from the counts.
func (b *Broker) knownQueues(ctx context.Context) ([]string, error) {
	rows, err := b.pool.Query(ctx, b.sql.queues)
	if err != nil {
		return nil, b.wrap(ctx, "list queues", err)
	}
	defer rows.Close()
	var qs []string
	for rows.Next() {
		var q string
		if err := rows.Scan(&q); err != nil {
			return nil, b.wrap(ctx, "list queues", err)
		}
		qs = append(qs, q)
	}
	if err := rows.Err(); err != nil {
		return nil, b.wrap(ctx, "list queues", err)
	}
	return qs, nil
}
