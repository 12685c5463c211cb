package pgq

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/resilience-go/resilience/dlq"
)

var _ dlq.AlertReader = (*DeadLetterStore)(nil)

// windowUS is the window length in whole microseconds that CountFailure
// and FailureCounts key their rows by: at least one microsecond.
func windowUS(window time.Duration) int64 {
	return max(int64(window/time.Microsecond), 1)
}

// failureCountsSQL reads the counts of one window length ($1, in µs) in the
// current window by the database server's clock, the way CountFailure
// numbers it, most first, ties by name in byte order, at most $2 rows. The
// window number is a scalar subquery, evaluated once before the scan, so
// the planner treats it as a constant: with the first two columns of
// failure_counts_top fixed, the index yields rows already in the order
// asked for and the scan stops after $2 of them.
func (s *DeadLetterStore) failureCountsSQL() string {
	return `SELECT name, count, window_no FROM ` + s.n.quoted + `.failure_counts
		WHERE window_us = $1
		AND window_no = (SELECT floor(extract(epoch FROM clock_timestamp()) * 1000000 / $1)::bigint)
		ORDER BY count DESC, name COLLATE "C" LIMIT $2`
}

// FailureCounts implements [dlq.AlertReader]: one index scan of the rows of
// window length window in the window CountFailure would count in now (by
// the database server's clock), reading no more rows than it returns. Its
// cost grows with limit, never with the number of entries or names.
//
// WindowStart is the window number times the window length, both in the
// whole microseconds CountFailure keys its rows by (a window shorter than
// a microsecond is one microsecond), in UTC.
//
// A negative limit or a window <= 0 returns an error wrapping
// [dlq.ErrInvalidArgument] before any statement; limit 0 returns an empty
// slice. A done ctx returns ctx's error; a database that cannot be reached
// returns an error starting "pgq: dead letters: failure counts" that wraps
// the driver's. Safe for concurrent use.
func (s *DeadLetterStore) FailureCounts(ctx context.Context, window time.Duration, limit int) ([]dlq.FailureCount, error) {
	if s.err != nil {
		return nil, s.err
	}
	if err := ctx.Err(); err != nil {
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
	if err := s.mig.ensure(ctx); err != nil {
		return nil, err
	}
	w := windowUS(window)
	rows, err := s.pool.Query(ctx, s.failureCountsSQL(), w, int64(min(limit, math.MaxInt32)))
	if err != nil {
		return nil, s.wrap(ctx, "failure counts", err)
	}
	defer rows.Close()
	out := make([]dlq.FailureCount, 0, min(limit, 64))
	for rows.Next() {
		var fc dlq.FailureCount
		var no int64
		if err := rows.Scan(&fc.TaskName, &fc.Failures, &no); err != nil {
			return nil, s.wrap(ctx, "failure counts", err)
		}
		fc.WindowStart = time.UnixMicro(no * w).UTC()
		out = append(out, fc)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(ctx, "failure counts", err)
	}
	return out, nil
}
