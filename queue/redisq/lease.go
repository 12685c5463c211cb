package redisq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resilience-go/resilience/queue"
)

// The lease-holding half of [Broker]: every call takes the token from
// Claim and fails with [queue.ErrLeaseLost] when it is not the task's
// current one. A lease that ran out but was not recovered yet still holds
// (the call succeeds): no other worker can have the task until the
// recoverer, or an idle claim, makes it claimable again. The memory broker
// recovers such a lease lazily instead, so there the call fails with
// ErrLeaseLost; both keep a task with one holder at a time.

// settle runs a lease script with the settle layout and translates its
// result code. once tells a call that changes the task for good (it gets
// an id, so that a second run of it answers as the first did, and the
// token is forgotten after it) from one that is safe to repeat
// (Progress).
func (b *Broker) settle(ctx context.Context, op string, s *redis.Script, once bool, id, token string, args ...any) error {
	if err := b.check(ctx); err != nil {
		return err
	}
	call := ""
	if once {
		call = newToken()
		defer b.held.Delete(token)
	}
	code := int64(codeMoved)
	for i := 0; i < 3 && code == codeMoved; i++ {
		q, err := b.queueOf(ctx, token, id)
		if err != nil {
			return b.wrap(ctx, op+" task "+id, err)
		}
		code, err = b.pipe.run(ctx, s, b.settleKeys(id, token, q), append([]any{b.k.changed, id, token, call, q}, args...)...).Int64()
		if err != nil {
			return b.wrap(ctx, op+" task "+id, err)
		}
		if code == codeMoved {
			b.held.Delete(token)
		}
	}
	return settleError(op, id, code)
}

// settleKeys returns the settle layout of task id held by token in queue q.
func (b *Broker) settleKeys(id, token, q string) []string {
	return append([]string{b.k.leases, b.k.task + id, b.k.claimRec(token)}, b.k.q(q).group()...)
}

// queueOf returns the queue of task id held by token: the one its claim
// saw, or else the one in its hash ("" when it has none). The lease
// scripts check it (codeMoved).
func (b *Broker) queueOf(ctx context.Context, token, id string) (string, error) {
	if q, ok := b.held.Load(token); ok {
		return q.(string), nil
	}
	q, err := b.rdb.HGet(ctx, b.k.task+id, fQueue).Result()
	if errors.Is(err, redis.Nil) || redis.HasErrorPrefix(err, "WRONGTYPE") {
		return "", nil // the script answers for a task that is gone or not a hash
	}
	return q, err
}

// settleError translates the result code of a lease script.
func settleError(op, id string, code int64) error {
	switch code {
	case codeOK:
		return nil
	case codeNotFound:
		return fmt.Errorf("redisq: %s task %s: %w", op, id, queue.ErrTaskNotFound)
	case codeLost:
		return fmt.Errorf("redisq: %s task %s: %w", op, id, queue.ErrLeaseLost)
	case codeCorrupt:
		return fmt.Errorf("redisq: %s task %s: %w: field %q: missing", op, id, ErrCorruptTask, fQueue)
	case codeNotHash:
		return fmt.Errorf("redisq: %s task %s: %w: its key is not a hash", op, id, ErrCorruptTask)
	case codeRevoked:
		return fmt.Errorf("redisq: %s task %s: %w", op, id, queue.ErrRevoked)
	case codeMoved:
		return fmt.Errorf("redisq: %s task %s: its queue keeps changing", op, id)
	}
	return fmt.Errorf("redisq: %s task %s: unexpected script result %d", op, id, code)
}

func leaseArg(op string, lease time.Duration) error {
	if lease <= 0 {
		return fmt.Errorf("%w: %s: lease is %v; want > 0", queue.ErrInvalidArgument, op, lease)
	}
	return nil
}

func ttlArg(op string, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("%w: %s: result TTL is %v; want > 0", queue.ErrInvalidArgument, op, ttl)
	}
	return nil
}

// millis returns d in whole milliseconds, at least 1.
func millis(d time.Duration) int64 { return max(d.Milliseconds(), 1) }

// Renew implements [queue.Broker.Renew].
func (b *Broker) Renew(ctx context.Context, id, token string, lease time.Duration) error {
	if err := leaseArg("Renew", lease); err != nil {
		return err
	}
	if err := b.check(ctx); err != nil {
		return err
	}
	code, err := b.pipe.run(ctx, renewScript, []string{b.k.leases, b.k.task + id},
		b.k.changed, id, token, "", micros(lease)).Int64()
	if err != nil {
		return b.wrap(ctx, "renew task "+id, err)
	}
	return settleError("renew", id, code)
}

// Progress implements [queue.Broker.Progress].
func (b *Broker) Progress(ctx context.Context, id, token string, p queue.Progress, lease time.Duration) error {
	if err := leaseArg("Progress", lease); err != nil {
		return err
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("%w: Progress: %w", queue.ErrInvalidArgument, err)
	}
	return b.settle(ctx, "progress", progressScript, false, id, token, micros(lease), raw)
}

// Complete implements [queue.Broker.Complete]. The task hash expires with
// a Redis TTL of ttl (millisecond precision).
func (b *Broker) Complete(ctx context.Context, id, token string, result json.RawMessage, ttl time.Duration) error {
	if err := ttlArg("Complete", ttl); err != nil {
		return err
	}
	if len(result) > 0 && !json.Valid(result) {
		return fmt.Errorf("%w: Complete: result is not valid JSON", queue.ErrInvalidArgument)
	}
	return b.settle(ctx, "complete", completeScript, true, id, token, string(result), millis(ttl))
}

// Fail implements [queue.Broker.Fail]. The task hash expires with a Redis
// TTL of ttl.
func (b *Broker) Fail(ctx context.Context, id, token, errMsg string, ttl time.Duration) error {
	if err := ttlArg("Fail", ttl); err != nil {
		return err
	}
	return b.settle(ctx, "fail", failScript, true, id, token, errMsg, millis(ttl))
}

// Retry implements [queue.Broker.Retry]. notBefore is compared with the
// Redis server's clock.
func (b *Broker) Retry(ctx context.Context, id, token, errMsg string, notBefore time.Time) error {
	return b.settle(ctx, "retry", retryScript, true, id, token, errMsg, usString(notBefore))
}

// Release implements [queue.Broker.Release].
func (b *Broker) Release(ctx context.Context, id, token string) error {
	return b.settle(ctx, "release", releaseScript, true, id, token)
}
