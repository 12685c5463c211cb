package redisq_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/internal/redistest"
	"github.com/resilience-go/resilience/queue/redisq"
)

// Record failed tasks through a dlq.Recorder on Redis and read the alert
// state of each task name, as the dashboard does: most failures first.
func ExampleDeadLetterStore_FailureCounts() {
	addr, stop, err := redistest.StartForExample()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	store := redisq.NewDeadLetterStore(rdb, redisq.Options{Prefix: "example-alerts"})
	rec, err := dlq.NewRecorder(store, dlq.AlertConfig{
		Threshold: 2,
		Window:    24 * time.Hour,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)), // keep the alert's log record out of the output
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	for i, name := range []string{"summarize", "embed", "summarize"} {
		if err := rec.Record(ctx, dlq.Entry{TaskID: fmt.Sprint("t", i), TaskName: name}); err != nil {
			fmt.Println(err)
			return
		}
	}
	states, err := rec.AlertStates(ctx, 10) // reads store.FailureCounts
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range states {
		fmt.Printf("%s: %d of %d, alerted %v\n", s.TaskName, s.Failures, s.Threshold, s.Alerted)
	}
	// Output:
	// summarize: 2 of 2, alerted true
	// embed: 1 of 2, alerted false
}
