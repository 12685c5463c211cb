package redisq

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/resilience-go/resilience/dlq"
)

// The failure counts of one window length are also kept ranked, so that
// [DeadLetterStore.FailureCounts] reads the names with most failures without
// visiting every counter:
//
//	{P}:dlq:rank:<w>          sorted set: task name -> minus its failures in the current window of w µs
//	{P}:dlq:rank:<w>:window   the number of the window the sorted set counts
//
// Minus the count as the score makes ZRANGE 0..limit-1 answer most
// failures first, and Redis orders equal scores by member in byte order,
// which is the tie order [dlq.AlertReader] asks for. countScript updates the
// ranking in the same script as the counter it mirrors, so the two never
// disagree; the first count of a new window drops the previous window's
// ranking (once per window, in proportion to the names it held).

var _ dlq.AlertReader = (*DeadLetterStore)(nil)

// rankKeys returns the ranking of window length w (µs) and the key holding
// the number of the window that ranking counts.
func (k keys) rankKeys(w int64) (rank, window string) {
	rank = k.tag + ":dlq:rank:" + strconv.FormatInt(w, 10)
	return rank, rank + ":window"
}

// luaRank is the tail of countScript: KEYS[2] the ranking, KEYS[3] its
// window number; field is the current window number, n the new count of
// the task name ARGV[2], expireAt when the keys expire (ms).
const luaRank = `
if redis.call('GET', KEYS[3]) ~= field then
  redis.call('DEL', KEYS[2])
  redis.call('SET', KEYS[3], field)
end
redis.call('ZADD', KEYS[2], -n, ARGV[2])
redis.call('PEXPIREAT', KEYS[2], expireAt)
redis.call('PEXPIREAT', KEYS[3], expireAt)
`

// failureCountsScript: KEYS[1] the ranking of one window length, KEYS[2]
// its window number; ARGV[1] the window (µs), ARGV[2] the last rank to
// return (limit-1). Returns {current window number, name, -count, ...}: no
// names when the ranking belongs to an older window (or does not exist).
var failureCountsScript = newScript(luaTime + `
local field = string.format('%.0f', math.floor(t / tonumber(ARGV[1])))
if redis.call('GET', KEYS[2]) ~= field then return {field} end
local out = redis.call('ZRANGE', KEYS[1], 0, ARGV[2], 'WITHSCORES')
table.insert(out, 1, field)
return out
`)

// FailureCounts implements [dlq.AlertReader]: the counts that
// [DeadLetterStore.CountFailure] with this window length made in the
// current window by the Redis server's clock, most failures first, ties by
// task name in byte order, at most limit of them. It is one script of
// O(log c + limit) for the c task names counted in the window, whatever the
// number of entries.
//
// limit 0 returns an empty slice and a negative limit or a window <= 0 an
// error wrapping [dlq.ErrInvalidArgument], all without calling Redis. A
// done ctx returns its error; a Redis error (Redis down) is returned
// wrapped, saying what was being read.
//
// Counts made before this method existed (by an older version of this
// package) are not ranked: they appear from the next failure of their task
// name, with the full count of the window.
func (s *DeadLetterStore) FailureCounts(ctx context.Context, window time.Duration, limit int) ([]dlq.FailureCount, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if window <= 0 {
		return nil, fmt.Errorf("%w: FailureCounts window must be > 0, got %v", dlq.ErrInvalidArgument, window)
	}
	if limit < 0 {
		return nil, fmt.Errorf("%w: FailureCounts limit must be >= 0, got %d", dlq.ErrInvalidArgument, limit)
	}
	if limit == 0 {
		return []dlq.FailureCount{}, nil
	}
	w := micros(window)
	rank, win := s.k.rankKeys(w)
	op := "failure counts of window " + window.String()
	res, err := failureCountsScript.Run(ctx, s.rdb, []string{rank, win}, w, strconv.Itoa(limit-1)).StringSlice()
	if err != nil {
		return nil, s.wrap(ctx, op, err)
	}
	out, err := decodeFailureCounts(res, w)
	if err != nil {
		return nil, s.wrap(ctx, op, err)
	}
	return out, nil
}

// decodeFailureCounts decodes the reply of failureCountsScript for windows
// of w µs.
func decodeFailureCounts(res []string, w int64) ([]dlq.FailureCount, error) {
	if len(res)%2 != 1 {
		return nil, fmt.Errorf("unexpected reply of %d values; want the window number and name-score pairs", len(res))
	}
	idx, err := strconv.ParseInt(res[0], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("window number %q in the reply: %w", res[0], err)
	}
	start := time.UnixMicro(idx * w).UTC()
	out := make([]dlq.FailureCount, 0, len(res)/2)
	for i := 1; i+1 < len(res); i += 2 {
		score, err := strconv.ParseFloat(res[i+1], 64)
		if err != nil {
			return nil, fmt.Errorf("score %q of task name %q in the ranking: %w", res[i+1], res[i], err)
		}
		out = append(out, dlq.FailureCount{TaskName: res[i], Failures: int64(-score), WindowStart: start})
	}
	return out, nil
}
