package queue

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The control and inspection half of [MemoryBroker]: it is a [Canceler], a
// [Pauser] and an [Inspector].

var (
	_ Canceler  = (*MemoryBroker)(nil)
	_ Pauser    = (*MemoryBroker)(nil)
	_ Inspector = (*MemoryBroker)(nil)
)

// revokedError is the error of a lease call on task id whose cancellation
// was requested.
func revokedError(id string) error {
	return fmt.Errorf("%w: task %s was cancelled", ErrRevoked, id)
}

// revokeLocked moves e, which is in no heap and holds no lease, to REVOKED
// and keeps it for ttl.
func (m *MemoryBroker) revokeLocked(e *entry, now int64, ttl time.Duration) {
	e.t.State = StateRevoked
	e.t.NotBefore = time.Time{}
	m.finishLocked(e, now, ttl)
	m.trackLocked(e)
	m.notifyLocked(e.t.ID)
}

// Cancel implements [Canceler]. A waiting task leaves its ready queue in
// O(1) (its slot is skipped when it reaches the front) or its delay heap
// in O(log n).
func (m *MemoryBroker) Cancel(ctx context.Context, id string, ttl time.Duration) (*Task, error) {
	if err := ttlArg("Cancel", ttl); err != nil {
		return nil, err
	}
	now, err := m.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	e, ok := m.tasks[id]
	if !ok {
		return nil, ErrTaskNotFound
	}
	switch {
	case e.t.State.Done():
	case e.t.State.Leased():
		if !e.t.CancelRequested {
			e.t.CancelRequested = true
			e.cancelTTL = ttl
			m.notifyLocked(id)
		}
	default: // PENDING or RETRY: delayed, or in its ready queue
		if e.hi >= 0 {
			m.delayed.remove(e)
		} else {
			m.ready[e.t.Queue].remove(e)
		}
		m.revokeLocked(e, now, ttl)
	}
	return e.t.Clone(), nil
}

// pausedLocked reports whether queue is paused.
func (m *MemoryBroker) pausedLocked(queue string) bool {
	qi := m.queues[queue]
	return qi != nil && qi.paused
}

// SetPaused implements [Pauser]. Resuming a queue wakes every claim
// waiting on it.
func (m *MemoryBroker) SetPaused(ctx context.Context, queue string, paused bool) error {
	if err := checkName("SetPaused: queue name", queue, false); err != nil {
		return err
	}
	if _, err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	qi := m.queueLocked(queue)
	if qi.paused == paused {
		if qi.total == 0 && !qi.paused {
			delete(m.queues, queue) // made by the lookup above
		}
		return nil
	}
	qi.paused = paused
	if paused {
		m.npaused++
		return nil
	}
	m.npaused--
	if qi.total == 0 {
		delete(m.queues, queue)
	}
	m.waiters = slices.DeleteFunc(m.waiters, func(w *waiter) bool {
		if slices.Contains(w.queues, queue) {
			w.wake <- struct{}{}
			return true
		}
		return false
	})
	return nil
}

// Stats implements [Inspector]: one entry per queue that holds tasks or is
// paused, from counts kept in step with every state change.
func (m *MemoryBroker) Stats(ctx context.Context) ([]QueueStats, error) {
	if _, err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	st := make([]QueueStats, 0, len(m.queues))
	for _, qi := range m.queues {
		c := &qi.counts
		st = append(st, QueueStats{
			Queue: qi.name, Paused: qi.paused,
			Pending: c[classPending], Scheduled: c[classScheduled],
			Active: c[classStarted] + c[classProcessing], Retry: c[classRetry],
			Succeeded: c[classSuccess], Failed: c[classFailure], Revoked: c[classRevoked],
		})
	}
	slices.SortFunc(st, func(a, b QueueStats) int { return strings.Compare(a.Queue, b.Queue) })
	return st, nil
}

// List implements [Inspector]: a merge, newest first, of the per-queue,
// per-state indexes that opts selects, walking Offset+Limit entries.
func (m *MemoryBroker) List(ctx context.Context, opts ListOptions) ([]*Task, error) {
	if opts.Limit < 1 || opts.Limit > MaxListLimit || opts.Offset < 0 {
		return nil, invalidArg("List: offset %d and limit %d; want offset >= 0 and limit 1 to %d", opts.Offset, opts.Limit, MaxListLimit)
	}
	if opts.State != "" && !opts.State.Valid() {
		return nil, invalidArg("List: state %q does not exist; want one of %s", opts.State, statesList())
	}
	if _, err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	want := slices.Index(States(), opts.State) // -1: every state
	var heads []*entry
	add := func(qi *queueInfo) {
		for i := range qi.idx {
			if want >= 0 && i != want {
				continue
			}
			if e := qi.idx[i].first(); e != nil {
				heads = append(heads, e)
			}
		}
	}
	if opts.Queue != "" {
		if qi := m.queues[opts.Queue]; qi != nil {
			add(qi)
		}
	} else {
		for _, qi := range m.queues {
			add(qi)
		}
	}
	out := make([]*Task, 0, min(opts.Limit, 64))
	for n := 0; n < opts.Offset+opts.Limit && len(heads) > 0; n++ {
		best := 0
		for i := 1; i < len(heads); i++ {
			if newer(heads[i], heads[best]) {
				best = i
			}
		}
		e := heads[best]
		if n >= opts.Offset {
			out = append(out, e.t.Clone())
		}
		if nx := e.next(0); nx != nil {
			heads[best] = nx
		} else {
			heads = slices.Delete(heads, best, best+1)
		}
	}
	return out, nil
}
