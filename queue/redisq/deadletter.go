package redisq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resilience-go/resilience/dlq"
)

// DeadLetterStore is a [dlq.Store] on Redis, shared by every process that
// uses the same Redis and [Options.Prefix]: the entries in push order (a
// sorted set of task ids scored by a push counter, and a hash of entry
// JSON) and the failure counters of [dlq.Recorder] alerts (one hash
// per task name, window length and window number, expiring after its
// window, and one ranking of the task names per window length, for
// [DeadLetterStore.FailureCounts]). Each change is one Lua script.
//
// Failure windows are numbered from the Redis server's clock (TIME), in
// whole microseconds, so all workers agree on them; a window shorter than
// a microsecond counts as one microsecond.
//
// An entry whose JSON in Redis does not decode is returned (not dropped)
// with its TaskID, an Error saying so, and the stored text as its Trace.
// A DeadLetterStore is safe for concurrent use and holds no goroutines.
type DeadLetterStore struct {
	rdb redis.UniversalClient
	k   keys
	err error
}

var _ dlq.Store = (*DeadLetterStore)(nil)

// NewDeadLetterStore returns the dead-letter store of opts.Prefix on rdb.
// A nil rdb or a prefix with braces is kept as an error wrapping
// [dlq.ErrInvalidArgument] that every call returns. Give it the Options of
// the [Broker] its workers use: a task whose data does not decode is
// dead-lettered by the broker into this store.
func NewDeadLetterStore(rdb redis.UniversalClient, opts Options) *DeadLetterStore {
	k, err := newKeys(opts.Prefix)
	if rdb == nil && err == nil {
		err = errors.New("rdb is nil; want a go-redis client")
	}
	if err != nil {
		err = fmt.Errorf("%w: redisq.NewDeadLetterStore: %w", dlq.ErrInvalidArgument, err)
	}
	return &DeadLetterStore{rdb: rdb, k: k, err: err}
}

func (s *DeadLetterStore) check(ctx context.Context) error {
	if s.err != nil {
		return s.err
	}
	return ctx.Err()
}

func (s *DeadLetterStore) wrap(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("redisq: dead letters: %s: %w (%w)", op, cerr, err)
	}
	return fmt.Errorf("redisq: dead letters: %s: %w", op, err)
}

// Push implements [dlq.Store.Push].
func (s *DeadLetterStore) Push(ctx context.Context, e dlq.Entry) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if e.TaskID == "" {
		return fmt.Errorf("%w: Entry.TaskID must not be empty", dlq.ErrInvalidArgument)
	}
	if len(e.Payload) > 0 && !json.Valid(e.Payload) {
		return fmt.Errorf("%w: Entry.Payload of task %s is not valid JSON", dlq.ErrInvalidArgument, e.TaskID)
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("%w: Entry of task %s does not marshal: %w", dlq.ErrInvalidArgument, e.TaskID, err)
	}
	err = dlqPushScript.Run(ctx, s.rdb, []string{s.k.dlqOrder, s.k.dlqEntries, s.k.dlqSeq}, e.TaskID, raw).Err()
	if err != nil {
		return s.wrap(ctx, "push "+e.TaskID, err)
	}
	return nil
}

// Pop implements [dlq.Store.Pop].
func (s *DeadLetterStore) Pop(ctx context.Context, n int) ([]dlq.Entry, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if n < 1 {
		return nil, fmt.Errorf("%w: Pop n must be >= 1, got %d", dlq.ErrInvalidArgument, n)
	}
	res, err := dlqPopScript.Run(ctx, s.rdb, []string{s.k.dlqOrder, s.k.dlqEntries}, n).Slice()
	if err != nil {
		return nil, s.wrap(ctx, "pop", err)
	}
	return decodeEntries(res), nil
}

// MaxListBytes bounds the stored size of the entries one
// [DeadLetterStore.List] returns: 200 entries of 1 MiB would otherwise make
// one call (and one HTTP request of the dead-letter API) allocate over a
// GiB.
const MaxListBytes = 8 << 20

