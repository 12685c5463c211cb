package redisq

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/resilience-go/resilience/internal/redistest"
	"github.com/resilience-go/resilience/queue"
)

// TestPipeConcurrentCallsGetTheirOwnReplies sends many calls at once, so
// that they share pipelines, and checks that each caller gets the reply
// of its own call, also after the server forgot its scripts (NOSCRIPT is
// answered with EVAL).
func TestPipeConcurrentCallsGetTheirOwnReplies(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := newClient(t, srv)
	b, _ := newBroker(t, rdb)
	ctx := ctxFor(t, 30*time.Second)
	for round := range 2 {
		if err := rdb.ScriptFlush(ctx).Err(); err != nil {
			t.Fatalf("SCRIPT FLUSH: %v", err)
		}
		const callers = 64
		var wg sync.WaitGroup
		errs := make(chan error, callers)
		for i := range callers {
			wg.Go(func() {
				id := fmt.Sprintf("r%d-%d", round, i)
				got, created, err := b.Enqueue(ctx, &queue.Task{ID: id, Name: "n" + id, Queue: "default", MaxRetries: i})
				if err == nil && (!created || got.ID != id || got.Name != "n"+id || got.MaxRetries != i) {
					err = fmt.Errorf("Enqueue(%s): got %+v, created %v", id, got, created)
				}
				if err == nil {
					var again *queue.Task
					if again, err = b.Get(ctx, id); err == nil && again.Name != "n"+id {
						err = fmt.Errorf("Get(%s): got name %q", id, again.Name)
					}
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if b.pipe.batched.Load() == 0 {
		t.Fatal("no call went in a pipeline of two or more: the test did not exercise batching")
	}
	t.Logf("%d of %d calls went in shared pipelines", b.pipe.batched.Load(), 2*64*2)
}
