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
	wakes := make([]string, len(queues))
	for i, q := range queues {
		wakes[i] = b.k.wakeList(q)
	}
	woken := -1   // the queue whose wake token woke this claim
	wokenBy := "" // that token: the id of the task it announced, a guess
	if due, ok := b.idle.take(queues, time.Now()); ok {
		// A CompleteAndClaim found these queues empty a moment ago.
		var err error
		if woken, wokenBy, err = b.block(ctx, wakes, due); err != nil {
			return nil, "", err
		}
	}
	for {
		if err := b.check(ctx); err != nil {
			if woken >= 0 {
				b.passOn(wakes[woken], wokenBy)
			}
			return nil, "", err
		}
		token := newToken()
		keys, names, hint, hq := b.takeArgs(queues, token, []string{b.k.leases}, woken, wokenBy)
		args := append([]any{b.k.changed, token, micros(lease), len(queues), woken, hint, hq}, names...)
		res, err := b.pipe.run(ctx, takeScript, keys, args...).Slice()
		if err != nil {
			return nil, "", b.wrap(ctx, "claim", err)
		}
		woken = -1
		if tk, ok := b.took(res, queues); ok {
			t, err := b.startTaken(ctx, tk, token, lease)
			if t != nil || err != nil {
				return t, token, err
			}
			continue // a stale entry, or a corrupt task sent to the dead letters
		}
		if len(res) != 3 {
			return nil, "", fmt.Errorf("redisq: claim: unexpected reply %v", res)
		}
		if due, _ := res[2].(int64); due == 1 {
			if _, _, err := b.expireDue(ctx, expireBatch); err != nil {
				return nil, "", b.wrap(ctx, "claim: recover", err)
			}
			continue
		}
		wait, _ := res[1].(int64)
		if wait == 0 {
			continue // something fell due since the script looked
		}
		due := time.Duration(-1) // no deadline: nothing pending, or too far away for a Duration
		if wait > 0 && wait <= math.MaxInt64/int64(time.Microsecond) {
			due = time.Duration(wait) * time.Microsecond
		}
		if woken, wokenBy, err = b.block(ctx, wakes, due); err != nil {
			return nil, "", err
		}
	}
}

// takeArgs returns the KEYS of a take (after more) for queues and claim
// token, the queue names for its ARGV, and a guess of the id it will take
// (with its queue index, -1 for none), whose task key ends the KEYS. The
// guess is wokenBy, the wake token that woke the claim (the id of the task
// it announced) from queue woken, when there is one; else the hints'.
func (b *Broker) takeArgs(queues []string, token string, more []string, woken int, wokenBy string) (keys []string, names []any, hint string, hq int) {
	keys = make([]string, 0, len(more)+3+7*len(queues))
	keys = append(keys, more...)
	keys = append(keys, b.k.claimRec(token), b.k.paused)
	names = make([]any, len(queues))
	hq = -1
	if woken >= 0 && woken < len(queues) && wokenBy != "" {
		hint, hq = wokenBy, woken
	}
	for i, q := range queues {
		qk := b.k.q(q)
		keys = append(keys, qk.ready, qk.wake, qk.delayed, qk.idx[1], qk.idx[0], qk.idx[4], qk.idx[2])
		names[i] = q
		if hq < 0 {
			if hint = b.hints.next(q); hint != "" {
				hq = i
			}
		}
	}
	if hint != "" {
		keys = append(keys, b.k.task+hint)
	}
	return keys, names, hint, hq
}

// taken is a task a take reserved (fields nil) or started.
type taken struct {
	id, q  string
	fields []any
}

// took reads the {1, id, i, hints} or {7, id, i, hints, claimFields...}
// reply of luaTake, keeping the hints for later claims.
func (b *Broker) took(res []any, queues []string) (taken, bool) {
	if len(res) < 4 {
		return taken{}, false
	}
	kind, _ := res[0].(int64)
	id, _ := res[1].(string)
	i, _ := res[2].(int64)
	if (kind != 1 && kind != 7) || i < 0 || int(i) >= len(queues) {
		return taken{}, false
	}
	tk := taken{id: id, q: queues[i]}
	if hints, _ := res[3].([]any); len(hints) > 0 {
		b.hints.set(tk.q, hints)
	}
	if kind == 7 {
		tk.fields = res[4:]
	}
	return tk, true
}

// startTaken returns the task of tk: started by the take already, or
// started now.
func (b *Broker) startTaken(ctx context.Context, tk taken, token string, lease time.Duration) (*queue.Task, error) {
	if tk.fields == nil {
		return b.start(ctx, tk.id, tk.q, token, lease)
	}
	return b.started(ctx, tk.id, tk.q, token, tk.fields)
}

// started decodes the claimFields of a task started under token; one that
// does not decode goes to the dead letters (nil task and error then).
func (b *Broker) started(ctx context.Context, id, q, token string, res []any) (*queue.Task, error) {
	if len(res) != len(claimFields) {
		return nil, fmt.Errorf("redisq: claim task %s: unexpected reply %v", id, res)
	}
	f := make(map[string]string, len(claimFields)+1)
	f[fState] = string(queue.StateStarted)
	for i, name := range claimFields {
		if v, ok := res[i].(string); ok {
			f[name] = v
		}
	}
	t, derr := decodeTask(id, f)
	if derr != nil {
		return nil, b.poison(ctx, id, token, derr.Error(), f, false)
	}
	b.held.Store(token, q)
	return t, nil
}

