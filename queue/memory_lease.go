package queue

import (
	"cmp"
	"context"
	"encoding/json"
	"time"
)

// The lease-holding half of [MemoryBroker]: every call takes the lease token
// from Claim and fails with ErrLeaseLost when it is stale.

// leasedLocked returns the entry of task id when token is its current lease
// token. A lease that ran out was already recovered by the sweep in lock.
func (m *MemoryBroker) leasedLocked(id, token string) (*entry, error) {
	e, ok := m.tasks[id]
	if !ok {
		return nil, ErrTaskNotFound
	}
	if token == "" || e.token != token {
		return nil, ErrLeaseLost
	}
	return e, nil
}

// settle runs fn on the leased entry of task id under the mutex. end tells
// what the call does to a task whose cancellation was requested
// ([Canceler]): 0 for a renewal (fn runs, and the error wraps
// [ErrRevoked]); otherwise the call ends the task REVOKED instead of
// running fn, kept for end (> 0) or for the TTL given to Cancel (< 0).
func (m *MemoryBroker) settle(ctx context.Context, id, token string, end time.Duration, fn func(e *entry, now int64)) error {
	now, err := m.lock(ctx)
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	e, err := m.leasedLocked(id, token)
	if err != nil {
		return err
	}
	if e.t.CancelRequested && end != 0 {
		m.endLeaseLocked(e)
		m.revokeLocked(e, now, cmp.Or(max(end, 0), e.cancelTTL))
		return revokedError(id)
	}
	fn(e, now)
	m.trackLocked(e)
	m.notifyLocked(id)
	if e.t.CancelRequested {
		return revokedError(id)
	}
	return nil
}

// endLeaseLocked takes e out of the leased heap and invalidates its token.
func (m *MemoryBroker) endLeaseLocked(e *entry) {
	m.leased.remove(e)
	e.token = ""
}

// Renew implements [Broker.Renew].
func (m *MemoryBroker) Renew(ctx context.Context, id, token string, lease time.Duration) error {
	if lease <= 0 {
		return invalidArg("Renew: lease is %v; want > 0", lease)
	}
	return m.settle(ctx, id, token, 0, func(e *entry, now int64) {
		m.reLeaseLocked(e, addNanos(now, lease))
	})
}

// reLeaseLocked moves the lease deadline of the leased entry e to at. Only a
// deadline that moved earlier can be one a waiting claim has not timed
// itself on, so only then are waiting claims woken to set their timers.
func (m *MemoryBroker) reLeaseLocked(e *entry, at int64) {
	earlier := at < e.at
	e.at = at
	m.leased.fix(e.hi)
	if earlier {
		m.earliestLocked(m.leased, e)
	}
}

// Progress implements [Broker.Progress].
func (m *MemoryBroker) Progress(ctx context.Context, id, token string, p Progress, lease time.Duration) error {
	if lease <= 0 {
		return invalidArg("Progress: lease is %v; want > 0", lease)
	}
	return m.settle(ctx, id, token, 0, func(e *entry, now int64) {
		e.t.State = StateProcessing
		e.t.Progress = &p
		m.reLeaseLocked(e, addNanos(now, lease))
	})
}

// Complete implements [Broker.Complete].
func (m *MemoryBroker) Complete(ctx context.Context, id, token string, result json.RawMessage, ttl time.Duration) error {
	if err := resultArgs("Complete", result, ttl); err != nil {
		return err
	}
	result = cloneRaw(result)
	return m.settle(ctx, id, token, ttl, func(e *entry, now int64) {
		m.completeLocked(e, now, result, ttl)
	})
}

