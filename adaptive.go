package resilience

import (
	"container/list"
	"context"
	"errors"
	"reflect"
	"sync"
)

// Defaults and bounds of [AdaptiveConfig], used where a field is 0.
const (
	// DefaultAdaptiveMin is the lowest limit an [AdaptiveLimiter] shrinks to.
	DefaultAdaptiveMin = 1
	// DefaultAdaptiveMax is the highest limit an [AdaptiveLimiter] grows to.
	DefaultAdaptiveMax = 100
	// DefaultAdaptiveInitial is the limit an [AdaptiveLimiter] starts with,
	// moved into [Min, Max] when it falls outside.
	DefaultAdaptiveInitial = 10
	// MaxAdaptiveLimit is the largest Min, Max or Initial accepted.
	MaxAdaptiveLimit = 1 << 30
)

// AdaptiveConfig configures an [AdaptiveLimiter]. The zero value is usable:
// a limit starting at 10, between 1 and 100, growing by one per limit's
// worth of successes and halving on 429, 503, 529 and timeouts.
type AdaptiveConfig struct {
	// Min is the lowest limit. 0 means DefaultAdaptiveMin (1); allowed: 0 to
	// MaxAdaptiveLimit.
	Min int
	// Max is the highest limit. 0 means DefaultAdaptiveMax (100), or Min
	// when Min is larger; allowed: 0 or Min to MaxAdaptiveLimit.
	Max int
	// Initial is the starting limit. 0 means DefaultAdaptiveInitial (10)
	// moved into [Min, Max]; otherwise it must be in [Min, Max].
	Initial int
	// SuccessesToGrow is how many successes raise the limit by one. Only
	// successes of calls that started while at least half the limit was in
	// use count (a limit that is not used says nothing about capacity). 0
	// means the current limit: one more per round of calls, as TCP's
	// congestion avoidance does. Negative is invalid.
	SuccessesToGrow int
	// IsOverload reports whether a call's error means the upstream is
	// overloaded. It is never called with nil. nil means [IsOverload].
	IsOverload func(error) bool
	// OnLimitChange, when set, is called after each change of the limit,
	// with no lock held, in the goroutine whose call caused it.
	OnLimitChange func(from, to int)
}

// IsOverload is the default overload signal of an [AdaptiveLimiter]: err
// wraps [ErrTimeout] or [context.DeadlineExceeded], has a method
// Timeout() bool reporting true (as net.Error does), or carries the HTTP
// status 429, 503 or 529 (Anthropic's "overloaded"). An error carries a
// status when an error in its chain has a method StatusCode() int, or is a
// struct (or pointer to one) with an exported int field StatusCode or
// HTTPStatusCode, as the errors of the openai-go, anthropic-sdk-go and
// go-openai SDKs are. A caller's cancellation ([context.Canceled]) is never
// an overload.
func IsOverload(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var to interface{ Timeout() bool }
	if errors.As(err, &to) && to.Timeout() {
		return true
	}
	switch code, _ := statusCodeOf(err, 0); code {
	case 429, 503, 529:
		return true
	}
	return false
}

// statusCodeOf returns the first HTTP status found in err's chain, depth
// first: a StatusCode() int method, or an exported int field StatusCode or
// HTTPStatusCode. SDK error types carry the status in such a field, with no
// method to ask for it, hence the reflection (on the error path only).
func statusCodeOf(err error, depth int) (int, bool) {
	if err == nil || depth > 64 {
		return 0, false
	}
	if sc, ok := err.(interface{ StatusCode() int }); ok {
		return sc.StatusCode(), true
	}
	v := reflect.ValueOf(err)
	for v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if v.Kind() == reflect.Struct {
		for _, name := range [...]string{"StatusCode", "HTTPStatusCode"} {
			if f, ok := v.Type().FieldByName(name); ok && f.IsExported() {
				if fv, ferr := v.FieldByIndexErr(f.Index); ferr == nil && fv.CanInt() {
					return int(fv.Int()), true
				}
			}
		}
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return statusCodeOf(u.Unwrap(), depth+1)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if code, ok := statusCodeOf(e, depth+1); ok {
				return code, true
			}
		}
	}
	return 0, false
}

