package redisq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resilience-go/resilience/queue"
)

// Claim implements [queue.Broker.Claim]. When no task is claimable it
// blocks on the wake lists of queues (BLPOP) and wakes when a task is
// queued in one of them, when the earliest delayed task is due or the
// earliest lease runs out (a timer then wakes it precisely), or after
// [WakeTimeout] at most. It returns an error wrapping ctx.Err() when ctx
// ends, [queue.ErrClosed] when the broker closes, and Redis errors wrapped
// (the worker retries those with a backoff). A claimed task whose data does
// not decode is failed into the dead letters (error wrapping
// [ErrCorruptTask]) and Claim goes on to the next one.
func (b *Broker) Claim(ctx context.Context, queues []string, lease time.Duration) (*queue.Task, string, error) {
	if err := claimArgs(queues, lease); err != nil {
		return nil, "", err
	}
	_, wakes := b.claimKeys(queues, "")
	woken := -1 // the queue whose wake token woke this claim
	for {
		if err := b.check(ctx); err != nil {
			if woken >= 0 {
				b.passOn(wakes[woken])
			}
			return nil, "", err
		}
		token := newToken()
		keys, _ := b.claimKeys(queues, token)
		res, err := b.pipe.run(ctx, claimScript, keys, b.k.changed, token, micros(lease), len(queues), woken).Slice()
		if err != nil {
			return nil, "", b.wrap(ctx, "claim", err)
		}
		woken = -1
		kind, _ := res[0].(int64)
		if kind != 0 {
			t, err := b.claimed(ctx, res, token, queues)
			if t != nil || err != nil {
				return t, token, err
			}
			continue // a corrupt task went to the dead letters
		}
		if len(res) != 2 && len(res) != 3 {
			return nil, "", fmt.Errorf("redisq: claim: unexpected reply %v", res)
		}
		if len(res) == 3 {
			if err := b.poisonStuck(ctx, res[2]); err != nil {
				return nil, "", err
			}
		}
		wait, _ := res[1].(int64)
		if wait == 0 {
			continue // something fell due since the script looked
		}
		due := time.Duration(-1) // no deadline: nothing pending, or too far away for a Duration
		if wait > 0 && wait <= math.MaxInt64/int64(time.Microsecond) {
			due = time.Duration(wait) * time.Microsecond
		}
		if woken, err = b.block(ctx, wakes, due); err != nil {
			return nil, "", err
		}
	}
}

// claimKeys returns the KEYS of the claim scripts for queues and claim
// token (with more after the five leading ones) and the queues' wake
// lists.
func (b *Broker) claimKeys(queues []string, token string, more ...string) (keys, wakes []string) {
	keys = make([]string, 0, 5+len(more)+2*len(queues))
	keys = append(keys, b.k.leases, b.k.delayed, b.k.task, b.k.queue, b.k.claim+token)
	keys = append(keys, more...)
	wakes = make([]string, 0, len(queues)+1)
	for _, q := range queues {
		keys = append(keys, b.k.ready(q), b.k.wakeList(q))
		wakes = append(wakes, b.k.wakeList(q))
	}
	return keys, wakes
}

// claimed turns a reply of luaClaim into the claimed task. A task that does
// not decode is failed into the dead letters, and so is an id whose key is
// not a hash; claimed returns a nil task and error then.
func (b *Broker) claimed(ctx context.Context, res []any, token string, queues []string) (*queue.Task, error) {
	kind, _ := res[0].(int64)
	switch {
	case kind == 1 && len(res) == 2+len(claimFields):
		id, _ := res[1].(string)
		f := make(map[string]string, len(claimFields)+1)
		f[fState] = string(queue.StateStarted)
		for i, name := range claimFields {
			if v, ok := res[2+i].(string); ok {
				f[name] = v
			}
		}
		t, derr := decodeTask(id, f)
		if derr == nil {
			return t, nil
		}
		// On error the lease runs out and a later claim tries again.
		return nil, b.poison(ctx, id, token, derr.Error(), f)
	case kind == 2 && len(res) == 3:
		id, _ := res[1].(string)
		i, _ := res[2].(int64)
		q := ""
		if i >= 0 && int(i) < len(queues) {
			q = queues[i]
		}
		return nil, b.deadLetterKey(ctx, id, q)
	}
	return nil, fmt.Errorf("redisq: claim: unexpected reply %v", res)
}

