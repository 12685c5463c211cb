package resilience

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// DefaultStreamBuffer is the buffer of a [StreamConfig] whose Buffer is 0.
const DefaultStreamBuffer = 100

// StreamConfig configures [Stream]. The zero value means a buffer of
// [DefaultStreamBuffer] items and no timeouts.
type StreamConfig struct {
	// Buffer is how many emitted items may wait for the consumer; emit
	// blocks while Buffer items wait, so the producer is never more than
	// Buffer items ahead of the consumer. 0 means [DefaultStreamBuffer];
	// negative is an error wrapping [ErrInvalidArgument].
	Buffer int

	// FirstItemTimeout bounds how long the consumer waits for the first
	// item (or for the producer to finish without emitting any); past it,
	// Stream fails with [ErrFirstItemTimeout]. 0 means no limit; negative is
	// an error wrapping [ErrInvalidArgument].
	FirstItemTimeout time.Duration

	// IdleTimeout bounds how long the consumer, once it has had an item,
	// waits for the next one (or for the producer to finish); past it,
	// Stream fails with [ErrIdleTimeout]. Only time spent waiting counts, so a
	// slow consumer never trips it. 0 means no limit; negative is an error
	// wrapping [ErrInvalidArgument].
	IdleTimeout time.Duration
}

