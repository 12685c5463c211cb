package resilience

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers branch on them with [errors.Is]; every error this
// package returns for one of these conditions wraps the matching sentinel.
var (
	// ErrInvalidArgument is wrapped by every error that reports bad input: a
	// limit or capacity below 1, a NaN or out-of-range rate, a nil function.
	// The wrapping message names the field and the allowed range.
	ErrInvalidArgument = errors.New("resilience: invalid argument")

	// ErrTimeout is wrapped, together with [context.DeadlineExceeded], by the
	// error of a call that ran out of the time a [Timeout] or [Fallback] gave it.
	ErrTimeout = errors.New("resilience: timeout")

	// ErrOpen is wrapped by the error (a [*BreakerOpenError]) that
	// [Breaker.Do] returns while the breaker is open: the call was rejected
	// without running.
	ErrOpen = errors.New("resilience: circuit breaker is open")

	// ErrHalfOpenLimit is returned by [Breaker.Do] when the breaker is half
	// open and already has HalfOpenMaxCalls trial calls in flight.
	ErrHalfOpenLimit = errors.New("resilience: circuit breaker is half-open and at its trial-call limit")

	// ErrFirstItemTimeout is returned by [Stream] when the producer emitted
	// nothing within StreamConfig.FirstItemTimeout.
	ErrFirstItemTimeout = errors.New("resilience: stream produced no first item in time")

	// ErrIdleTimeout is returned by [Stream] when the producer emitted nothing
	// for StreamConfig.IdleTimeout after an earlier item.
	ErrIdleTimeout = errors.New("resilience: stream stalled between items")

	// ErrRetryBudgetExhausted is wrapped by the error of a [Retry] that wanted
	// to retry but was refused by its [RetryBudget].
	ErrRetryBudgetExhausted = errors.New("resilience: retry budget exhausted")
)

// invalidArg returns an error wrapping [ErrInvalidArgument] whose message
// names what was wrong and what is allowed.
func invalidArg(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidArgument}, args...)...)
}
