// Package redisq is the Redis backend of package queue: a [Broker] (a
// queue.Broker) and a [DeadLetterStore] (a dlq.Store) on go-redis, so that
// clients and workers on several machines share one set of queues, leases,
// results, dead letters and alert counts, with nothing to run but Redis.
//
//	rdb := redis.NewClient(&redis.Options{Addr: "redis:6379", PoolSize: 32})
//	opts := redisq.Options{Prefix: "myapp"} // the same on every machine
//	broker := redisq.NewBroker(rdb, opts)
//	defer broker.Close()
//
//	// API servers: enqueue and read results.
//	client := queue.NewClient(broker)
//	t, err := client.Enqueue(ctx, "embed", docs)
//
//	// Worker machines: run tasks; failed ones go to the shared dead letters.
//	w, err := queue.NewWorker(broker, queue.WorkerConfig{
//		Concurrency: 8,
//		DeadLetters: redisq.NewDeadLetterStore(rdb, opts),
//	})
//	w.Handle("embed", embedHandler)
//	err = w.Run(ctx) // until ctx ends; then in-flight tasks finish or go back
//
// # Several machines, one Redis
//
// Every process that uses the same Redis and the same [Options.Prefix]
// shares the queues: start as many workers as you like, anywhere, and
// stop or kill them at any time. Each state change is one Lua script, so
// it is atomic however many workers race for a task. Times that matter
// (leases, delays, result expiry, alert windows) come from the Redis
// server's clock (TIME), so the machines' clocks need not agree, except
// for WithDelay, whose not-before time the enqueuing machine computes.
//
// Give the go-redis client a PoolSize above the worker's Concurrency plus
// a few: an idle claim holds a connection while it blocks. Run Redis with
// persistence (appendonly yes; appendfsync always if an acknowledged
// enqueue must survive a crash of Redis itself) and maxmemory-policy
// noeviction: an evicted queue list would lose the tasks waiting in it
// (an evicted lease entry is repaired, see below).
//
// # Key layout
//
// All keys of a prefix P start with the hash tag {P}, so they live in one
// Redis Cluster slot and every script may touch any of them. Every script
// is given every key it touches in KEYS (none builds a key name), so the
// scripts also run where declared keys are enforced. Times are Unix
// microseconds.
//
//	{P}:task:<id>                hash: name, queue, payload, headers, state, attempt, max_retries,
//	                             retries, redeliveries, enqueued_at, not_before, started_at,
//	                             progress, result, error, finished_at, ttl_ms; token, lease_us,
//	                             cancel while leased; enq_call, the Enqueue call that stored it.
//	                             A done task expires after its result TTL.
//	{P}:queue:<q>:ready          list of task ids ready to claim, oldest first
//	{P}:queue:<q>:wake           list holding at most one wake-up token for idle claimers (BLPOP):
//	                             the id of the task it announces, a guess for the woken claim
//	{P}:queue:<q>:delayed        sorted set: task id -> not-before time (delays and retry backoff)
//	{P}:queue:<q>:idx:<STATE>    sorted set per state (PENDING, SCHEDULED, STARTED, PROCESSING,
//	                             RETRY, SUCCESS, FAILURE, REVOKED): task id -> enqueue time
//	{P}:queue:<q>:done           sorted set: id of a done task -> when its result expires
//	{P}:queues                   set of the queue names that held a task or were paused
//	{P}:paused                   set of the paused queue names
//	{P}:leases                   sorted set: task id -> lease expiry
//	{P}:claim:<token>            claim record: the task a claim token took, until the task is
//	                             settled (or its lease runs out)
//	{P}:scan                     cursor of the reconciliation sweep
//	{P}:wake:<token>             private wake-up list of one blocked claim (expires in 10 s)
//	{P}:changed                  pub/sub channel: ids of tasks that changed (for Client.Wait)
//	{P}:dlq:order                sorted set: task id -> push order of its dead letter
//	{P}:dlq:entries              hash: task id -> dead letter (dlq.Entry as JSON)
//	{P}:dlq:seq                  counter of dead-letter pushes
//	{P}:dlq:fail:<w>:<name>      hash: window number -> failures of a task name in windows of w µs
//	{P}:dlq:rank:<w>             sorted set: task name -> minus its failures in the current window of w µs
//	{P}:dlq:rank:<w>:window      the number of the window that ranking counts
//
// A claim is two scripts: the first takes the id at the head of a ready
// list (the keys of the queues are known), the second starts that task
// (now its key is known). Where the keys depend on data the client has not
// seen (the queue of a task being settled or cancelled, the tasks whose
// lease ran out), the client reads it first and the script checks it.
//
// # One slot per prefix: resharding and hot slots
//
// Because every key of a prefix is in one slot, a prefix is served by one
// Redis Cluster shard. While that slot migrates to another shard
// (resharding), a call that finds some of its keys already moved gets a
// TRYAGAIN error (a multi-key script cannot run half here, half there) or
// an ASK redirection, which go-redis's ClusterClient follows by itself;
// TRYAGAIN is returned to the caller after go-redis's own retries. A worker
// logs such claim errors and retries with a backoff, Enqueue returns the
// error (nothing was stored; enqueueing the same id again is safe), and the
// calls go through again once the slot has moved, usually within seconds.
// If one prefix's slot is too hot for one shard, split the work over
// several prefixes, each its own Broker (and DeadLetterStore) with its own
// workers: for example one prefix per tenant or per kind of task, or N
// prefixes "app-0" ... "app-N-1" with the producer picking one by a hash
// of the task id (so that enqueueing the same id again finds it). Ids are
// unique per prefix, and a Client.Get must use the prefix its task went to.
//
// # Claims wake on data
//
// An idle claim blocks in BLPOP on the wake lists of its queues. Making a
// task ready leaves a token there, so a blocked claim returns within a
// round trip of the enqueue (about a millisecond), not after a polling
// interval. A claim that finds nothing computes how long until the earliest
// delayed task is due or the earliest lease runs out and wakes then, by a
// timer; [WakeTimeout] (2 s) bounds every wait as a safety net.
//
// A worker's calls that its slots make at the same time (claims,
// completions, renewals) share one pipeline, and a slot that finished a
// task completes it and claims the next in one script
// ([Broker.CompleteAndClaim]), so a busy worker costs Redis about one call
// per task beside the enqueue.
//
// # Cancel, pause and inspect
//
// [Broker.Cancel] is stored in Redis, not broadcast: a waiting task ends
// REVOKED at once; a running one is marked, the change is published on the
// changed channel (the worker running it cancels the handler's context
// within milliseconds), and a worker that missed the message (cut off from
// Redis at the time) learns of it at its next renewal, at most Lease/3
// later, or when its subscription comes back. A lease that runs out on a
// cancelled task ends it REVOKED rather than redelivering it.
// [Broker.SetPaused] marks the queue in the prefix's paused set, which
// every claim of every process checks. Each is one script: with Redis
// unreachable it returns the error and changes nothing.
//
// [Broker.Stats] and [Broker.List] read per-queue indexes kept in the same
// scripts as every state change (one sorted set per state, scored by
// enqueue time): Stats costs one script over all queues (about 0.1 ms for
// four queues holding 100,000 tasks), List reads Offset+Limit ids per
// index it selects. Keeping them costs each task two index updates per
// state change.
//
// # At least once: make handlers idempotent
//
// A task is delivered at least once. A handler runs again for the same task
// when its worker died (or was partitioned from Redis, or stalled longer
// than its lease) after the handler had side effects but before the result
// was stored: the task's lease runs out and another worker runs it. The
// first worker, if still alive, can no longer store its outcome (its lease
// token is stale) and its handler's ctx is cancelled. So write handlers
// that can run twice: use the task id as the idempotency key of what they
// write (an upsert keyed by it, a unique constraint, a "done" marker set in
// the same transaction as the effect).
//
// # Recovery timing follows from the lease
//
// A running task's worker renews its lease every Lease/3
// (queue.WorkerConfig.Lease, 30 s by default). When the worker dies, the
// lease runs out between 2/3 and 1 Lease later. Then the task is made
// claimable again (PENDING, at the front of its queue, Redeliveries+1) by
// whichever comes first: an idle claim of any worker, which wakes when the
// earliest lease runs out, or the recoverer every worker runs
// ([Broker.Recover], every Lease/2). So a task is running again at most
// 1.5 leases after its worker died, and about one lease later when some
// worker is idle. A task whose lease runs out more than
// queue.WorkerConfig.MaxRedeliveries times (one that kills its worker every
// time) fails into the dead letters.
//
// The recoverer also repairs the state Redis can lose outside the scripts
// (an eviction, a failover to a replica that lagged): a task in STARTED or
// PROCESSING without a lease entry is leased again, so it is recovered when
// that lease runs out unless its worker is alive and renews it. Its sweep
// covers the task keys step by step (SCAN, 500 keys per Recover).
//
// # Faults
//
// A script the client sends again runs once in effect. go-redis re-sends a
// command after a read timeout (MaxRetries, 3 by default), and the first
// send may still run in Redis: a stalled server runs both. So every
// settling call carries an id that the task keeps (a second run finds it
// and answers as the first did), and a claim leaves a record of the task
// its token took (a second run returns that task rather than taking
// another). Keep whatever client options you like.
//
// If Redis is unreachable, Enqueue returns the connection error wrapped
// (the task was not stored; enqueueing the same id again is safe). Workers
// log claim errors and retry with a backoff, and resume by themselves when
// Redis is back. A completion that fails is retried for up to one lease;
// if it never gets through, the lease runs out and the task runs again. A
// task hash that does not decode (written by something else) is failed with
// an error wrapping [ErrCorruptTask] and recorded in the prefix's dead
// letters (those of [NewDeadLetterStore] with the same Options, whatever
// store the worker was given); the worker goes on with the next task.
package redisq
