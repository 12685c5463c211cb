package resilience

import (
	"errors"
	"fmt"
	"strings"
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

// prefix starts every message of this package.
const prefix = "resilience: "

// bare returns err's message without this package's prefix, for a wrapper
// that starts with the prefix itself: a chain such as Parallel, Fallback,
// Timeout and Retry reads "resilience: Parallel item 0: fallback failed:
// timeout after 5s: gave up after 1 attempt(s): ...", with the prefix once.
// Other packages' prefixes ("llmhttp: ") are kept: they say where the error
// came from.
func bare(err error) string {
	if err == nil {
		return "<nil>"
	}
	return strings.TrimPrefix(err.Error(), prefix)
}

// joinBare is the [bare] texts of errs, one a line, as [errors.Join] would
// print them. Nil errors are left out.
func joinBare(errs []error) string {
	var b strings.Builder
	for _, err := range errs {
		if err == nil {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(bare(err))
	}
	return b.String()
}

// contextError adds context to the errors it wraps without repeating this
// package's prefix (see [bare]). errors.Is and errors.As see every wrapped
// error.
type contextError struct {
	msg  string
	errs []error
}

// wrapf returns an error whose message is the prefix, then format with each
// argument that is an error replaced by its [bare] text; it wraps those
// errors. Use %v (not %w) for them in format.
func wrapf(format string, args ...any) error {
	e := &contextError{}
	for i, a := range args {
		if err, ok := a.(error); ok {
			e.errs = append(e.errs, err)
			args[i] = bare(err)
		}
	}
	e.msg = prefix + fmt.Sprintf(format, args...)
	return e
}

func (e *contextError) Error() string   { return e.msg }
func (e *contextError) Unwrap() []error { return e.errs }
