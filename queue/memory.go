package queue

import (
	"context"
	"maps"
	"math"
	"strconv"
	"sync"
	"time"
)

// MemoryBroker is the embedded [Broker]: all state in one process, under
// one mutex. Claims block on a per-claimer signal raised by the event that
// made a task claimable, delayed tasks and leases wait in min-heaps, and
// expired results are dropped lazily by the next call that finds them due,
// so the broker starts no goroutine and needs no timer per task.
//
// Deadlines are kept as Unix nanoseconds in an int64, and saturate instead
// of wrapping: a NotBefore, lease end or result expiry later than the year
// 2262 (a lease or result TTL near the largest [time.Duration], a delay of
// centuries) is held at the latest instant an int64 can count, so it never
// runs out while the process lives, and a NotBefore before the year 1677
// means at once.
//
// A MemoryBroker is a [Watcher] and a [CompleteClaimer]: its
// CompleteAndClaim completes a task and claims the next one under a single
// hold of the mutex, and never waits for a task to become claimable. It is
// also a [Canceler], a [Pauser] and an [Inspector]: per queue it keeps
// counts by state and a newest-first index per state, updated with every
// state change, so Stats costs O(queues) and List O(offset+limit).
//
// A MemoryBroker is safe for concurrent use. Its zero value is not usable;
// call [NewMemoryBroker]. Tasks are lost when the process exits: use a
// persistent broker (queue/redisq) when that matters.
type MemoryBroker struct {
	mu       sync.Mutex
	tasks    map[string]*entry
	ready    map[string]*fifo
	delayed  timeHeap // PENDING or RETRY tasks waiting for NotBefore
	leased   timeHeap // STARTED or PROCESSING tasks, by lease expiry
	done     timeHeap // SUCCESS or FAILURE tasks, by result expiry
	waiters  []*waiter
	watchers map[string][]chan struct{}
	queues   map[string]*queueInfo // counts, indexes and pause marks (memory_index.go)
	npaused  int                   // queues paused
	seq      uint64
	closed   bool
}

// waiter is a Claim blocked until a task in one of its queues is ready.
type waiter struct {
	queues []string
	wake   chan struct{} // buffered, 1
}

var _ Broker = (*MemoryBroker)(nil)
var _ Watcher = (*MemoryBroker)(nil)
var _ CompleteClaimer = (*MemoryBroker)(nil)

// NewMemoryBroker returns an empty in-memory broker.
func NewMemoryBroker() *MemoryBroker {
	return &MemoryBroker{
		tasks:    make(map[string]*entry),
		ready:    make(map[string]*fifo),
		watchers: make(map[string][]chan struct{}),
		queues:   make(map[string]*queueInfo),
	}
}

// Close makes every later call return [ErrClosed] and wakes blocked claims,
// which return [ErrClosed] too. Tasks are kept (Get still fails: the broker
// is closed). Close is idempotent and returns nil.
func (m *MemoryBroker) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	for _, w := range m.waiters {
		w.wake <- struct{}{}
	}
	m.waiters = nil
	for id := range m.watchers {
		m.notifyLocked(id)
	}
	return nil
}

// lock takes the mutex, checks ctx and the closed flag, and sweeps
// everything that fell due by now. On error the mutex is not held.
func (m *MemoryBroker) lock(ctx context.Context) (now int64, err error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return 0, ErrClosed
	}
	now = time.Now().UnixNano()
	m.sweepLocked(now)
	return now, nil
}

// sweepLocked makes delayed tasks that fell due claimable, recovers expired
// leases and removes expired results. It returns how many leases it recovered.
func (m *MemoryBroker) sweepLocked(now int64) int {
	for e := m.delayed.top(); e != nil && e.at <= now; e = m.delayed.top() {
		m.delayed.remove(e)
		m.readyLocked(e, false)
		m.trackLocked(e)
	}
	n := 0
	for e := m.leased.top(); e != nil && e.at <= now; e = m.leased.top() {
		m.leased.remove(e)
		e.token = ""
		if e.t.CancelRequested {
			m.revokeLocked(e, now, e.cancelTTL) // a revoked task is not redelivered
			continue
		}
		e.t.State = StatePending
		e.t.Progress = nil
		e.t.Redeliveries++
		m.readyLocked(e, true)
		m.trackLocked(e)
		m.notifyLocked(e.t.ID)
		n++
	}
	for e := m.done.top(); e != nil && e.at <= now; e = m.done.top() {
		m.done.remove(e)
		delete(m.tasks, e.t.ID)
		m.untrackLocked(e)
		m.notifyLocked(e.t.ID)
	}
	return n
}

