package redisq

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resilience-go/resilience/internal/redistest"
	"github.com/resilience-go/resilience/queue"
)

// TestPipeConcurrentCallsGetTheirOwnReplies makes many worker calls at
// once (claims, then completions), so that they share pipelines, and
// checks that each caller gets the reply of its own call, also after the
// server forgot its scripts (NOSCRIPT is answered with EVAL).
func TestPipeConcurrentCallsGetTheirOwnReplies(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := newClient(t, srv)
	b, _ := newBroker(t, rdb)
	ctx := ctxFor(t, 30*time.Second)
	const callers = 64
	flush := func() {
		t.Helper()
		if err := rdb.ScriptFlush(ctx).Err(); err != nil {
			t.Fatalf("SCRIPT FLUSH: %v", err)
		}
	}
	// gather runs f in callers goroutines at once and fails on any error.
	gather := func(f func(i int) error) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, callers)
		for i := range callers {
			wg.Go(func() { errs <- f(i) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	for round := range 2 {
		for i := range callers {
			id := fmt.Sprintf("r%d-%d", round, i)
			if _, _, err := b.Enqueue(ctx, &queue.Task{ID: id, Name: "n" + id, Queue: "default", MaxRetries: i}); err != nil {
				t.Fatal(err)
			}
		}
		flush()
		var mu sync.Mutex
		tokens := make(map[string]string)
		gather(func(int) error {
			got, token, err := b.Claim(ctx, []string{"default"}, time.Minute)
			if err != nil {
				return err
			}
			n, _ := strconv.Atoi(got.ID[strings.IndexByte(got.ID, '-')+1:])
			if got.Name != "n"+got.ID || got.MaxRetries != n || got.State != queue.StateStarted {
				return fmt.Errorf("Claim: got %+v, a task whose fields do not match its id", got)
			}
			mu.Lock()
			defer mu.Unlock()
			if _, dup := tokens[got.ID]; dup {
				return fmt.Errorf("task %s claimed twice", got.ID)
			}
			tokens[got.ID] = token
			return nil
		})
		flush()
		gather(func(i int) error {
			id := fmt.Sprintf("r%d-%d", round, i)
			if err := b.Complete(ctx, id, tokens[id], []byte(strconv.Itoa(i)), time.Minute); err != nil {
				return fmt.Errorf("Complete(%s): %w", id, err)
			}
			got, err := b.Get(ctx, id)
			if err == nil && (got.State != queue.StateSuccess || string(got.Result) != strconv.Itoa(i)) {
				err = fmt.Errorf("Get(%s): got state %s, result %s; want SUCCESS, %d", id, got.State, got.Result, i)
			}
			return err
		})
	}
	if b.pipe.batched.Load() == 0 {
		t.Fatal("no call went in a pipeline of two or more: the test did not exercise batching")
	}
	t.Logf("%d of %d calls went in shared pipelines", b.pipe.batched.Load(), 2*callers*2)
}
