package redisq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resilience-go/resilience/queue"
)

// Broker is a [queue.Broker] on Redis: several processes on several
// machines that use the same Redis and [Options.Prefix] share one set of
// queues, leases and results. Each state change is one Lua script, so it is
// atomic; times (leases, delays, result expiry) come from the Redis
// server's clock, so machines need not agree on the time.
//
// Claims block on Redis (BLPOP on a per-queue wake list) and wake when a
// task becomes claimable, not on a polling interval: an Enqueue, Retry or
// Release pushes a wake token, a claim that finds nothing waits no longer
// than until the earliest delayed task is due or the earliest lease runs
// out, and a safety-net timeout of [WakeTimeout] bounds every wait.
// Recover recovers expired leases and repairs leased tasks that lost their
// lease entry (see the package documentation). Beyond queue.Broker it is a
// queue.Watcher (Changed, on pub/sub), a queue.CompleteClaimer, a
// queue.Canceler, a queue.Pauser and a queue.Inspector. Every script is
// given every key it touches, and a script the client re-sends after a
// read timeout answers as its first run did.
//
// A Broker is safe for concurrent use. It does not own rdb: Close stops
// the broker, not the client. The client's PoolSize must exceed the number
// of claims blocked at once (the Concurrency of the workers sharing it),
// since each blocked claim holds a connection.
type Broker struct {
	rdb     redis.UniversalClient
	k       keys
	err     error // a bad argument to NewBroker, returned by every call
	closing context.Context
	close   context.CancelFunc
	hub     *hub
	pipe    pipe
	once    sync.Once
	held    sync.Map // lease token -> queue of the task it holds (for the keys of the lease scripts)
	hints   hints
	idle    idle
}

var (
	_ queue.Broker          = (*Broker)(nil)
	_ queue.Watcher         = (*Broker)(nil)
	_ queue.CompleteClaimer = (*Broker)(nil)
)

// WakeTimeout bounds how long a blocked [Broker.Claim] waits on Redis
// before it looks again by itself: a safety net for a wake-up lost to a
// failover or an evicted key. Claims normally wake on the event.
const WakeTimeout = 2 * time.Second

// resultTTLForCorrupt is how long a task that did not decode is kept in
// FAILURE: the broker does not know the worker's ResultTTL.
const resultTTLForCorrupt = queue.DefaultResultTTL