// readyLocked queues e for claiming and wakes one claim waiting on its queue.
func (m *MemoryBroker) readyLocked(e *entry, front bool) {
	q := m.ready[e.t.Queue]
	if q == nil {
		q = &fifo{}
		m.ready[e.t.Queue] = q
	}
	if front {
		q.pushFront(e)
	} else {
		q.pushBack(e)
	}
	m.signalLocked(e.t.Queue)
}

// signalLocked wakes the longest-waiting claim that listens on queue.
func (m *MemoryBroker) signalLocked(queue string) {
	for i, w := range m.waiters {
		for _, q := range w.queues {
			if q == queue {
				m.waiters = append(m.waiters[:i], m.waiters[i+1:]...)
				w.wake <- struct{}{}
				return
			}
		}
	}
}

// earliestLocked wakes every waiting claim when e has become the earliest
// deadline of its heap h, so that each sets its timer again: a claim that
// is already waiting timed itself on the deadlines that existed when it
// began to wait.
func (m *MemoryBroker) earliestLocked(h timeHeap, e *entry) {
	if h.top() != e || len(m.waiters) == 0 {
		return
	}
	for _, w := range m.waiters {
		w.wake <- struct{}{}
	}
	m.waiters = m.waiters[:0]
}

// notifyLocked closes the channels of everyone watching task id.
func (m *MemoryBroker) notifyLocked(id string) {
	if len(m.watchers) == 0 {
		return
	}
	if chs, ok := m.watchers[id]; ok {
		for _, ch := range chs {
			close(ch)
		}
		delete(m.watchers, id)
	}
}

// Enqueue implements [Broker.Enqueue].
func (m *MemoryBroker) Enqueue(ctx context.Context, t *Task) (*Task, bool, error) {
	if t == nil {
		return nil, false, invalidArg("Enqueue: task is nil")
	}
	if t.ID == "" || t.Name == "" || t.Queue == "" {
		return nil, false, invalidArg("Enqueue: task ID, Name and Queue must be set, got %q, %q, %q", t.ID, t.Name, t.Queue)
	}
	now, err := m.lock(ctx)
	if err != nil {
		return nil, false, err
	}
	defer m.mu.Unlock()
	if e, ok := m.tasks[t.ID]; ok {
		return e.t.Clone(), false, nil
	}
	e := &entry{hi: -1}
	e.t = Task{
		ID: t.ID, Name: t.Name, Queue: t.Queue, Payload: cloneRaw(t.Payload),
		State: StatePending, MaxRetries: t.MaxRetries,
		EnqueuedAt: t.EnqueuedAt, NotBefore: t.NotBefore, Headers: maps.Clone(t.Headers),
	}
	if e.t.EnqueuedAt.IsZero() {
		e.t.EnqueuedAt = time.Unix(0, now)
	}
	e.enq = unixNano(e.t.EnqueuedAt)
	m.tasks[t.ID] = e
	if nb := unixNano(t.NotBefore); !t.NotBefore.IsZero() && nb > now {
		e.at = nb
		m.delayed.push(e)
		m.earliestLocked(m.delayed, e)
	} else {
		m.readyLocked(e, false)
	}
	m.trackLocked(e)
	return e.t.Clone(), true, nil
}

// Get implements [Broker.Get].
func (m *MemoryBroker) Get(ctx context.Context, id string) (*Task, error) {
	if _, err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	e, ok := m.tasks[id]
	if !ok {
		return nil, ErrTaskNotFound
	}
	return e.t.Clone(), nil
}

// Claim implements [Broker.Claim].
func (m *MemoryBroker) Claim(ctx context.Context, queues []string, lease time.Duration) (*Task, string, error) {
	if err := claimArgs("Claim", queues, lease); err != nil {
		return nil, "", err
	}
	for {
		now, err := m.lock(ctx)
		if err != nil {
			return nil, "", err
		}
		if t, token := m.claimLocked(queues, lease, now); t != nil {
			m.mu.Unlock()
			return t, token, nil
		}
		if err := m.waitLocked(ctx, queues, now); err != nil {
			return nil, "", err
		}
	}
}

