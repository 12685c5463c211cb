package resilience

import (
	"context"
	"errors"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of [BreakerConfig] and [BreakerGroupConfig], used where a field is 0.
const (
	// DefaultFailureThreshold is the number of consecutive failures that
	// opens a closed breaker.
	DefaultFailureThreshold = 5
	// DefaultRecoveryTimeout is how long an open breaker rejects calls.
	DefaultRecoveryTimeout = 30 * time.Second
	// DefaultHalfOpenMaxCalls is how many trial calls a half-open breaker
	// lets run at once.
	DefaultHalfOpenMaxCalls = 3
	// DefaultMinCalls is how many calls the failure-rate window must hold
	// before the rate can open the breaker.
	DefaultMinCalls = 10
	// MaxFailureThreshold is the largest FailureThreshold accepted.
	MaxFailureThreshold = 1<<30 - 1
)

// State is the state of a [Breaker].
type State int

const (
	// StateClosed lets every call through and counts failures.
	StateClosed State = iota
	// StateOpen rejects every call with an error wrapping [ErrOpen].
	StateOpen
	// StateHalfOpen lets a few trial calls through to probe recovery.
	StateHalfOpen
)

// String returns CLOSED, OPEN or HALF_OPEN.
func (s State) String() string {
	switch s {
	case StateClosed:
		return "CLOSED"
	case StateOpen:
		return "OPEN"
	case StateHalfOpen:
		return "HALF_OPEN"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// BreakerConfig configures a [Breaker]. The zero value is usable: it opens
// after 5 consecutive failures, stays open 30 s, then lets 3 trial calls run.
type BreakerConfig struct {
	// FailureThreshold is how many consecutive failures open a closed
	// breaker. 0 means DefaultFailureThreshold (5), except in failure-rate
	// mode (FailureRate > 0), where 0 turns the consecutive-failure trigger
	// off. Allowed: 0 to MaxFailureThreshold.
	FailureThreshold int

	// RecoveryTimeout is how long the breaker stays open before it lets
	// trial calls through. 0 means DefaultRecoveryTimeout (30 s).
	RecoveryTimeout time.Duration

	// HalfOpenMaxCalls is how many trial calls may run at once while the
	// breaker is half open; further calls get [ErrHalfOpenLimit]. 0 means
	// DefaultHalfOpenMaxCalls (3).
	HalfOpenMaxCalls int

	// FailureRate turns on the failure-rate mode: a closed breaker also
	// opens when the calls that ended in the last Window number at least
	// MinCalls and the share of failures among them reaches FailureRate.
	// 0 means off; otherwise it must be in (0, 1] and Window must be set.
	FailureRate float64

	// Window is the span of the failure-rate window. It is kept as 10
	// buckets of Window/10 (rounded up to a nanosecond): an outcome leaves
	// the window once 10 newer buckets have begun, between 9/10 of Window and
	// Window after it was recorded. Required (> 0) when FailureRate is set,
	// and only allowed then.
	Window time.Duration

	// MinCalls is how many calls the window must hold before the failure
	// rate can open the breaker. 0 means DefaultMinCalls (10). Only allowed
	// when FailureRate is set.
	MinCalls int

	// SlowCall, when > 0, makes a call that returns nil after running longer
	// than SlowCall count as a failure (its nil is still returned to the
	// caller). 0 means off.
	SlowCall time.Duration

	// IsFailure reports whether a non-nil error of a call counts as a
	// failure; it is never called with nil (nil is a success). An error for
	// which it reports false is ignored: it does not reset the consecutive
	// failures, is not recorded in the window, and a half-open trial ending
	// with it frees its slot without closing the breaker. nil means every
	// error except one wrapping [context.Canceled] (a caller that gave up
	// says nothing about the upstream's health). An error marked with
	// [Uncounted] is ignored whatever IsFailure says. A panic always counts
	// as a failure.
	IsFailure func(error) bool

	// OnStateChange, when set, is called after each state change, in the
	// goroutine that caused it (a call, State, Counts, Trip or Reset), with
	// no lock held: it may call the breaker. Changes made by concurrent
	// goroutines may be reported concurrently, in either order.
	OnStateChange func(from, to State)
}

// Breaker is a three-state circuit breaker. It is a [Policy]: Do runs fn
// while CLOSED, counts its failures, and once FailureThreshold consecutive
// calls failed (or the failure rate reached FailureRate) it opens: Do then
// rejects calls with a [*BreakerOpenError] (wrapping [ErrOpen]) without
// running them. After RecoveryTimeout it is HALF_OPEN: up to
// HalfOpenMaxCalls trial calls run at once (more get [ErrHalfOpenLimit]); a
// trial success closes it, a trial failure opens it again.
//
// There are no timers or goroutines: the state moves on the next call (or
// State, Counts). Each state change starts a new generation, and the result
// of a call that started in an older generation is discarded.
//
// A Breaker is safe for concurrent use. The zero Breaker is not usable;
// create one with [NewBreaker].
type Breaker struct {
	// word packs generation<<32 | consecutive failures<<2 | state. It is
	// the only field the closed-state fast path touches. Every state change
	// (and Trip, Reset) starts a new generation; a call compares the word's
	// generation with the one it started in (32 bits: a call would have to
	// span 2^32 state changes to be mistaken for a current one).
	word atomic.Uint64
	// openErr is the error rejected calls get; set before each opening.
	openErr atomic.Pointer[BreakerOpenError]

	fast        bool   // no window and no slow-call timing: lock-free closed path
	threshold   uint64 // consecutive failures that open; 0: off
	recovery    time.Duration
	halfOpenMax int
	slowCall    time.Duration
	isFailure   func(error) bool
	onChange    func(from, to State)
	listeners   atomic.Pointer[[]*stateListener] // added by OnStateChange; copy on write
	epoch       time.Time                        // origin of the breaker's monotonic clock

	mu       sync.Mutex
	trials   int            // half-open calls in flight in this generation
	win      *failureWindow // nil unless failure-rate mode
	rate     float64
	minCalls int64
}

var (
	_ Policy  = (*Breaker)(nil)
	_ chainer = (*Breaker)(nil)
)

// BreakerOpenError is the error of a call rejected by an open [Breaker]. It
// wraps [ErrOpen]. The breaker hands the same value to every call it
// rejects until it opens again (so a rejection does not allocate): do not
// modify it.
type BreakerOpenError struct {
	// Until is when the breaker will let trial calls through again.
	Until time.Time
	until int64 // Until on the breaker's clock
}

// Error says until when the breaker is open.
func (e *BreakerOpenError) Error() string {
	return ErrOpen.Error() + " until " + e.Until.Format(time.RFC3339Nano)
}

// Unwrap returns [ErrOpen].
func (e *BreakerOpenError) Unwrap() error { return ErrOpen }

// BreakerCounts is a snapshot of a [Breaker], from [Breaker.Counts].
type BreakerCounts struct {
	State State
	// ConsecutiveFailures counts the failures since the last success while
	// CLOSED (not counted in failure-rate mode with FailureThreshold 0).
	ConsecutiveFailures int
	// WindowCalls and WindowFailures are the outcomes in the failure-rate
	// window (0 unless FailureRate is set).
	WindowCalls, WindowFailures int
	// TrialCalls is the number of trial calls running while HALF_OPEN.
	TrialCalls int
	// OpenUntil is when an OPEN breaker will admit trial calls; zero otherwise.
	OpenUntil time.Time
}

// Layout of Breaker.word.
const (
	stateMask  uint64 = 3
	failShift         = 2
	failOne    uint64 = 1 << failShift
	failMask   uint64 = MaxFailureThreshold << failShift
	genShift          = 32
	genOne     uint64 = 1 << genShift
	foreverNow int64  = math.MaxInt64
)

func wordState(w uint64) State      { return State(w & stateMask) }
func wordFails(w uint64) uint64     { return (w & failMask) >> failShift }
func sameGen(a, b uint64) bool      { return a>>genShift == b>>genShift }
func (t stateChange) changed() bool { return t.from != t.to }

// stateChange is a state change to report after the lock is released.
type stateChange struct{ from, to State }

// callOutcome is how a finished call counts.
type callOutcome uint8

const (
	callSuccess callOutcome = iota
	callFailure
	callIgnored
)

// NewBreaker returns a closed breaker configured by cfg. A negative field,
// a FailureThreshold above MaxFailureThreshold, a FailureRate that is NaN
// or outside [0, 1], or a window setting without the others is an error
// wrapping [ErrInvalidArgument].
func NewBreaker(cfg BreakerConfig) (*Breaker, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return newBreaker(cfg), nil
}

// newBreaker builds a breaker from a validated cfg.
func newBreaker(cfg BreakerConfig) *Breaker {
	b := &Breaker{
		threshold:   uint64(cfg.FailureThreshold),
		recovery:    cfg.RecoveryTimeout,
		halfOpenMax: cfg.HalfOpenMaxCalls,
		slowCall:    cfg.SlowCall,
		isFailure:   cfg.IsFailure,
		onChange:    cfg.OnStateChange,
		epoch:       time.Now(),
	}
	if b.threshold == 0 && cfg.FailureRate == 0 {
		b.threshold = DefaultFailureThreshold
	}
	if b.recovery == 0 {
		b.recovery = DefaultRecoveryTimeout
	}
	if b.halfOpenMax == 0 {
		b.halfOpenMax = DefaultHalfOpenMaxCalls
	}
	if cfg.FailureRate > 0 {
		b.win = newFailureWindow(cfg.Window)
		b.rate = cfg.FailureRate
		b.minCalls = int64(cfg.MinCalls)
		if b.minCalls == 0 {
			b.minCalls = DefaultMinCalls
		}
	}
	b.fast = b.win == nil && b.slowCall == 0
	return b
}

func (cfg *BreakerConfig) validate() error {
	switch {
	case cfg.FailureThreshold < 0 || cfg.FailureThreshold > MaxFailureThreshold:
		return invalidArg("BreakerConfig.FailureThreshold must be in [0, %d] (0 means %d), got %d",
			MaxFailureThreshold, DefaultFailureThreshold, cfg.FailureThreshold)
	case cfg.RecoveryTimeout < 0:
		return invalidArg("BreakerConfig.RecoveryTimeout must be >= 0 (0 means %v), got %v",
			DefaultRecoveryTimeout, cfg.RecoveryTimeout)
	case cfg.HalfOpenMaxCalls < 0:
		return invalidArg("BreakerConfig.HalfOpenMaxCalls must be >= 0 (0 means %d), got %d",
			DefaultHalfOpenMaxCalls, cfg.HalfOpenMaxCalls)
	case math.IsNaN(cfg.FailureRate) || cfg.FailureRate < 0 || cfg.FailureRate > 1:
		return invalidArg("BreakerConfig.FailureRate must be in (0, 1], or 0 for off, got %v", cfg.FailureRate)
	case cfg.Window < 0:
		return invalidArg("BreakerConfig.Window must be > 0 with FailureRate, got %v", cfg.Window)
	case cfg.MinCalls < 0:
		return invalidArg("BreakerConfig.MinCalls must be >= 0 (0 means %d), got %d", DefaultMinCalls, cfg.MinCalls)
	case cfg.SlowCall < 0:
		return invalidArg("BreakerConfig.SlowCall must be >= 0 (0 means off), got %v", cfg.SlowCall)
	case cfg.FailureRate > 0 && cfg.Window == 0:
		return invalidArg("BreakerConfig.Window must be > 0 when FailureRate is set, got 0")
	case cfg.FailureRate == 0 && cfg.Window != 0:
		return invalidArg("BreakerConfig.Window is only allowed with a FailureRate in (0, 1], got FailureRate 0")
	case cfg.FailureRate == 0 && cfg.MinCalls != 0:
		return invalidArg("BreakerConfig.MinCalls is only allowed with a FailureRate in (0, 1], got FailureRate 0")
	}
	return nil
}

// Do runs fn unless the breaker rejects the call, and returns fn's error.
// It returns ctx.Err() without running fn when ctx is already done, a
// [*BreakerOpenError] (wrapping [ErrOpen]) while open, and
// [ErrHalfOpenLimit] while half open with HalfOpenMaxCalls trials running.
// A panic in fn counts as a failure and propagates to the caller. A nil fn
// is an error wrapping [ErrInvalidArgument].
func (b *Breaker) Do(ctx context.Context, fn func(context.Context) error) error {
	if fn == nil {
		return invalidArg("Breaker.Do: fn is nil")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// The hot paths of doChain, without the chain's indirections.
	w := b.word.Load()
	switch wordState(w) {
	case StateClosed:
		if b.fast {
			return b.callClosedFast(ctx, fn, w)
		}
	case StateOpen:
		if e := b.openErr.Load(); b.now() < e.until {
			return e
		}
	}
	return b.doSlow(ctx, nil, funcRunner(fn), w)
}

func (b *Breaker) doChain(ctx context.Context, next *node, leaf runner) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w := b.word.Load()
	switch wordState(w) {
	case StateClosed:
		if b.fast {
			return b.runClosedFast(ctx, next, leaf, w)
		}
	case StateOpen:
		if e := b.openErr.Load(); b.now() < e.until {
			return e
		}
	}
	return b.doSlow(ctx, next, leaf, w)
}

// State returns the current state. Like a call, it moves an OPEN breaker
// whose RecoveryTimeout has passed to HALF_OPEN (calling OnStateChange).
func (b *Breaker) State() State {
	w := b.word.Load()
	if wordState(w) != StateOpen || b.now() < b.openErr.Load().until {
		return wordState(w)
	}
	return b.Counts().State
}

// Counts returns a snapshot of the breaker's state and counters. Like
// State, it moves a due OPEN breaker to HALF_OPEN.
func (b *Breaker) Counts() BreakerCounts {
	now := b.now()
	b.mu.Lock()
	w, t := b.advanceLocked(now)
	c := BreakerCounts{State: wordState(w), ConsecutiveFailures: int(wordFails(w))}
	switch c.State {
	case StateOpen:
		c.OpenUntil = b.openErr.Load().Until
	case StateHalfOpen:
		c.TrialCalls = b.trials
	case StateClosed:
		if b.win != nil {
			calls, fails := b.win.counts(now)
			c.WindowCalls, c.WindowFailures = int(calls), int(fails)
		}
	}
	b.mu.Unlock()
	b.notify(t)
	return c
}

// Trip forces the breaker OPEN for d, whatever its state (for example when
// the upstream reported an exhausted quota). d <= 0 means RecoveryTimeout.
// In-flight calls' results are discarded. OnStateChange is called unless the
// breaker was already open.
func (b *Breaker) Trip(d time.Duration) {
	if d <= 0 {
		d = b.recovery
	}
	now := b.now()
	b.mu.Lock()
	w := b.word.Load()
	b.setLocked(w, StateOpen, now, d)
	b.mu.Unlock()
	b.notify(stateChange{wordState(w), StateOpen})
}

// Reset closes the breaker and clears its counters, whatever its state.
// In-flight calls' results are discarded. OnStateChange is called unless the
// breaker was already closed.
func (b *Breaker) Reset() {
	b.mu.Lock()
	w := b.word.Load()
	b.setLocked(w, StateClosed, 0, 0)
	b.mu.Unlock()
	b.notify(stateChange{wordState(w), StateClosed})
}

// Uncounted marks err as saying nothing about the upstream's health (a 429
// quota answer, a 400 for a bad request): a [Breaker] ignores the call, as
// it ignores errors its IsFailure rejects, whatever IsFailure says. Any
// error in the chain with a method Uncounted() bool that reports true counts
// as marked too. errors.Is and errors.As still see err. Uncounted(nil) is nil.
func Uncounted(err error) error {
	if err == nil {
		return nil
	}
	return &uncountedError{err: err}
}

type uncountedError struct{ err error }

func (e *uncountedError) Error() string   { return e.err.Error() }
func (e *uncountedError) Unwrap() error   { return e.err }
func (e *uncountedError) Uncounted() bool { return true }

// isUncounted reports whether err's chain holds an [Uncounted] mark.
func isUncounted(err error) bool {
	var u interface{ Uncounted() bool }
	return errors.As(err, &u) && u.Uncounted()
}
