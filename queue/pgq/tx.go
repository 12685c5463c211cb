package pgq

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/resilience-go/resilience/queue"
)

// txKey is the context key of the transaction [Enqueue] passes to
// [Broker.Enqueue] through [queue.Client.Enqueue].
type txKey struct{}

// Enqueue enqueues a task through c exactly as c.Enqueue(ctx, name,
// payload, opts...) does (the client's queues, options, validation and
// enqueue hooks all apply), but stores it inside the caller's transaction
// tx: the task exists if and only if tx commits, and no worker sees it
// before the commit. This is how a document and the task that embeds it
// are stored together or not at all:
//
//	tx, _ := pool.Begin(ctx)
//	defer tx.Rollback(ctx)
//	tx.Exec(ctx, `INSERT INTO documents (id, body) VALUES ($1, $2)`, id, body)
//	pgq.Enqueue(ctx, tx, client, "embed", EmbedArgs{DocID: id})
//	tx.Commit(ctx)
//
// c's broker must be a [*Broker] (its schema's tables are written through
// tx, so tx must be on the same database); any other broker is an error
// wrapping [queue.ErrInvalidArgument], as is a nil tx. Enqueue neither
// commits nor rolls back tx.
func Enqueue(ctx context.Context, tx pgx.Tx, c *queue.Client, name string, payload any,
	opts ...queue.EnqueueOption) (*queue.Task, error) {
	if tx == nil {
		return nil, fmt.Errorf("%w: pgq.Enqueue: tx is nil", queue.ErrInvalidArgument)
	}
	if c == nil {
		return nil, fmt.Errorf("%w: pgq.Enqueue: client is nil", queue.ErrInvalidArgument)
	}
	if _, ok := c.Broker().(*Broker); !ok {
		return nil, fmt.Errorf("%w: pgq.Enqueue: the client's broker is %T; want a *pgq.Broker",
			queue.ErrInvalidArgument, c.Broker())
	}
	return c.Enqueue(context.WithValue(ctx, txKey{}, tx), name, payload, opts...)
}
