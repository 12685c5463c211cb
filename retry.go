package resilience

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/resilience-go/resilience/internal/wait"
)

// Defaults used by a zero [RetryPolicy].
const (
	DefaultMaxAttempts = 3
	DefaultBaseDelay   = time.Second
	DefaultMaxDelay    = 60 * time.Second
	DefaultMultiplier  = 2.0
)

// Jitter selects how [RetryPolicy] randomises its delays. With d the capped
// exponential delay min(MaxDelay, BaseDelay*Multiplier^n) of the n-th retry
// (n from 0) and u uniform in [0, 1):
//
//	JitterFull          u*d                       (the default)
//	JitterEqual         d/2 + u*d/2
//	JitterDecorrelated  min(MaxDelay, BaseDelay + u*(3*prev - BaseDelay)), prev starting at BaseDelay
//	JitterNone          d
//
// Full jitter spreads synchronized callers best; decorrelated keeps growing
// without the strict exponent. See the AWS Architecture Blog post
// "Exponential Backoff And Jitter" (2015) for the comparison.
type Jitter int

// Jitter kinds. The zero value is JitterFull.
const (
	JitterFull Jitter = iota
	JitterEqual
	JitterDecorrelated
	JitterNone
)

// String returns the jitter kind's name.
func (j Jitter) String() string {
	switch j {
	case JitterFull:
		return "full"
	case JitterEqual:
		return "equal"
	case JitterDecorrelated:
		return "decorrelated"
	case JitterNone:
		return "none"
	}
	return fmt.Sprintf("Jitter(%d)", int(j))
}

// RetryEvent describes a failed attempt that will be retried. It is passed
// to [RetryPolicy].OnRetry by value.
type RetryEvent struct {
	Attempt int           // the attempt that failed, from 1
	Err     error         // its error
	Delay   time.Duration // the wait before the next attempt
}

// RetryPolicy retries a call with jittered exponential backoff. Its zero
// value is usable: 3 attempts, 1 s base delay doubling up to 60 s, full
// jitter. A RetryPolicy is a value; it is a [Policy], safe for concurrent use
// as long as its callbacks are.
//
// An attempt is retried when it returns an error that is not [Permanent],
// passes RetryIf, and the caller's context is still live. The wait before
// the next attempt is the schedule's delay, or the server's requested wait
// ([RetryAfter]) when that is longer. When the wait cannot end before
// MaxElapsed or the context's deadline, Retry gives up at once rather than
// sleeping in vain. There is no wait after the last attempt.
//
// A panic in the function is not recovered: it propagates to the caller and
// no further attempt is made.
type RetryPolicy struct {
	// MaxAttempts is the total number of attempts, the first included.
	// 0 means DefaultMaxAttempts (3); 1 means no retry; negative is invalid.
	MaxAttempts int
	// BaseDelay is the delay before the first retry, before jitter.
	// 0 means DefaultBaseDelay (1 s).
	BaseDelay time.Duration
	// MaxDelay caps every computed delay (not a server's RetryAfter wait).
	// 0 means DefaultMaxDelay (60 s).
	MaxDelay time.Duration
	// Multiplier grows the delay per retry. 0 means DefaultMultiplier (2);
	// otherwise it must be a finite number >= 1.
	Multiplier float64
	// Jitter randomises the delays; the zero value is JitterFull.
	Jitter Jitter
	// MaxElapsed bounds the time from the first attempt's start to the start
	// of the last one: no attempt starts after it. 0 means no bound.
	MaxElapsed time.Duration
	// RetryIf reports whether an error is worth retrying. nil retries every
	// error except Permanent ones.
	RetryIf func(error) bool
	// OnRetry, when set, is called before each wait with the failed attempt.
	OnRetry func(RetryEvent)
	// Budget, when set, is shared by many calls and refuses retries once they
	// exceed its share of calls (see [RetryBudget]).
	Budget *RetryBudget
	// Backoff, when set, replaces the delay schedule: it is called once per
	// Retry call that needs a delay, and its NextBackOff gives the delay
	// before each retry (backoff.Stop ends the retries). BaseDelay, MaxDelay,
	// Multiplier and Jitter are then unused. Any cenkalti/backoff/v4
	// schedule fits, for example backoff.NewConstantBackOff(time.Second).
	Backoff func() backoff.BackOff
}

