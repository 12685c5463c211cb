package resilience

import (
	"context"
	"errors"
	"time"
)

// This file holds the Breaker's call path: admission, running a call, and
// recording its outcome. breaker.go holds the configuration and public API.

// runClosedFast runs a call admitted while CLOSED without a window or slow-
// call timing. A success with no failures counted writes nothing.
func (b *Breaker) runClosedFast(ctx context.Context, next *node, leaf runner, start uint64) (err error) {
	returned := false
	defer func() {
		if !returned { // fn panicked (or called runtime.Goexit)
			b.closedFailure(start, foreverNow)
		}
	}()
	err = next.run(ctx, leaf)
	returned = true
	if err != nil || b.word.Load()&failMask != 0 {
		b.closedFastResult(start, err)
	}
	return err
}

// callClosedFast is runClosedFast for [Breaker.Do]'s plain function.
func (b *Breaker) callClosedFast(ctx context.Context, fn func(context.Context) error, start uint64) (err error) {
	returned := false
	defer func() {
		if !returned {
			b.closedFailure(start, foreverNow)
		}
	}()
	err = fn(ctx)
	returned = true
	if err != nil || b.word.Load()&failMask != 0 {
		b.closedFastResult(start, err)
	}
	return err
}

// closedFastResult records the result of a fast closed-state call: a
// success clears the failures (callers skip it when there are none, so a
// success that changes nothing writes nothing), a failure counts.
func (b *Breaker) closedFastResult(start uint64, err error) {
	if err == nil {
		b.closedSuccess(start)
	} else if b.classify(err) == callFailure {
		b.closedFailure(start, foreverNow)
	}
}

// doSlow admits a call in any state but the fast closed one, then runs it.
func (b *Breaker) doSlow(ctx context.Context, next *node, leaf runner, w uint64) error {
	if wordState(w) != StateClosed {
		var t stateChange
		var err error
		w, t, err = b.admit()
		b.notify(t)
		if err != nil {
			return err
		}
	}
	return b.runTracked(ctx, next, leaf, w)
}

// admit moves a due OPEN breaker to HALF_OPEN and takes a trial slot.
func (b *Breaker) admit() (uint64, stateChange, error) {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	w, t := b.advanceLocked(now)
	switch wordState(w) {
	case StateOpen:
		return w, t, b.openErr.Load()
	case StateHalfOpen:
		if b.trials >= b.halfOpenMax {
			return w, t, ErrHalfOpenLimit
		}
		b.trials++
	}
	return w, t, nil
}

// runTracked runs an admitted call and records its outcome with the time it
// ended.
func (b *Breaker) runTracked(ctx context.Context, next *node, leaf runner, start uint64) (err error) {
	var began int64
	if b.slowCall > 0 {
		began = b.now()
	}
	returned := false
	defer func() {
		if !returned {
			b.finish(start, callFailure, b.now())
		}
	}()
	err = next.run(ctx, leaf)
	returned = true
	end := b.now()
	o := b.classify(err)
	if o == callSuccess && b.slowCall > 0 && time.Duration(end-began) > b.slowCall {
		o = callFailure
	}
	b.finish(start, o, end)
	return err
}

func (b *Breaker) classify(err error) callOutcome {
	switch {
	case err == nil:
		return callSuccess
	case isUncounted(err):
		return callIgnored
	case b.isFailure != nil:
		if b.isFailure(err) {
			return callFailure
		}
		return callIgnored
	case errors.Is(err, context.Canceled):
		return callIgnored
	}
	return callFailure
}

// finish records the outcome of a call admitted in generation start.
func (b *Breaker) finish(start uint64, o callOutcome, now int64) {
	if o == callIgnored && wordState(start) == StateClosed {
		return
	}
	if wordState(start) == StateClosed && b.win == nil {
		if o == callSuccess {
			b.closedSuccess(start)
		} else {
			b.closedFailure(start, now)
		}
		return
	}
	b.mu.Lock()
	var t stateChange
	if cur := b.word.Load(); sameGen(cur, start) {
		if wordState(cur) == StateClosed {
			t = b.windowOutcomeLocked(cur, o, now)
		} else {
			t = b.trialOutcomeLocked(cur, o, now)
		}
	}
	b.mu.Unlock()
	b.notify(t)
}

// closedSuccess clears the consecutive failures of generation start.
func (b *Breaker) closedSuccess(start uint64) {
	for {
		cur := b.word.Load()
		if !sameGen(cur, start) || cur&failMask == 0 || b.word.CompareAndSwap(cur, cur&^failMask) {
			return
		}
	}
}

// closedFailure counts a failure of generation start (no window) and opens
// the breaker at the threshold. now is the time of the failure, or
// foreverNow when not read yet.
func (b *Breaker) closedFailure(start uint64, now int64) {
	for {
		cur := b.word.Load()
		if !sameGen(cur, start) {
			return
		}
		if wordFails(cur)+1 < b.threshold {
			if b.word.CompareAndSwap(cur, cur+failOne) {
				return
			}
			continue
		}
		if now == foreverNow {
			now = b.now()
		}
		b.mu.Lock()
		opened := b.word.Load() == cur
		if opened {
			b.setLocked(cur, StateOpen, now, b.recovery)
		}
		b.mu.Unlock()
		if opened {
			b.notify(stateChange{StateClosed, StateOpen})
			return
		}
	}
}

// trialOutcomeLocked records the outcome of a half-open trial call.
func (b *Breaker) trialOutcomeLocked(cur uint64, o callOutcome, now int64) stateChange {
	b.trials--
	switch o {
	case callSuccess:
		b.setLocked(cur, StateClosed, now, 0)
		return stateChange{StateHalfOpen, StateClosed}
	case callFailure:
		b.setLocked(cur, StateOpen, now, b.recovery)
		return stateChange{StateHalfOpen, StateOpen}
	}
	return stateChange{}
}

// advanceLocked moves an OPEN breaker whose time is up to HALF_OPEN.
func (b *Breaker) advanceLocked(now int64) (uint64, stateChange) {
	w := b.word.Load()
	if wordState(w) == StateOpen && now >= b.openErr.Load().until {
		return b.setLocked(w, StateHalfOpen, now, 0), stateChange{StateOpen, StateHalfOpen}
	}
	return w, stateChange{}
}

// setLocked starts a new generation in state to, with no failures and no
// trials. An OPEN breaker stays open for openFor from now.
func (b *Breaker) setLocked(cur uint64, to State, now int64, openFor time.Duration) uint64 {
	next := (cur&^(failMask|stateMask) + genOne) | uint64(to)
	b.trials = 0
	if b.win != nil {
		b.win.reset()
	}
	if to == StateOpen {
		until := foreverNow
		if int64(openFor) < foreverNow-now {
			until = now + int64(openFor)
		}
		b.openErr.Store(&BreakerOpenError{Until: b.epoch.Add(time.Duration(until)), until: until})
	}
	b.word.Store(next)
	return next
}

func (b *Breaker) notify(t stateChange) {
	if !t.changed() {
		return
	}
	if b.onChange != nil {
		b.onChange(t.from, t.to)
	}
	b.notifyListeners(t.from, t.to)
}

// now reads the breaker's monotonic clock.
func (b *Breaker) now() int64 { return int64(time.Since(b.epoch)) }