// AdaptiveLimiter bounds how many calls run at once with a limit that
// adapts to the upstream by AIMD (additive increase, multiplicative
// decrease): an overloaded call halves the limit, at most once per
// generation of calls, so a burst of simultaneous 429s halves it once, not
// once per call; a run of successes raises it by one. The limit stays
// within [Min, Max].
//
// It is a [Policy]: Do runs fn when fewer calls than the limit are in
// flight, and otherwise waits in line (first come, first served) until a
// call finishes or the limit grows. Errors that are neither overloads nor
// nil (a 400, a cancelled call) leave the limit alone. A panic in fn frees
// its slot and propagates. An AdaptiveLimiter is safe for concurrent use
// and starts no goroutine; the zero value is not usable, create one with
// [NewAdaptiveLimiter].
type AdaptiveLimiter struct {
	min, max, grow int
	isOverload     func(error) bool
	onChange       func(from, to int)

	mu        sync.Mutex
	limit     int
	inFlight  int
	gen       uint64 // bumped by every decrease
	successes int    // counted successes since the last change
	waiters   list.List
}

var _ Policy = (*AdaptiveLimiter)(nil)

// admission is what a call remembers from the moment it was admitted.
type admission struct {
	gen       uint64
	saturated bool // at least half the limit was in use
}

type adaptiveWaiter struct {
	ready chan struct{}
	adm   admission
}

// NewAdaptiveLimiter returns a limiter configured by cfg. A field outside
// its documented range is an error wrapping [ErrInvalidArgument].
func NewAdaptiveLimiter(cfg AdaptiveConfig) (*AdaptiveLimiter, error) {
	switch {
	case cfg.Min < 0 || cfg.Min > MaxAdaptiveLimit:
		return nil, invalidArg("AdaptiveConfig.Min must be in [0, %d] (0 means %d), got %d", MaxAdaptiveLimit, DefaultAdaptiveMin, cfg.Min)
	case cfg.Max < 0 || cfg.Max > MaxAdaptiveLimit:
		return nil, invalidArg("AdaptiveConfig.Max must be in [0, %d] (0 means %d), got %d", MaxAdaptiveLimit, DefaultAdaptiveMax, cfg.Max)
	case cfg.Max != 0 && cfg.Max < cfg.Min:
		return nil, invalidArg("AdaptiveConfig.Max (%d) must be >= Min (%d)", cfg.Max, cfg.Min)
	case cfg.SuccessesToGrow < 0:
		return nil, invalidArg("AdaptiveConfig.SuccessesToGrow must be >= 0 (0 means the current limit), got %d", cfg.SuccessesToGrow)
	}
	lo, hi := cfg.Min, cfg.Max
	if lo == 0 {
		lo = DefaultAdaptiveMin
	}
	if hi == 0 {
		hi = max(DefaultAdaptiveMax, lo)
	}
	initial := cfg.Initial
	switch {
	case initial == 0:
		initial = min(max(DefaultAdaptiveInitial, lo), hi)
	case initial < lo || initial > hi:
		return nil, invalidArg("AdaptiveConfig.Initial must be in [Min=%d, Max=%d] (0 means %d), got %d", lo, hi, DefaultAdaptiveInitial, initial)
	}
	l := &AdaptiveLimiter{min: lo, max: hi, grow: cfg.SuccessesToGrow,
		isOverload: cfg.IsOverload, onChange: cfg.OnLimitChange, limit: initial}
	if l.isOverload == nil {
		l.isOverload = IsOverload
	}
	return l, nil
}

// Limit returns the current concurrency limit.
func (l *AdaptiveLimiter) Limit() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.limit
}