// Validate reports whether the policy's fields are in range. The error
// wraps [ErrInvalidArgument] and names the field.
func (p *RetryPolicy) Validate() error {
	switch {
	case p.MaxAttempts < 0:
		return invalidArg("RetryPolicy.MaxAttempts must be >= 0 (0 means %d), got %d", DefaultMaxAttempts, p.MaxAttempts)
	case p.BaseDelay < 0:
		return invalidArg("RetryPolicy.BaseDelay must be >= 0, got %v", p.BaseDelay)
	case p.MaxDelay < 0:
		return invalidArg("RetryPolicy.MaxDelay must be >= 0, got %v", p.MaxDelay)
	case p.MaxDelay > 0 && p.BaseDelay > p.MaxDelay:
		return invalidArg("RetryPolicy.MaxDelay (%v) must be >= BaseDelay (%v)", p.MaxDelay, p.BaseDelay)
	case p.Multiplier != 0 && !(p.Multiplier >= 1 && p.Multiplier <= math.MaxFloat64):
		return invalidArg("RetryPolicy.Multiplier must be a finite number >= 1 (0 means %v), got %v", DefaultMultiplier, p.Multiplier)
	case p.Jitter < JitterFull || p.Jitter > JitterNone:
		return invalidArg("RetryPolicy.Jitter must be one of JitterFull, JitterEqual, JitterDecorrelated, JitterNone, got %d", int(p.Jitter))
	case p.MaxElapsed < 0:
		return invalidArg("RetryPolicy.MaxElapsed must be >= 0, got %v", p.MaxElapsed)
	}
	return nil
}

func (p *RetryPolicy) attempts() int {
	if p.MaxAttempts == 0 {
		return DefaultMaxAttempts
	}
	return p.MaxAttempts
}

// Retryable reports whether err would be retried: it is not nil, not
// [Permanent], and RetryIf (when set) accepts it. The caller's context and
// the attempt count are not considered.
func (p RetryPolicy) Retryable(err error) bool {
	if err == nil || IsPermanent(err) {
		return false
	}
	return p.RetryIf == nil || p.RetryIf(err)
}

// Retry calls fn until it succeeds, returns an error that is not retryable,
// or the policy gives up, and returns fn's value from the successful attempt.
//
// On failure the error is a [*RetryError] holding the attempt count and the
// last error; it also wraps ctx.Err() when the caller's context ended the
// retries, and [ErrRetryBudgetExhausted] when the budget refused a retry.
// A context that is already done returns ctx.Err() without calling fn. An
// invalid policy or a nil fn returns an error wrapping [ErrInvalidArgument].
// Retry starts no goroutine; a success on the first attempt allocates nothing.
func Retry[T any](ctx context.Context, p RetryPolicy, fn func(context.Context) (T, error)) (T, error) {
	if fn == nil {
		var zero T
		return zero, invalidArg("Retry: fn is nil")
	}
	return retryLoop[T](ctx, &p, fnAttempt[T](fn))
}

// Do runs fn under the policy: the [Policy] form of [Retry].
func (p RetryPolicy) Do(ctx context.Context, fn func(context.Context) error) error {
	if fn == nil {
		return invalidArg("RetryPolicy.Do: fn is nil")
	}
	_, err := retryLoop[struct{}](ctx, &p, chainAttempt{leaf: funcRunner(fn)})
	return err
}

func (p RetryPolicy) doChain(ctx context.Context, next *node, leaf runner) error {
	_, err := retryLoop[struct{}](ctx, &p, chainAttempt{next: next, leaf: leaf})
	return err
}

// attempter is one attempt of a retried call. Using it as a type parameter
// rather than a func value keeps Retry and Pipeline free of closures.
type attempter[T any] interface {
	attempt(ctx context.Context) (T, error)
}

type fnAttempt[T any] func(context.Context) (T, error)

func (f fnAttempt[T]) attempt(ctx context.Context) (T, error) { return f(ctx) }

type chainAttempt struct {
	next *node
	leaf runner
}

func (c chainAttempt) attempt(ctx context.Context) (struct{}, error) {
	return struct{}{}, c.next.run(ctx, c.leaf)
}

