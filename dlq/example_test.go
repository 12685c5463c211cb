package dlq_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/resilience-go/resilience/dlq"
)

// Failed tasks go into the store; a scheduled job drains it in batches,
// oldest first, as a periodic Celery job draining a dead-letter list would.
func ExampleMemoryStore() {
	ctx := context.Background()
	store := dlq.NewMemoryStore()
	for i := 1; i <= 5; i++ {
		_ = store.Push(ctx, dlq.Entry{
			TaskID:   fmt.Sprintf("task-%d", i),
			TaskName: "embed",
			Error:    "upstream returned 503",
			Retries:  3,
		})
	}
	// A second push of the same id replaces the entry in place.
	_ = store.Push(ctx, dlq.Entry{TaskID: "task-2", TaskName: "embed", Error: "timeout", Retries: 3})

	for {
		batch, err := store.Pop(ctx, 2)
		if err != nil || len(batch) == 0 {
			break
		}
		for _, e := range batch {
			fmt.Printf("%s: %s\n", e.TaskID, e.Error)
		}
		fmt.Println("-- batch done")
	}
	n, _ := store.Len(ctx)
	fmt.Println("left:", n)
	// Output:
	// task-1: upstream returned 503
	// task-2: timeout
	// -- batch done
	// task-3: upstream returned 503
	// task-4: upstream returned 503
	// -- batch done
	// task-5: upstream returned 503
	// -- batch done
	// left: 0
}

// List pages through the entries without removing them; Get and Delete work
// by task id.
func ExampleMemoryStore_List() {
	ctx := context.Background()
	store := dlq.NewMemoryStore()
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		_ = store.Push(ctx, dlq.Entry{TaskID: id, TaskName: "chat"})
	}
	for offset := 0; ; offset += 2 {
		page, _ := store.List(ctx, offset, 2)
		if len(page) == 0 {
			break
		}
		fmt.Print("page:")
		for _, e := range page {
			fmt.Print(" ", e.TaskID)
		}
		fmt.Println()
	}
	_ = store.Delete(ctx, "c")
	_, err := store.Get(ctx, "c")
	fmt.Println(err)
	// Output:
	// page: a b
	// page: c d
	// page: e
	// dlq: entry not found: task id "c"
}

// A Recorder stores each failure and alerts once when a task name has failed
// Threshold times within the window: the hook runs, and a critical record is
// logged.
func ExampleRecorder() {
	// Log to stdout without the time, so the output is stable.
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	rec, err := dlq.NewRecorder(dlq.NewMemoryStore(), dlq.AlertConfig{
		Threshold: 3,
		Window:    time.Hour,
		OnAlert: func(a dlq.Alert) {
			fmt.Printf("ALERT: %s failed %d times within %v (last: %s)\n",
				a.TaskName, a.Count, a.Window, a.Last.TaskID)
		},
		Logger: logger,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	for i := 1; i <= 5; i++ {
		err := rec.Record(ctx, dlq.Entry{
			TaskID:   fmt.Sprintf("job-%d", i),
			TaskName: "summarize",
			Queue:    "default",
			Error:    "model overloaded",
		})
		if err != nil {
			fmt.Println(err)
		}
	}
	n, _ := rec.Store().Len(ctx)
	fmt.Println("dead letters:", n)
	// Output:
	// level=ERROR+4 msg="dlq: task failure threshold reached" task_name=summarize failures=3 window=1h0m0s task_id=job-3 queue=default error="model overloaded"
	// ALERT: summarize failed 3 times within 1h0m0s (last: job-3)
	// dead letters: 5
}

// AlertStates reads the failure counts of the current window without adding
// to them, for a dashboard or a health check: here "summarize" has reached
// its threshold and "embed" has not.
func ExampleRecorder_AlertStates() {
	rec, err := dlq.NewRecorder(dlq.NewMemoryStore(), dlq.AlertConfig{
		Threshold: 3,
		Window:    time.Hour,
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	for i, name := range []string{"embed", "summarize", "summarize", "summarize"} {
		_ = rec.Record(ctx, dlq.Entry{TaskID: fmt.Sprintf("job-%d", i), TaskName: name})
	}
	states, err := rec.AlertStates(ctx, 10)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range states {
		fmt.Printf("%s: %d of %d failures within %v, alerted: %v\n",
			s.TaskName, s.Failures, s.Threshold, s.Window, s.Alerted)
	}
	// Output:
	// summarize: 3 of 3 failures within 1h0m0s, alerted: true
	// embed: 1 of 3 failures within 1h0m0s, alerted: false
}
