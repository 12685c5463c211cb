// Package queuetest is the conformance suite for [queue.Broker]
// implementations. Every broker (the in-memory one, the Redis one) passes
// the same suite:
//
//	func TestMyBroker(t *testing.T) {
//		queuetest.Run(t, func(t *testing.T) queue.Broker { return newMyBroker(t) })
//	}
//
// The suite runs against real time (a networked broker cannot use
// testing/synctest): leases and TTLs are tens to hundreds of milliseconds,
// and every wait is for an event (a Claim returning, a state observed)
// with a generous timeout, never a fixed sleep used as an assertion.
package queuetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/resilience-go/resilience/queue"
)

// Timing of the suite. Short enough to keep it fast, long enough that a
// loaded machine does not make a lease run out by accident.
const (
	shortLease = 100 * time.Millisecond // leases meant to run out
	longLease  = time.Minute            // leases meant to hold
	shortTTL   = 100 * time.Millisecond // results meant to expire
	waitFor    = 10 * time.Second       // upper bound of every event wait
)

// Run runs the conformance suite as subtests of t. newBroker is called
// once per subtest and must return an empty broker that no other subtest
// uses (for a shared backend: a fresh key prefix or database); it should
// register its cleanup (closing the broker) with t.Cleanup.
//
// Through the [queue.Broker] methods only, the suite checks: enqueue and
// get, reset of the run state at enqueue, idempotent ids, bad arguments,
// strict priority order and FIFO within a queue, claims that block until a
// task is enqueued and end with ctx, delays, lease expiry with redelivery
// (Redeliveries counted, the stale token rejected by every lease call),
// renewal and progress keeping a lease, progress visibility, completion,
// failure, retry with a not-before time, release (attempt not counted),
// result expiry (after which the id is free again), delays, leases and
// result TTLs near the largest Duration never wrapping into the past,
// concurrent claimers
// never holding one task at once, the optional [queue.Watcher], the
// optional [queue.CompleteClaimer] (the completion and the claim of the
// next task in strict order in one call, nothing claimed when the
// completion fails, no task and no error on empty queues), and a real
// [queue.Worker] running 1,000 tasks with random failures with none lost,
// plus a worker shutdown handing its task back. Every broker must store
// [queue.Task.Headers] and return them unchanged, and reset
// CancelRequested at Enqueue.
//
// The cases of the optional control interfaces skip, saying so, when the
// broker lacks the interface. For a [queue.Canceler]: a waiting task
// (pending, delayed, retrying) is REVOKED at once and never claimed; a
// leased task gets CancelRequested, Renew and Progress report ErrRevoked,
// and Complete, CompleteAndClaim, Fail, Retry and Release end it REVOKED
// with ErrRevoked; a lease that runs out ends it REVOKED, not redelivered;
// a finished task is unchanged; an unknown id is ErrTaskNotFound; Cancel
// racing completions and claims from many goroutines leaves exactly one
// outcome that Get agrees with; and a real Worker's handler sees its ctx
// cancelled with cause ErrRevoked (on a [queue.Watcher] well before a lease
// renewal), the task ending REVOKED with no dead letter and no alert. For a
// [queue.Pauser]: a paused queue is not claimed from while others are,
// enqueue still works, a blocked claim wakes on resume, CompleteAndClaim
// skips it, and its running tasks renew and complete. For a
// [queue.Inspector]: Stats counts after each kind of transition and after
// results expire, and List's newest-first order, filters and paging.
func Run(t *testing.T, newBroker func(t *testing.T) queue.Broker) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, b queue.Broker)
	}{
		{"EnqueueAndGet", testEnqueueGet},
		{"EnqueueResetsRunState", testEnqueueResets},
		{"EnqueueIsIdempotentByID", testIdempotent},
		{"BadArguments", testBadArguments},
		{"GetUnknownID", testGetUnknown},
		{"StrictPriorityOrder", testPriorityOrder},
		{"FIFOWithinQueue", testFIFO},
		{"ClaimBlocksUntilEnqueue", testClaimBlocks},
		{"ClaimEndsWithContext", testClaimCtx},
		{"DelayedTaskWaits", testDelay},
		{"DelayedTaskDoesNotBlockOthers", testDelayNotBlocking},
		{"LeaseExpiryRedelivers", testLeaseExpiry},
		{"StaleLeaseRejected", testStaleLease},
		{"RenewAndProgressKeepLease", testRenewKeeps},
		{"ProgressVisible", testProgress},
		{"CompleteThenResultExpires", testComplete},
		{"FailThenResultExpires", testFail},
		{"RetryWaitsForNotBefore", testRetry},
		{"ReleaseHandsBack", testRelease},
		{"SettledTokenRejected", testSettledToken},
		{"HugeDurationsMeanForever", testHugeDurations},
		{"ConcurrentClaimersNeverShareATask", testConcurrentClaimers},
		{"WatcherNotifies", testWatcher},
		{"CompleteAndClaim", testCompleteAndClaim},
		{"WorkerLosesNothing", testWorkerNothingLost},
		{"WorkerShutdownReleases", testWorkerShutdown},
		{"HeadersRoundTrip", testHeaders},
		{"CancelWaiting", testCancelWaiting},
		{"CancelLeased", testCancelLeased},
		{"CancelThenLeaseExpires", testCancelLeaseExpiry},
		{"CancelDoneAndUnknown", testCancelDoneAndUnknown},
		{"CancelRacesCompletion", testCancelRace},
		{"WorkerCancelsRunningHandler", testWorkerCancel},
		{"PauseAndResume", testPause},
		{"PauseSkippedByCompleteAndClaim", testPauseCompleteAndClaim},
		{"PauseKeepsRunningTasks", testPauseKeepsRunning},
		{"StatsCounts", testStats},
		{"ListOrderFiltersPaging", testList},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBroker(t)
			if b == nil {
				t.Fatal("newBroker returned nil")
			}
			tt.fn(t, b)
		})
	}
}

