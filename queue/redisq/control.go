package redisq

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resilience-go/resilience/queue"
)

// The control and inspection half of [Broker]: it is a [queue.Canceler], a
// [queue.Pauser] and a [queue.Inspector]. Each queue keeps, beside its
// ready list, one sorted set per state (PENDING split into ready and
// SCHEDULED) of its task ids scored by enqueue time, moved in the same
// script as every state change: Stats counts them (ZCARD), List pages
// through them (ZREVRANGE). Done tasks also sit in the queue's done set,
// scored by when their result expires; Recover drops the expired ones
// from the indexes (Redis removes their hashes by itself).

var (
	_ queue.Canceler  = (*Broker)(nil)
	_ queue.Pauser    = (*Broker)(nil)
	_ queue.Inspector = (*Broker)(nil)
)

// Cancel implements [queue.Canceler]: one script, so an unreachable Redis
// changes nothing and returns the connection error wrapped. A running
// task's worker learns of it from the change announced on the changed
// channel (Changed fires), and, if it missed that, from its next Renew or
// Progress, which return an error wrapping [queue.ErrRevoked].
func (b *Broker) Cancel(ctx context.Context, id string, ttl time.Duration) (*queue.Task, error) {
	if err := ttlArg("Cancel", ttl); err != nil {
		return nil, err
	}
	if id == "" {
		return nil, fmt.Errorf("%w: Cancel: task id is empty", queue.ErrInvalidArgument)
	}
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	for range 3 {
		q, err := b.queueOf(ctx, "", id)
		if err != nil {
			return nil, b.wrap(ctx, "cancel task "+id, err)
		}
		qk := b.k.q(q)
		keys := append([]string{b.k.task + id, qk.delayed, qk.done}, qk.idx[:]...)
		res, err := b.pipe.run(ctx, cancelScript, keys, b.k.changed, id, q, millis(ttl)).Slice()
		if err != nil {
			return nil, b.wrap(ctx, "cancel task "+id, err)
		}
		switch code, _ := res[0].(int64); {
		case code == codeOK && len(res) == 2:
			f, err := fieldMap(res[1])
			if err != nil {
				return nil, fmt.Errorf("redisq: cancel task %s: %w", id, err)
			}
			t, err := decodeTask(id, f)
			if err != nil {
				return nil, fmt.Errorf("redisq: cancel task %s: %w", id, err)
			}
			return t, nil
		case code == codeNotFound:
			return nil, queue.ErrTaskNotFound
		case code == codeNotHash:
			return nil, fmt.Errorf("redisq: cancel task %s: %w: its key is not a hash", id, ErrCorruptTask)
		case code == codeMoved:
			continue
		default:
			return nil, fmt.Errorf("redisq: cancel task %s: unexpected reply %v", id, res)
		}
	}
	return nil, fmt.Errorf("redisq: cancel task %s: its queue keeps changing", id)
}

// SetPaused implements [queue.Pauser]: one script, so an unreachable Redis
// changes nothing and returns the connection error wrapped. Claims of
// every process skip a paused queue; resuming it wakes a claim blocked on
// it, which passes the wake-up on to the next while the queue has tasks.
func (b *Broker) SetPaused(ctx context.Context, q string, paused bool) error {
	if err := checkQueueName("SetPaused", q); err != nil {
		return err
	}
	if err := b.check(ctx); err != nil {
		return err
	}
	flag := "0"
	if paused {
		flag = "1"
	}
	err := b.pipe.run(ctx, pauseScript, []string{b.k.paused, b.k.queues, b.k.wakeList(q)}, q, flag).Err()
	return b.wrap(ctx, "pause queue "+q, err)
}

// Stats implements [queue.Inspector]: a read of the set of queue names,
// then one script that counts every queue's indexes (ZCARD), so its cost
// grows with the number of queues, not of tasks. The script first brings
// each queue up to date as a claim would: it drops the done tasks whose
// results expired and moves the delayed tasks whose time came to the
// ready list (at most 1,000 and 100 per queue and call).
func (b *Broker) Stats(ctx context.Context) ([]queue.QueueStats, error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	names, err := b.rdb.SMembers(ctx, b.k.queues).Result()
	if err != nil {
		return nil, b.wrap(ctx, "stats", err)
	}
	slices.Sort(names)
	keys := make([]string, 0, 1+12*len(names))
	keys = append(keys, b.k.paused)
	args := make([]any, len(names))
	for i, q := range names {
		keys = append(keys, b.k.q(q).group()...)
		args[i] = q
	}
	res := []int64{}
	if len(names) > 0 {
		if res, err = b.pipe.run(ctx, statsScript, keys, args...).Int64Slice(); err != nil {
			return nil, b.wrap(ctx, "stats", err)
		}
	}
	if len(res) != 9*len(names) {
		return nil, fmt.Errorf("redisq: stats: unexpected reply %v", res)
	}
	out := make([]queue.QueueStats, 0, len(names))
	for i, q := range names {
		n := res[9*i : 9*i+9]
		total := int64(0)
		for _, c := range n[:8] {
			total += c
		}
		if total == 0 && n[8] == 0 {
			continue
		}
		out = append(out, queue.QueueStats{
			Queue: q, Paused: n[8] == 1, Pending: n[0], Scheduled: n[1], Active: n[2] + n[3],
			Retry: n[4], Succeeded: n[5], Failed: n[6], Revoked: n[7],
		})
	}
	return out, nil
}