// NewBroker returns a broker on rdb (a *redis.Client, *redis.ClusterClient
// or *redis.Ring... any [redis.UniversalClient]) under opts.Prefix. A nil
// rdb or a prefix with braces is kept as an error wrapping
// [queue.ErrInvalidArgument] that every call returns.
func NewBroker(rdb redis.UniversalClient, opts Options) *Broker {
	k, err := newKeys(opts.Prefix)
	if rdb == nil && err == nil {
		err = errors.New("rdb is nil; want a go-redis client")
	}
	if err != nil {
		err = fmt.Errorf("%w: redisq.NewBroker: %w", queue.ErrInvalidArgument, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Broker{rdb: rdb, k: k, err: err, closing: ctx, close: cancel, pipe: pipe{rdb: rdb}}
	b.hub = newHub(b)
	return b
}

// Close stops the broker: claims blocked in [Broker.Claim] return an error
// wrapping [queue.ErrClosed], as does every later call; channels from
// [Broker.Changed] are closed and the subscription goroutine stops. Tasks
// stay in Redis. Close does not close the Redis client. It is idempotent
// and returns nil.
func (b *Broker) Close() error {
	b.once.Do(func() {
		b.close()
		b.hub.shutdown()
	})
	return nil
}

// check returns the error that stops a call before it reaches Redis.
func (b *Broker) check(ctx context.Context) error {
	if b.err != nil {
		return b.err
	}
	if b.closing.Err() != nil {
		return queue.ErrClosed
	}
	return ctx.Err()
}

// wrap translates a Redis error at the package boundary.
func (b *Broker) wrap(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if b.closing.Err() != nil {
		return fmt.Errorf("redisq: %s: %w (%w)", op, queue.ErrClosed, err)
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("redisq: %s: %w (%w)", op, cerr, err)
	}
	return fmt.Errorf("redisq: %s: %w", op, err)
}

// Enqueue implements [queue.Broker.Enqueue]. An unreachable Redis returns
// the connection error wrapped ("redisq: enqueue task ...: dial tcp ..."):
// the task was not stored (or, if the reply was lost, it was stored once:
// enqueueing the same id again is safe). Each call has an id of its own,
// kept in the task hash, so that when go-redis re-sends the call after a
// read timeout and Redis runs it twice, the second run answers as the
// first did (created, with the same EnqueuedAt); another call with the
// same id gets the existing task and created false.
func (b *Broker) Enqueue(ctx context.Context, t *queue.Task) (*queue.Task, bool, error) {
	if t == nil {
		return nil, false, fmt.Errorf("%w: Enqueue: task is nil", queue.ErrInvalidArgument)
	}
	if t.ID == "" || t.Name == "" || t.Queue == "" {
		return nil, false, fmt.Errorf("%w: Enqueue: task ID, Name and Queue must be set, got %q, %q, %q",
			queue.ErrInvalidArgument, t.ID, t.Name, t.Queue)
	}
	if err := b.check(ctx); err != nil {
		return nil, false, err
	}
	headers := ""
	if len(t.Headers) > 0 {
		raw, err := json.Marshal(t.Headers)
		if err != nil {
			return nil, false, fmt.Errorf("%w: Enqueue: headers: %w", queue.ErrInvalidArgument, err)
		}
		headers = string(raw)
	}
	qk := b.k.q(t.Queue)
	keys := append([]string{b.k.task + t.ID}, qk.ready, qk.wake, qk.delayed, qk.done)
	keys = append(append(keys, qk.idx[:]...), b.k.queues)
	res, err := enqueueScript.Run(ctx, b.rdb, keys, t.ID, t.Name, t.Queue, string(t.Payload), t.MaxRetries,
		usString(t.EnqueuedAt), usString(t.NotBefore), headers, newToken()).Slice()
	if err != nil {
		return nil, false, b.wrap(ctx, "enqueue task "+t.ID, err)
	}
	if code, _ := res[0].(int64); code == 2 {
		return nil, false, fmt.Errorf("redisq: enqueue task %s: unexpected time arguments", t.ID)
	}
	if created, _ := res[0].(int64); created == 0 {
		if len(res) < 2 {
			return nil, false, fmt.Errorf("redisq: enqueue task %s: %w: its key is not a hash", t.ID, ErrCorruptTask)
		}
		f, err := fieldMap(res[1])
		if err != nil {
			return nil, false, fmt.Errorf("redisq: enqueue task %s: %w", t.ID, err)
		}
		existing, err := decodeTask(t.ID, f)
		if err != nil {
			return nil, false, fmt.Errorf("redisq: enqueue task %s exists: %w", t.ID, err)
		}
		return existing, false, nil
	}
	var enq int64
	if len(res) == 2 {
		s, _ := res[1].(string)
		enq, _ = strconv.ParseInt(s, 10, 64)
	}
	return &queue.Task{
		ID: t.ID, Name: t.Name, Queue: t.Queue, Payload: cloneRaw(t.Payload),
		State: queue.StatePending, MaxRetries: t.MaxRetries, Headers: maps.Clone(t.Headers),
		EnqueuedAt: time.UnixMicro(enq), NotBefore: t.NotBefore.Truncate(time.Microsecond),
	}, true, nil
}

func cloneRaw(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	return append(json.RawMessage(nil), b...)
}

// Get implements [queue.Broker.Get]. A task whose data does not decode
// returns an error wrapping [ErrCorruptTask].
func (b *Broker) Get(ctx context.Context, id string) (*queue.Task, error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	f, err := b.rdb.HGetAll(ctx, b.k.task+id).Result()
	if redis.HasErrorPrefix(err, "WRONGTYPE") {
		return nil, fmt.Errorf("redisq: get task %s: %w: its key is not a hash", id, ErrCorruptTask)
	}
	if err != nil {
		return nil, b.wrap(ctx, "get task "+id, err)
	}
	if len(f) == 0 {
		return nil, queue.ErrTaskNotFound
	}
	t, err := decodeTask(id, f)
	if err != nil {
		return nil, fmt.Errorf("redisq: get task %s: %w", id, err)
	}
	return t, nil
}
