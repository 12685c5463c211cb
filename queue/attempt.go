package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/internal/wait"
)

// outcome is how an attempt ended.
type outcome struct {
	result  any
	err     error
	trace   string // stack of a recovered panic
	lost    bool   // the lease was lost: the attempt may not settle
	forced  bool   // shutdown grace ran out: hand the task back
	revoked bool   // the task was cancelled: it ends REVOKED
}

// process runs one claimed task and settles it with the broker. Settling
// uses settle, a context that the end of the shutdown grace does not
// cancel, so an attempt that finished is still recorded. When the broker
// is a [CompleteClaimer] and claims has not ended, a successful task is
// completed together with the claim of the next one in queues, which
// process returns (nil when none was claimed).
func (w *Worker) process(work, settle, claims context.Context, claimed *Task, token string, queues []string) (*Task, string) {
	// The worker keeps its own copy of the task; the handler gets the
	// claimed one, with its own payload bytes.
	t := *claimed
	claimed.Payload = cloneRaw(t.Payload)
	keeper := w.keepLease(settle, &t, token, time.Now())
	defer keeper.close()
	h := w.handler(t.Name)
	switch {
	case isDeadLetterPending(t.Error):
		// The task failed for good earlier and only its dead letter is
		// missing: record it, without running the handler again.
		w.fail(settle, &t, token, errors.New(pendingCause(t.Error)), "")
		return nil, ""
	case h == nil:
		w.fail(settle, &t, token, fmt.Errorf("%w %q (register one with Worker.Handle, then replay the dead letter)", ErrNoHandler, t.Name), "")
		return nil, ""
	case t.Redeliveries > w.cfg.MaxRedeliveries:
		w.fail(settle, &t, token, fmt.Errorf("%w: the lease of this task ran out %d times (MaxRedeliveries %d); its handler may crash or stall its worker",
			ErrRedeliveryLimit, t.Redeliveries, w.cfg.MaxRedeliveries), "")
		return nil, ""
	}
	o := w.run(work, settle, claimed, token, h, keeper)
	switch {
	case o.revoked && !o.lost:
		w.revoke(settle, &t, token)
	case o.forced:
		w.release(settle, &t, token)
	case o.lost:
		w.log.LogAttrs(settle, slog.LevelWarn, "queue: lease lost; the attempt's outcome is discarded",
			taskAttrs(&t, slog.Any("error", o.err))...)
	case o.err == nil:
		if claims.Err() != nil {
			queues = nil // shutting down: claim nothing more
		}
		return w.complete(settle, &t, token, o.result, queues)
	default:
		w.failed(settle, &t, token, o.err, o.trace)
	}
	return nil, ""
}

// run calls the handler with t in its own goroutine and returns when the
// handler returns, at the hard time limit, or when the shutdown grace runs
// out. Meanwhile one timer drives both time limits and the start of the
// cancellation watch; keeper renews the lease on its own and cancels the
// handler when the lease is lost or the task was cancelled.
func (w *Worker) run(work, settle context.Context, t *Task, token string, h HandlerFunc, keeper *leaseKeeper) (res outcome) {
	begin := time.Now()
	softAt, hardAt := begin.Add(w.cfg.SoftTimeLimit), begin.Add(w.cfg.TimeLimit)
	hctx, cancel := context.WithCancelCause(settle)
	defer cancel(nil)
	th := &taskHandle{Context: hctx, w: w, settle: settle, id: t.ID, token: token, cancel: cancel, softAt: softAt}
	keeper.watch(th.markLost, th.markRevoked)
	th.watch.start(w.watcher, begin)
	defer func() { th.watch.close(); res.revoked = th.revoked.Load() }()

	out := make(chan outcome, 1)
	go func() {
		var o outcome
		returned := false
		defer func() {
			if r := recover(); r != nil {
				o = outcome{err: &panicError{value: r}, trace: string(debug.Stack())}
			} else if !returned {
				// runtime.Goexit (t.FailNow, for one) ends the goroutine
				// without a return value or a panic: not a success.
				o = outcome{err: errors.New("queue: the handler exited without returning (runtime.Goexit)"),
					trace: string(debug.Stack())}
			}
			out <- o
		}()
		o.result, o.err = h(th, t)
		returned = true
	}()

	soft := false
	timer := time.NewTimer(th.watch.sooner(begin.Add(w.cfg.SoftTimeLimit)).Sub(begin))
	defer timer.Stop()
	for {
		select {
		case o := <-out:
			o.lost = th.lost.Load()
			// An error that raced the end of the shutdown grace is most
			// likely the cancellation's: hand the task back, not a failure.
			o.forced = o.err != nil && work.Err() != nil
			return o
		case <-work.Done():
			cancel(ErrShutdown)
			return outcome{forced: true}
		case <-th.watch.changedC():
			th.watch.check(th, time.Now())
		case now := <-timer.C:
			th.watch.tick(th, now)
			if !now.Before(hardAt) {
				cancel(ErrTimeLimit)
				return outcome{err: fmt.Errorf("%w: attempt %d ran longer than %v", ErrTimeLimit, t.Attempt, w.cfg.TimeLimit),
					lost: th.lost.Load()}
			}
			if !soft && !now.Before(softAt) {
				soft = true
				cancel(ErrSoftTimeLimit)
			}
			next := hardAt
			if !soft {
				next = softAt
			}
			timer.Reset(th.watch.sooner(next).Sub(now))
		}
	}
}

