package dlqtest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/resilience-go/resilience/dlq"
)

// alertReader returns s as a [dlq.AlertReader], or skips t when s does not
// implement that optional interface.
func alertReader(t *testing.T, s dlq.Store) dlq.AlertReader {
	t.Helper()
	ar, ok := s.(dlq.AlertReader)
	if !ok {
		t.Skipf("%T does not implement dlq.AlertReader", s)
	}
	return ar
}

// failureCounts calls ar.FailureCounts and fails t on error.
func failureCounts(t *testing.T, ar dlq.AlertReader, window time.Duration, limit int) []dlq.FailureCount {
	t.Helper()
	got, err := ar.FailureCounts(t.Context(), window, limit)
	if err != nil {
		t.Fatalf("FailureCounts(%v, %d): got error %v, want nil", window, limit, err)
	}
	return got
}

// showCounts formats counts as "name=n ..." for a failure message.
func showCounts(cs []dlq.FailureCount) string {
	s := ""
	for i, c := range cs {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%s=%d", c.TaskName, c.Failures)
	}
	return "[" + s + "]"
}

// checkCounts fails t unless got has exactly the names and counts of want,
// in order.
func checkCounts(t *testing.T, what string, got []dlq.FailureCount, want []dlq.FailureCount) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = got[i].TaskName == want[i].TaskName && got[i].Failures == want[i].Failures
	}
	if !ok {
		t.Errorf("%s: got %s, want %s", what, showCounts(got), showCounts(want))
	}
}

func testFailureCounts(t *testing.T, s dlq.Store) {
	ar := alertReader(t, s)
	if got := failureCounts(t, ar, longWindow, 10); len(got) != 0 {
		t.Errorf("FailureCounts of an empty store: got %s, want none", showCounts(got))
	}
	base := uniqueName(t)
	a, b, c := base+"-a", base+"-b", base+"-c"
	before := time.Now()
	for range 3 {
		count(t, s, c, longWindow)
		count(t, s, a, longWindow)
	}
	count(t, s, b, longWindow)
	count(t, s, b, 2*longWindow) // another window length: another counter
	after := time.Now()

	got := failureCounts(t, ar, longWindow, 10)
	checkCounts(t, "FailureCounts (most first, ties by name)", got,
		[]dlq.FailureCount{{TaskName: a, Failures: 3}, {TaskName: c, Failures: 3}, {TaskName: b, Failures: 1}})
	for _, fc := range got {
		start := fc.WindowStart
		if start.UnixNano()%int64(longWindow) != 0 {
			t.Errorf("%s: WindowStart %v is not a multiple of the window %v after the Unix epoch", fc.TaskName, start, longWindow)
		}
		// The window of the counts held the time of every CountFailure call.
		if start.After(after) || !start.Add(longWindow).After(before) {
			t.Errorf("%s: window [%v, %v) does not hold the counting time %v", fc.TaskName, start, start.Add(longWindow), before)
		}
	}
	checkCounts(t, "FailureCounts with limit 2", failureCounts(t, ar, longWindow, 2),
		[]dlq.FailureCount{{TaskName: a, Failures: 3}, {TaskName: c, Failures: 3}})
	if got := failureCounts(t, ar, longWindow, 0); len(got) != 0 {
		t.Errorf("FailureCounts with limit 0: got %s, want none", showCounts(got))
	}
	checkCounts(t, "FailureCounts of the other window length", failureCounts(t, ar, 2*longWindow, 10),
		[]dlq.FailureCount{{TaskName: b, Failures: 1}})

	// Reading counts nothing: the next failure of a is its fourth.
	if n := count(t, s, a, longWindow); n != 4 {
		t.Errorf("CountFailure after FailureCounts: got %d, want 4 (reading must not count)", n)
	}
	checkCounts(t, "FailureCounts after one more failure of a", failureCounts(t, ar, longWindow, 1),
		[]dlq.FailureCount{{TaskName: a, Failures: 4}})
}

func testFailureCountsInvalid(t *testing.T, s dlq.Store) {
	ar := alertReader(t, s)
	for _, w := range []time.Duration{0, -time.Second} {
		_, err := ar.FailureCounts(t.Context(), w, 10)
		checkIs(t, fmt.Sprintf("FailureCounts with window %v", w), err, dlq.ErrInvalidArgument)
	}
	_, err := ar.FailureCounts(t.Context(), longWindow, -1)
	checkIs(t, "FailureCounts with limit -1", err, dlq.ErrInvalidArgument)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := ar.FailureCounts(ctx, longWindow, 10); !errors.Is(err, context.Canceled) {
		t.Errorf("FailureCounts with a done context: got error %v, want one wrapping %v", err, context.Canceled)
	}
}

func testFailureCountsRollover(t *testing.T, s dlq.Store) {
	ar := alertReader(t, s)
	name := uniqueName(t)
	count(t, s, name, shortWindow)
	// Right after counting, the count is reported (1), or the window has
	// just ended (none); within a few seconds it must be gone.
	deadline := time.Now().Add(rolloverTimeout)
	for {
		got := failureCounts(t, ar, shortWindow, 10)
		if len(got) == 0 {
			return
		}
		checkCounts(t, "FailureCounts before the window ends", got, []dlq.FailureCount{{TaskName: name, Failures: 1}})
		if time.Now().After(deadline) {
			t.Fatalf("FailureCounts with a %v window: still reports %s after %v, want none once the window has ended",
				shortWindow, showCounts(got), rolloverTimeout)
		}
		time.Sleep(shortWindow / 10)
	}
}