// List implements [queue.Inspector]: it reads the first Offset+Limit ids
// of each index that opts selects (ZREVRANGE, newest first, ties by id
// descending), merges them, and reads the tasks of the page. A task that
// changed state between the two reads is returned as it is now, or left
// out when it no longer matches opts.State or is gone.
func (b *Broker) List(ctx context.Context, opts queue.ListOptions) ([]*queue.Task, error) {
	if opts.Limit < 1 || opts.Limit > queue.MaxListLimit || opts.Offset < 0 {
		return nil, fmt.Errorf("%w: List: offset %d and limit %d; want offset >= 0 and limit 1 to %d",
			queue.ErrInvalidArgument, opts.Offset, opts.Limit, queue.MaxListLimit)
	}
	if opts.State != "" && !opts.State.Valid() {
		return nil, fmt.Errorf("%w: List: state %q does not exist", queue.ErrInvalidArgument, opts.State)
	}
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	if opts.Queue != "" {
		if err := checkQueueName("List", opts.Queue); err != nil {
			return nil, err
		}
	}
	names := []string{opts.Queue}
	if opts.Queue == "" {
		var err error
		if names, err = b.rdb.SMembers(ctx, b.k.queues).Result(); err != nil {
			return nil, b.wrap(ctx, "list", err)
		}
	}
	var idx []string
	for _, q := range names {
		for j, key := range b.k.q(q).idx {
			if opts.State == "" || string(opts.State) == idxStates[j] ||
				(opts.State == queue.StatePending && idxStates[j] == "SCHEDULED") {
				idx = append(idx, key)
			}
		}
	}
	ids, err := b.newest(ctx, idx, opts.Offset+opts.Limit)
	if err != nil {
		return nil, b.wrap(ctx, "list", err)
	}
	if opts.Offset >= len(ids) {
		return []*queue.Task{}, nil
	}
	ids = ids[opts.Offset:]
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err = b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, b.k.task+id)
		}
		return nil
	})
	if err != nil && !redis.HasErrorPrefix(err, "WRONGTYPE") {
		return nil, b.wrap(ctx, "list", err)
	}
	out := make([]*queue.Task, 0, len(ids))
	for i, c := range cmds {
		f := c.Val()
		if len(f) == 0 {
			continue
		}
		t, err := decodeTask(ids[i], f)
		if err != nil || (opts.State != "" && t.State != opts.State) || (opts.Queue != "" && t.Queue != opts.Queue) {
			continue
		}
		out = append(out, t)
	}
	return out, nil
}

// newest returns the first n ids of the merge of the index sets keys,
// newest first (by score, then by id, both descending), each id once.
func (b *Broker) newest(ctx context.Context, keys []string, n int) ([]string, error) {
	cmds := make([]*redis.ZSliceCmd, len(keys))
	_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, key := range keys {
			cmds[i] = p.ZRevRangeWithScores(ctx, key, 0, int64(n-1))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var all []redis.Z
	for _, c := range cmds {
		all = append(all, c.Val()...)
	}
	slices.SortFunc(all, func(a, b redis.Z) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return strings.Compare(fmt.Sprint(b.Member), fmt.Sprint(a.Member))
	})
	ids := make([]string, 0, min(n, len(all)))
	seen := make(map[string]bool, len(all))
	for _, z := range all {
		id, _ := z.Member.(string)
		if seen[id] {
			continue
		}
		seen[id] = true
		if ids = append(ids, id); len(ids) == n {
			break
		}
	}
	return ids, nil
}

// checkQueueName checks a queue name as package queue does
// ([queue.CheckQueueName]), naming the broker call op.
func checkQueueName(op, q string) error {
	if err := queue.CheckQueueName(q); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}