// ctxFor returns a context that ends after d, cancelled at the test's end.
func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: got error %v, want nil", what, err)
	}
}

func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want one wrapping %v", what, err, target)
	}
}

// newTask returns a task ready for Broker.Enqueue.
func newTask(id, name, q string) *queue.Task {
	return &queue.Task{
		ID: id, Name: name, Queue: q, Payload: json.RawMessage(`{"n":1}`),
		MaxRetries: queue.DefaultRetries, EnqueuedAt: time.Now(),
	}
}

func enqueue(t *testing.T, b queue.Broker, id, q string) *queue.Task {
	t.Helper()
	got, created, err := b.Enqueue(ctxFor(t, waitFor), newTask(id, "work", q))
	must(t, err, fmt.Sprintf("Enqueue(%q)", id))
	if !created {
		t.Fatalf("Enqueue(%q): got created false, want true", id)
	}
	return got
}

// claim claims one task from queues, failing the test when none comes
// within waitFor.
func claim(t *testing.T, b queue.Broker, lease time.Duration, queues ...string) (*queue.Task, string) {
	t.Helper()
	got, token, err := b.Claim(ctxFor(t, waitFor), queues, lease)
	must(t, err, fmt.Sprintf("Claim(%v)", queues))
	if got == nil || token == "" {
		t.Fatalf("Claim(%v): got task %v and token %q, want a task and a token", queues, got, token)
	}
	return got, token
}

func get(t *testing.T, b queue.Broker, id string) *queue.Task {
	t.Helper()
	got, err := b.Get(ctxFor(t, waitFor), id)
	must(t, err, fmt.Sprintf("Get(%q)", id))
	return got
}

// eventually calls cond until it returns true, failing the test with what
// when waitFor passes first. It checks often at first, then backs off.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	pause := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s; it did not happen", waitFor, what)
		}
		time.Sleep(pause)
		pause = min(2*pause, 50*time.Millisecond)
	}
}

// recoverUntil calls Recover until task id is claimable again after a lost
// lease (PENDING with the given redelivery count).
func recoverUntil(t *testing.T, b queue.Broker, id string, redeliveries int) {
	t.Helper()
	eventually(t, fmt.Sprintf("task %s to be recovered after its lease ran out", id), func() bool {
		_, err := b.Recover(ctxFor(t, waitFor))
		must(t, err, "Recover")
		got := get(t, b, id)
		return got.State == queue.StatePending && got.Redeliveries == redeliveries
	})
}
