package dlq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Callers branch on them with [errors.Is]; every error this
// package returns for one of these conditions wraps the matching sentinel.
var (
	// ErrNotFound is wrapped by the error of [Store.Get] and [Store.Delete]
	// when no entry has the given task id.
	ErrNotFound = errors.New("dlq: entry not found")

	// ErrInvalidArgument is wrapped by every error that reports bad input: an
	// empty task id, a batch size below 1, a negative offset or limit, a
	// window that is not positive, a nil store. The wrapping message names the
	// field and the allowed range.
	ErrInvalidArgument = errors.New("dlq: invalid argument")
)

// invalid returns an error wrapping [ErrInvalidArgument] with a message that
// says which field was wrong and what is allowed.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidArgument, fmt.Sprintf(format, args...))
}

// Entry is one task that failed for good: its retries were exhausted, its
// error was permanent, or no handler exists for its name. It carries what is
// needed to review the failure and to enqueue the task again.
//
// The JSON form uses snake_case names (task_id, task_name, queue, payload,
// error, trace, failed_at, retries), the form a shared store keeps and the
// HTTP API shows.
type Entry struct {
	// TaskID identifies the entry in a Store; it must not be empty.
	TaskID string `json:"task_id"`
	// TaskName is the name the task was enqueued under; failure counts for
	// alerting are kept per TaskName.
	TaskName string `json:"task_name"`
	// Queue is the queue the task was enqueued on.
	Queue string `json:"queue"`
	// Payload is the task's JSON payload, as enqueued.
	Payload json.RawMessage `json:"payload"`
	// Error is the message of the last attempt's error.
	Error string `json:"error"`
	// Trace is extra diagnostic text, such as the stack of a recovered panic;
	// empty when there is none.
	Trace string `json:"trace"`
	// FailedAt is when the task failed for the last time.
	FailedAt time.Time `json:"failed_at"`
	// Retries is how many retries were made after the first attempt.
	Retries int `json:"retries"`
}

// Store keeps dead-letter entries in push order and counts failures per task
// name for alerting. Implementations are safe for concurrent use, and several
// processes sharing one backing store (Redis) see one queue and one set of
// counts.
//
// Every method returns an error wrapping ctx's error when ctx is already done
// (or ends while a remote store is being asked) and leaves the store
// unchanged in that case when it can tell.
type Store interface {
	// Push adds e as the newest entry. It is idempotent per TaskID: pushing an
	// id that is already stored replaces that entry's contents in place,
	// keeping its position, and leaves Len unchanged. An empty TaskID returns
	// an error wrapping ErrInvalidArgument.
	Push(ctx context.Context, e Entry) error

	// Pop removes and returns up to n entries, oldest first (by push order).
	// An empty store returns an empty slice and a nil error. n < 1 returns an
	// error wrapping ErrInvalidArgument.
	Pop(ctx context.Context, n int) ([]Entry, error)

	// List returns up to limit entries, oldest first, skipping the offset
	// oldest ones, without removing them. limit 0, or an offset at or past
	// the end, returns an empty slice. A negative offset or limit returns an
	// error wrapping ErrInvalidArgument.
	List(ctx context.Context, offset, limit int) ([]Entry, error)

	// Get returns the entry stored under taskID, or an error wrapping
	// ErrNotFound.
	Get(ctx context.Context, taskID string) (Entry, error)

	// Len returns the number of stored entries.
	Len(ctx context.Context) (int, error)

	// Delete removes the entry stored under taskID, or returns an error
	// wrapping ErrNotFound when there is none.
	Delete(ctx context.Context, taskID string) error

	// CountFailure adds one to the failure count of taskName in the current
	// fixed window of length window and returns the new count, so the first
	// failure in a window returns 1. Counts are shared by every user of the
	// same store, which makes "count == threshold" true for exactly one
	// caller per window. Windows are aligned to the Unix epoch: the current
	// window is number floor(now / window), so with a 1h window counts
	// restart at every full hour. A shared store takes now from one clock
	// (for Redis, the server's TIME) so that all its users agree. Counts of
	// one name with different window lengths are independent. A window <= 0
	// returns an error wrapping ErrInvalidArgument.
	CountFailure(ctx context.Context, taskName string, window time.Duration) (int64, error)
}
