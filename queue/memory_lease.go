package queue

import (
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

// settle runs fn on the leased entry of task id under the mutex.
func (m *MemoryBroker) settle(ctx context.Context, id, token string, fn func(e *entry, now int64)) error {
	now, err := m.lock(ctx)
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	e, err := m.leasedLocked(id, token)
	if err != nil {
		return err
	}
	fn(e, now)
	m.notifyLocked(id)
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
	return m.settle(ctx, id, token, func(e *entry, now int64) {
		e.at = addNanos(now, lease)
		m.leased.fix(e.hi)
	})
}

// Progress implements [Broker.Progress].
func (m *MemoryBroker) Progress(ctx context.Context, id, token string, p Progress, lease time.Duration) error {
	if lease <= 0 {
		return invalidArg("Progress: lease is %v; want > 0", lease)
	}
	return m.settle(ctx, id, token, func(e *entry, now int64) {
		e.t.State = StateProcessing
		e.t.Progress = &p
		e.at = addNanos(now, lease)
		m.leased.fix(e.hi)
	})
}

// Complete implements [Broker.Complete].
func (m *MemoryBroker) Complete(ctx context.Context, id, token string, result json.RawMessage, ttl time.Duration) error {
	if ttl <= 0 {
		return invalidArg("Complete: result TTL is %v; want > 0", ttl)
	}
	result = cloneRaw(result)
	return m.settle(ctx, id, token, func(e *entry, now int64) {
		m.endLeaseLocked(e)
		e.t.State = StateSuccess
		e.t.Result = result
		e.t.Error = ""
		m.finishLocked(e, now, ttl)
	})
}

// Fail implements [Broker.Fail].
func (m *MemoryBroker) Fail(ctx context.Context, id, token, errMsg string, ttl time.Duration) error {
	if ttl <= 0 {
		return invalidArg("Fail: result TTL is %v; want > 0", ttl)
	}
	return m.settle(ctx, id, token, func(e *entry, now int64) {
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
	return m.settle(ctx, id, token, func(e *entry, now int64) {
		m.endLeaseLocked(e)
		e.t.State = StateRetry
		e.t.Retries++
		e.t.Error = errMsg
		if nb := unixNano(notBefore); !notBefore.IsZero() && nb > now {
			e.t.NotBefore = notBefore
			e.at = nb
			m.delayed.push(e)
			return
		}
		e.t.NotBefore = time.Time{}
		m.readyLocked(e, false)
	})
}

// Release implements [Broker.Release].
func (m *MemoryBroker) Release(ctx context.Context, id, token string) error {
	return m.settle(ctx, id, token, func(e *entry, _ int64) {
		m.endLeaseLocked(e)
		e.t.State = StatePending
		e.t.Progress = nil
		if e.t.Attempt > 0 {
			e.t.Attempt--
		}
		m.readyLocked(e, true)
	})
}