// List implements [dlq.Store.List]. It returns fewer than limit entries
// when the next one would take the stored JSON of the page past
// [MaxListBytes] (but always the first one, however large): page on from
// offset+len(entries).
func (s *DeadLetterStore) List(ctx context.Context, offset, limit int) ([]dlq.Entry, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if offset < 0 || limit < 0 {
		return nil, fmt.Errorf("%w: List offset and limit must be >= 0, got %d and %d", dlq.ErrInvalidArgument, offset, limit)
	}
	if limit == 0 {
		return []dlq.Entry{}, nil
	}
	last := offset + limit - 1
	if limit-1 > math.MaxInt-offset {
		last = math.MaxInt // saturate: there are never that many entries
	}
	res, err := dlqListScript.Run(ctx, s.rdb, []string{s.k.dlqOrder, s.k.dlqEntries},
		strconv.Itoa(offset), strconv.Itoa(last), MaxListBytes).Slice()
	if err != nil {
		return nil, s.wrap(ctx, "list", err)
	}
	return decodeEntries(res), nil
}

// Get implements [dlq.Store.Get].
func (s *DeadLetterStore) Get(ctx context.Context, taskID string) (dlq.Entry, error) {
	if err := s.check(ctx); err != nil {
		return dlq.Entry{}, err
	}
	raw, err := s.rdb.HGet(ctx, s.k.dlqEntries, taskID).Result()
	if errors.Is(err, redis.Nil) {
		return dlq.Entry{}, fmt.Errorf("%w: task %s", dlq.ErrNotFound, taskID)
	}
	if err != nil {
		return dlq.Entry{}, s.wrap(ctx, "get "+taskID, err)
	}
	return decodeEntry(taskID, raw), nil
}

// Len implements [dlq.Store.Len].
func (s *DeadLetterStore) Len(ctx context.Context) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	n, err := s.rdb.ZCard(ctx, s.k.dlqOrder).Result()
	if err != nil {
		return 0, s.wrap(ctx, "len", err)
	}
	return int(n), nil
}

// Delete implements [dlq.Store.Delete].
func (s *DeadLetterStore) Delete(ctx context.Context, taskID string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	n, err := dlqDeleteScript.Run(ctx, s.rdb, []string{s.k.dlqOrder, s.k.dlqEntries}, taskID).Int()
	if err != nil {
		return s.wrap(ctx, "delete "+taskID, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: task %s", dlq.ErrNotFound, taskID)
	}
	return nil
}

// CountFailure implements [dlq.Store.CountFailure]: HINCRBY of the field
// <window number> of the hash "{prefix}:dlq:fail:<window µs>:<task name>",
// which drops older windows when a window starts and expires one second
// after its window ends. The window number is floor(now / window) with now
// from the Redis server's clock. The same script updates the ranking that
// [DeadLetterStore.FailureCounts] reads.
func (s *DeadLetterStore) CountFailure(ctx context.Context, taskName string, window time.Duration) (int64, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	if window <= 0 {
		return 0, fmt.Errorf("%w: CountFailure window must be > 0, got %v", dlq.ErrInvalidArgument, window)
	}
	w := micros(window)
	key := s.k.dlqFail + strconv.FormatInt(w, 10) + ":" + taskName
	rank, win := s.k.rankKeys(w)
	n, err := countScript.Run(ctx, s.rdb, []string{key, rank, win}, w, taskName).Int64()
	if err != nil {
		return 0, s.wrap(ctx, "count failure of "+taskName, err)
	}
	return n, nil
}

// decodeEntries decodes the {id, json, ...} reply of the pop and list
// scripts.
func decodeEntries(res []any) []dlq.Entry {
	out := make([]dlq.Entry, 0, len(res)/2)
	for i := 0; i+1 < len(res); i += 2 {
		id, _ := res[i].(string)
		raw, _ := res[i+1].(string)
		out = append(out, decodeEntry(id, raw))
	}
	return out
}

// decodeEntry decodes a stored entry; one that does not decode comes back
// with its id, an error saying so, and the stored text as the trace.
func decodeEntry(id, raw string) dlq.Entry {
	var e dlq.Entry
	if err := json.Unmarshal([]byte(raw), &e); err != nil {
		return dlq.Entry{TaskID: id, Error: fmt.Sprintf("redisq: dead letter in Redis does not decode: %v", err), Trace: raw}
	}
	e.TaskID = id
	return e
}
