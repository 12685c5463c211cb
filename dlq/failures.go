package dlq

import (
	"context"
	"time"
)

// minSweep is the size the failure-counter map may reach before the first
// sweep of ended windows.
const minSweep = 64

// countKey names one failure counter: a task name counted in windows of one
// length. Counting the same name with two window lengths keeps two counters.
type countKey struct {
	name   string
	window time.Duration
}

// windowCount is the count of one counter in the window with the given index.
type windowCount struct {
	index int64
	count int64
}

// windowIndex returns the number of the fixed window of length w that holds
// t: floor(t / w) with t in nanoseconds since the Unix epoch. Windows are
// thus aligned to the epoch, the same on every machine whose clock agrees.
func windowIndex(t time.Time, w time.Duration) int64 {
	n, d := t.UnixNano(), int64(w)
	q := n / d
	if n%d < 0 {
		q--
	}
	return q
}

// CountFailure adds one to the failure count of taskName in the current fixed
// window and returns the new count (1 for the first failure of a window).
//
// Windows are aligned to the Unix epoch: with a 1h window the counts reset at
// every full hour of the clock (time.Now), not one hour after the first
// failure. This matches a Redis store that does INCR on a key named after the
// window number followed by EXPIRE. Counters for different window lengths of
// the same name are independent.
//
// Counters of ended windows are forgotten lazily: a counter is reset when its
// name is counted in a later window, and counters of names that stop failing
// are dropped by an occasional sweep whose cost is amortised over the calls
// that made the map grow, so memory stays proportional to the number of
// counters still in their window. No goroutine or timer is used.
//
// window <= 0 returns an error wrapping [ErrInvalidArgument]; a done ctx
// returns ctx's error and counts nothing.
func (s *MemoryStore) CountFailure(ctx context.Context, taskName string, window time.Duration) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if window <= 0 {
		return 0, invalid("CountFailure window must be > 0, got %v", window)
	}
	now := time.Now()
	idx := windowIndex(now, window)
	key := countKey{name: taskName, window: window}

	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.counts[key]
	if !ok || c.index != idx {
		if !ok {
			s.sweepLocked(now)
		}
		c = windowCount{index: idx}
	}
	c.count++
	s.counts[key] = c
	return c.count, nil
}

// sweepLocked prepares s.counts for one more key: it allocates the map on
// first use and, once the map has grown to sweepAt, rebuilds it with only the
// counters whose window is still current at now (a rebuilt map also gives
// back the memory of the deleted ones). The next sweep comes when the map has
// doubled again, so the sweeps cost O(1) amortised per new counter. s.mu must
// be held.
func (s *MemoryStore) sweepLocked(now time.Time) {
	if s.counts == nil {
		s.counts = make(map[countKey]windowCount)
		s.sweepAt = minSweep
		return
	}
	if len(s.counts) < s.sweepAt {
		return
	}
	live := make(map[countKey]windowCount, len(s.counts)/2)
	for k, c := range s.counts {
		if c.index == windowIndex(now, k.window) {
			live[k] = c
		}
	}
	s.counts = live
	s.sweepAt = max(2*len(live), minSweep)
}
