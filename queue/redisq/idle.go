package redisq

import (
	"math"
	"strings"
	"sync"
	"time"
)

// idle remembers the CompleteAndClaim calls that found their queues empty,
// so that the Claim that follows each (the worker's next call, from the
// slot that just finished) waits for a wake token at once instead of
// running a take that would find the queues as empty as the script did a
// moment ago. With one producer and idle slots that is most claims: it
// saves one script and one round trip per task, and leaves the task to a
// claim woken by its wake token, which names the task, so that one script
// starts it (see hints).
//
// Skipping the take is safe for the reason a Claim may block after its own
// take: whatever becomes claimable later pushes a wake token. A note is
// used once and only while fresh (idleFresh), so a claim made long after
// the miss looks for itself first.
type idle struct {
	mu    sync.Mutex
	notes map[string][]idleNote // queues joined by NUL -> notes, oldest first
}

// idleNote is one miss: when it was seen, and when the earliest delay or
// lease of its queues runs out (zero time for none).
type idleNote struct {
	at, due time.Time
}

// idleFresh is how long a note stands for a take.
const idleFresh = 5 * time.Millisecond

// maxIdleNotes bounds the notes kept per queue set, and the queue sets.
const maxIdleNotes = 64

// note records a miss of queues at now; wait is the take's (µs until the
// earliest delay or lease runs out, -1 for none). Only misses with nothing
// due are noted.
func (d *idle) note(queues []string, now time.Time, wait int64) {
	if wait == 0 {
		return
	}
	n := idleNote{at: now}
	if wait > 0 && wait <= math.MaxInt64/int64(time.Microsecond) {
		n.due = now.Add(time.Duration(wait) * time.Microsecond)
	}
	key := strings.Join(queues, "\x00")
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.notes == nil {
		d.notes = make(map[string][]idleNote)
	}
	l := d.notes[key]
	if l == nil && len(d.notes) >= maxIdleNotes {
		clear(d.notes)
	}
	if len(l) >= maxIdleNotes {
		l = l[1:]
	}
	d.notes[key] = append(l, n)
}

// take uses the newest fresh note of queues at now, dropping stale ones,
// and returns how long a claim may wait before it must look (-1 for no
// deadline) and whether there was one.
func (d *idle) take(queues []string, now time.Time) (time.Duration, bool) {
	key := strings.Join(queues, "\x00")
	d.mu.Lock()
	defer d.mu.Unlock()
	l := d.notes[key]
	for len(l) > 0 && now.Sub(l[0].at) > idleFresh {
		l = l[1:]
	}
	if len(l) == 0 {
		delete(d.notes, key)
		return 0, false
	}
	n := l[len(l)-1]
	d.notes[key] = l[:len(l)-1]
	if n.due.IsZero() {
		return -1, true
	}
	if w := n.due.Sub(now); w > 0 {
		return w, true
	}
	return 0, false
}
