package redisq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resilience-go/resilience/dlq"
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
// queue.Watcher (Changed, on pub/sub) and a queue.CompleteClaimer.
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

// base returns the four leading KEYS of claim and recover, plus more.
func (b *Broker) base(more ...string) []string {
	return append([]string{b.k.leases, b.k.delayed, b.k.task, b.k.queue}, more...)
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
// enqueueing the same id again is safe).
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
	res, err := enqueueScript.Run(ctx, b.rdb,
		[]string{b.k.task + t.ID, b.k.ready(t.Queue), b.k.wakeList(t.Queue), b.k.delayed},
		t.ID, t.Name, t.Queue, string(t.Payload), t.MaxRetries,
		usString(t.EnqueuedAt), usString(t.NotBefore)).Slice()
	if err != nil {
		return nil, false, b.wrap(ctx, "enqueue task "+t.ID, err)
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
		State: queue.StatePending, MaxRetries: t.MaxRetries,
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

// Recover implements [queue.Broker.Recover]: it makes every task whose
// lease ran out claimable again (PENDING at the front of its queue,
// Redeliveries+1) and returns how many it recovered. Each call also
// reconciles one step of a sweep over the task hashes (SCAN, 500 keys per
// call): a task in STARTED or PROCESSING without a lease entry (lost to an
// eviction or a failover: asynq's hole) is leased again for its last
// lease, so that its worker keeps it if alive, and otherwise it is
// recovered when that lease runs out. A leased task that cannot be queued
// (its hash has no queue) is failed into the dead letters.
func (b *Broker) Recover(ctx context.Context) (int, error) {
	total := 0
	for {
		if err := b.check(ctx); err != nil {
			return total, err
		}
		res, err := b.pipe.run(ctx, recoverScript, b.base(b.k.scan),
			b.k.changed, b.k.taskPattern(), 500, micros(queue.DefaultLease), recoverBatch).Slice()
		if err != nil {
			return total, b.wrap(ctx, "recover", err)
		}
		if len(res) != 4 {
			return total, fmt.Errorf("redisq: recover: unexpected reply %v", res)
		}
		n, _ := res[0].(int64)
		total += int(n)
		err = b.poisonStuck(ctx, res[2])
		if taken, _ := res[3].(int64); err != nil || taken < recoverBatch {
			return total, err
		}
	}
}

// poisonStuck fails into the dead letters the leased tasks whose ids a
// script returned as ones it cannot queue (their hash has no queue).
func (b *Broker) poisonStuck(ctx context.Context, ids any) error {
	list, _ := ids.([]any)
	var err error
	for _, v := range list {
		if id, ok := v.(string); ok {
			err = errors.Join(err, b.poison(ctx, id, "", "", nil))
		}
	}
	return err
}

// poison fails task id (held under token, or any leased one for "") into
// the dead letters with cause, or with the decode error of its fields when
// cause is empty and fields nil (they are read then).
func (b *Broker) poison(ctx context.Context, id, token, cause string, fields map[string]string) error {
	if fields == nil {
		var err error
		if fields, err = b.rdb.HGetAll(ctx, b.k.task+id).Result(); err != nil {
			return b.wrap(ctx, "read corrupt task "+id, err)
		}
	}
	if cause == "" {
		_, err := decodeTask(id, fields)
		if err == nil {
			err = fmt.Errorf("%w: field %q: missing", ErrCorruptTask, fQueue)
		}
		cause = err.Error()
	}
	retries, _ := strconv.Atoi(fields[fRetries])
	entry, err := json.Marshal(dlq.Entry{
		TaskID: id, TaskName: fields[fName], Queue: fields[fQueue], Payload: rawPayload(fields),
		Error: cause, Trace: dumpFields(fields), FailedAt: time.Now(), Retries: retries,
	})
	if err != nil {
		return fmt.Errorf("redisq: encode dead letter of task %s: %w", id, err)
	}
	err = b.pipe.run(ctx, poisonScript,
		[]string{b.k.leases, b.k.task + id, b.k.dlqOrder, b.k.dlqEntries, b.k.dlqSeq, b.k.claim + token},
		b.k.changed, id, token, newToken(), cause, entry, resultTTLForCorrupt.Milliseconds()).Err()
	return b.wrap(ctx, "fail corrupt task "+id, err)
}

// deadLetterKey records a dead letter for an id whose key is not a task
// hash (the key is left alone: it is not ours to delete).
func (b *Broker) deadLetterKey(ctx context.Context, id, q string) error {
	keyType := b.rdb.Type(ctx, b.k.task+id).Val()
	entry, err := json.Marshal(dlq.Entry{
		TaskID: id, Queue: q, FailedAt: time.Now(),
		Error: fmt.Sprintf("%v: key %s%s holds a %s, not a task hash", ErrCorruptTask, b.k.task, id, keyType),
	})
	if err != nil {
		return err
	}
	err = dlqPushScript.Run(ctx, b.rdb, []string{b.k.dlqOrder, b.k.dlqEntries, b.k.dlqSeq}, id, entry).Err()
	return b.wrap(ctx, "dead-letter corrupt task "+id, err)
}
