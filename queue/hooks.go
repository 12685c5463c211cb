package queue

import (
	"context"
	"fmt"

	"github.com/resilience-go/resilience"
)

// MaxHeaderBytes bounds the size of a task's headers: the lengths of all
// keys and values added up.
const MaxHeaderBytes = 8 << 10

// EnqueueFunc stores a task built by [Client.Enqueue] (id, name, queue,
// payload, headers and options set) in the broker and returns the stored
// task, as the broker's Enqueue does.
type EnqueueFunc func(ctx context.Context, t *Task) (*Task, error)

// EnqueueHook wraps the store of every task a [Client] enqueues (by
// Enqueue, Replay or a [Scheduler]): it may add headers to t (a trace
// context), time the call or record its error, and must call next at most
// once. See [Client.Use].
type EnqueueHook func(next EnqueueFunc) EnqueueFunc

// Use adds enqueue hooks to the client; the first hook given (over all
// calls) is the outermost. A nil hook is ignored. Use is safe for
// concurrent use, but a hook added while Enqueue runs may miss that call.
func (c *Client) Use(hooks ...EnqueueHook) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, h := range hooks {
		if h != nil {
			c.hooks = append(c.hooks, h)
		}
	}
	var f EnqueueFunc = c.brokerEnqueue
	for i := len(c.hooks) - 1; i >= 0; i-- {
		f = c.hooks[i](f)
	}
	c.store = f
}

func (c *Client) brokerEnqueue(ctx context.Context, t *Task) (*Task, error) {
	if err := checkHeaders(t.Headers); err != nil {
		return nil, err
	}
	stored, _, err := c.b.Enqueue(ctx, t)
	return stored, err
}

// enqueue stores t through the hooks.
func (c *Client) enqueue(ctx context.Context, t *Task) (*Task, error) {
	c.mu.RLock()
	f := c.store
	c.mu.RUnlock()
	if f == nil {
		f = c.brokerEnqueue
	}
	return f(ctx, t)
}

// checkHeaders reports whether h is a valid [Task.Headers].
func checkHeaders(h map[string]string) error {
	n := 0
	for k, v := range h {
		if err := checkName("header name", k, true); err != nil {
			return err
		}
		n += len(k) + len(v)
	}
	if n > MaxHeaderBytes {
		return invalidArg("headers are %d bytes; want at most %d", n, MaxHeaderBytes)
	}
	return nil
}

// Middleware wraps a [HandlerFunc]: it runs around every attempt of every
// task a [Worker] runs, with the handler's context and the task (its
// [Task.Headers] included). See [Worker.Use].
type Middleware func(next HandlerFunc) HandlerFunc

// Use adds middleware that wraps every handler of the worker; the first
// given (over all calls) is the outermost. A nil middleware is refused:
// the mistake is kept and [Worker.Run] returns it. Use may be called while
// Run runs; tasks claimed after it returns are wrapped.
func (w *Worker) Use(mw ...Middleware) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, m := range mw {
		if m == nil {
			w.handleErr = append(w.handleErr, invalidArg("Worker.Use: middleware %d is nil", i))
			continue
		}
		w.mws = append(w.mws, m)
	}
	for name, h := range w.handlers {
		w.wrapped[name] = w.wrapLocked(h)
	}
}

// wrapLocked returns h wrapped in the worker's middleware. w.mu is held.
func (w *Worker) wrapLocked(h HandlerFunc) HandlerFunc {
	for i := len(w.mws) - 1; i >= 0; i-- {
		h = w.mws[i](h)
		if h == nil {
			// A mistake in code: no retry can mend it.
			return func(context.Context, *Task) (any, error) {
				return nil, resilience.Permanent(fmt.Errorf("%w: Worker.Use: middleware %d returned a nil handler", ErrInvalidArgument, i))
			}
		}
	}
	return h
}
