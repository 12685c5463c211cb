package resilience

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// Parallel calls fn for every item with at most limit calls in flight and
// returns the results in the order of items.
//
// It fails fast: the first call to return an error cancels the context of
// the calls still running, no further call starts, and Parallel returns that
// error wrapped with the item's index (errors.Is and errors.As find the
// original). When ctx ends before every item has started, Parallel returns
// ctx.Err() unless a call failed first. On any error the returned slice is
// nil; use [ParallelSettled] to keep the results of the calls that succeeded.
//
// A limit below 1 or a nil fn is an error wrapping [ErrInvalidArgument].
// Empty items return an empty slice and nil.
//
// A panic in fn stops new calls from starting and cancels the others'
// context; once every running call has returned, Parallel panics in the
// caller's goroutine with a [*PanicError] holding the value and stack.
//
// Parallel returns only after every call it started has returned. It uses
// min(limit, len(items)) goroutines, one of them the caller's.
func Parallel[T, R any](ctx context.Context, items []T, limit int, fn func(context.Context, T) (R, error)) ([]R, error) {
	if err := checkParallel("Parallel", limit, fn == nil); err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return []R{}, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b := &batch[T, R]{items: items, fn: fn, out: make([]R, len(items))}
	b.run(ctx, limit)
	if b.err != nil {
		return nil, b.err
	}
	if b.next.Load() < int64(len(items)) {
		return nil, ctx.Err()
	}
	return b.out, nil
}

// Result is the outcome of one call of [ParallelSettled]: Err is the call's
// error, and Value is meaningful when Err is nil.
type Result[R any] struct {
	Value R
	Err   error
}

// ParallelSettled calls fn for every item with at most limit calls in flight
// and returns every outcome in the order of items. A failing call does not
// affect the others. When ctx ends, no further call starts, and the items
// that never started get ctx.Err() as their error.
//
// The returned error is only for bad arguments: a limit below 1 or a nil fn
// (an error wrapping [ErrInvalidArgument]). Empty items return an empty
// slice and nil.
//
// A panic in fn stops new calls from starting and cancels the others'
// context; once every running call has returned, ParallelSettled panics in
// the caller's goroutine with a [*PanicError] holding the value and stack.
//
// ParallelSettled returns only after every call it started has returned.
func ParallelSettled[T, R any](ctx context.Context, items []T, limit int, fn func(context.Context, T) (R, error)) ([]Result[R], error) {
	if err := checkParallel("ParallelSettled", limit, fn == nil); err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return []Result[R]{}, nil
	}
	b := &batch[T, R]{items: items, fn: fn, settled: make([]Result[R], len(items))}
	b.run(ctx, limit)
	if started := b.next.Load(); started < int64(len(items)) {
		err := ctx.Err()
		for i := started; i < int64(len(items)); i++ {
			b.settled[i].Err = err
		}
	}
	return b.settled, nil
}

func checkParallel(name string, limit int, nilFn bool) error {
	if limit < 1 {
		return invalidArg("%s: limit must be >= 1, got %d", name, limit)
	}
	if nilFn {
		return invalidArg("%s: fn is nil", name)
	}
	return nil
}

// PanicError is the value with which [Parallel], [ParallelSettled],
// [Fallback], [Hedge] and [Stream] re-panic in the caller's goroutine when a
// function they ran on another goroutine panicked. Value is what was passed
// to panic and Stack the panicking goroutine's stack trace. If Value is an
// error, Unwrap returns it.
type PanicError struct {
	Value any
	Stack []byte
}

func newPanicError(v any) *PanicError {
	return &PanicError{Value: v, Stack: debug.Stack()}
}

// Error reports the panic value and the stack where it happened.
func (p *PanicError) Error() string {
	return fmt.Sprintf("resilience: panic in a concurrent call: %v\n\noriginal goroutine stack:\n%s", p.Value, p.Stack)
}

// Unwrap returns Value when it is an error, and nil otherwise.
func (p *PanicError) Unwrap() error {
	err, _ := p.Value.(error)
	return err
}

// batch is one run of Parallel or ParallelSettled. Its workers claim the
// next index with an atomic counter and write the result at that index, so
// an item costs no channel operation, lock or goroutine.
type batch[T, R any] struct {
	items   []T
	fn      func(context.Context, T) (R, error)
	out     []R         // Parallel
	settled []Result[R] // ParallelSettled

	ctx    context.Context // cancelled on the first error or panic
	cancel context.CancelCauseFunc
	done   <-chan struct{}

	_    [64]byte     // keeps next on a cache line of its own
	next atomic.Int64 // next index to claim; every claimed index runs
	_    [64]byte

	mu  sync.Mutex
	err error       // first error, Parallel only
	pan *PanicError // first panic
}

// run processes the items on min(limit, len(items)) workers, the caller
// being one of them, and returns when all have stopped. It re-panics a
// recovered panic.
func (b *batch[T, R]) run(ctx context.Context, limit int) {
	b.ctx, b.cancel = context.WithCancelCause(ctx)
	b.done = b.ctx.Done()
	workers := min(limit, len(b.items))
	var wg sync.WaitGroup
	wg.Add(workers - 1)
	for range workers - 1 {
		go func() {
			defer wg.Done()
			b.work()
		}()
	}
	b.work()
	wg.Wait()
	b.cancel(nil)
	if b.pan != nil {
		panic(b.pan)
	}
}

func (b *batch[T, R]) work() {
	defer func() {
		if r := recover(); r != nil {
			b.setPanic(newPanicError(r))
		}
	}()
	// Locals keep the loop off the cache line that next's atomic updates
	// keep moving between cores.
	ctx, done, fn, items, out, settled := b.ctx, b.done, b.fn, b.items, b.out, b.settled
	n := int64(len(items))
	for {
		select {
		case <-done:
			return
		default:
		}
		i := b.next.Add(1) - 1
		if i >= n {
			return
		}
		v, err := fn(ctx, items[i])
		switch {
		case settled != nil:
			settled[i] = Result[R]{Value: v, Err: err}
		case err != nil:
			b.fail(i, err)
			return
		default:
			out[i] = v
		}
	}
}

func (b *batch[T, R]) fail(i int64, err error) {
	b.mu.Lock()
	if b.err == nil && b.pan == nil {
		b.err = wrapf("Parallel item %d: %v", i, err)
		b.cancel(b.err)
	}
	b.mu.Unlock()
}

func (b *batch[T, R]) setPanic(p *PanicError) {
	b.mu.Lock()
	if b.pan == nil {
		b.pan = p
		b.cancel(p)
	}
	b.mu.Unlock()
}