// claimLocked claims the first ready task of the first non-empty queue in
// queues for lease from now, and returns a copy of it and its new token.
// It returns a nil task when none is ready; it never waits.
func (m *MemoryBroker) claimLocked(queues []string, lease time.Duration, now int64) (*Task, string) {
	for _, name := range queues {
		q := m.ready[name]
		if q == nil || q.size == 0 || (m.npaused > 0 && m.pausedLocked(name)) {
			continue
		}
		e := q.popFront()
		m.seq++
		e.token = strconv.FormatUint(m.seq, 36)
		e.t.State = StateStarted
		e.t.Attempt++
		e.t.StartedAt = time.Unix(0, now)
		e.t.Progress = nil
		e.t.NotBefore = time.Time{}
		e.at = addNanos(now, lease)
		m.leased.push(e)
		m.earliestLocked(m.leased, e)
		m.trackLocked(e)
		m.notifyLocked(e.t.ID)
		// A claim that waits on another queue list may have been woken for
		// the task this one took: wake one for each queue still holding
		// work, so that no ready task waits for an unrelated event.
		for i := 0; i < len(queues) && len(m.waiters) > 0; i++ {
			if r := m.ready[queues[i]]; r != nil && r.size > 0 {
				m.signalLocked(queues[i])
			}
		}
		return e.t.Clone(), e.token
	}
	return nil, ""
}

// waitLocked blocks (releasing the mutex) until a task may be claimable in
// one of queues: a signal, the next delay or lease deadline, or ctx's end.
func (m *MemoryBroker) waitLocked(ctx context.Context, queues []string, now int64) error {
	w := &waiter{queues: queues, wake: make(chan struct{}, 1)}
	m.waiters = append(m.waiters, w)
	var timeout <-chan time.Time
	if next := m.nextDeadlineLocked(); next > 0 {
		timer := time.NewTimer(time.Duration(next - now))
		defer timer.Stop()
		timeout = timer.C
	}
	m.mu.Unlock()
	select {
	case <-w.wake:
		if ctx.Err() == nil {
			return nil
		}
		// Woken as ctx ended: fall through and pass the signal on.
	case <-timeout:
	case <-ctx.Done():
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	signaled := true
	for i, x := range m.waiters {
		if x == w {
			m.waiters = append(m.waiters[:i], m.waiters[i+1:]...)
			signaled = false
			break
		}
	}
	if signaled && !m.closed {
		// A signal meant for this claim arrived as it gave up: pass it on.
		for _, name := range queues {
			if q := m.ready[name]; q != nil && q.size > 0 {
				m.signalLocked(name)
			}
		}
	}
	return ctx.Err()
}

// nextDeadlineLocked returns the earliest time a delayed task falls due or a
// lease runs out, or 0 if none is pending.
func (m *MemoryBroker) nextDeadlineLocked() int64 {
	var next int64
	if e := m.delayed.top(); e != nil {
		next = e.at
	}
	if e := m.leased.top(); e != nil && (next == 0 || e.at < next) {
		next = e.at
	}
	return next
}

// Recover implements [Broker.Recover]. The memory broker also recovers
// expired leases lazily in every other call, and a blocked Claim wakes when
// the earliest lease runs out, so workers need not call it.
func (m *MemoryBroker) Recover(ctx context.Context) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if m.closed {
		return 0, ErrClosed
	}
	return m.sweepLocked(time.Now().UnixNano()), nil
}

// Changed implements [Watcher].
func (m *MemoryBroker) Changed(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		close(ch)
		return ch, func() {}
	}
	m.watchers[id] = append(m.watchers[id], ch)
	stop := func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		chs := m.watchers[id]
		for i, c := range chs {
			if c == ch {
				chs = append(chs[:i], chs[i+1:]...)
				break
			}
		}
		if len(chs) == 0 {
			delete(m.watchers, id)
		} else {
			m.watchers[id] = chs
		}
	}
	return ch, stop
}

// Len returns the number of tasks the broker holds in any state, done ones
// included until their results expire.
func (m *MemoryBroker) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweepLocked(time.Now().UnixNano())
	return len(m.tasks)
}

// earliestNano and latestNano are the earliest and latest instants whose
// Unix nanoseconds fit in an int64 (in the years 1677 and 2262).
var (
	earliestNano = time.Unix(0, math.MinInt64)
	latestNano   = time.Unix(0, math.MaxInt64)
)

// unixNano is t.UnixNano, saturated: a time past [latestNano] (a delay of
// centuries) stays the farthest future instead of wrapping into the past,
// which would make the task ready at once, and a time before [earliestNano]
// stays the farthest past instead of wrapping into the future, which would
// hold the task for centuries.
func unixNano(t time.Time) int64 {
	switch {
	case t.After(latestNano):
		return math.MaxInt64
	case t.Before(earliestNano):
		return math.MinInt64
	}
	return t.UnixNano()
}

// addNanos is now+d, saturated at math.MaxInt64: a huge lease or result
// TTL means "practically forever", never an instant in the past.
func addNanos(now int64, d time.Duration) int64 {
	if d > 0 && now > math.MaxInt64-int64(d) {
		return math.MaxInt64
	}
	return now + int64(d)
}