// start moves task id, reserved by a take for token, to STARTED and
// returns it. It returns a nil task and error for a stale entry, and for a
// task that does not decode, which it fails into the dead letters, as it
// does an id whose key is not a hash.
func (b *Broker) start(ctx context.Context, id, q, token string, lease time.Duration) (*queue.Task, error) {
	for range 3 {
		qk := b.k.q(q)
		res, err := b.pipe.run(ctx, startScript,
			[]string{b.k.leases, b.k.claimRec(token), b.k.task + id, qk.idx[0], qk.idx[4], qk.idx[2]},
			b.k.changed, id, token, micros(lease), q).Slice()
		if err != nil {
			return nil, b.wrap(ctx, "claim task "+id, err)
		}
		kind, _ := res[0].(int64)
		switch {
		case kind == 0:
			return nil, nil
		case kind == 1:
			return b.started(ctx, id, q, token, res[1:])
		case kind == 2:
			return nil, b.deadLetterKey(ctx, id, q)
		case kind == 3 && len(res) == 2:
			f, err := fieldMap(res[1])
			if err != nil {
				return nil, err
			}
			return nil, b.poison(ctx, id, token, "", f, true)
		case kind == 5 && len(res) == 2:
			q, _ = res[1].(string)
			continue
		}
		return nil, fmt.Errorf("redisq: claim task %s: unexpected reply %v", id, res)
	}
	return nil, fmt.Errorf("redisq: claim task %s: its queue keeps changing", id)
}

// CompleteAndClaim implements [queue.CompleteClaimer]: in one script (one
// round trip) it does what [Broker.Complete] and the first half of a
// [Broker.Claim] that does not block would do, and then starts the task it
// took (a second round trip). It completes task id, and if that succeeded
// and a task is claimable at once in queues, claims it for lease and
// returns it with its token (next is nil when none is). Its errors are
// those of Complete, and of Claim for bad queues or lease. A next task that
// does not decode goes to the dead letters, and next is nil; once the
// completion succeeded, CompleteAndClaim returns no error.
//
// A call the client re-sends (after a read timeout) answers as its first
// run did. When the reply is lost for good (an error after the script
// ran) a next task may have been reserved unknown to the caller: its lease
// runs out and it is claimable again, as after a lost worker.
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
	var reply any
	for range 3 {
		q, err := b.queueOf(ctx, token, id)
		if err != nil {
			return nil, "", b.wrap(ctx, "complete task "+id, err)
		}
		keys, names, hint, hq := b.takeArgs(queues, nextToken, b.settleKeys(id, token, q), -1, "")
		args := append([]any{b.k.changed, id, token, nextToken, q, string(result), millis(ttl), micros(lease), len(queues),
			hint, hq}, names...)
		reply, err = b.pipe.run(ctx, completeTakeScript, keys, args...).Result()
		if err != nil {
			return nil, "", b.wrap(ctx, "complete task "+id, err)
		}
		if code, ok := reply.(int64); ok && code == codeMoved {
			b.held.Delete(token)
			continue
		}
		break
	}
	b.held.Delete(token)
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
	reply2, _ := res[1].([]any)
	if len(reply2) == 3 {
		if kind, _ := reply2[0].(int64); kind == 0 {
			if due, _ := reply2[2].(int64); due == 0 {
				wait, _ := reply2[1].(int64)
				b.idle.note(queues, time.Now(), wait)
			}
			return nil, "", nil
		}
	}
	tk, ok := b.took(reply2, queues)
	if !ok {
		return nil, "", fmt.Errorf("redisq: complete and claim: unexpected reply %v", res)
	}
	// The completion is done: an error of the start (a corrupt task that
	// could not be dead-lettered stays reserved, and is tried again when
	// its lease runs out) must not make the caller complete again.
	if next, _ = b.startTaken(ctx, tk, nextToken, lease); next == nil {
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
// index in wakes of the list it took a token from (-1 for none) and the
// token (the id of the task it announced, a guess for the take). It
// returns early with ctx's error when ctx ends, and with
// [queue.ErrClosed] when the broker closes.
//
// BLPOP cannot be interrupted from the client side, and go-redis ignores
// ctx while a command runs, so the end of ctx, the closing of the broker
// and the due time each push a token onto a private list the BLPOP also
// watches ("poke"). Redis's own BLPOP timeout is the coarse safety net.
func (b *Broker) block(ctx context.Context, wakes []string, due time.Duration) (int, string, error) {
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
			b.passOn(wakes[i], got[1]) // taken as this claim gave up: not ours to keep
		}
	}
	switch {
	case b.closing.Err() != nil:
		return -1, "", queue.ErrClosed
	case ctx.Err() != nil:
		return -1, "", ctx.Err()
	case errors.Is(err, redis.Nil):
		return -1, "", nil
	case err != nil:
		return -1, "", b.wrap(ctx, "claim: wait for a task", err)
	}
	i := slices.Index(wakes, got[0])
	if i < 0 || len(got) < 2 {
		return i, "", nil
	}
	return i, got[1], nil
}

// passOn puts back a wake token that a claim took from the wake list as it
// gave up, so that another claim blocked on that queue wakes for the task
// it announces instead of waiting for WakeTimeout. A second token costs a
// claimer one empty look at most.
func (b *Broker) passOn(wake, token string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = b.rdb.RPush(ctx, wake, token).Err() // if Redis is gone, WakeTimeout is the fallback
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
