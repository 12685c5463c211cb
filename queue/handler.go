package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/resilience-go/resilience"
)

// HandlerFunc runs one attempt of a task. It returns the result, which the
// worker encodes as JSON (a [json.RawMessage] is kept as is; nil means no
// result), or an error, which the worker retries under
// [WorkerConfig.Retry] unless it is [resilience.Permanent].
//
// ctx is cancelled at the soft time limit (cause [ErrSoftTimeLimit]; its
// Deadline reports that limit), when the worker lost the task's lease
// (cause [ErrLeaseLost]), at the hard time limit (cause [ErrTimeLimit]) and
// when a shutdown hands the task back (cause [ErrShutdown]), and when the
// task was cancelled by [Client.Cancel] (cause [ErrRevoked]); ctx.Err() is
// then [context.Canceled], and [context.Cause] tells which. ctx carries
// the values of the ctx given to [Worker.Run], and is what
// [ReportProgress] needs. The task is the handler's own copy.
//
// A handler may be called again for the same task (a retry, or a
// redelivery after a lost worker), so its side effects should be
// idempotent: the task id is the key to use.
type HandlerFunc func(ctx context.Context, t *Task) (any, error)

// Typed adapts a function of a typed payload to a [HandlerFunc]: it decodes
// the task's JSON payload into a P (a missing payload or null gives P's zero
// value) and returns fn's R as the result. A payload that does not decode
// into P fails the task permanently ([resilience.Permanent]): retrying
// would not change it. A nil fn returns a nil HandlerFunc, which
// [Worker.Handle] reports.
func Typed[P, R any](fn func(context.Context, P) (R, error)) HandlerFunc {
	if fn == nil {
		return nil
	}
	return func(ctx context.Context, t *Task) (any, error) {
		var p P
		if len(t.Payload) > 0 {
			if err := json.Unmarshal(t.Payload, &p); err != nil {
				return nil, resilience.Permanent(fmt.Errorf("queue: decode payload of task %s (%q) into %T: %w", t.ID, t.Name, p, err))
			}
		}
		r, err := fn(ctx, p)
		if err != nil {
			return nil, err
		}
		return r, nil
	}
}

// handleKey is the context key under which a handler's ctx holds the
// running attempt.
type handleKey struct{}

// taskHandle is a running attempt as seen from inside its handler. It is
// the handler's ctx: the attempt's cancellable context, reporting the soft
// time limit as its deadline and itself under handleKey, so a handler's
// ctx costs one allocation.
type taskHandle struct {
	context.Context                         // cancelled with a cause at the end of the attempt
	w               *Worker                 //
	settle          context.Context         // for broker calls: outlives the handler's ctx
	id, token       string                  //
	cancel          context.CancelCauseFunc // cancels the handler's ctx
	softAt          time.Time               // the soft time limit
	lost            atomic.Bool             // the lease is gone
	revoked         atomic.Bool             // the task was cancelled (worker_cancel.go)
	watch           cancelWatch             // watches for the task's cancellation; run loop only
}

// Value returns the handle itself for handleKey.
func (h *taskHandle) Value(key any) any {
	if key == (handleKey{}) {
		return h
	}
	return h.Context.Value(key)
}

// Deadline reports the soft time limit.
func (h *taskHandle) Deadline() (time.Time, bool) { return h.softAt, true }

// markLost records that the lease is gone and cancels the handler.
func (h *taskHandle) markLost() {
	h.lost.Store(true)
	h.cancel(ErrLeaseLost)
}

// ReportProgress records p as the progress of the task whose handler called
// it (ctx must be, or derive from, the handler's ctx): the task moves to
// PROCESSING with p visible through [Client.Get], and its lease is renewed.
// It works after the soft time limit, so a handler can report what it
// saved.
//
// It returns an error wrapping [ErrInvalidArgument] outside a handler or for
// a negative Current or Total, one wrapping [ErrLeaseLost] when the worker
// no longer holds the task (the handler's ctx is then cancelled too; stop
// working), one wrapping [ErrRevoked] when the task was cancelled (the
// progress is recorded, and the handler's ctx is cancelled with that
// cause), and broker errors wrapped. The broker call is bounded by one
// [WorkerConfig.Lease]: a broker that does not answer within it gives an
// error wrapping [context.DeadlineExceeded] (the lease keeper goes on
// renewing the lease meanwhile). Safe for concurrent use.
func ReportProgress(ctx context.Context, p Progress) error {
	h, _ := ctx.Value(handleKey{}).(*taskHandle)
	if h == nil {
		return invalidArg("ReportProgress called outside a task handler: ctx does not come from a Worker")
	}
	if p.Current < 0 || p.Total < 0 {
		return invalidArg("ReportProgress: Current (%d) and Total (%d) must be >= 0", p.Current, p.Total)
	}
	if h.lost.Load() {
		return wrapOp("report progress of task "+h.id, ErrLeaseLost)
	}
	lease := h.w.cfg.Lease
	pctx, cancel := context.WithTimeout(h.settle, lease)
	err := h.w.b.Progress(pctx, h.id, h.token, p, lease)
	timedOut := errors.Is(pctx.Err(), context.DeadlineExceeded)
	cancel()
	if err == nil {
		return nil
	}
	if timedOut {
		if !errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w (%w)", context.DeadlineExceeded, err)
		}
		return wrapOp("report progress of task "+h.id,
			fmt.Errorf("the broker did not answer within one lease (%v); the progress may not be recorded: %w", lease, err))
	}
	if errors.Is(err, ErrLeaseLost) || errors.Is(err, ErrTaskNotFound) {
		h.markLost()
		return wrapOp("report progress of task "+h.id, ErrLeaseLost)
	}
	if errors.Is(err, ErrRevoked) {
		h.markRevoked()
	}
	return wrapOp("report progress of task "+h.id, err)
}

// panicError is the error of an attempt whose handler panicked.
type panicError struct{ value any }

func (e *panicError) Error() string { return fmt.Sprintf("queue: handler panicked: %v", e.value) }

// Unwrap returns the panic value when it is an error.
func (e *panicError) Unwrap() error {
	err, _ := e.value.(error)
	return err
}
