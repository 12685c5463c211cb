package pgq

import (
	"context"
	"fmt"
	"time"

	"github.com/resilience-go/resilience/queue"
)

// MaxBatch bounds the tasks of one [Broker.EnqueueMany] call.
const MaxBatch = 10_000

// EnqueueMany stores tasks in one INSERT statement and one transaction:
// all of them, or none when it fails. Each task is checked and reset as
// [Broker.Enqueue] does (ID, Name and Queue set; run state reset;
// EnqueuedAt now if zero); a task whose id is held by a live task is not
// stored again, and does not count in created. Ids must be unique within
// the call. The queues that got tasks are notified once each after the
// commit. More than [MaxBatch] tasks, a nil task, a repeated id or headers
// that do not marshal are errors wrapping [queue.ErrInvalidArgument], and
// nothing is stored.
//
// EnqueueMany is the batch insert for producers that have many tasks at
// once (a document split into chunks to embed): a few milliseconds for a
// hundred tasks, instead of one commit each. It does not run a
// [queue.Client]'s enqueue hooks: set Headers on the tasks yourself.
func (b *Broker) EnqueueMany(ctx context.Context, tasks []*queue.Task) (created int, err error) {
	if len(tasks) > MaxBatch {
		return 0, fmt.Errorf("%w: EnqueueMany: %d tasks; want at most %d per call", queue.ErrInvalidArgument, len(tasks), MaxBatch)
	}
	n := len(tasks)
	ids, names, queues := make([]string, n), make([]string, n), make([]string, n)
	payloads, headers := make([][]byte, n), make([]*string, n)
	maxRetries := make([]int32, n)
	enqueued, notBefore := make([]*time.Time, n), make([]*time.Time, n)
	seen := make(map[string]struct{}, n)
	for i, t := range tasks {
		if err := enqueueArgs(t); err != nil {
			return 0, fmt.Errorf("task %d: %w", i, err)
		}
		if _, dup := seen[t.ID]; dup {
			return 0, fmt.Errorf("%w: EnqueueMany: id %q is given twice", queue.ErrInvalidArgument, t.ID)
		}
		seen[t.ID] = struct{}{}
		h, err := headersArg(t.Headers)
		if err != nil {
			return 0, fmt.Errorf("%w: EnqueueMany: headers of task %s: %w", queue.ErrInvalidArgument, t.ID, err)
		}
		if h != nil {
			s := h.(string)
			headers[i] = &s
		}
		ids[i], names[i], queues[i] = t.ID, t.Name, t.Queue
		if len(t.Payload) > 0 {
			payloads[i] = t.Payload
		}
		maxRetries[i] = int32(max(min(t.MaxRetries, 1<<31-1), -1<<31))
		enqueued[i], notBefore[i] = timeArg(t.EnqueuedAt), timeArg(t.NotBefore)
	}
	if n == 0 {
		return 0, nil
	}
	if err := b.check(ctx); err != nil {
		return 0, err
	}
	tag, err := b.pool.Exec(ctx, b.sql.enqueueMany, ids, names, queues, payloads, headers, maxRetries, enqueued, notBefore)
	if err != nil {
		return 0, b.wrap(ctx, "enqueue many", err)
	}
	announced := map[string]bool{}
	for _, q := range queues {
		if !announced[q] {
			announced[q] = true
			b.hub.announce(q)
		}
	}
	return int(tag.RowsAffected()), nil
}

// timeArg is dbTime for an array element.
func timeArg(t time.Time) *time.Time {
	v, ok := dbTime(t).(time.Time)
	if !ok {
		return nil
	}
	return &v
}
