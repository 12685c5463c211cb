package queue

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resilience-go/resilience/internal/wait"
)

// leaseKeeper renews the lease of one claimed task in its own goroutine for
// as long as the worker holds the task: while the handler runs, and while
// the worker records a dead letter or waits for a slow store or broker.
// The time limits do not wait for it, and it does not wait for them.
//
// Renewals come every Lease/3, measured from the end of the previous call,
// so a slow call does not bunch the next one up against it nor push it
// past the lease. After a failed call the next one comes sooner (Lease/24,
// doubling up to Lease/3), since the lease still runs out when it would
// have. Each call is bounded by the lease's remaining time: a renewal that
// ends after the lease ran out cannot keep it, and a hung broker must not
// hold the keeper (when the lease has already run out the call gets Lease/3
// to learn whether it was lost).
type leaseKeeper struct {
	w      *Worker
	t      *Task
	token  string
	lost   atomic.Bool
	mu     sync.Mutex
	onLost func() // called once when the lease is found lost; nil: none yet
	onRev  func() // called when a renewal finds the task cancelled; nil: none yet
	rev    bool   // a renewal found the task cancelled
	stop   context.CancelFunc
	done   chan struct{}
}

// keepLease starts renewing the lease of t, claimed under token at about
// claimedAt, until [leaseKeeper.close]. The renewals keep ctx's values but
// not its cancellation: only close (or a lost lease) stops them, since the
// worker may hold the task after its own context ended (settling it).
func (w *Worker) keepLease(ctx context.Context, t *Task, token string, claimedAt time.Time) *leaseKeeper {
	ctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	k := &leaseKeeper{w: w, t: t, token: token, stop: stop, done: make(chan struct{})}
	go k.loop(ctx, claimedAt)
	return k
}

// close stops the renewals (cancelling one in flight) and waits for the
// keeper's goroutine to end.
func (k *leaseKeeper) close() {
	k.stop()
	<-k.done
}

// watch makes lost run when the lease is found lost, and revoked when a
// renewal finds the task cancelled ([ErrRevoked]), at once if that already
// happened.
func (k *leaseKeeper) watch(lost, revoked func()) {
	k.mu.Lock()
	k.onLost, k.onRev = lost, revoked
	wasLost, wasRev := k.lost.Load(), k.rev
	k.mu.Unlock()
	if wasLost {
		lost()
	}
	if wasRev {
		revoked()
	}
}

// markRevoked records that a renewal found the task cancelled. The lease
// was renewed all the same ([Canceler]); the renewals go on until the
// worker settles the task.
func (k *leaseKeeper) markRevoked() {
	k.mu.Lock()
	first := !k.rev
	k.rev = true
	f := k.onRev
	k.mu.Unlock()
	if first && f != nil {
		f()
	}
}

func (k *leaseKeeper) markLost() {
	k.mu.Lock()
	k.lost.Store(true)
	f := k.onLost
	k.mu.Unlock()
	if f != nil {
		f()
	}
}

func (k *leaseKeeper) loop(ctx context.Context, claimedAt time.Time) {
	defer close(k.done)
	lease := k.w.cfg.Lease
	every := lease / 3
	expires := claimedAt.Add(lease)
	delay, failures := every, 0
	for {
		if wait.Sleep(ctx, delay) != nil {
			return
		}
		start := time.Now()
		deadline := expires
		if !deadline.After(start) {
			deadline = start.Add(every)
		}
		callCtx, cancel := context.WithDeadline(ctx, deadline)
		err := k.w.b.Renew(callCtx, k.t.ID, k.token, lease)
		cancel()
		switch {
		case ctx.Err() != nil:
			return // stopped: the worker no longer holds the task
		case err == nil:
			expires, delay, failures = start.Add(lease), every, 0
		case errors.Is(err, ErrRevoked):
			expires, delay, failures = start.Add(lease), every, 0
			k.markRevoked()
		case errors.Is(err, ErrLeaseLost) || errors.Is(err, ErrTaskNotFound):
			k.markLost()
			return
		default:
			failures = min(failures+1, 4)
			delay = min(every, every/8<<(failures-1))
			k.w.log.LogAttrs(ctx, slog.LevelWarn, "queue: renewing a lease failed; trying again soon",
				taskAttrs(k.t, slog.Any("error", err), slog.Duration("retry_in", delay),
					slog.Time("lease_ends", expires))...)
		}
	}
}
