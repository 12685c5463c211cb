package redisq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/queue"
)

// Recover implements [queue.Broker.Recover]: it makes every task whose
// lease ran out claimable again (PENDING at the front of its queue,
// Redeliveries+1, or REVOKED when its cancellation was requested) and
// returns how many it recovered. Each call also reconciles one step of a
// sweep over the task hashes (SCAN, 500 keys per call): a task in STARTED
// or PROCESSING without a lease entry (lost to an eviction or a failover:
// asynq's hole) is leased again for its last lease, so that its worker
// keeps it if alive, and otherwise it is recovered when that lease runs
// out. A leased task that cannot be queued (its hash has no queue) is
// failed into the dead letters. Last, it drops from the Stats counts and
// List indexes the done tasks whose results expired.
func (b *Broker) Recover(ctx context.Context) (int, error) {
	total := 0
	for {
		if err := b.check(ctx); err != nil {
			return total, err
		}
		n, taken, err := b.expireDue(ctx, recoverBatch)
		total += n
		if err != nil {
			return total, b.wrap(ctx, "recover", err)
		}
		if taken < recoverBatch {
			break
		}
	}
	if err := b.healStep(ctx); err != nil {
		return total, b.wrap(ctx, "recover: sweep", err)
	}
	if err := b.sweepDone(ctx); err != nil {
		return total, b.wrap(ctx, "recover: expired results", err)
	}
	return total, nil
}

// recoverBatch bounds the expired leases one Recover step takes, so that
// one script does not hold Redis for long; Recover goes on while batches
// come back full.
const recoverBatch = 1000

// expireBatch bounds the tasks of one expire script (13 keys each).
const expireBatch = 100

// expireDue recovers up to limit tasks whose lease ran out: it reads their
// ids and queues, then runs the expire script with their keys declared. It
// returns how many it recovered and how many lease entries it found due.
func (b *Broker) expireDue(ctx context.Context, limit int) (recovered, taken int, err error) {
	ids, err := dueScript.Run(ctx, b.rdb, []string{b.k.leases}, limit).StringSlice()
	if err != nil || len(ids) == 0 {
		return 0, 0, err
	}
	queues, err := b.queuesOf(ctx, ids)
	if err != nil {
		return 0, len(ids), err
	}
	for lo := 0; lo < len(ids); lo += expireBatch {
		hi := min(lo+expireBatch, len(ids))
		keys := make([]string, 0, 1+13*(hi-lo))
		args := make([]any, 0, 2+2*(hi-lo))
		keys = append(keys, b.k.leases)
		args = append(args, b.k.changed, hi-lo)
		for i := lo; i < hi; i++ {
			keys = append(append(keys, b.k.task+ids[i]), b.k.q(queues[i]).group()...)
			args = append(args, ids[i], queues[i])
		}
		res, err := b.pipe.run(ctx, expireScript, keys, args...).Slice()
		if err != nil {
			return recovered, len(ids), err
		}
		if len(res) != 2 {
			return recovered, len(ids), fmt.Errorf("unexpected reply %v", res)
		}
		n, _ := res[0].(int64)
		recovered += int(n)
		if err := b.poisonStuck(ctx, res[1]); err != nil {
			return recovered, len(ids), err
		}
	}
	return recovered, len(ids), nil
}

// queuesOf reads the queue of each task ("" for none, or a key that is not
// a hash).
func (b *Broker) queuesOf(ctx context.Context, ids []string) ([]string, error) {
	cmds := make([]*redis.StringCmd, len(ids))
	_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGet(ctx, b.k.task+id, fQueue)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) && !redis.HasErrorPrefix(err, "WRONGTYPE") {
		return nil, err
	}
	out := make([]string, len(ids))
	for i, c := range cmds {
		out[i] = c.Val()
	}
	return out, nil
}

// healStep runs one step of the sweep that leases again the leased tasks
// without a lease entry: a SCAN of task keys on the node that holds the
// prefix's slot, then the heal script with the keys found.
func (b *Broker) healStep(ctx context.Context) error {
	node := redis.Cmdable(b.rdb)
	if cc, ok := b.rdb.(*redis.ClusterClient); ok {
		c, err := cc.MasterForKey(ctx, b.k.tag)
		if err != nil {
			return err
		}
		node = c
	}
	cursor, err := b.rdb.Get(ctx, b.k.scan).Uint64()
	if err != nil && !errors.Is(err, redis.Nil) {
		cursor = 0 // a cursor that does not parse starts the sweep again
	}
	found, next, err := node.Scan(ctx, cursor, b.k.taskPattern(), 500).Result()
	if err != nil {
		return err
	}
	if len(found) > 0 {
		keys := append(make([]string, 0, 1+len(found)), b.k.leases)
		args := append(make([]any, 0, 1+len(found)), micros(queue.DefaultLease))
		for _, key := range found {
			keys = append(keys, key)
			args = append(args, key[len(b.k.task):])
		}
		if err := b.pipe.run(ctx, healScript, keys, args...).Err(); err != nil {
			return err
		}
	}
	return b.rdb.Set(ctx, b.k.scan, next, 0).Err()
}

// sweepDone drops from the indexes of every queue the done tasks whose
// results expired.
func (b *Broker) sweepDone(ctx context.Context) error {
	names, err := b.rdb.SMembers(ctx, b.k.queues).Result()
	if err != nil {
		return err
	}
	for _, q := range names {
		for {
			n, err := b.pipe.run(ctx, sweepDoneScript, b.k.q(q).group()).Int()
			if err != nil {
				return err
			}
			if n < 1000 {
				break
			}
		}
	}
	return nil
}

// poisonStuck fails into the dead letters the leased tasks whose ids a
// script returned as ones it cannot queue (their hash has no queue).
func (b *Broker) poisonStuck(ctx context.Context, ids any) error {
	list, _ := ids.([]any)
	var err error
	for _, v := range list {
		if id, ok := v.(string); ok {
			err = errors.Join(err, b.poison(ctx, id, "", "", nil, false))
		}
	}
	return err
}

// poison fails task id (held under token, or any leased one for "") into
// the dead letters with cause, or with the decode error of its fields when
// cause is empty and fields nil (they are read then). odd takes a task
// whose state is none this package writes (reserved by a claim, not
// started).
func (b *Broker) poison(ctx context.Context, id, token, cause string, fields map[string]string, odd bool) error {
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
	flag := ""
	if odd {
		flag = "1"
	}
	keys := append([]string{b.k.leases, b.k.task + id, b.k.claimRec(token)}, b.k.q(fields[fQueue]).group()...)
	keys = append(keys, b.k.dlqOrder, b.k.dlqEntries, b.k.dlqSeq)
	err = b.pipe.run(ctx, poisonScript, keys, b.k.changed, id, token, newToken(), fields[fQueue], cause, entry,
		resultTTLForCorrupt.Milliseconds(), flag).Err()
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
