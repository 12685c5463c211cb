package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"
	"time"
)

// Client enqueues tasks and reads their state. It is safe for concurrent
// use; create one per broker and share it.
//
// A client knows a set of queue names (high, default, low to start with)
// and refuses to enqueue into any other, so that a typo fails at once
// instead of leaving tasks in a queue no worker serves. Declare more with
// [Client.AddQueues].
type Client struct {
	b      Broker
	mu     sync.RWMutex
	queues []string      // known queue names, in declaration order
	hooks  []EnqueueHook // in the order given to Use
	store  EnqueueFunc   // the broker's Enqueue wrapped in hooks; nil: none
}

// NewClient returns a client of b that knows the queues high, default and
// low. A nil b makes every call fail with [ErrInvalidArgument].
func NewClient(b Broker) *Client {
	return &Client{b: b, queues: DefaultQueues()}
}

// Broker returns the broker the client was created with.
func (c *Client) Broker() Broker { return c.b }

// AddQueues declares more queue names that [WithQueue] accepts. Names must
// be 1 to 256 printable bytes without spaces or '/'; on a bad name nothing
// is added and the error wraps [ErrInvalidArgument]. Adding a known name
// is a no-op.
func (c *Client) AddQueues(names ...string) error {
	for _, n := range names {
		if err := checkName("queue name", n, false); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range names {
		if !slices.Contains(c.queues, n) {
			c.queues = append(c.queues, n)
		}
	}
	return nil
}

// Queues returns the queue names the client accepts, in declaration order.
func (c *Client) Queues() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Clone(c.queues)
}

func (c *Client) knows(queue string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Contains(c.queues, queue)
}

func (c *Client) unknownQueue(name string) error {
	return fmt.Errorf("%w %q: known queues are %s (declare more with Client.AddQueues)",
		ErrUnknownQueue, name, strings.Join(c.Queues(), ", "))
}

func (c *Client) check() error {
	if c == nil || c.b == nil {
		return invalidArg("Client has no broker; create it with NewClient(broker)")
	}
	return nil
}

// Enqueue stores a task named name (1 to 256 printable bytes, no spaces)
// with payload encoded as JSON, and returns it at once in PENDING; a worker
// with a handler for name runs it. The options set its queue, retries,
// delay and id.
//
// A payload that does not marshal to JSON (a channel, a func, a cycle) or a
// bad option returns an error wrapping [ErrInvalidArgument]; an unknown
// queue one wrapping [ErrUnknownQueue]; nothing is enqueued then. A
// negative [WithDelay] is such a bad option; any positive delay is
// accepted, and one that reaches past the latest instant the broker can
// count (the year 2262 for [MemoryBroker]) holds the task in PENDING for
// good. With [WithTaskID] and an id that exists, Enqueue returns the
// existing task, whatever its name or payload. Broker errors (and ctx's
// end) are returned wrapped.
func (c *Client) Enqueue(ctx context.Context, name string, payload any, opts ...EnqueueOption) (*Task, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if err := checkName("task name", name, true); err != nil {
		return nil, err
	}
	o := enqueueOptions{queue: DefaultQueue, maxRetries: DefaultRetries}
	for i, opt := range opts {
		if opt == nil {
			return nil, invalidArg("Enqueue: option %d is nil", i)
		}
		opt(&o)
	}
	if o.maxSet && o.maxRetries < 0 {
		return nil, invalidArg("WithMaxRetries(%d): want 0 or more", o.maxRetries)
	}
	if o.delay < 0 {
		return nil, invalidArg("WithDelay(%v): want 0 or more", o.delay)
	}
	if !c.knows(o.queue) {
		return nil, c.unknownQueue(o.queue)
	}
	if err := checkHeaders(o.headers); err != nil {
		return nil, err
	}
	id := o.id
	if o.idSet {
		if err := checkName("task id", id, false); err != nil {
			return nil, err
		}
	} else {
		id = newID()
	}
	raw, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: payload of task %q does not marshal to JSON: %w", ErrInvalidArgument, name, err)
	}
	now := time.Now()
	t := &Task{ID: id, Name: name, Queue: o.queue, Payload: raw, MaxRetries: o.maxRetries, EnqueuedAt: now,
		Headers: o.headers}
	if o.delay > 0 {
		t.NotBefore = now.Add(o.delay)
	}
	stored, err := c.enqueue(ctx, t)
	if err != nil {
		return nil, wrapOp(fmt.Sprintf("enqueue task %q", name), err)
	}
	return stored, nil
}

