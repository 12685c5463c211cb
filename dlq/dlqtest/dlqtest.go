// Package dlqtest is a conformance suite for [dlq.Store] implementations.
// Every store (the in-memory one, the Redis one) passes the same suite:
//
//	func TestMyStore(t *testing.T) {
//		dlqtest.Run(t, func(t *testing.T) dlq.Store { return newMyStore(t) })
//	}
package dlqtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/resilience-go/resilience/dlq"
)

// Run runs the conformance suite as subtests of t. newStore is called once
// per subtest and must return an empty store that no other subtest uses
// (for a shared backend: a fresh key prefix); it may register cleanups with
// t.Cleanup.
//
// The suite checks, through the [dlq.Store] methods only: idempotent Push per
// task id (replace in place, Len unchanged), Pop oldest first in batches,
// List paging without removal, Get and Delete of unknown ids, Len, bad
// arguments, done contexts, copies of payload bytes, concurrent Push and Pop
// that deliver each entry exactly once, and CountFailure counting on one
// store handle, including a rollover to a new window with a short real
// window (the test waits for the rollover as an event, for at most a few
// seconds). Counting across several handles of one shared store is the
// backend's own test.
//
// A store that implements the optional [dlq.AlertReader] is also checked
// for its FailureCounts: order, limit, window start, separate window
// lengths, reading without counting, bad arguments and ended windows. For
// other stores those subtests are skipped.
func Run(t *testing.T, newStore func(t *testing.T) dlq.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s dlq.Store)
	}{
		{"PushGetRoundTrip", testPushGetRoundTrip},
		{"PushRejectsEmptyTaskID", testPushRejectsEmptyTaskID},
		{"PushIsIdempotentPerTaskID", testPushIdempotent},
		{"PushSameIDConcurrently", testPushSameIDConcurrently},
		{"PopOldestFirstInBatches", testPopBatches},
		{"PopRejectsBatchBelowOne", testPopInvalid},
		{"PoppedEntriesAreGone", testPoppedEntriesAreGone},
		{"ListPagesOldestFirst", testListPages},
		{"ListRejectsNegativeArguments", testListInvalid},
		{"GetAndDeleteUnknownID", testNotFound},
		{"DeleteKeepsOrderOfTheRest", testDeleteKeepsOrder},
		{"EntriesAreCopied", testEntriesAreCopied},
		{"ConcurrentPopDeliversEachEntryOnce", testConcurrentPop},
		{"DoneContext", testDoneContext},
		{"CountFailureCountsPerName", testCountPerName},
		{"CountFailureRejectsNonPositiveWindow", testCountInvalid},
		{"CountFailureConcurrent", testCountConcurrent},
		{"CountFailureWindowRollover", testCountRollover},
		{"FailureCountsMostFirst", testFailureCounts},
		{"FailureCountsRejectsBadArguments", testFailureCountsInvalid},
		{"FailureCountsForgetEndedWindows", testFailureCountsRollover},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

// failedAt is the FailedAt of the suite's entries: whole seconds in UTC, so
// a store that keeps JSON loses nothing.
var failedAt = time.Date(2024, 3, 1, 12, 30, 45, 0, time.UTC)

// entry returns a fully populated entry with the given task id.
func entry(id string) dlq.Entry {
	return dlq.Entry{
		TaskID:   id,
		TaskName: "embed",
		Queue:    "default",
		Payload:  json.RawMessage(fmt.Sprintf(`{"doc":%q}`, id)),
		Error:    "boom " + id,
		Trace:    "goroutine 1 [running]:\n" + id,
		FailedAt: failedAt,
		Retries:  3,
	}
}

// pushAll pushes entry(id) for each id, failing t on error.
func pushAll(t *testing.T, s dlq.Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := s.Push(t.Context(), entry(id)); err != nil {
			t.Fatalf("Push(%q): got error %v, want nil", id, err)
		}
	}
}

