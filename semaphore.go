package resilience

import (
	"context"
	"fmt"
	"sync/atomic"

	"golang.org/x/sync/semaphore"
)

// Semaphore bounds how much work runs at once: callers acquire a weight
// (one permit per call with [Semaphore.Do], or token-sized permits with
// [Semaphore.DoWeighted]) out of a fixed capacity, and block while it is
// not available. It is a [Policy], so it can lead a [Pipeline].
//
// Waiters are served in FIFO order, as in golang.org/x/sync/semaphore on
// which it is built: a large request at the head of the queue is not
// starved by a stream of small ones, because later small requests wait
// behind it even when they would fit.
//
// A Semaphore is safe for concurrent use. Create it with [NewSemaphore];
// the zero value has capacity 0, and its Acquire reports
// [ErrInvalidArgument].
type Semaphore struct {
	sem      *semaphore.Weighted
	capacity int64
	inFlight atomic.Int64
	waiting  atomic.Int64
}

var _ Policy = (*Semaphore)(nil)

// NewSemaphore returns a semaphore of the given capacity (the total weight
// that may be held at once).
//
// A capacity below 1 cannot be reported here, since NewSemaphore returns no
// error; every Acquire, Do and DoWeighted of such a semaphore returns an
// error wrapping [ErrInvalidArgument] instead of hanging or panicking.
func NewSemaphore(capacity int64) *Semaphore {
	s := &Semaphore{capacity: capacity}
	if capacity >= 1 {
		s.sem = semaphore.NewWeighted(capacity)
	}
	return s
}

// Capacity returns the capacity the semaphore was created with.
func (s *Semaphore) Capacity() int64 { return s.capacity }

// InFlight returns the weight currently held. It never exceeds the
// capacity. Under concurrent use it is a snapshot that may already be stale.
func (s *Semaphore) InFlight() int64 { return s.inFlight.Load() }

// Waiting returns the number of callers blocked in Acquire (including Do
// and DoWeighted) at this moment. Under concurrent use it is a snapshot.
func (s *Semaphore) Waiting() int { return int(s.waiting.Load()) }

// Acquire blocks until weight is available, then holds it until
// [Semaphore.Release]. It returns nil on success and ctx.Err() when ctx
// ends first (then nothing is held); a ctx that has already ended fails
// even when the weight is free.
//
// A weight below 1 or above the capacity, or a semaphore whose capacity is
// below 1, is an error wrapping [ErrInvalidArgument]: such a request could
// never be granted, so it fails at once instead of hanging.
func (s *Semaphore) Acquire(ctx context.Context, weight int64) error {
	if s == nil || s.sem == nil {
		return s.invalid()
	}
	if weight < 1 || weight > s.capacity {
		return invalidArg("Semaphore.Acquire: weight must be in [1, %d] (the capacity), got %d", s.capacity, weight)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if !s.sem.TryAcquire(weight) {
		s.waiting.Add(1)
		err := s.sem.Acquire(ctx, weight)
		s.waiting.Add(-1)
		if err != nil {
			return err
		}
	}
	// InFlight is raised after the weight is taken and lowered before it is
	// given back, so it never exceeds what is really held.
	s.inFlight.Add(weight)
	return nil
}

// Release gives back weight acquired earlier, waking waiters that now fit.
// A weight of 0 does nothing.
//
// Releasing more than is held, or a negative weight, is a programmer error
// that cannot be reported otherwise: Release panics.
func (s *Semaphore) Release(weight int64) {
	if weight == 0 {
		return
	}
	if weight < 0 {
		panic(fmt.Sprintf("resilience: Semaphore.Release of negative weight %d", weight))
	}
	if s == nil || s.sem == nil {
		panic("resilience: Semaphore.Release on a semaphore that was never acquired (capacity below 1)")
	}
	if left := s.inFlight.Add(-weight); left < 0 {
		s.inFlight.Add(weight)
		panic(fmt.Sprintf("resilience: Semaphore.Release of %d exceeds the weight held (%d)", weight, left+weight))
	}
	s.sem.Release(weight)
}

// Do runs fn while holding a weight of 1, and releases it when fn returns,
// even if fn panics. It returns fn's error, the error of Acquire (ctx.Err()
// when ctx ends while waiting), or an error wrapping [ErrInvalidArgument]
// for a nil fn or a capacity below 1.
func (s *Semaphore) Do(ctx context.Context, fn func(context.Context) error) error {
	if fn == nil {
		return invalidArg("Semaphore.Do: fn is nil")
	}
	return s.doChain(ctx, nil, funcRunner(fn))
}

func (s *Semaphore) doChain(ctx context.Context, next *node, leaf runner) error {
	if err := s.Acquire(ctx, 1); err != nil {
		return err
	}
	defer s.Release(1)
	return next.run(ctx, leaf)
}

// DoWeighted is [Semaphore.Do] holding weight instead of 1, for example the
// number of tokens a request will use. Its errors are those of Do and
// [Semaphore.Acquire].
func (s *Semaphore) DoWeighted(ctx context.Context, weight int64, fn func(context.Context) error) error {
	if fn == nil {
		return invalidArg("Semaphore.DoWeighted: fn is nil")
	}
	if err := s.Acquire(ctx, weight); err != nil {
		return err
	}
	defer s.Release(weight)
	return fn(ctx)
}

func (s *Semaphore) invalid() error {
	var c int64
	if s != nil {
		c = s.capacity
	}
	return invalidArg("Semaphore capacity must be >= 1, got %d (use NewSemaphore)", c)
}
