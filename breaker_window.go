package resilience

import "time"

// windowBuckets is how many buckets a failure-rate window is split into.
const windowBuckets = 10

// failureWindow counts the calls and failures of the last Window in
// windowBuckets buckets of width nanoseconds, bucket n covering
// [n*width, (n+1)*width) on the breaker's clock. Outcomes go to the bucket of
// the time they are recorded; the window at time t is the buckets
// t/width-windowBuckets+1 to t/width. It is guarded by Breaker.mu.
type failureWindow struct {
	width           int64
	head            int64 // number of the newest bucket
	calls, failures int64 // totals over the live buckets
	buckets         [windowBuckets]windowBucket
}

type windowBucket struct{ calls, failures int64 }

func newFailureWindow(window time.Duration) *failureWindow {
	width := int64(window) / windowBuckets
	if int64(window)%windowBuckets != 0 {
		width++
	}
	return &failureWindow{width: width}
}

// advance expires the buckets that fell out of the window at now. A time
// older than the newest bucket (a caller that read the clock before another
// took the lock) counts as the newest bucket.
func (w *failureWindow) advance(now int64) {
	n := now / w.width
	if n <= w.head {
		return
	}
	if n-w.head >= windowBuckets {
		w.reset()
	} else {
		for i := w.head + 1; i <= n; i++ {
			b := &w.buckets[i%windowBuckets]
			w.calls -= b.calls
			w.failures -= b.failures
			*b = windowBucket{}
		}
	}
	w.head = n
}

// add records one outcome at now.
func (w *failureWindow) add(now int64, failed bool) {
	w.advance(now)
	b := &w.buckets[w.head%windowBuckets]
	b.calls++
	w.calls++
	if failed {
		b.failures++
		w.failures++
	}
}

// trips reports whether the window holds at least minCalls calls and the
// share of failures among them is at least rate. It is meant to be called
// right after add, so the window is current.
func (w *failureWindow) trips(rate float64, minCalls int64) bool {
	return w.calls >= minCalls && w.calls > 0 && float64(w.failures)/float64(w.calls) >= rate
}

// counts returns the totals of the window at now.
func (w *failureWindow) counts(now int64) (calls, failures int64) {
	w.advance(now)
	return w.calls, w.failures
}

// reset forgets every outcome.
func (w *failureWindow) reset() {
	w.buckets = [windowBuckets]windowBucket{}
	w.calls, w.failures = 0, 0
}

// windowOutcomeLocked records a closed-state outcome in failure-rate mode.
// Only holders of mu write word in this mode.
func (b *Breaker) windowOutcomeLocked(cur uint64, o callOutcome, now int64) stateChange {
	b.win.add(now, o == callFailure)
	trip := b.win.trips(b.rate, b.minCalls)
	next := cur
	if b.threshold > 0 {
		if o == callSuccess {
			next = cur &^ failMask
		} else {
			next = cur + failOne
			trip = trip || wordFails(next) >= b.threshold
		}
	}
	if trip {
		b.setLocked(cur, StateOpen, now, b.recovery)
		return stateChange{StateClosed, StateOpen}
	}
	b.word.Store(next)
	return stateChange{}
}