// complete stores the handler's result. With queues (not nil) and a
// broker that is a [CompleteClaimer] it claims the next task in the same
// call and returns it; a failure of that call whose outcome is unknown
// falls back to Complete, retried as any settling call.
func (w *Worker) complete(ctx context.Context, t *Task, token string, result any, queues []string) (*Task, string) {
	raw, err := encodeResult(result)
	if err != nil {
		w.fail(ctx, t, token, resilience.Permanent(fmt.Errorf("%w: result of task %q does not marshal to JSON: %w", ErrInvalidArgument, t.Name, err)), "")
		return nil, ""
	}
	// Both calls share one window of a lease: a broker that hangs frees
	// the slot after one lease, not two.
	deadline := time.Now().Add(w.cfg.Lease)
	uncertain := false
	if cc, ok := w.b.(CompleteClaimer); ok && queues != nil {
		cctx, cancel := context.WithDeadline(ctx, deadline)
		next, nextToken, err := cc.CompleteAndClaim(cctx, t.ID, token, raw, w.cfg.ResultTTL, queues, w.cfg.Lease)
		cancel()
		switch {
		case err == nil:
			return next, nextToken
		case errors.Is(err, ErrLeaseLost) || errors.Is(err, ErrTaskNotFound):
			w.log.LogAttrs(ctx, slog.LevelWarn, "queue: lease lost; cannot complete the task", taskAttrs(t)...)
			return nil, ""
		case errors.Is(err, ErrRevoked):
			w.logRevoked(ctx, t)
			return nil, ""
		}
		uncertain = !errors.Is(err, ErrInvalidArgument) && !errors.Is(err, ErrClosed)
	}
	w.settleUntil(ctx, deadline, t, "complete", StateSuccess, uncertain, func(ctx context.Context) error {
		return w.b.Complete(ctx, t.ID, token, raw, w.cfg.ResultTTL)
	})
	return nil, ""
}

func encodeResult(v any) (json.RawMessage, error) {
	switch r := v.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		if r == nil {
			return nil, nil
		}
		if !json.Valid(r) {
			return nil, errors.New("json.RawMessage result is not valid JSON")
		}
		return r, nil
	}
	return json.Marshal(v)
}

