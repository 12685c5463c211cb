// Package queue runs background tasks: an LLM call or a batch embedding
// that takes minutes is enqueued, its id returned at once, and workers run
// it with progress, time limits, retries and dead letters, without ever
// losing it. It brings the Python pattern of Celery tasks on a Redis broker
// to Go, with the workers running inside your own program.
//
//	broker := queue.NewMemoryBroker() // or redisq.NewBroker(rdb, redisq.Options{})
//	client := queue.NewClient(broker)
//
//	w, err := queue.NewWorker(broker, queue.WorkerConfig{Concurrency: 4})
//	if err != nil { ... }
//	w.Handle("embed", queue.Typed(func(ctx context.Context, docs []string) (int, error) {
//		for i := range docs {
//			queue.ReportProgress(ctx, queue.Progress{Current: int64(i), Total: int64(len(docs))})
//			// ...
//		}
//		return len(docs), nil
//	}))
//	go w.Run(ctx)
//
//	t, err := client.Enqueue(ctx, "embed", docs, queue.WithQueue("high"))
//	done, err := client.Wait(ctx, t.ID) // or client.Get for a snapshot
//
// # States
//
// A task is PENDING when enqueued (or waiting out [WithDelay]), STARTED once
// a worker claimed it, PROCESSING after its handler reported progress, RETRY
// between attempts, and finally SUCCESS or FAILURE, kept for
// [WorkerConfig.ResultTTL] (1 h) and then removed.
//
// # Queues and priority
//
// Clients and workers know the queues high, default and low
// ([Client.AddQueues] and [WorkerConfig.Queues] declare others). By default
// a worker claims in strict priority order: it takes from high while high
// has work. [PriorityWeighted] instead draws the order per claim by weight
// (6:3:1 by default), so low keeps a share under sustained high load. A
// worker claims only when one of its Concurrency slots is free (a prefetch
// of one, as heavy AI tasks should not pile up on one worker). A slot that
// finished a task claims the next in the same broker call as the
// completion when the broker is a [CompleteClaimer] (redisq is: one Redis
// round trip per task instead of two).
//
// # Delivery: leases, at least once
//
// A claimed task is leased to its worker ([WorkerConfig.Lease], 30 s),
// which renews the lease every third of it while the handler runs and on
// every [ReportProgress]. When a worker dies its leases run out and the
// task is delivered again (counted in [Task.Redeliveries], capped by
// [WorkerConfig.MaxRedeliveries]); a worker whose lease was lost can no
// longer complete or fail the task, and its handler's ctx is cancelled. So a
// handler can run more than once for one task: make it idempotent, keyed by
// the task id.
//
// # Failures
//
// A handler error is retried with [WorkerConfig.Retry]'s jittered
// exponential backoff (3 retries, delays capped at 600 s by default; a
// [resilience.RetryAfter] error waits at least as asked). A
// [resilience.Permanent] error, spent retries, a panic on the last attempt,
// a task with no handler or too many redeliveries end in FAILURE and in one
// entry of the worker's dead-letter store ([Worker.DeadLetters]), from where
// it can be replayed. Panics are recovered with their stack and count as a
// failed attempt. While the dead-letter store is down such a task waits in
// RETRY, without running its handler again, until its entry is written
// (see [WorkerConfig.DeadLetters]).
//
// # Time limits and shutdown
//
// At [WorkerConfig.SoftTimeLimit] the handler's ctx is cancelled with cause
// [ErrSoftTimeLimit]; at [WorkerConfig.TimeLimit] the attempt fails and its
// slot is freed even if the handler ignores its ctx. When Run's ctx ends the
// worker stops claiming, lets tasks in flight finish for up to
// [WorkerConfig.ShutdownTimeout], and hands the rest back to the broker.
//
// # Brokers
//
// A [Broker] stores queues, leases and results. [MemoryBroker] keeps them
// in the process; package queue/redisq shares them across machines through
// Redis. Package queue/queuetest checks that a broker keeps every promise.
package queue
