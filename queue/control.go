package queue

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Canceler is an optional interface of a [Broker] that stores
// cancellations ([Client.Cancel]). A stored cancellation outlives any
// worker: a worker that was down or cut off when it was made still
// honours it the next time it talks to the broker.
type Canceler interface {
	// Cancel revokes the task with this id and returns it as it is after
	// the call.
	//
	// A task waiting to be claimed (PENDING, RETRY, or delayed) becomes
	// [StateRevoked] at once: it leaves its queue, FinishedAt is now, and it
	// is kept for ttl (> 0) like a finished task.
	//
	// A leased task (STARTED, PROCESSING) keeps its state and lease and
	// gets [Task.CancelRequested] set. From then on the task can only end
	// REVOKED: every settling call of its holder (Complete,
	// CompleteAndClaim, Retry, Fail, Release) moves it to REVOKED instead
	// (kept for the ttl of that call, or of Cancel for Retry and Release)
	// and returns an error wrapping [ErrRevoked]; Renew and Progress renew
	// the lease and return an error wrapping [ErrRevoked]; a lease that
	// runs out moves it to REVOKED instead of redelivering it. The change
	// is announced to [Watcher]s, so a worker that watches its running
	// tasks learns of it at once.
	//
	// A done task (SUCCESS, FAILURE, REVOKED) is returned unchanged. An
	// unknown id is [ErrTaskNotFound]; a ttl <= 0 is [ErrInvalidArgument].
	Cancel(ctx context.Context, id string, ttl time.Duration) (*Task, error)
}

// Pauser is an optional interface of a [Broker] that pauses queues for
// every worker of the broker, in every process ([Client.PauseQueue]).
type Pauser interface {
	// SetPaused pauses (paused true) or resumes a queue. While a queue is
	// paused, Claim and CompleteAndClaim take nothing from it; tasks
	// already claimed run on, and Enqueue still stores tasks in it. A
	// Claim blocked on a queue that is resumed wakes. Pausing a paused
	// queue, or resuming a running one, changes nothing. The broker keeps
	// the mark until it is resumed, whether or not the queue holds tasks.
	// An invalid queue name is [ErrInvalidArgument].
	SetPaused(ctx context.Context, queue string, paused bool) error
}

// Inspector is an optional interface of a [Broker] that answers
// [Client.Stats] and [Client.List] from counts and indexes it keeps in step
// with every state change, never by scanning every task it holds.
type Inspector interface {
	// Stats returns one entry per queue that holds tasks (of any state,
	// results not yet expired included) or is paused, sorted by queue
	// name. Its cost grows with the number of queues, not of tasks.
	Stats(ctx context.Context) ([]QueueStats, error)

	// List returns the tasks that match opts, newest first (by EnqueuedAt,
	// then by id, the greater id first, as a Redis ZREVRANGE orders ties). opts has been checked by the caller: Limit is 1 to
	// [MaxListLimit], Offset >= 0, State empty or a valid state. Its cost
	// grows with Offset+Limit (times the number of queues when Queue is
	// empty), not with the number of tasks held.
	List(ctx context.Context, opts ListOptions) ([]*Task, error)
}

// QueueStats counts the tasks of one queue by state.
type QueueStats struct {
	// Queue is the queue's name.
	Queue string `json:"queue"`
	// Paused reports whether workers take no tasks from the queue
	// ([Client.PauseQueue]).
	Paused bool `json:"paused"`
	// Pending counts the tasks claimable now (PENDING, not delayed).
	Pending int64 `json:"pending"`
	// Scheduled counts the PENDING tasks delayed into the future
	// ([WithDelay]).
	Scheduled int64 `json:"scheduled"`
	// Active counts the tasks held by a worker (STARTED or PROCESSING).
	Active int64 `json:"active"`
	// Retry counts the tasks waiting for their next attempt (RETRY).
	Retry int64 `json:"retry"`
	// Succeeded, Failed and Revoked count the finished tasks whose results
	// are still kept (they drop as results expire).
	Succeeded int64 `json:"succeeded"`
	Failed    int64 `json:"failed"`
	Revoked   int64 `json:"revoked"`
}

// ListOptions selects the tasks of [Client.List].
type ListOptions struct {
	// Queue limits the list to one queue; empty means every queue.
	Queue string
	// State limits the list to one state; empty means every state.
	State State
	// Offset skips that many tasks of the newest-first order.
	Offset int
	// Limit caps the number of tasks returned: 0 means [DefaultListLimit],
	// at most [MaxListLimit].
	Limit int
}

// Bounds of [ListOptions.Limit].
const (
	DefaultListLimit = 50
	MaxListLimit     = 1000
)

// MaxListOffset bounds [ListOptions.Offset], so one call's cost stays
// bounded on any broker.
const MaxListOffset = 100_000

