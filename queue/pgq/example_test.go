package pgq_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

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