func retryLoop[T any, A attempter[T]](ctx context.Context, p *RetryPolicy, a A) (T, error) {
	var zero T
	if err := p.Validate(); err != nil {
		return zero, err
	}
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	if p.Budget != nil {
		p.Budget.recordCall()
	}
	var (
		start    time.Time
		schedule backoff.BackOff
		max      = p.attempts()
	)
	if p.MaxElapsed > 0 {
		start = time.Now()
	}
	for attempt := 1; ; attempt++ {
		v, err := a.attempt(ctx)
		if err == nil {
			return v, nil
		}
		if cerr := ctx.Err(); cerr != nil {
			return zero, &RetryError{Attempts: attempt, Last: err, cause: cerr}
		}
		if attempt >= max || !p.Retryable(err) {
			return zero, &RetryError{Attempts: attempt, Last: err}
		}
		if schedule == nil {
			schedule = p.NewBackOff()
		}
		delay := schedule.NextBackOff()
		if delay == backoff.Stop {
			return zero, &RetryError{Attempts: attempt, Last: err}
		}
		if wait, ok := RetryAfterOf(err); ok && wait > delay {
			delay = wait
		}
		if !fits(ctx, p, start, delay) {
			return zero, &RetryError{Attempts: attempt, Last: err}
		}
		if p.Budget != nil && !p.Budget.allowRetry() {
			return zero, &RetryError{Attempts: attempt, Last: err, cause: ErrRetryBudgetExhausted}
		}
		if p.OnRetry != nil {
			p.OnRetry(RetryEvent{Attempt: attempt, Err: err, Delay: delay})
		}
		if cerr := wait.Sleep(ctx, delay); cerr != nil {
			return zero, &RetryError{Attempts: attempt, Last: err, cause: cerr}
		}
	}
}

// fits reports whether an attempt started after delay would still start
// within MaxElapsed and before ctx's deadline.
func fits(ctx context.Context, p *RetryPolicy, start time.Time, delay time.Duration) bool {
	// Compared as a difference: time.Since(start)+delay would overflow for
	// a server wait near the largest Duration and wrap to a negative sum.
	if p.MaxElapsed > 0 && delay > p.MaxElapsed-time.Since(start) {
		return false
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= delay {
		return false
	}
	return true
}

// RetryError is the error of a [Retry] that gave up. It unwraps to Last, and
// also to ctx.Err() when the caller's context ended the retries or to
// [ErrRetryBudgetExhausted] when the budget refused one.
type RetryError struct {
	Attempts int   // attempts made
	Last     error // the last attempt's error
	cause    error
}

// Error describes the attempts and the last error.
func (e *RetryError) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("resilience: gave up after %d attempt(s): %s (%s)", e.Attempts, bare(e.Last), bare(e.cause))
	}
	return fmt.Sprintf("resilience: gave up after %d attempt(s): %s", e.Attempts, bare(e.Last))
}

// Unwrap returns the last error, and the cause that stopped the retries
// when it was not the attempt count or the error itself.
func (e *RetryError) Unwrap() []error {
	if e.cause != nil {
		return []error{e.Last, e.cause}
	}
	return []error{e.Last}
}

// Permanent marks err as not worth retrying: [Retry] returns at once, and
// the queue fails the task without further attempts. errors.Is and
// errors.As still see err. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err's chain holds an error marked by
// [Permanent] (or by cenkalti/backoff's backoff.Permanent).
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	var p *permanentError
	if errors.As(err, &p) {
		return true
	}
	var bp *backoff.PermanentError
	return errors.As(err, &bp)
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// RetryAfter marks err with a wait the server asked for (an HTTP 429's
// Retry-After, say): the next attempt starts no sooner than d after this
// one failed. A negative d counts as 0. RetryAfter(nil, d) is nil.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err: err, d: max(d, 0)}
}

// RetryAfterOf returns the server wait carried by err: the first error in
// its chain with a method RetryAfter() time.Duration, as [RetryAfter] makes.
// Negative waits count as 0.
func RetryAfterOf(err error) (time.Duration, bool) {
	if err == nil {
		return 0, false
	}
	var ra interface{ RetryAfter() time.Duration }
	if !errors.As(err, &ra) {
		return 0, false
	}
	return max(ra.RetryAfter(), 0), true
}

type retryAfterError struct {
	err error
	d   time.Duration
}

func (e *retryAfterError) Error() string             { return e.err.Error() }
func (e *retryAfterError) Unwrap() error             { return e.err }
func (e *retryAfterError) RetryAfter() time.Duration { return e.d }
