package proctest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/resilience-go/resilience/queue"
)

// Enqueue enqueues one task named name per payload, from up to parallel
// goroutines at once (1 enqueues them in order), and returns their ids in
// the order of payloads. It fails t on the first error, or when the
// enqueues take more than within.
func Enqueue[P any](t testing.TB, c *queue.Client, name string, payloads []P, parallel int, within time.Duration) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	ids := make([]string, len(payloads))
	var g errgroup.Group
	g.SetLimit(max(parallel, 1))
	for i, p := range payloads {
		g.Go(func() error {
			task, err := c.Enqueue(ctx, name, p)
			if err != nil {
				return fmt.Errorf("Enqueue %s %d: %w", name, i, err)
			}
			ids[i] = task.ID
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	return ids
}

// WaitDone waits for every task of ids to be done, retrying through broker
// outages every 50ms, and returns them in the order of ids. It fails t when
// they are not all done within the given time.
func WaitDone(t testing.TB, c *queue.Client, ids []string, within time.Duration) []*queue.Task {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	out := make([]*queue.Task, len(ids))
	for i, id := range ids {
		for {
			task, err := c.Wait(ctx, id)
			if err == nil {
				out[i] = task
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("task %d (%s) not done within %v: last error %v", i, id, within, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return out
}