// failed handles a failed attempt: a retry after the policy's delay, or the
// end of the task when the error is not retryable or the retries are spent.
func (w *Worker) failed(ctx context.Context, t *Task, token string, err error, trace string) {
	p := &w.cfg.Retry
	if !p.Retryable(err) || t.Retries >= w.maxRetries(t) {
		w.fail(ctx, t, token, err, trace)
		return
	}
	delay := p.Delay(t.Retries+1, err)
	now := time.Now()
	if p.MaxElapsed > 0 && now.Add(delay).Sub(t.EnqueuedAt) > p.MaxElapsed {
		w.fail(ctx, t, token, fmt.Errorf("%w (no retry: the next attempt would start after Retry.MaxElapsed %v)", err, p.MaxElapsed), trace)
		return
	}
	w.log.LogAttrs(ctx, slog.LevelInfo, "queue: attempt failed; retrying",
		taskAttrs(t, slog.Any("error", err), slog.Duration("delay", delay))...)
	serr := w.settle(ctx, t, "retry", StateRetry, false, func(ctx context.Context) error {
		return w.b.Retry(ctx, t.ID, token, err.Error(), now.Add(delay))
	})
	// OnRetry reports retries the broker scheduled: none for a task
	// cancelled meanwhile (ErrRevoked) or whose lease was lost.
	if serr == nil && p.OnRetry != nil {
		p.OnRetry(resilience.RetryEvent{Attempt: t.Retries + 1, Err: err, Delay: delay})
	}
}

// fail ends the task for good: one dead-letter entry, then FAILURE. The
// lease is renewed first (a call bounded by one lease), so that a lost
// lease writes no dead letter, and the attempt's lease keeper goes on
// renewing it while the entry is written (alert hooks and slow stores
// included). If the entry cannot be written (the store fails, or does not
// answer within one lease) the task waits in RETRY instead (see
// [deferDeadLetter]), so that it is never failed without a dead letter. A
// task cancelled meanwhile ends REVOKED and its entry is taken back
// (failSettled): the failure is counted, and alerts raised, only once the
// broker recorded FAILURE.
func (w *Worker) fail(ctx context.Context, t *Task, token string, cause error, trace string) {
	rctx, cancel := context.WithTimeout(ctx, w.cfg.Lease)
	err := w.b.Renew(rctx, t.ID, token, w.cfg.Lease)
	cancel()
	if errors.Is(err, ErrLeaseLost) || errors.Is(err, ErrTaskNotFound) {
		w.log.LogAttrs(ctx, slog.LevelWarn, "queue: lease lost before the task could be failed", taskAttrs(t, slog.Any("error", cause))...)
		return
	} else if errors.Is(err, ErrRevoked) {
		w.revoke(ctx, t, token)
		return
	}
	e := dlq.Entry{
		TaskID: t.ID, TaskName: t.Name, Queue: t.Queue, Payload: t.Payload,
		Error: cause.Error(), Trace: trace, FailedAt: time.Now(), Retries: t.Retries,
	}
	if err = w.pushDeadLetter(ctx, e); err != nil {
		w.deferDeadLetter(ctx, t, token, cause, err)
		return
	}
	err = w.settle(ctx, t, "fail", StateFailure, false, func(ctx context.Context) error {
		return w.b.Fail(ctx, t.ID, token, cause.Error(), w.cfg.ResultTTL)
	})
	w.failSettled(ctx, t, e, err)
}

// pushDeadLetter writes e to the dead-letter store, trying up to three
// times. Each try is bounded by one lease, and one that times out ends the
// tries: a store that does not answer (a network call that never ends)
// fails like one that is down, so the task waits in RETRY
// ([Worker.deferDeadLetter]) and the slot is freed after one lease. The
// attempt's lease keeper renews the lease meanwhile.
func (w *Worker) pushDeadLetter(ctx context.Context, e dlq.Entry) error {
	var err error
	for i := range 3 {
		pctx, cancel := context.WithTimeout(ctx, w.cfg.Lease)
		err = w.rec.Store().Push(pctx, e)
		timedOut := errors.Is(pctx.Err(), context.DeadlineExceeded)
		cancel()
		if err == nil || ctx.Err() != nil {
			break
		}
		if timedOut {
			return storeTimeout("push a dead letter", w.cfg.Lease, err)
		}
		_ = wait.Sleep(ctx, time.Duration(100<<i)*time.Millisecond)
	}
	return err
}

// storeTimeout is the error of a dead-letter store call (op) that did not
// return within timeout.
func storeTimeout(op string, timeout time.Duration, err error) error {
	return fmt.Errorf("queue: the dead-letter store did not %s within one lease (%v): %w", op, timeout, err)
}