// Cancel revokes the task with this id ([StateRevoked]) and returns it as
// it is after the call. A task that waits (PENDING, RETRY, delayed) is
// REVOKED at once and never runs. A running task keeps its state with
// [Task.CancelRequested] set; its handler's context is cancelled with
// cause [ErrRevoked] in whatever process runs it, and it ends REVOKED
// whatever the handler returns: never retried, never a dead letter. A
// finished task is returned unchanged. The result of a task revoked before
// it ran is kept for [DefaultResultTTL].
//
// Cancel returns an error wrapping [ErrTaskNotFound] for an unknown id,
// [ErrUnsupported] when the broker is not a [Canceler], and the broker's
// error (nothing changed) when it is unreachable.
func (c *Client) Cancel(ctx context.Context, id string) (*Task, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if err := checkName("task id", id, false); err != nil {
		return nil, err
	}
	cb, ok := c.b.(Canceler)
	if !ok {
		return nil, unsupported("Cancel", c.b)
	}
	t, err := cb.Cancel(ctx, id, DefaultResultTTL)
	if err != nil {
		return nil, getError("cancel", id, err)
	}
	return t, nil
}

// PauseQueue stops every worker of the broker, in every process, from
// claiming tasks of the named queue until [Client.ResumeQueue]. Tasks
// already running finish; Enqueue still accepts tasks for it. The queue
// must be known to the client ([ErrUnknownQueue] otherwise). It returns
// [ErrUnsupported] when the broker is not a [Pauser], and the broker's
// error (nothing changed) when it is unreachable.
func (c *Client) PauseQueue(ctx context.Context, name string) error {
	return c.setPaused(ctx, name, true)
}

// ResumeQueue lets workers claim from a queue paused by
// [Client.PauseQueue] again. Resuming a queue that is not paused changes
// nothing. Errors are those of PauseQueue.
func (c *Client) ResumeQueue(ctx context.Context, name string) error {
	return c.setPaused(ctx, name, false)
}

func (c *Client) setPaused(ctx context.Context, name string, paused bool) error {
	op := "PauseQueue"
	if !paused {
		op = "ResumeQueue"
	}
	if err := c.check(); err != nil {
		return err
	}
	if err := checkName(op+": queue name", name, false); err != nil {
		return err
	}
	if !c.knows(name) {
		return c.unknownQueue(name)
	}
	p, ok := c.b.(Pauser)
	if !ok {
		return unsupported(op, c.b)
	}
	if err := p.SetPaused(ctx, name, paused); err != nil {
		return wrapOp(fmt.Sprintf("%s %q", op, name), err)
	}
	return nil
}

// Stats returns one [QueueStats] per queue the client knows or the broker
// holds tasks of, sorted by name; a known queue without tasks has zero
// counts. It costs the broker one call whose cost grows with the number
// of queues, not of tasks. It returns [ErrUnsupported] when the broker is
// not an [Inspector].
func (c *Client) Stats(ctx context.Context) ([]QueueStats, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	in, ok := c.b.(Inspector)
	if !ok {
		return nil, unsupported("Stats", c.b)
	}
	st, err := in.Stats(ctx)
	if err != nil {
		return nil, wrapOp("stats", err)
	}
	for _, q := range c.Queues() {
		if !slices.ContainsFunc(st, func(s QueueStats) bool { return s.Queue == q }) {
			st = append(st, QueueStats{Queue: q})
		}
	}
	slices.SortFunc(st, func(a, b QueueStats) int {
		switch {
		case a.Queue < b.Queue:
			return -1
		case a.Queue > b.Queue:
			return 1
		}
		return 0
	})
	return st, nil
}

// List returns the tasks that opts selects, newest first (by EnqueuedAt).
// A Limit of 0 means [DefaultListLimit]; a Limit above [MaxListLimit], a
// negative Limit or Offset, an Offset above [MaxListOffset], or a State that
// does not exist is an error wrapping [ErrInvalidArgument]. It returns
// [ErrUnsupported] when the broker is not an [Inspector].
func (c *Client) List(ctx context.Context, opts ListOptions) ([]*Task, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if opts.Limit == 0 {
		opts.Limit = DefaultListLimit
	}
	if opts.Limit < 0 || opts.Limit > MaxListLimit {
		return nil, invalidArg("List: limit %d; want 1 to %d (0 means %d)", opts.Limit, MaxListLimit, DefaultListLimit)
	}
	if opts.Offset < 0 || opts.Offset > MaxListOffset {
		return nil, invalidArg("List: offset %d; want 0 to %d", opts.Offset, MaxListOffset)
	}
	if opts.State != "" && !opts.State.Valid() {
		return nil, invalidArg("List: state %q does not exist; want one of %s", opts.State, statesList())
	}
	if opts.Queue != "" {
		if err := checkName("List: queue name", opts.Queue, false); err != nil {
			return nil, err
		}
	}
	in, ok := c.b.(Inspector)
	if !ok {
		return nil, unsupported("List", c.b)
	}
	ts, err := in.List(ctx, opts)
	if err != nil {
		return nil, wrapOp("list", err)
	}
	return ts, nil
}

func unsupported(op string, b Broker) error {
	return fmt.Errorf("%w: %s needs a broker that implements it; %T does not", ErrUnsupported, op, b)
}
