package resilience

import (
	"context"
	"fmt"
	"reflect"
	"time"
)

// Policy runs a function under some protection: a concurrency limit, a
// circuit breaker, retries, a deadline. [*Semaphore], [*Breaker],
// [RetryPolicy], [Timeout] and the value returned by [Pipeline] are policies.
//
// Do returns fn's error, or an error of the policy's own (a rejection, a
// timeout); when ctx ends before fn could run it returns an error wrapping
// ctx.Err(). Do never leaves a goroutine running after it returns.
type Policy interface {
	Do(ctx context.Context, fn func(context.Context) error) error
}

// Execute runs fn under p and returns fn's value. It is the typed form of
// p.Do: the value is the one returned by the last run of fn (for a retrying
// policy, the attempt that succeeded), or T's zero value with an error.
//
// A nil p, or a nil pointer to one of this package's policies (a nil
// *Breaker, *Semaphore, *RateLimiter, *AdaptiveLimiter or *RetryPolicy),
// runs fn directly; a nil fn is an error wrapping [ErrInvalidArgument].
func Execute[T any](ctx context.Context, p Policy, fn func(context.Context) (T, error)) (T, error) {
	if fn == nil {
		var zero T
		return zero, invalidArg("Execute: fn is nil")
	}
	if p == nil || isNilPolicy(p) {
		return fn(ctx)
	}
	c := &valueRunner[T]{fn: fn}
	var err error
	if ch, ok := p.(chainer); ok {
		err = ch.doChain(ctx, nil, c)
	} else {
		err = p.Do(ctx, c.run)
	}
	if err != nil {
		var zero T
		return zero, err
	}
	return c.val, nil
}

// Pipeline composes policies into one; the first is outermost. For example
//
//	Pipeline(limiter, breaker, retry, Timeout(5*time.Second))
//
// bounds concurrency, then guards with the breaker, then retries, and gives
// each attempt its own 5 s deadline. Nil entries, including nil pointers
// such as a *Breaker left nil to mean "no breaker", are skipped, and nested
// pipelines are flattened. An empty pipeline runs fn directly. The pipeline
// is safe for concurrent use when its policies are.
//
// The package's own policies are chained without a closure per call, so
// [Execute] over a pipeline of them allocates one object per call.
func Pipeline(policies ...Policy) Policy {
	flat := make([]Policy, 0, len(policies))
	for _, p := range policies {
		switch q := p.(type) {
		case nil:
		case *pipeline:
			if q == nil {
				continue
			}
			flat = append(flat, q.policies...)
		default:
			if v := reflect.ValueOf(p); v.Kind() == reflect.Pointer && v.IsNil() {
				continue
			}
			flat = append(flat, p)
		}
	}
	var head *node
	for i := len(flat) - 1; i >= 0; i-- {
		head = &node{p: flat[i], next: head}
	}
	return &pipeline{head: head, policies: flat}
}

// isNilPolicy reports whether p is a nil pointer to one of this package's
// policies. It is a type switch, cheap enough for every [Execute] call.
func isNilPolicy(p Policy) bool {
	switch q := p.(type) {
	case *Breaker:
		return q == nil
	case *Semaphore:
		return q == nil
	case *RateLimiter:
		return q == nil
	case *AdaptiveLimiter:
		return q == nil
	case *RetryPolicy:
		return q == nil
	case *pipeline:
		return q == nil
	}
	return false
}

type pipeline struct {
	head     *node
	policies []Policy
}

// Do runs fn through every policy of the pipeline, outermost first.
func (p *pipeline) Do(ctx context.Context, fn func(context.Context) error) error {
	if fn == nil {
		return invalidArg("Pipeline.Do: fn is nil")
	}
	return p.head.run(ctx, funcRunner(fn))
}

func (p *pipeline) doChain(ctx context.Context, next *node, leaf runner) error {
	if next == nil {
		return p.head.run(ctx, leaf)
	}
	return p.head.run(ctx, funcRunner(func(ctx context.Context) error { return next.run(ctx, leaf) }))
}

// runner is the innermost call of a chain.
type runner interface {
	run(ctx context.Context) error
}

// funcRunner adapts a plain function; a func value fits in an interface
// without an allocation.
type funcRunner func(context.Context) error

func (f funcRunner) run(ctx context.Context) error { return f(ctx) }

// valueRunner keeps the value of a typed call for [Execute].
type valueRunner[T any] struct {
	fn  func(context.Context) (T, error)
	val T
}

func (v *valueRunner[T]) run(ctx context.Context) error {
	val, err := v.fn(ctx)
	if err == nil {
		v.val = val
	}
	return err
}

// chainer is implemented by this package's policies. doChain does what Do
// does, but runs next.run(ctx, leaf) where Do would call fn, so a chain of
// them needs no closure per call. Do is doChain(ctx, nil, funcRunner(fn)).
type chainer interface {
	doChain(ctx context.Context, next *node, leaf runner) error
}

// node is one link of a [Pipeline], built once.
type node struct {
	p    Policy
	next *node
}

// run runs the chain from n down to leaf. A nil node runs leaf.
func (n *node) run(ctx context.Context, leaf runner) error {
	if n == nil {
		return leaf.run(ctx)
	}
	if c, ok := n.p.(chainer); ok {
		return c.doChain(ctx, n.next, leaf)
	}
	next := n.next
	return n.p.Do(ctx, func(ctx context.Context) error { return next.run(ctx, leaf) })
}

// Timeout is a [Policy] that gives each call a deadline: fn's context ends
// after the duration, and when the call returns an error after the deadline
// passed, Do returns an error wrapping both [context.DeadlineExceeded] and
// [ErrTimeout] (and fn's own error). A Timeout of 0 or less is an error
// wrapping [ErrInvalidArgument]. The caller's own deadline, when earlier,
// still applies and is reported as the caller's ctx.Err().
//
// Timeout does not abandon fn: fn must return when its context ends, as
// every context-aware call does. Use [Fallback] to stop waiting for a call
// that ignores its context.
type Timeout time.Duration

// Do runs fn with the deadline.
func (t Timeout) Do(ctx context.Context, fn func(context.Context) error) error {
	if fn == nil {
		return invalidArg("Timeout.Do: fn is nil")
	}
	return t.doChain(ctx, nil, funcRunner(fn))
}

func (t Timeout) doChain(ctx context.Context, next *node, leaf runner) error {
	if t <= 0 {
		return invalidArg("Timeout must be > 0, got %v", time.Duration(t))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	tctx, cancel := context.WithTimeoutCause(ctx, time.Duration(t), &timeoutError{d: time.Duration(t)})
	defer cancel()
	err := next.run(tctx, leaf)
	if err != nil && ctx.Err() == nil && tctx.Err() != nil {
		return &timeoutError{d: time.Duration(t), err: err}
	}
	return err
}

// timeoutError reports that a [Timeout] expired. It matches both
// [ErrTimeout] and [context.DeadlineExceeded], and unwraps to the call's error.
type timeoutError struct {
	d   time.Duration
	err error
}

func (e *timeoutError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("resilience: timeout after %v", e.d)
	}
	return fmt.Sprintf("resilience: timeout after %v: %s", e.d, bare(e.err))
}

func (e *timeoutError) Is(target error) bool {
	return target == ErrTimeout || target == context.DeadlineExceeded
}

func (e *timeoutError) Unwrap() error { return e.err }
