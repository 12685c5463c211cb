package queue

import (
	"context"
	"encoding/json"
	"time"
)

// Broker is the storage a [Client] and its [Worker]s share: queues, leases
// and results. It is leased and at-least-once: a claimed task belongs to one
// worker until its lease ends; a lease that is not renewed (a lost worker)
// makes the task claimable again; a stale worker cannot settle a task that
// was claimed again, because every call after Claim carries the lease token
// and the broker rejects a token that is not the task's current one with
// [ErrLeaseLost].
//
// A Broker holds no policy: retry counts, backoff, time limits and dead
// letters are the worker's. Each method is one atomic state change (one Lua
// script on Redis). All methods are safe for concurrent use, return an error
// wrapping ctx.Err() when ctx ends first, return [ErrClosed] after the broker
// was closed, and translate backend errors at their boundary (wrapping the
// cause). Tasks returned are the caller's own copies.
//
// The conformance suite in package queue/queuetest checks every guarantee
// written here; run it against any new implementation.
type Broker interface {
	// Enqueue stores a new task. t.ID, t.Name and t.Queue must be set
	// (else [ErrInvalidArgument]). The broker resets the run state: State
	// PENDING, Attempt, Retries and Redeliveries 0, no Progress, Result,
	// Error, StartedAt, FinishedAt or ExpiresAt; EnqueuedAt is kept (now if
	// zero). A task with a future NotBefore is not claimable before then.
	//
	// Enqueue is idempotent by id: when a task with t.ID exists (and its
	// result has not expired) it stores nothing and returns the existing
	// task with created false. The broker does not retain t.
	Enqueue(ctx context.Context, t *Task) (stored *Task, created bool, err error)

	// Get returns the task with this id, or [ErrTaskNotFound] when there is
	// none (never enqueued, or its result expired).
	Get(ctx context.Context, id string) (*Task, error)

	// Claim takes the first claimable task from the first non-empty queue in
	// queues (strict order; each queue is first-in, first-out, except that a
	// task handed back by Release goes to the front, and one recovered from
	// an expired lease may), moves it to
	// STARTED, counts the attempt (Attempt+1, StartedAt now, Progress
	// cleared) and leases it for lease. It returns the task and a lease token
	// that is unique to this claim.
	//
	// When no task is claimable Claim blocks until one is (an Enqueue, a
	// Retry or Release, a delay running out, a lease recovered) or ctx ends.
	// It wakes on that event, not on a polling interval. Claim does not
	// modify queues. No queues, an empty queue name or a lease <= 0 are
	// [ErrInvalidArgument].
	Claim(ctx context.Context, queues []string, lease time.Duration) (t *Task, token string, err error)

	// Renew extends the lease of a claimed task to now+lease.
	Renew(ctx context.Context, id, token string, lease time.Duration) error

	// Progress records p, moves the task to PROCESSING and renews its lease
	// to now+lease.
	Progress(ctx context.Context, id, token string, p Progress, lease time.Duration) error

	// Complete moves the task to SUCCESS with result (JSON, may be nil),
	// clears Error, ends the lease, and keeps the task for ttl (> 0) before
	// removing it. A result that is not valid JSON, or a ttl <= 0, is
	// [ErrInvalidArgument] and changes nothing.
	Complete(ctx context.Context, id, token string, result json.RawMessage, ttl time.Duration) error

	// Retry moves the task to RETRY after a failed attempt: Retries+1,
	// Error errMsg, lease ended, claimable again from notBefore (at once if
	// it is not in the future).
	Retry(ctx context.Context, id, token, errMsg string, notBefore time.Time) error

	// Fail moves the task to FAILURE with errMsg, ends the lease, and keeps
	// the task for ttl (> 0) before removing it.
	Fail(ctx context.Context, id, token, errMsg string, ttl time.Duration) error

	// Release hands a claimed task back unfinished (a worker shutting
	// down): PENDING, claimable at once from the front of its queue, lease
	// ended, Progress cleared, and the attempt not counted (Attempt-1).
	Release(ctx context.Context, id, token string) error

	// Recover makes every task whose lease ran out claimable again: PENDING,
	// Redeliveries+1, Progress cleared, lease token invalidated. It returns
	// how many tasks it recovered. Workers call it periodically (every half
	// lease), so a task is redelivered within 1.5 leases of its worker's
	// death; a broker may also recover lazily inside its other calls.
	Recover(ctx context.Context) (int, error)
}

// Watcher is an optional interface of a [Broker] that can announce changes
// to a task. [Client.Wait] and [Client.Watch] use it when the broker has it,
// and poll with a backoff otherwise.
type Watcher interface {
	// Changed returns a channel that is closed at the next change of the
	// task with this id (state, progress, removal), or when the broker
	// closes. stop releases the subscription; call it when giving up before
	// the channel was closed. Subscribe before reading the task, so that no
	// change between the read and the wait is missed.
	Changed(id string) (changed <-chan struct{}, stop func())
}

// CompleteClaimer is an optional interface of a [Broker] that completes a
// task and claims the next one in one atomic step (one round trip to a
// remote broker instead of two). A [Worker] uses it when its broker has it:
// a slot that finished a task asks for the next in the same call, and
// calls Claim only when none was ready.
type CompleteClaimer interface {
	// CompleteAndClaim does what Complete(ctx, id, token, result, ttl) and
	// then a Claim(ctx, queues, lease) that does not block would do. When
	// the completion succeeds and a task is claimable at once in queues, it
	// returns that task and its lease token; next is nil when none is.
	//
	// An error means that the completion failed as Complete fails
	// ([ErrLeaseLost], [ErrTaskNotFound], [ErrInvalidArgument] for a bad
	// result, ttl, queues or lease), or that its outcome is unknown (a backend
	// error, ctx's end); the caller may then call Complete, as after a
	// failed Complete. When the outcome is unknown a next task may have
	// been claimed unknown to the caller: its lease runs out and it is
	// redelivered, as after a lost worker.
	CompleteAndClaim(ctx context.Context, id, token string, result json.RawMessage, ttl time.Duration,
		queues []string, lease time.Duration) (next *Task, nextToken string, err error)
}