// release hands the task back to the broker unfinished.
func (w *Worker) release(ctx context.Context, t *Task, token string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.Lease)
	defer cancel()
	// A released task is PENDING, as one whose lease ran out: no state
	// tells a lost reply from a lost lease.
	w.settle(ctx, t, "release", "", false, func(ctx context.Context) error {
		return w.b.Release(ctx, t.ID, token)
	})
}

// settle runs a lease-holding broker call, retrying transient errors with a
// backoff for up to one lease; after that the lease has run out and the
// task will be redelivered, so nothing is lost. Each call gets a context
// that ends with that lease, so a broker that stops answering without
// closing its connection fails the call (a transient error) and frees the
// worker's slot within one lease.
//
// A transient error leaves the outcome unknown: the change may have been
// made and only its reply lost. uncertain says that an earlier call (a
// CompleteAndClaim) already ended so. When a retry then finds the lease
// gone, settle reads the task: if it is in state want (none for a change
// that cannot be told apart from a lease running out) at this attempt, the
// earlier call made the change, which is logged at debug level instead of
// as a lost lease. It returns nil when the change was made, and otherwise
// the last error: one wrapping [ErrRevoked] when the broker ended the task
// REVOKED instead (a cancelled task; logged at info level).
func (w *Worker) settle(ctx context.Context, t *Task, op string, want State, uncertain bool, call func(context.Context) error) error {
	return w.settleUntil(ctx, time.Now().Add(w.cfg.Lease), t, op, want, uncertain, call)
}

// settleUntil is settle with the end of its window given: no call runs
// past deadline.
func (w *Worker) settleUntil(ctx context.Context, deadline time.Time, t *Task, op string, want State, uncertain bool,
	call func(context.Context) error) error {
	delay := 10 * time.Millisecond
	for {
		cctx, cancel := context.WithDeadline(ctx, deadline)
		err := call(cctx)
		cancel()
		if err != nil && ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
			err = wrapOp(fmt.Sprintf("the broker did not answer the %s call before the lease (%v) ran out", op, w.cfg.Lease), err)
		}
		switch {
		case err == nil:
			return nil
		case errors.Is(err, ErrRevoked):
			w.logRevoked(ctx, t)
			return err
		case errors.Is(err, ErrLeaseLost) || errors.Is(err, ErrTaskNotFound):
			if uncertain && w.settledAs(ctx, t, want) {
				w.log.LogAttrs(ctx, slog.LevelDebug, "queue: an earlier "+op+" call whose reply was lost had settled the task",
					taskAttrs(t, slog.Any("error", err))...)
				return nil
			}
			w.log.LogAttrs(ctx, slog.LevelWarn, "queue: lease lost; cannot "+op+" the task", taskAttrs(t)...)
			return err
		case errors.Is(err, ErrClosed) || errors.Is(err, ErrInvalidArgument) ||
			ctx.Err() != nil || time.Now().Add(delay).After(deadline):
			w.log.LogAttrs(ctx, slog.LevelError, "queue: cannot "+op+" the task; it will be redelivered when its lease runs out",
				taskAttrs(t, slog.Any("error", err))...)
			return err
		}
		uncertain = true
		_ = wait.Sleep(ctx, delay) // on ctx's end the next round logs and returns
		delay = min(2*delay, time.Second)
	}
}

// settledAs reports whether the broker holds task t in state want at t's
// attempt (a redelivery would have counted another one). The read is
// bounded by one lease; a read that fails or times out reports false.
func (w *Worker) settledAs(ctx context.Context, t *Task, want State) bool {
	if want == "" {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Lease)
	defer cancel()
	got, err := w.b.Get(ctx, t.ID)
	return err == nil && got.State == want && got.Attempt == t.Attempt
}

func taskAttrs(t *Task, more ...slog.Attr) []slog.Attr {
	return append([]slog.Attr{
		slog.String("task_id", t.ID), slog.String("task", t.Name),
		slog.String("queue", t.Queue), slog.Int("attempt", t.Attempt),
	}, more...)
}