// InFlight returns how many calls are running now.
func (l *AdaptiveLimiter) InFlight() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inFlight
}

// Do runs fn once fewer calls than the limit are in flight, and returns
// fn's error. While waiting for a slot it returns ctx.Err() when ctx ends,
// without running fn; a ctx already done returns ctx.Err() at once. A nil fn
// is an error wrapping [ErrInvalidArgument]. Do allocates nothing when it
// does not wait.
func (l *AdaptiveLimiter) Do(ctx context.Context, fn func(context.Context) error) error {
	if fn == nil {
		return invalidArg("AdaptiveLimiter.Do: fn is nil")
	}
	return l.doChain(ctx, nil, funcRunner(fn))
}

func (l *AdaptiveLimiter) doChain(ctx context.Context, next *node, leaf runner) (err error) {
	adm, err := l.acquire(ctx)
	if err != nil {
		return err
	}
	returned := false
	defer func() {
		if !returned { // fn panicked: free the slot, say nothing about load
			l.release(adm, outcomeNeutral)
		}
	}()
	err = next.run(ctx, leaf)
	returned = true
	o := outcomeSuccess
	if err != nil {
		o = outcomeNeutral
		if l.isOverload(err) {
			o = outcomeOverload
		}
	}
	l.release(adm, o)
	return err
}

type outcome uint8

const (
	outcomeSuccess outcome = iota
	outcomeNeutral
	outcomeOverload
)

// acquire takes a slot, waiting in line when none is free.
func (l *AdaptiveLimiter) acquire(ctx context.Context) (admission, error) {
	if err := ctx.Err(); err != nil {
		return admission{}, err
	}
	l.mu.Lock()
	if l.waiters.Len() == 0 && l.inFlight < l.limit {
		adm := l.admitLocked()
		l.mu.Unlock()
		return adm, nil
	}
	w := &adaptiveWaiter{ready: make(chan struct{})}
	elem := l.waiters.PushBack(w)
	l.mu.Unlock()
	select {
	case <-w.ready:
		return w.adm, nil
	case <-ctx.Done():
		l.mu.Lock()
		select {
		case <-w.ready: // admitted as ctx ended: give the slot back
			l.inFlight--
			l.wakeLocked()
		default:
			l.waiters.Remove(elem)
			// A waiter that leaves the front may unblock the next one.
			l.wakeLocked()
		}
		l.mu.Unlock()
		return admission{}, ctx.Err()
	}
}

func (l *AdaptiveLimiter) admitLocked() admission {
	l.inFlight++
	return admission{gen: l.gen, saturated: 2*l.inFlight >= l.limit}
}

// wakeLocked admits waiters, first come first served, while slots are free.
func (l *AdaptiveLimiter) wakeLocked() {
	for l.inFlight < l.limit {
		front := l.waiters.Front()
		if front == nil {
			return
		}
		w := l.waiters.Remove(front).(*adaptiveWaiter)
		w.adm = l.admitLocked()
		close(w.ready)
	}
}

// release frees a slot and adapts the limit to the call's outcome.
func (l *AdaptiveLimiter) release(adm admission, o outcome) {
	l.mu.Lock()
	l.inFlight--
	from := l.limit
	switch o {
	case outcomeOverload:
		if adm.gen == l.gen { // the first overload of this generation
			l.gen++
			l.successes = 0
			l.limit = max(l.min, l.limit/2)
		}
	case outcomeSuccess:
		if adm.gen == l.gen && adm.saturated && l.limit < l.max {
			l.successes++
			need := l.grow
			if need == 0 {
				need = l.limit
			}
			if l.successes >= need {
				l.successes = 0
				l.limit++
			}
		}
	}
	to := l.limit
	l.wakeLocked()
	l.mu.Unlock()
	if from != to && l.onChange != nil {
		l.onChange(from, to)
	}
}
