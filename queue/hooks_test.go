package queue_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/resilience-go/resilience/queue"
	"github.com/stretchr/testify/require"
)

// TestHooksCarryHeadersToMiddleware adds two enqueue hooks and two worker
// middlewares: the hooks run first-outermost and their headers reach the
// middleware in the handler's process, with the WithHeaders ones.
func TestHooksCarryHeadersToMiddleware(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		b := queue.NewMemoryBroker()
		c := queue.NewClient(b)
		var mu sync.Mutex
		var order []string
		note := func(s string) {
			mu.Lock()
			defer mu.Unlock()
			order = append(order, s)
		}
		hook := func(name string) queue.EnqueueHook {
			return func(next queue.EnqueueFunc) queue.EnqueueFunc {
				return func(ctx context.Context, t *queue.Task) (*queue.Task, error) {
					note("hook " + name)
					if t.Headers == nil {
						t.Headers = map[string]string{}
					}
					t.Headers["from-"+name] = "1"
					return next(ctx, t)
				}
			}
		}
		c.Use(hook("a"), nil, hook("b")) // a nil hook is ignored
		w := newWorker(t, b, queue.WorkerConfig{Concurrency: 1})
		seen := make(chan map[string]string, 1)
		mw := func(name string) queue.Middleware {
			return func(next queue.HandlerFunc) queue.HandlerFunc {
				return func(ctx context.Context, t *queue.Task) (any, error) {
					note("middleware " + name)
					return next(ctx, t)
				}
			}
		}
		w.Handle("n", func(_ context.Context, t *queue.Task) (any, error) {
			note("handler")
			seen <- t.Headers
			return nil, nil
		})
		w.Use(mw("outer"), mw("inner")) // after Handle: wraps it too
		stop := start(w)
		task, err := c.Enqueue(ctx, "n", nil, queue.WithHeaders(map[string]string{"tenant": "acme"}))
		require.NoError(t, err)
		require.Equal(t, queue.StateSuccess, wait(t, c, task.ID).State)
		require.NoError(t, stop())
		require.Equal(t, map[string]string{"tenant": "acme", "from-a": "1", "from-b": "1"}, <-seen)
		require.Equal(t, []string{"hook a", "hook b", "middleware outer", "middleware inner", "handler"}, order)
	})
}

// TestHookErrorEnqueuesNothing checks that a hook's error is Enqueue's, and
// that a hook adding a bad header is refused by the check after the hooks.
func TestHookErrorEnqueuesNothing(t *testing.T) {
	ctx := context.Background()
	b := queue.NewMemoryBroker()
	c := queue.NewClient(b)
	refused := errors.New("quota exceeded")
	c.Use(func(next queue.EnqueueFunc) queue.EnqueueFunc {
		return func(ctx context.Context, t *queue.Task) (*queue.Task, error) {
			if t.Name == "refuse" {
				return nil, refused
			}
			t.Headers = map[string]string{"bad key": "v"}
			return next(ctx, t)
		}
	})
	_, err := c.Enqueue(ctx, "refuse", nil)
	require.ErrorIs(t, err, refused)
	_, err = c.Enqueue(ctx, "n", nil)
	require.ErrorIs(t, err, queue.ErrInvalidArgument)
	require.ErrorContains(t, err, "header name")
	require.Zero(t, b.Len())
}

// TestWorkerUseBadMiddleware checks that a nil middleware makes Run fail
// at once, and that a middleware returning a nil handler fails its tasks
// for good (no retries: the code is wrong, not the task).
func TestWorkerUseBadMiddleware(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		w := newWorker(t, b, queue.WorkerConfig{})
		w.Use(nil)
		require.ErrorIs(t, w.Run(context.Background()), queue.ErrInvalidArgument)

		w = newWorker(t, b, queue.WorkerConfig{Concurrency: 1})
		w.Handle("n", func(context.Context, *queue.Task) (any, error) { return nil, nil })
		w.Use(func(queue.HandlerFunc) queue.HandlerFunc { return nil })
		stop := start(w)
		c := queue.NewClient(b)
		task, err := c.Enqueue(context.Background(), "n", nil)
		require.NoError(t, err)
		got := wait(t, c, task.ID)
		require.NoError(t, stop())
		require.Equal(t, queue.StateFailure, got.State)
		require.Zero(t, got.Retries)
		require.Contains(t, got.Error, "middleware 0 returned a nil handler")
	})
}
