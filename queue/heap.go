package queue

import "time"

// entry is a task held by a [MemoryBroker], with its lease and scheduling
// state. An entry is in at most one timeHeap at a time (delayed, leased or
// done), so one deadline and one heap index serve all three.
type entry struct {
	t     Task
	token string // current lease token; "" when not leased
	at    int64  // heap key: not-before, lease expiry or result expiry (UnixNano)
	hi    int    // index in the heap holding the entry; -1 when in none

	dead      bool          // taken out of its ready fifo in place (a revoked task)
	cancelTTL time.Duration // result TTL of a requested cancellation
	idxNode                 // place in the per-queue, per-state index (memory_index.go)
}

// timeHeap is a min-heap of entries ordered by at, with each entry's index
// kept up to date so that it can be removed or re-keyed in O(log n).
type timeHeap []*entry

func (h *timeHeap) push(e *entry) {
	e.hi = len(*h)
	*h = append(*h, e)
	h.up(e.hi)
}

// top returns the entry with the smallest key, or nil.
func (h timeHeap) top() *entry {
	if len(h) == 0 {
		return nil
	}
	return h[0]
}

// remove takes e out of the heap; e must be in it.
func (h *timeHeap) remove(e *entry) {
	i, last := e.hi, len(*h)-1
	if i != last {
		h.swap(i, last)
	}
	(*h)[last] = nil
	*h = (*h)[:last]
	e.hi = -1
	if i != last {
		h.fix(i)
	}
}

// fix restores the order after the key of the entry at i changed.
func (h timeHeap) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h timeHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hi, h[j].hi = i, j
}

func (h timeHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if h[p].at <= h[i].at {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h timeHeap) down(i int) bool {
	start := i
	for {
		l := 2*i + 1
		if l >= len(h) {
			break
		}
		m := l
		if r := l + 1; r < len(h) && h[r].at < h[l].at {
			m = r
		}
		if h[i].at <= h[m].at {
			break
		}
		h.swap(i, m)
		i = m
	}
	return i > start
}

// fifo is a growable ring buffer of entries: push at the back, push at the
// front (a task handed back keeps its place), pop from the front, and
// remove in place (a revoked task) by marking the entry dead: its slot is
// skipped when it reaches the front. size counts the live entries, n the
// slots in use.
type fifo struct {
	buf           []*entry
	head, n, size int
}

func (q *fifo) grow() {
	c := 2 * len(q.buf)
	if c == 0 {
		c = 16
	}
	buf := make([]*entry, c)
	for i := range q.n {
		buf[i] = q.buf[(q.head+i)%len(q.buf)]
	}
	q.buf, q.head = buf, 0
}

func (q *fifo) pushBack(e *entry) {
	if q.n == len(q.buf) {
		q.grow()
	}
	q.buf[(q.head+q.n)%len(q.buf)] = e
	q.n++
	q.size++
}

func (q *fifo) pushFront(e *entry) {
	if q.n == len(q.buf) {
		q.grow()
	}
	q.head = (q.head - 1 + len(q.buf)) % len(q.buf)
	q.buf[q.head] = e
	q.n++
	q.size++
}

// popFront returns the first live entry, or nil.
func (q *fifo) popFront() *entry {
	for q.size > 0 {
		e := q.buf[q.head]
		q.buf[q.head] = nil
		q.head = (q.head + 1) % len(q.buf)
		q.n--
		if e.dead {
			continue
		}
		q.size--
		if q.size == 0 {
			q.reset()
		}
		return e
	}
	return nil
}

// remove takes e, which must be a live entry of q, out of q: it is marked
// dead and skipped when it reaches the front.
func (q *fifo) remove(e *entry) {
	e.dead = true
	q.size--
	if q.size == 0 {
		q.reset()
	}
}

// reset drops the slots of an empty fifo (dead entries included), and lets
// a drained burst's buffer go.
func (q *fifo) reset() {
	switch {
	case len(q.buf) > 1024:
		q.buf = nil
	case q.n > 0:
		clear(q.buf) // dead slots only
	}
	q.head, q.n = 0, 0
}