// Get returns a snapshot of the task with this id. It returns an error
// wrapping [ErrTaskNotFound] when the broker holds no such task (never
// enqueued, or its result expired).
func (c *Client) Get(ctx context.Context, id string) (*Task, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	t, err := c.b.Get(ctx, id)
	if err != nil {
		return nil, getError("get", id, err)
	}
	return t, nil
}

// getError wraps err, the broker's answer to a Get of task id, for the
// client method op. ErrTaskNotFound's own text already names the package
// and what happened, so only the id is added to it: `queue: task not
// found: "x"` rather than `queue: get task "x": queue: task not found`.
// Other errors get the operation and id in front.
func getError(op, id string, err error) error {
	if errors.Is(err, ErrTaskNotFound) {
		return fmt.Errorf("%w: %q", err, id)
	}
	return wrapOp(fmt.Sprintf("%s task %q", op, id), err)
}

// Wait blocks until the task with this id is done (SUCCESS or FAILURE) and
// returns it. It returns ctx.Err() when ctx ends first, and an error
// wrapping [ErrTaskNotFound] when there is no such task. A failed task is
// returned with a nil error: its State and Error say why. Wait wakes on the
// broker's notification when it implements [Watcher], and polls with a
// backoff (10 ms doubling to 1 s) otherwise.
func (c *Client) Wait(ctx context.Context, id string) (*Task, error) {
	for t, err := range c.Watch(ctx, id) {
		if err != nil {
			return nil, err
		}
		if t.State.Done() {
			return t, nil
		}
	}
	return nil, fmt.Errorf("queue: wait for task %q: watch ended before the task was done", id)
}

// Poll bounds for brokers that are not [Watcher]s.
const (
	pollMin = 10 * time.Millisecond
	pollMax = time.Second
)

// Watch returns an iterator over snapshots of the task with this id: the
// current one first, then one per observed change (state, attempt,
// progress, error), ending after the snapshot in which the task is done.
// Changes that follow each other quickly may be seen as one. On ctx's end
// or a broker error (such as [ErrTaskNotFound]) it yields (nil, err) and
// stops. Breaking out of the loop early is fine; Watch leaves nothing
// running.
func (c *Client) Watch(ctx context.Context, id string) iter.Seq2[*Task, error] {
	return func(yield func(*Task, error) bool) {
		if err := c.check(); err != nil {
			yield(nil, err)
			return
		}
		w, _ := c.b.(Watcher)
		var last *Task
		poll := pollMin
		for {
			var changed <-chan struct{}
			stop := func() {}
			if w != nil {
				changed, stop = w.Changed(id)
			}
			t, err := c.b.Get(ctx, id)
			if err != nil {
				stop()
				yield(nil, getError("watch", id, err))
				return
			}
			if last == nil || !sameSnapshot(last, t) {
				poll = pollMin
				last = t
				if !yield(t.Clone(), nil) || t.State.Done() {
					stop()
					return
				}
			}
			if err := waitChange(ctx, changed, &poll); err != nil {
				stop()
				yield(nil, err)
				return
			}
			stop()
		}
	}
}

// waitChange waits for changed to close or, without a channel, for the
// next poll interval (which it doubles up to pollMax); it returns ctx.Err()
// when ctx ends first.
func waitChange(ctx context.Context, changed <-chan struct{}, poll *time.Duration) error {
	if changed == nil {
		timer := time.NewTimer(*poll)
		defer timer.Stop()
		*poll = min(2**poll, pollMax)
		select {
		case <-timer.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	select {
	case <-changed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sameSnapshot reports whether a and b show the same observable state.
func sameSnapshot(a, b *Task) bool {
	if a.State != b.State || a.Attempt != b.Attempt || a.Retries != b.Retries ||
		a.Redeliveries != b.Redeliveries || a.Error != b.Error || !a.NotBefore.Equal(b.NotBefore) {
		return false
	}
	if (a.Progress == nil) != (b.Progress == nil) {
		return false
	}
	return a.Progress == nil || *a.Progress == *b.Progress
}