// Stream connects a producer to a consumer through a bounded buffer, so a
// fast producer (an LLM streaming tokens) cannot run away from a slow
// consumer (a client on a slow connection): memory stays bounded.
//
// produce runs on its own goroutine and hands items to emit, which blocks
// while cfg.Buffer items wait. consume runs in the caller's goroutine, once
// per item, in emit order; every item emit accepted is consumed exactly
// once unless the stream stops early. emit may be called from several
// goroutines while produce runs, but never after produce has returned.
//
// The stream stops early when consume returns an error, ctx ends, or the
// producer stalls past cfg.FirstItemTimeout or cfg.IdleTimeout (measured
// as time the consumer spends waiting). Then produce's context is
// cancelled and emit returns an error (the cause) without accepting the
// item; the items still buffered are dropped.
//
// Stream returns, only after produce has returned:
//   - nil when produce returned nil and every item was consumed;
//   - produce's error, after every item emitted before it was consumed;
//   - consume's error, as is;
//   - ctx.Err() when ctx ended;
//   - an error wrapping [ErrFirstItemTimeout] or [ErrIdleTimeout];
//   - an error wrapping [ErrInvalidArgument] for a negative Buffer or
//     timeout, or a nil produce or consume.
//
// A panic in consume propagates after produce has returned; a panic in
// produce stops the consumer and is re-panicked in the caller's goroutine
// as a [*PanicError].
func Stream[T any](ctx context.Context, cfg StreamConfig, produce func(ctx context.Context, emit func(T) error) error, consume func(context.Context, T) error) error {
	if err := cfg.check(); err != nil {
		return err
	}
	switch {
	case produce == nil:
		return invalidArg("Stream: produce is nil")
	case consume == nil:
		return invalidArg("Stream: consume is nil")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	buffer := cfg.Buffer
	if buffer == 0 {
		buffer = DefaultStreamBuffer
	}

	s := &stream[T]{ch: make(chan T, buffer), exited: make(chan struct{})}
	s.pctx, s.cancel = context.WithCancelCause(ctx)
	s.done = s.pctx.Done()
	go s.produce(produce)

	finished := false
	defer func() {
		if !finished { // consume panicked: stop and join the producer
			s.cancel(errStreamAborted)
			<-s.exited
		}
	}()
	err := s.consume(ctx, cfg, consume)
	finished = true
	s.cancel(err)
	<-s.exited
	if s.pan != nil {
		panic(s.pan)
	}
	if err != nil {
		return err
	}
	return s.perr
}

var errStreamAborted = errors.New("resilience: stream aborted by a panic in consume")

func (c StreamConfig) check() error {
	switch {
	case c.Buffer < 0:
		return invalidArg("StreamConfig.Buffer must be >= 0 (0 means %d), got %d", DefaultStreamBuffer, c.Buffer)
	case c.FirstItemTimeout < 0:
		return invalidArg("StreamConfig.FirstItemTimeout must be >= 0 (0 means none), got %v", c.FirstItemTimeout)
	case c.IdleTimeout < 0:
		return invalidArg("StreamConfig.IdleTimeout must be >= 0 (0 means none), got %v", c.IdleTimeout)
	}
	return nil
}

type stream[T any] struct {
	ch     chan T
	pctx   context.Context // the producer's context
	cancel context.CancelCauseFunc
	done   <-chan struct{} // pctx.Done()

	panicked atomic.Bool   // set before ch is closed, read per item
	exited   chan struct{} // closed when produce has returned
	perr     error         // produce's error; read after exited
	pan      *PanicError   // produce's panic; read after exited
}

func (s *stream[T]) produce(produce func(context.Context, func(T) error) error) {
	defer func() {
		if r := recover(); r != nil {
			s.pan = newPanicError(r)
			s.panicked.Store(true)
			s.cancel(s.pan)
		}
		close(s.ch)
		close(s.exited)
	}()
	s.perr = produce(s.pctx, s.emit)
}

// emit hands v to the consumer, blocking while the buffer is full. It
// fails with the stop cause once the stream has stopped.
func (s *stream[T]) emit(v T) error {
	select {
	case <-s.done:
		return context.Cause(s.pctx)
	default:
	}
	select {
	case s.ch <- v:
		return nil
	default:
	}
	select {
	case s.ch <- v:
		return nil
	case <-s.done:
		return context.Cause(s.pctx)
	}
}

// consume delivers items until the producer finishes (nil) or the stream
// must stop (the reason).
func (s *stream[T]) consume(ctx context.Context, cfg StreamConfig, consume func(context.Context, T) error) error {
	ctxDone := ctx.Done()
	var w stallWatch
	defer w.stop()
	first := true
	for {
		select {
		case <-ctxDone:
			return ctx.Err()
		default:
		}
		var v T
		var ok bool
		select {
		case v, ok = <-s.ch:
		default:
			var err error
			if v, ok, err = s.wait(ctx, &w, first, cfg); err != nil {
				return err
			}
		}
		if !ok || s.panicked.Load() {
			return nil
		}
		first = false
		if err := consume(ctx, v); err != nil {
			return err
		}
	}
}

// wait blocks for the next item (ok false when the producer has finished)
// and fails when ctx ends or the wait exceeds the stall timeout that
// applies.
func (s *stream[T]) wait(ctx context.Context, w *stallWatch, first bool, cfg StreamConfig) (v T, ok bool, err error) {
	limit, sentinel := cfg.IdleTimeout, ErrIdleTimeout
	if first {
		limit, sentinel = cfg.FirstItemTimeout, ErrFirstItemTimeout
	}
	ctxDone := ctx.Done()
	if limit <= 0 {
		if ctxDone == nil {
			v, ok = <-s.ch
			return v, ok, nil
		}
		select {
		case v, ok = <-s.ch:
			return v, ok, nil
		case <-ctxDone:
			return v, false, ctx.Err()
		}
	}
	deadline := w.arm(limit)
	for {
		select {
		case v, ok = <-s.ch:
			return v, ok, nil
		case <-ctxDone:
			return v, false, ctx.Err()
		case <-w.timer.C:
			if !w.rearm(deadline) {
				return v, false, fmt.Errorf("%w: waited %v", sentinel, limit)
			}
		}
	}
}

// stallWatch times the consumer's waits with one timer that is not reset
// per wait: it may stay armed for an earlier deadline, and a wait that sees
// it fire too early re-arms it for its own deadline. So a busy stream costs
// a clock read per wait and about one timer reset per timeout period.
type stallWatch struct {
	timer *time.Timer
	at    time.Time // when timer fires, if it has not fired yet; zero when idle
}

// arm makes sure the timer fires no later than limit from now, and returns
// that deadline.
func (w *stallWatch) arm(limit time.Duration) time.Time {
	deadline := time.Now().Add(limit)
	switch {
	case w.timer == nil:
		w.timer = time.NewTimer(limit)
		w.at = deadline
	case w.at.IsZero() || w.at.After(deadline):
		w.timer.Reset(limit)
		w.at = deadline
	}
	return deadline
}

// rearm handles a fire of the timer: it reports false when deadline has
// passed, and otherwise re-arms the timer for deadline.
func (w *stallWatch) rearm(deadline time.Time) bool {
	w.at = time.Time{}
	left := time.Until(deadline)
	if left <= 0 {
		return false
	}
	w.timer.Reset(left)
	w.at = deadline
	return true
}

func (w *stallWatch) stop() {
	if w.timer != nil {
		w.timer.Stop()
	}
}
