package queue

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/resilience-go/resilience/dlq"
)

// How a [Worker] learns that a running task was cancelled ([Client.Cancel]).
//
// Every lease call on a cancelled task returns an error wrapping
// [ErrRevoked] ([Canceler]), so the renewal every Lease/3 finds out in
// every case, also after the worker was cut off from the broker when
// Cancel was called. When the broker is a [Watcher] the worker also
// watches each task that has run for watchDelay: it subscribes to the
// task's changes and reads the task at each one, so a cancellation reaches
// the handler within watchDelay plus one read of the task. Tasks shorter
// than watchDelay cost nothing (no subscription, no read): a cancellation
// of one is honoured when it settles.

// watchDelay is how long an attempt runs before its worker watches it for
// a cancellation; a cancellation made before then is found by the read
// that starts the watch.
const watchDelay = 20 * time.Millisecond

// watchRetry is how long the watch of a task waits after a failed read
// before it tries again.
const watchRetry = 100 * time.Millisecond

// watchReadTimeout bounds the watch's read of the task. The read runs in
// the attempt's run loop, which also drives the time limits: a broker that
// hangs must not hold them (the hard limit comes at most this late).
const watchReadTimeout = 250 * time.Millisecond

// cancelWatch watches one running attempt for its cancellation. It lives in
// the attempt's taskHandle and is driven by the attempt's run loop: its
// timer wakes the loop at the watch's start (sooner), and the loop selects
// its channel (changedC), so a watch costs no allocation, timer or
// goroutine of its own. The zero value (a broker that is not a [Watcher])
// watches nothing.
type cancelWatch struct {
	at   time.Time       // when to start (or restart) the watch; zero: not pending
	ch   <-chan struct{} // closed at the task's next change
	stop func()          // ends the subscription of ch
}

// start plans the watch of an attempt begun at begin, when wt (the
// worker's broker as a Watcher) is not nil.
func (c *cancelWatch) start(wt Watcher, begin time.Time) {
	if wt != nil {
		c.at = begin.Add(watchDelay)
	}
}

// sooner returns the earlier of t and the planned start of the watch.
func (c *cancelWatch) sooner(t time.Time) time.Time {
	if !c.at.IsZero() && c.at.Before(t) {
		return c.at
	}
	return t
}

// changedC returns the channel the run loop waits on; nil (never ready)
// while no subscription is held.
func (c *cancelWatch) changedC() <-chan struct{} { return c.ch }

// tick starts the watch when its time has come.
func (c *cancelWatch) tick(th *taskHandle, now time.Time) {
	if !c.at.IsZero() && !now.Before(c.at) {
		c.check(th, now)
	}
}

// check subscribes to the task's next change, then reads the task, so that
// no change between the read and the wait is missed, and cancels the
// handler with cause [ErrRevoked] when the task's cancellation was
// requested. A failed read (the broker is unreachable) ends the
// subscription and tries again after watchRetry; the renewals go on
// meanwhile.
func (c *cancelWatch) check(th *taskHandle, now time.Time) {
	c.close()
	c.at = time.Time{}
	if th.lost.Load() || th.revoked.Load() {
		return
	}
	c.ch, c.stop = th.w.watcher.Changed(th.id)
	ctx, cancel := context.WithTimeout(th.settle, watchReadTimeout)
	t, err := th.w.b.Get(ctx, th.id)
	cancel()
	switch {
	case err == nil && t.CancelRequested:
		c.close()
		th.markRevoked()
	case err != nil && !errors.Is(err, ErrTaskNotFound):
		c.close()
		c.at = now.Add(watchRetry)
	}
}

// close ends the subscription, if any.
func (c *cancelWatch) close() {
	if c.stop != nil {
		c.stop()
	}
	c.ch, c.stop = nil, nil
}

// markRevoked records that the task was cancelled and cancels the handler
// with cause [ErrRevoked].
func (h *taskHandle) markRevoked() {
	h.revoked.Store(true)
	h.cancel(ErrRevoked)
}

// revoke ends a cancelled task, whatever its handler returned: the broker
// turns the hand-back into REVOKED (a broker that honours no
// cancellation gets the task back PENDING, never a FAILURE without its
// dead letter).
func (w *Worker) revoke(ctx context.Context, t *Task, token string) {
	w.release(ctx, t, token)
}

// logRevoked records at info level that task t ended REVOKED: the end a
// caller asked for, not a fault.
func (w *Worker) logRevoked(ctx context.Context, t *Task) {
	w.log.LogAttrs(ctx, slog.LevelInfo, "queue: task revoked; its outcome is discarded", taskAttrs(t)...)
}

// failSettled finishes [Worker.fail] once the broker answered the Fail
// call with err. A task the broker failed has its failure counted (and an
// alert raised at the threshold) by the dead-letter recorder. A task that
// ended REVOKED instead, by that call or by its lease running out after a
// cancellation, loses the dead letter written for it: a revoked task is
// never left in the dead letters and never alerts. Any other end keeps the
// entry, as before: the task may be redelivered, and fails again into the
// same entry.
func (w *Worker) failSettled(ctx context.Context, t *Task, e dlq.Entry, err error) {
	if err == nil {
		w.log.LogAttrs(ctx, slog.LevelError, "queue: task failed", taskAttrs(t, slog.String("error", e.Error))...)
		if err := w.recordFailure(ctx, e); err != nil {
			w.log.LogAttrs(ctx, slog.LevelError, "queue: the dead letter is stored but the failure could not be counted",
				taskAttrs(t, slog.Any("error", err))...)
		}
		return
	}
	if !errors.Is(err, ErrRevoked) && !w.settledAs(ctx, t, StateRevoked) {
		return
	}
	if err := w.deleteDeadLetter(ctx, t.ID); err != nil && !errors.Is(err, dlq.ErrNotFound) {
		w.log.LogAttrs(ctx, slog.LevelError, "queue: cannot remove the dead letter of a revoked task",
			taskAttrs(t, slog.Any("error", err))...)
	}
}

// recordFailure counts the failure of e, whose entry is stored already, with
// the dead-letter recorder (which pushes the entry again, idempotently, and
// raises the alert at the threshold). Its store calls are bounded by one
// lease, so a hung store frees the slot; the [dlq.AlertConfig] OnAlert hook
// is the caller's code and runs to its end.
func (w *Worker) recordFailure(ctx context.Context, e dlq.Entry) error {
	rctx, cancel := context.WithTimeout(ctx, w.cfg.Lease)
	defer cancel()
	err := w.rec.Record(rctx, e)
	if err != nil && ctx.Err() == nil && errors.Is(rctx.Err(), context.DeadlineExceeded) {
		err = storeTimeout("record the failure", w.cfg.Lease, err)
	}
	return err
}

// deleteDeadLetter removes the dead letter of task id, bounded by one lease
// so that a hung store frees the slot.
func (w *Worker) deleteDeadLetter(ctx context.Context, id string) error {
	dctx, cancel := context.WithTimeout(ctx, w.cfg.Lease)
	defer cancel()
	err := w.rec.Store().Delete(dctx, id)
	if err != nil && ctx.Err() == nil && errors.Is(dctx.Err(), context.DeadlineExceeded) {
		err = storeTimeout("delete a dead letter", w.cfg.Lease, err)
	}
	return err
}
