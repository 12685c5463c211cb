package resilience

import (
	"context"
	"fmt"
	"time"
)

// Fallback runs primary with its own deadline, timeout, and when primary
// fails or runs out of time while ctx is still live, runs fallback with ctx
// and returns fallback's outcome. This is "try the expensive model, fall back
// to the cheaper one".
//
// Primary runs on its own goroutine under a context derived from ctx that
// ends after timeout. When the timeout passes first, Fallback does not wait
// for primary's result: it cancels primary's context at once and starts
// fallback immediately, while primary drains concurrently. Fallback returns
// only after both have returned, so nothing it started keeps running; a
// primary that ignores its context therefore delays the return (but never
// the start) of fallback.
//
// Errors:
//   - primary succeeds in time: its value and nil.
//   - primary failed or timed out, fallback succeeds: fallback's value.
//   - primary timed out and fallback failed, but the abandoned primary
//     still succeeded before it was joined: primary's late value.
//   - both fail: an error wrapping both errors ([errors.Is] finds either).
//     A primary that ran out of time contributes an error wrapping
//     [ErrTimeout] and [context.DeadlineExceeded] (and its own error).
//   - ctx ends (or its deadline, when earlier than timeout, passes) before
//     fallback starts: ctx.Err(), and fallback does not run. The caller's
//     own cancellation never triggers the fallback.
//   - timeout <= 0, or a nil primary or fallback: an error wrapping
//     [ErrInvalidArgument].
//
// A panic in fallback propagates after primary has returned. A panic in
// primary is re-panicked in the caller's goroutine as a [*PanicError] once
// fallback (if it ran) has returned.
func Fallback[T any](ctx context.Context, timeout time.Duration, primary, fallback func(context.Context) (T, error)) (T, error) {
	var zero T
	switch {
	case timeout <= 0:
		return zero, invalidArg("Fallback: timeout must be > 0, got %v", timeout)
	case primary == nil:
		return zero, invalidArg("Fallback: primary is nil")
	case fallback == nil:
		return zero, invalidArg("Fallback: fallback is nil")
	}
	if err := ctx.Err(); err != nil {
		return zero, err
	}

	expired := &timeoutError{d: timeout}
	pctx, cancel := context.WithTimeoutCause(ctx, timeout, expired)
	defer cancel()
	done := make(chan runOutcome[T], 1)
	go func() { done <- catch(pctx, 0, primary) }()

	select {
	case o := <-done:
		cancel()
		if o.pan != nil {
			panic(o.pan)
		}
		if o.err == nil {
			return o.val, nil
		}
		if err := ctx.Err(); err != nil {
			return zero, err
		}
		perr := o.err
		if context.Cause(pctx) == expired { // it failed because its time ran out
			perr = &timeoutError{d: timeout, err: o.err}
		}
		return runFallback(ctx, perr, fallback)

	case <-pctx.Done():
		cancel()
		if err := ctx.Err(); err != nil {
			if o := <-done; o.pan != nil {
				panic(o.pan)
			}
			return zero, err
		}
	}

	// Primary is abandoned: run fallback now and join primary afterwards,
	// also when fallback panics (then that panic goes on).
	completed := false
	defer func() {
		if !completed {
			<-done
		}
	}()
	v, ferr := fallback(ctx)
	completed = true
	o := <-done
	switch {
	case o.pan != nil:
		panic(o.pan)
	case ferr == nil:
		return v, nil
	case o.err == nil: // a late answer beats no answer
		return o.val, nil
	}
	return zero, fallbackFailed(ferr, &timeoutError{d: timeout, err: o.err})
}

func fallbackFailed(ferr, perr error) error {
	return wrapf("fallback failed: %v (primary: %v)", ferr, perr)
}

func runFallback[T any](ctx context.Context, perr error, fallback func(context.Context) (T, error)) (T, error) {
	v, err := fallback(ctx)
	if err != nil {
		var zero T
		return zero, fallbackFailed(err, perr)
	}
	return v, nil
}

// Hedge starts fns[0], and starts the next function each time delay passes
// without a success, or at once when a running function fails; the first
// success wins, its value is returned, and the contexts of the others are
// cancelled. A delay of 0 starts all of them at once. This trades extra
// calls for lower tail latency (send the same prompt to a second replica or
// provider when the first is slow).
//
// Every function runs on its own goroutine under a context derived from ctx;
// Hedge returns only after all the functions it started have returned, so
// a loser that ignores its context delays the return.
//
// Errors:
//   - all fail: an error wrapping every function's error ([errors.Join]).
//   - ctx ends first: ctx.Err().
//   - no fns, a nil fn, or delay < 0: an error wrapping [ErrInvalidArgument].
//
// A panic in any function cancels the others and is re-panicked in the
// caller's goroutine as a [*PanicError] once all have returned.
func Hedge[T any](ctx context.Context, delay time.Duration, fns ...func(context.Context) (T, error)) (T, error) {
	var zero T
	if len(fns) == 0 {
		return zero, invalidArg("Hedge: fns is empty, want at least one function")
	}
	if delay < 0 {
		return zero, invalidArg("Hedge: delay must be >= 0, got %v", delay)
	}
	for i, fn := range fns {
		if fn == nil {
			return zero, invalidArg("Hedge: fns[%d] is nil", i)
		}
	}
	if err := ctx.Err(); err != nil {
		return zero, err
	}

	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan runOutcome[T], len(fns)) // never blocks a sender
	started, running := 0, 0
	var timer *time.Timer
	var tick <-chan time.Time
	// start launches the next function and arms the timer for the one after.
	start := func() {
		i := started
		started++
		running++
		go func() { results <- catch(hctx, i, fns[i]) }()
		switch {
		case started == len(fns):
			tick = nil
		case timer == nil:
			timer = time.NewTimer(delay)
			tick = timer.C
		default:
			timer.Reset(delay)
		}
	}
	// join waits for every started function and re-panics the first panic.
	join := func(pan *PanicError) {
		cancel()
		for ; running > 0; running-- {
			if o := <-results; o.pan != nil && pan == nil {
				pan = o.pan
			}
		}
		if pan != nil {
			panic(pan)
		}
	}

	start()
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	errs := make([]error, len(fns))
	for running > 0 {
		select {
		case o := <-results:
			running--
			switch {
			case o.pan != nil:
				join(o.pan)
			case o.err == nil:
				join(nil)
				return o.val, nil
			}
			errs[o.idx] = o.err
			if started < len(fns) && ctx.Err() == nil {
				start()
			}
		case <-tick:
			start()
		case <-ctx.Done():
			join(nil)
			return zero, ctx.Err()
		}
	}
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	return zero, &contextError{msg: fmt.Sprintf("%sall %d hedged calls failed: %s", prefix, len(fns), joinBare(errs)), errs: errs}
}

// runOutcome is the result of one function run on another goroutine.
type runOutcome[T any] struct {
	val T
	err error
	idx int
	pan *PanicError
}

// catch runs fn and turns a panic into runOutcome.pan.
func catch[T any](ctx context.Context, idx int, fn func(context.Context) (T, error)) (o runOutcome[T]) {
	o.idx = idx
	defer func() {
		if r := recover(); r != nil {
			o.pan = newPanicError(r)
		}
	}()
	o.val, o.err = fn(ctx)
	return o
}