// CompleteAndClaim implements [queue.CompleteClaimer]: in one script (one
// round trip) it does what [Broker.Complete] and then a [Broker.Claim] that
// does not block would do. It completes task id, and if that succeeded and
// a task is claimable at once in queues, claims it for lease and returns
// it with its token (next is nil when none is). Its errors are those of
// Complete, and of Claim for bad queues or lease. A next task that does
// not decode goes to the dead letters, and next is nil; once the
// completion succeeded, CompleteAndClaim returns no error.
//
// A [queue.Worker] uses it, so that each task costs two Redis calls
// (enqueue, complete-and-claim) instead of three. A call the client
// re-sends (after a read timeout) answers as its first run did. When the
// reply is lost for good (an error after the script ran) a next task may
// have been claimed unknown to the caller: its lease runs out and it is
// redelivered, as after a lost worker.
func (b *Broker) CompleteAndClaim(ctx context.Context, id, token string, result json.RawMessage, ttl time.Duration,
	queues []string, lease time.Duration) (next *queue.Task, nextToken string, err error) {
	if err := ttlArg("CompleteAndClaim", ttl); err != nil {
		return nil, "", err
	}
	if err := claimArgs(queues, lease); err != nil {
		return nil, "", err
	}
	if len(result) > 0 && !json.Valid(result) {
		return nil, "", fmt.Errorf("%w: CompleteAndClaim: result is not valid JSON", queue.ErrInvalidArgument)
	}
	if err := b.check(ctx); err != nil {
		return nil, "", err
	}
	nextToken = newToken()
	keys, _ := b.claimKeys(queues, nextToken, b.k.task+id, b.k.claim+token)
	reply, err := b.pipe.run(ctx, completeClaimScript, keys, b.k.changed, id, token, nextToken, string(result),
		millis(ttl), micros(lease), len(queues)).Result()
	if err != nil {
		return nil, "", b.wrap(ctx, "complete task "+id, err)
	}
	if code, ok := reply.(int64); ok { // the completion failed
		return nil, "", settleError("complete", id, code)
	}
	res, _ := reply.([]any)
	if len(res) == 0 {
		return nil, "", fmt.Errorf("redisq: complete and claim: unexpected reply %v", reply)
	}
	if len(res) < 2 {
		return nil, "", nil
	}
	claim, _ := res[1].([]any)
	if len(claim) == 0 {
		return nil, "", fmt.Errorf("redisq: complete and claim: unexpected reply %v", res)
	}
	// The completion is done: an error of the next claim (a corrupt task
	// that could not be dead-lettered stays leased, and is tried again when
	// its lease runs out) must not make the caller complete again.
	if next, _ = b.claimed(ctx, claim, nextToken, queues); next == nil {
		return nil, "", nil
	}
	return next, nextToken, nil
}

// claimArgs checks the queues and lease of a claim.
func claimArgs(queues []string, lease time.Duration) error {
	if len(queues) == 0 {
		return fmt.Errorf("%w: Claim: no queues given", queue.ErrInvalidArgument)
	}
	if lease <= 0 {
		return fmt.Errorf("%w: Claim: lease is %v; want > 0", queue.ErrInvalidArgument, lease)
	}
	for i, q := range queues {
		if q == "" {
			return fmt.Errorf("%w: Claim: queue %d is empty", queue.ErrInvalidArgument, i)
		}
	}
	return nil
}

// block waits until a wake token arrives on one of wakes, until due has
// passed (due < 0: no deadline), or WakeTimeout at most, and returns the
// index in wakes of the list it took a token from (-1 for none). It
// returns early with ctx's error when ctx ends, and with
// [queue.ErrClosed] when the broker closes.
//
// BLPOP cannot be interrupted from the client side, and go-redis ignores
// ctx while a command runs, so the end of ctx, the closing of the broker
// and the due time each push a token onto a private list the BLPOP also
// watches ("poke"). Redis's own BLPOP timeout is the coarse safety net.
func (b *Broker) block(ctx context.Context, wakes []string, due time.Duration) (int, error) {
	limit := WakeTimeout
	if due >= 0 && due < limit {
		limit = due
	}
	wctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	stopClose := context.AfterFunc(b.closing, cancel)
	defer stopClose()

	private := b.k.wake + newToken()
	poked := make(chan struct{})
	stopPoke := context.AfterFunc(wctx, func() {
		defer close(poked)
		b.poke(private)
	})
	// Redis's timeout, in whole seconds (a float timeout is not honoured
	// more precisely than Redis's clock tick): one second past the poke.
	secs := limit.Truncate(time.Second) + 2*time.Second
	got, err := b.rdb.BLPop(ctx, secs, append(wakes, private)...).Result()
	if !stopPoke() {
		<-poked // the poke ran: wait for it, so no goroutine outlives Claim
	}
	if err == nil && (b.closing.Err() != nil || ctx.Err() != nil) {
		if i := slices.Index(wakes, got[0]); i >= 0 {
			b.passOn(wakes[i]) // taken as this claim gave up: not ours to keep
		}
	}
	switch {
	case b.closing.Err() != nil:
		return -1, queue.ErrClosed
	case ctx.Err() != nil:
		return -1, ctx.Err()
	case errors.Is(err, redis.Nil):
		return -1, nil
	case err != nil:
		return -1, b.wrap(ctx, "claim: wait for a task", err)
	}
	return slices.Index(wakes, got[0]), nil
}

// passOn puts back a wake token that a claim took from the wake list as it
// gave up, so that another claim blocked on that queue wakes for the task
// it announces instead of waiting for WakeTimeout. A second token costs a
// claimer one empty look at most.
func (b *Broker) passOn(wake string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = b.rdb.RPush(ctx, wake, 1).Err() // if Redis is gone, WakeTimeout is the fallback
}

// poke pushes a token onto a blocked claim's private list; the list
// expires soon in case the claim already left.
func (b *Broker) poke(list string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, _ = b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.RPush(ctx, list, 1)
		p.PExpire(ctx, list, 10*time.Second)
		return nil
	})
}