// CompleteAndClaim implements [CompleteClaimer]. Under one hold of the
// mutex it completes task id as [MemoryBroker.Complete] does and then
// claims the first ready task in queues as [MemoryBroker.Claim] does,
// except that it never waits: next is nil, with a nil error, when no task
// is ready. Its arguments are checked before anything changes (a result
// that is not JSON, a bad ttl, no queues, an empty queue name or a lease
// <= 0 are [ErrInvalidArgument]), and when the
// completion fails ([ErrLeaseLost], [ErrTaskNotFound], [ErrClosed], or
// ctx's error when ctx has ended) nothing is claimed.
func (m *MemoryBroker) CompleteAndClaim(ctx context.Context, id, token string, result json.RawMessage, ttl time.Duration,
	queues []string, lease time.Duration) (next *Task, nextToken string, err error) {
	if err := resultArgs("CompleteAndClaim", result, ttl); err != nil {
		return nil, "", err
	}
	if err := claimArgs("CompleteAndClaim", queues, lease); err != nil {
		return nil, "", err
	}
	result = cloneRaw(result)
	err = m.settle(ctx, id, token, ttl, func(e *entry, now int64) {
		m.completeLocked(e, now, result, ttl)
		next, nextToken = m.claimLocked(queues, lease, now)
	})
	return next, nextToken, err
}

// completeLocked moves the leased entry e to SUCCESS with result.
func (m *MemoryBroker) completeLocked(e *entry, now int64, result json.RawMessage, ttl time.Duration) {
	m.endLeaseLocked(e)
	e.t.State = StateSuccess
	e.t.Result = result
	e.t.Error = ""
	m.finishLocked(e, now, ttl)
}

// ttlArg checks the result TTL given to method op.
func ttlArg(op string, ttl time.Duration) error {
	if ttl <= 0 {
		return invalidArg("%s: result TTL is %v; want > 0", op, ttl)
	}
	return nil
}

// resultArgs checks the result and its TTL given to method op: a result
// that is not JSON is refused here, as a remote broker refuses it, rather
// than stored and handed to readers who cannot decode it.
func resultArgs(op string, result json.RawMessage, ttl time.Duration) error {
	if err := ttlArg(op, ttl); err != nil {
		return err
	}
	if len(result) > 0 && !json.Valid(result) {
		return invalidArg("%s: result is not valid JSON", op)
	}
	return nil
}

// claimArgs checks the queues and lease of a claim made by method op.
func claimArgs(op string, queues []string, lease time.Duration) error {
	if len(queues) == 0 {
		return invalidArg("%s: no queues given", op)
	}
	if lease <= 0 {
		return invalidArg("%s: lease is %v; want > 0", op, lease)
	}
	for i, q := range queues {
		if q == "" {
			return invalidArg("%s: queue %d is empty", op, i)
		}
	}
	return nil
}

// Fail implements [Broker.Fail].
func (m *MemoryBroker) Fail(ctx context.Context, id, token, errMsg string, ttl time.Duration) error {
	if err := ttlArg("Fail", ttl); err != nil {
		return err
	}
	return m.settle(ctx, id, token, ttl, func(e *entry, now int64) {
		m.endLeaseLocked(e)
		e.t.State = StateFailure
		e.t.Error = errMsg
		m.finishLocked(e, now, ttl)
	})
}

// finishLocked schedules the removal of a done task after ttl.
func (m *MemoryBroker) finishLocked(e *entry, now int64, ttl time.Duration) {
	e.t.FinishedAt = time.Unix(0, now)
	e.at = addNanos(now, ttl)
	e.t.ExpiresAt = time.Unix(0, e.at)
	m.done.push(e)
}

// Retry implements [Broker.Retry].
func (m *MemoryBroker) Retry(ctx context.Context, id, token, errMsg string, notBefore time.Time) error {
	return m.settle(ctx, id, token, -1, func(e *entry, now int64) {
		m.endLeaseLocked(e)
		e.t.State = StateRetry
		e.t.Retries++
		e.t.Error = errMsg
		if nb := unixNano(notBefore); !notBefore.IsZero() && nb > now {
			e.t.NotBefore = notBefore
			e.at = nb
			m.delayed.push(e)
			m.earliestLocked(m.delayed, e)
			return
		}
		e.t.NotBefore = time.Time{}
		m.readyLocked(e, false)
	})
}

// Release implements [Broker.Release].
func (m *MemoryBroker) Release(ctx context.Context, id, token string) error {
	return m.settle(ctx, id, token, -1, func(e *entry, _ int64) {
		m.endLeaseLocked(e)
		e.t.State = StatePending
		e.t.Progress = nil
		if e.t.Attempt > 0 {
			e.t.Attempt--
		}
		m.readyLocked(e, true)
	})
}
