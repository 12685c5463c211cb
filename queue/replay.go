package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/resilience-go/resilience/dlq"
)

// replaySuffix separates a dead task's id from the replay number in the id
// of its replay: "abc" is replayed as "abc-replay-1", which, should it die
// too, is replayed as "abc-replay-2".
const replaySuffix = "-replay-"

// maxReplayProbes bounds how many derived ids Replay tries when it finds
// older, unrelated tasks under them, before it falls back to a random id.
const maxReplayProbes = 8

// Replay enqueues the task of the dead-letter entry stored under taskID
// again, then deletes the entry. The new task has the entry's name, queue
// (DefaultQueue when the entry has none) and payload, and fresh attempts
// (Attempt, Retries and Redeliveries 0). Its MaxRetries is
// [DefaultRetries]: an entry does not record the dead task's own cap, so
// the worker's retry policy decides.
//
// The replay gets a new id derived from the entry's: "<id>-replay-1", or
// "<base>-replay-<N+1>" when the entry's id is itself "<base>-replay-<N>".
// The dead task's own id cannot be reused: the broker keeps the FAILURE
// task under it for the result TTL, and enqueueing that id again would
// return the dead task (see [WithTaskID]). Because the new id is derived,
// Replay is idempotent: replaying the same entry twice (two concurrent
// calls, or a second call after the entry could not be deleted) enqueues
// one task and returns it both times, as long as the broker holds it. A
// task found under the derived id that is not a replay of this entry
// (another name, or enqueued before the entry's FailedAt: a leftover of an
// earlier generation of the same id) is left alone and the next number is
// tried; after a few such collisions, or when the derived id would not be
// a valid task id (over 256 bytes), a random id is used. Telling a
// leftover from a replay compares the client's clock (EnqueuedAt) with the
// worker's (FailedAt), so it assumes that the two roughly agree.
//
// Replay returns an error wrapping [ErrInvalidArgument] for a nil store or
// an empty taskID, one wrapping [dlq.ErrNotFound] when the store has no
// such entry, and the error of [Client.Enqueue] (such as [ErrUnknownQueue]
// when the entry's queue is not known to c) when the task cannot be
// enqueued; in all these cases the entry stays in the store. When the task
// was enqueued but the entry could not be deleted, Replay returns the task
// together with an error saying so; calling Replay again returns the same
// task and retries the delete. An entry that another caller deleted in the
// meantime is not an error. Safe for concurrent use.
func (c *Client) Replay(ctx context.Context, store dlq.Store, taskID string) (*Task, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if store == nil {
		return nil, invalidArg("Replay: dead-letter store is nil")
	}
	if taskID == "" {
		return nil, invalidArg("Replay: task id is empty; want the id of a dead-letter entry")
	}
	e, err := store.Get(ctx, taskID)
	if err != nil {
		return nil, wrapOp(fmt.Sprintf("replay task %q", taskID), err)
	}
	t, err := c.enqueueReplay(ctx, e)
	if err != nil {
		return nil, wrapOp(fmt.Sprintf("replay task %q", taskID), err)
	}
	if err := store.Delete(ctx, taskID); err != nil && !errors.Is(err, dlq.ErrNotFound) {
		return t, fmt.Errorf("queue: replay task %q: enqueued as %q but the dead-letter entry was not deleted (replay again to retry): %w",
			taskID, t.ID, err)
	}
	return t, nil
}

// enqueueReplay enqueues e's task under the first derived id that is free
// or already holds a replay of e.
func (c *Client) enqueueReplay(ctx context.Context, e dlq.Entry) (*Task, error) {
	q := e.Queue
	if q == "" {
		q = DefaultQueue
	}
	var payload any // nil encodes as null
	if len(e.Payload) > 0 {
		payload = e.Payload
	}
	base, n := replayBase(e.TaskID)
	for range maxReplayProbes {
		n++
		id := base + replaySuffix + strconv.Itoa(n)
		if checkName("task id", id, false) != nil {
			break
		}
		old, err := c.Get(ctx, id)
		switch {
		case errors.Is(err, ErrTaskNotFound):
			// Free: take it. Should a concurrent replay of e take it first,
			// Enqueue returns that task, which is the one wanted.
			return c.Enqueue(ctx, e.TaskName, payload, WithQueue(q), WithTaskID(id))
		case err != nil:
			return nil, err
		case old.Name == e.TaskName && !old.EnqueuedAt.Before(e.FailedAt):
			// Enqueued after e failed: a replay of e (an earlier call whose
			// delete failed, or a concurrent one).
			return old, nil
		}
	}
	return c.Enqueue(ctx, e.TaskName, payload, WithQueue(q))
}

// replayBase splits id into the id it replays and its replay number:
// "abc-replay-2" gives ("abc", 2), and "abc" gives ("abc", 0).
func replayBase(id string) (string, int) {
	i := strings.LastIndex(id, replaySuffix)
	if i <= 0 {
		return id, 0
	}
	digits := id[i+len(replaySuffix):]
	n, err := strconv.Atoi(digits)
	if err != nil || n < 1 || strconv.Itoa(n) != digits {
		return id, 0
	}
	return id[:i], n
}
