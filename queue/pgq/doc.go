// Package pgq is the PostgreSQL backend of package queue: a [Broker] (a
// queue.Broker) and a [DeadLetterStore] (a dlq.Store) on
// github.com/jackc/pgx/v5, so that an application that already runs
// PostgreSQL gets durable queues, leases, results, dead letters and alert
// counts shared by every machine, with no other server to run, and can
// enqueue a task inside its own transaction.
//
//	pool, err := pgxpool.New(ctx, "postgres://app@db/app")
//	opts := pgq.Options{Schema: "jobs"} // the same on every machine
//	broker := pgq.NewBroker(pool, opts)
//	defer broker.Close()
//
//	// API servers: store a document and enqueue its embedding together.
//	client := queue.NewClient(broker)
//	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
//		if _, err := tx.Exec(ctx, `INSERT INTO documents (id, body) VALUES ($1, $2)`, id, body); err != nil {
//			return err
//		}
//		_, err := pgq.Enqueue(ctx, tx, client, "embed", EmbedArgs{DocID: id})
//		return err
//	})
//
//	// Worker machines: run tasks; failed ones go to the shared dead letters.
//	w, err := queue.NewWorker(broker, queue.WorkerConfig{
//		Concurrency: 8,
//		DeadLetters: pgq.NewDeadLetterStore(pool, opts),
//	})
//	w.Handle("embed", embedHandler)
//	err = w.Run(ctx)
//
// # Transactional enqueue
//
// [Enqueue] (through a queue.Client, with its queues, options and hooks)
// and [Broker.EnqueueTx] (a ready task) write the task through the
// caller's pgx.Tx: the task exists if and only if the transaction
// commits. A crash between "store the document" and "enqueue its
// embedding" can then leave neither half alone. The notification that
// wakes idle workers is sent by PostgreSQL at commit, so no worker sees
// the task earlier.
//
// [Broker.EnqueueMany] stores many tasks in one INSERT (all or none), for
// producers that have a batch at once, such as the chunks of one document.
//
// # Schema and migrations
//
// Everything lives in one schema ([Options.Schema], default "resilience"):
// the tasks table, the paused queues, the dead letters, the alert counts,
// the claim functions and a migrations table. [Migrate] applies the SQL
// files embedded in the package (migrations/NNN_*.sql) that the schema
// lacks, in one transaction under an advisory lock, so any number of
// processes may call it at start-up. A Broker and a DeadLetterStore call
// it before their first statement; run it yourself to fail fast or to
// migrate with a role the workers lack.
//
// # How a task moves
//
// Enqueue is one INSERT (an expired task of the same id is replaced in
// the same statement). A claim is one call of the schema's claim function,
// which locks the oldest claimable row of the first non-paused queue with
// SELECT ... FOR UPDATE SKIP LOCKED, so concurrent claims never wait on
// each other, and leases it with a fresh random token. Every later call of
// the worker (Renew, Progress, Complete, Retry, Fail, Release) is one
// UPDATE that checks the token and the lease end, so a worker whose lease
// ran out can change nothing. A worker that completes a task claims the
// next in the same call (complete_and_claim). Under load a task therefore
// costs two statements and two round trips: the insert, and the
// complete_and_claim call that finishes the task before it and claims it
// (plus one notification statement per batch of enqueues, see below). An
// idle worker adds a claim call per task.
//
// # Durability
//
// An Enqueue, a Cancel and the dead letters are durable when the call
// returns (the transaction waits for its commit to reach the disk). The
// worker's statements (claims, renewals, completions, retries, failures,
// recovery) commit with synchronous_commit off for their own transaction:
// they do not wait for the disk flush, which PostgreSQL makes at most a few
// hundred milliseconds later. A crash of the database server can therefore
// forget the last fraction of a second of claims and completions; those
// tasks are redelivered when their lease runs out, which at-least-once
// delivery allows (handlers must be idempotent anyway). In exchange the
// workers do not queue behind each other's disk flushes while they hold
// PostgreSQL's NOTIFY lock.
//
// Idle claims do not poll. A row trigger announces every change on the
// schema's LISTEN/NOTIFY channel (an Enqueue through the pool has its
// queue announced by the broker right after the commit instead, gathered
// with the other enqueues of that moment into one statement that does not
// wait for a disk flush; an enqueue in the caller's transaction is
// announced by the trigger at that transaction's commit); each Broker keeps one listening
// connection of its own (outside the pool) and wakes one waiting claim of
// the queue that got a task. A claim also wakes by itself when the earliest
// delayed task falls due or the earliest lease runs out, and after
// [WakeTimeout] as a safety net. When the listening connection drops it
// reconnects with a backoff and then wakes every claim and watcher, since
// notifications sent meanwhile are lost.
//
// Recover (which workers call every half lease) makes tasks whose lease
// ran out claimable again, with Redeliveries counted apart from Retries;
// deletes tasks whose result expired; fails rows with a state that does
// not exist into the dead letters; and folds the count changes of Stats.
// Each is done in statements of at most 1,000 rows, never one large
// DELETE, so the tables stay small under a steady load.
//
// # Faults
//
// A statement that fails because the server went away returns an error
// wrapping the pgx error (the pool reconnects on the next call); a worker
// retries its settling calls and its claims. Nothing a statement did is
// lost once it returned, and a statement cut off by a crash did nothing:
// a task in flight during a restart is completed by its worker or, when
// the worker could not reach the server before its lease ran out,
// redelivered.
//
// A row changed by hand so that it does not decode (a payload or result
// that is not JSON, headers that are not an object of strings, a state
// that does not exist) is never handed to a worker: Claim and Recover
// fail it into the schema's dead letters with the reason, and Get
// reports [ErrCorruptTask] until then.
package pgq