// seq returns the ids prefix0 ... prefix(n-1), zero-padded so they sort.
func seq(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%04d", prefix, i)
	}
	return out
}

// ids returns the task ids of es in order.
func ids(es []dlq.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.TaskID
	}
	return out
}

// checkSame fails t unless got and want agree field by field (FailedAt as
// an instant, Payload as bytes).
func checkSame(t *testing.T, got, want dlq.Entry) {
	t.Helper()
	if got.TaskID != want.TaskID || got.TaskName != want.TaskName || got.Queue != want.Queue ||
		got.Error != want.Error || got.Trace != want.Trace || got.Retries != want.Retries ||
		!got.FailedAt.Equal(want.FailedAt) || !bytes.Equal(got.Payload, want.Payload) {
		t.Errorf("entry: got %s, want %s", show(got), show(want))
	}
}

// show formats e for a failure message, its payload as text.
func show(e dlq.Entry) string {
	return fmt.Sprintf("{TaskID:%q TaskName:%q Queue:%q Payload:%s Error:%q Trace:%q FailedAt:%v Retries:%d}",
		e.TaskID, e.TaskName, e.Queue, e.Payload, e.Error, e.Trace, e.FailedAt, e.Retries)
}

// checkLen fails t unless s holds want entries.
func checkLen(t *testing.T, s dlq.Store, want int) {
	t.Helper()
	n, err := s.Len(t.Context())
	if err != nil {
		t.Fatalf("Len: got error %v, want nil", err)
	}
	if n != want {
		t.Errorf("Len: got %d, want %d", n, want)
	}
}

// checkIDs fails t unless got lists exactly want, in order.
func checkIDs(t *testing.T, what string, got []dlq.Entry, want []string) {
	t.Helper()
	if g := ids(got); !slices.Equal(g, want) {
		t.Errorf("%s: got ids %q, want %q", what, g, want)
	}
}

// checkIs fails t unless err wraps target.
func checkIs(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want one wrapping %v", what, err, target)
	}
}

// uniqueName returns a task name no earlier run can have counted, so a
// persistent backend with long windows cannot leak counts between runs.
func uniqueName(t *testing.T) string {
	return fmt.Sprintf("%s-%x", t.Name(), rand.Uint64())
}

func testPushGetRoundTrip(t *testing.T, s dlq.Store) {
	want := entry("a")
	pushAll(t, s, "a")
	got, err := s.Get(t.Context(), "a")
	if err != nil {
		t.Fatalf("Get: got error %v, want nil", err)
	}
	checkSame(t, got, want)
	checkLen(t, s, 1)
}

func testPushRejectsEmptyTaskID(t *testing.T, s dlq.Store) {
	e := entry("")
	checkIs(t, "Push with empty TaskID", s.Push(t.Context(), e), dlq.ErrInvalidArgument)
	checkLen(t, s, 0)
}

func testPushIdempotent(t *testing.T, s dlq.Store) {
	pushAll(t, s, "a", "b", "c")
	repl := entry("b")
	repl.Error = "second failure"
	repl.Retries = 7
	if err := s.Push(t.Context(), repl); err != nil {
		t.Fatalf("second Push(b): got error %v, want nil", err)
	}
	checkLen(t, s, 3)
	got, err := s.Get(t.Context(), "b")
	if err != nil {
		t.Fatalf("Get(b): got error %v, want nil", err)
	}
	checkSame(t, got, repl)
	all, err := s.List(t.Context(), 0, 10)
	if err != nil {
		t.Fatalf("List: got error %v, want nil", err)
	}
	checkIDs(t, "List after replacing b", all, []string{"a", "b", "c"})
	popped, err := s.Pop(t.Context(), 2)
	if err != nil {
		t.Fatalf("Pop(2): got error %v, want nil", err)
	}
	checkIDs(t, "Pop(2) after replacing b", popped, []string{"a", "b"})
	if len(popped) == 2 {
		checkSame(t, popped[1], repl)
	}
}
