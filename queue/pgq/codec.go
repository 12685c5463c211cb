package pgq

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/resilience-go/resilience/queue"
)

// taskColumns are the columns a task is read from, in scan order.
var taskColumns = []string{
	"id", "name", "queue", "payload", "headers", "state", "max_retries", "attempt", "retries", "redeliveries",
	"progress_current", "progress_total", "progress_status", "result", "error",
	"enqueued_at", "not_before", "started_at", "finished_at", "expires_at", "cancel_requested",
}

// columns returns taskColumns joined by commas, each prefixed by prefix
// (such as "t." or "(c.task)."), for a select list.
func columns(prefix string) string {
	var b strings.Builder
	for i, c := range taskColumns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(prefix)
		b.WriteString(c)
	}
	return b.String()
}

// row is a task as stored, before it is checked.
type row struct {
	id, name, queue, state, errMsg string
	payload, headers, result       []byte
	maxRetries, attempt, retries   int
	redeliveries                   int
	progCur, progTotal             *int64
	progStatus                     *string
	enqueued                       time.Time
	notBefore, started, finished   *time.Time
	expires                        *time.Time
	cancelRequested                bool
}

// dest returns the scan destinations of taskColumns, plus more.
func (r *row) dest(more ...any) []any {
	return append([]any{&r.id, &r.name, &r.queue, &r.payload, &r.headers, &r.state, &r.maxRetries, &r.attempt,
		&r.retries, &r.redeliveries, &r.progCur, &r.progTotal, &r.progStatus, &r.result, &r.errMsg,
		&r.enqueued, &r.notBefore, &r.started, &r.finished, &r.expires, &r.cancelRequested}, more...)
}

// scanTask scans one row of taskColumns.
func scanTask(s pgx.Row) (*row, error) {
	var r row
	if err := s.Scan(r.dest()...); err != nil {
		return nil, err
	}
	return &r, nil
}

// task decodes the row, or returns an error wrapping [ErrCorruptTask]
// saying what does not decode.
func (r *row) task() (*queue.Task, error) {
	t := &queue.Task{
		ID: r.id, Name: r.name, Queue: r.queue, State: queue.State(r.state), Error: r.errMsg,
		MaxRetries: r.maxRetries, Attempt: r.attempt, Retries: r.retries, Redeliveries: r.redeliveries,
		EnqueuedAt: r.enqueued, NotBefore: timeOf(r.notBefore), StartedAt: timeOf(r.started),
		FinishedAt: timeOf(r.finished), ExpiresAt: timeOf(r.expires), CancelRequested: r.cancelRequested,
	}
	if !t.State.Valid() {
		return nil, fmt.Errorf("%w: task %s has state %q, which does not exist", ErrCorruptTask, r.id, r.state)
	}
	if len(r.payload) > 0 {
		if !json.Valid(r.payload) {
			return nil, fmt.Errorf("%w: the payload of task %s is not valid JSON", ErrCorruptTask, r.id)
		}
		t.Payload = json.RawMessage(r.payload)
	}
	if len(r.result) > 0 {
		if !json.Valid(r.result) {
			return nil, fmt.Errorf("%w: the result of task %s is not valid JSON", ErrCorruptTask, r.id)
		}
		t.Result = json.RawMessage(r.result)
	}
	if len(r.headers) > 0 && string(r.headers) != "null" {
		if err := json.Unmarshal(r.headers, &t.Headers); err != nil {
			return nil, fmt.Errorf("%w: the headers of task %s are not an object of strings: %v", ErrCorruptTask, r.id, err)
		}
	}
	if r.progCur != nil || r.progTotal != nil || r.progStatus != nil {
		p := queue.Progress{}
		if r.progCur != nil {
			p.Current = *r.progCur
		}
		if r.progTotal != nil {
			p.Total = *r.progTotal
		}
		if r.progStatus != nil {
			p.Status = *r.progStatus
		}
		t.Progress = &p
	}
	return t, nil
}

func timeOf(p *time.Time) time.Time {
	if p == nil {
		return time.Time{}
	}
	return *p
}

// Bounds of the times the broker stores: PostgreSQL counts to the year
// 294276, but a time past the year 9999 does not survive every client,
// so later times are stored as the end of 9999 and earlier ones as the
// year 1.
var (
	latestTime   = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
	earliestTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
)

// dbTime returns t for a timestamptz parameter: nil for the zero time,
// saturated to the stored range, and rounded up to a whole microsecond
// (PostgreSQL's resolution), so that a NotBefore is never honoured early.
func dbTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	switch {
	case t.After(latestTime):
		return latestTime
	case t.Before(earliestTime):
		return earliestTime
	}
	if r := t.Truncate(time.Microsecond); r.Before(t) {
		t = r.Add(time.Microsecond)
	}
	return t
}

// micros returns d in whole microseconds, rounded up, at least 1: the
// lease and TTL parameters of the SQL. Huge durations stay in range:
// the largest time.Duration is about 292 years.
func micros(d time.Duration) int64 {
	us := int64(d / time.Microsecond)
	if d%time.Microsecond != 0 {
		us++
	}
	return max(us, 1)
}

// headersArg encodes headers for the jsonb column (nil when there are none).
func headersArg(h map[string]string) (any, error) {
	if h == nil {
		return nil, nil
	}
	raw, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	return string(raw), nil
}

// rawArg passes JSON bytes to a bytea column: nil when empty.
func rawArg(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return []byte(b)
}
