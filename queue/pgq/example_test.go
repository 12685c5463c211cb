package pgq_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/queue"
	"github.com/resilience-go/resilience/queue/pgq"
)

// A schema name must be a plain identifier: any other is refused by every
// call, before a statement reaches the database.
func ExampleNewBroker_badSchema() {
	b := pgq.NewBroker(nil, pgq.Options{Schema: "jobs; DROP TABLE users"})
	_, err := b.Get(context.Background(), "some-task")
	fmt.Println(errors.Is(err, queue.ErrInvalidArgument))
	// Output: true
}

// Store a document and enqueue its embedding in one transaction: both
// exist after the commit, neither after a rollback.
func ExampleEnqueue() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://app@localhost/app")
	if err != nil {
		return
	}
	defer pool.Close()
	broker := pgq.NewBroker(pool, pgq.Options{})
	defer broker.Close()
	client := queue.NewClient(broker)

	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO documents (id, body) VALUES ($1, $2)`, "doc-1", "text"); err != nil {
			return err
		}
		_, err := pgq.Enqueue(ctx, tx, client, "embed", map[string]string{"doc": "doc-1"})
		return err
	})
	if err != nil {
		fmt.Println("nothing stored:", err)
	}
}

// A dashboard's overview of the alert states per task name, read from the
// counts that every worker's Recorder shares through the database.
func ExampleDeadLetterStore_FailureCounts() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://app@localhost/app")
	if err != nil {
		return
	}
	defer pool.Close()
	rec, err := dlq.NewRecorder(pgq.NewDeadLetterStore(pool, pgq.Options{}), dlq.AlertConfig{Threshold: 10, Window: time.Hour})
	if err != nil {
		return
	}
	states, err := rec.AlertStates(ctx, 50) // the 50 names with most failures this hour
	if err != nil {
		fmt.Println("no alert states:", err)
		return
	}
	for _, s := range states {
		fmt.Printf("%s: %d/%d failures until %s, alerted %v\n",
			s.TaskName, s.Failures, s.Threshold, s.WindowEnd().Format(time.TimeOnly), s.Alerted)
	}
}

// Bad arguments are refused, and limit 0 answered, before any statement:
// this pool never connects.
func ExampleDeadLetterStore_FailureCounts_badArguments() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://nobody@127.0.0.1:1/none?connect_timeout=1")
	if err != nil {
		return
	}
	defer pool.Close()
	store := pgq.NewDeadLetterStore(pool, pgq.Options{})
	_, err = store.FailureCounts(ctx, 0, 10)
	fmt.Println(err)
	fmt.Println(errors.Is(err, dlq.ErrInvalidArgument))
	counts, err := store.FailureCounts(ctx, time.Hour, 0)
	fmt.Println(len(counts), err)
	// Output:
	// dlq: invalid argument: FailureCounts window must be > 0, got 0s
	// true
	// 0 <nil>
}
