package dlqtest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/resilience-go/resilience/dlq"
)

const (
	// longWindow is a window no test run can straddle the end of in
	// practice (its boundaries are weeks apart), so counts in it only grow.
	longWindow = 1000 * time.Hour

	// shortWindow is the real window of the rollover test.
	shortWindow = 100 * time.Millisecond

	// rolloverTimeout bounds the wait for a new window, so a store whose
	// counts never reset fails instead of hanging.
	rolloverTimeout = 5 * time.Second
)

// count calls s.CountFailure and fails t on error.
func count(t *testing.T, s dlq.Store, name string, window time.Duration) int64 {
	t.Helper()
	n, err := s.CountFailure(t.Context(), name, window)
	if err != nil {
		t.Fatalf("CountFailure(%q, %v): got error %v, want nil", name, window, err)
	}
	return n
}

func testCountPerName(t *testing.T, s dlq.Store) {
	a, b := uniqueName(t)+"-a", uniqueName(t)+"-b"
	for want := int64(1); want <= 5; want++ {
		if got := count(t, s, a, longWindow); got != want {
			t.Errorf("CountFailure(a) #%d: got %d, want %d", want, got, want)
		}
	}
	if got := count(t, s, b, longWindow); got != 1 {
		t.Errorf("first CountFailure(b): got %d, want 1 (names are counted apart)", got)
	}
	if got := count(t, s, a, longWindow); got != 6 {
		t.Errorf("CountFailure(a) after b: got %d, want 6", got)
	}
}

func testCountInvalid(t *testing.T, s dlq.Store) {
	for _, w := range []time.Duration{0, -time.Second} {
		_, err := s.CountFailure(t.Context(), uniqueName(t), w)
		checkIs(t, "CountFailure with window <= 0", err, dlq.ErrInvalidArgument)
	}
}

func testCountConcurrent(t *testing.T, s dlq.Store) {
	const goroutines, each = 8, 25
	name := uniqueName(t)
	var (
		mu  sync.Mutex
		got []int64
		wg  sync.WaitGroup
	)
	for range goroutines {
		wg.Go(func() {
			for range each {
				n, err := s.CountFailure(t.Context(), name, longWindow)
				if err != nil {
					t.Errorf("CountFailure: got error %v, want nil", err)
					return
				}
				mu.Lock()
				got = append(got, n)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	// Every caller saw a different count: exactly one saw each of 1..N, which
	// is what makes "count == threshold" fire once.
	slices.Sort(got)
	for i, n := range got {
		if n != int64(i+1) {
			t.Fatalf("sorted counts from concurrent callers: got %d at index %d, want %d (counts %v)", n, i, i+1, got)
		}
	}
	if len(got) != goroutines*each {
		t.Errorf("counts: got %d, want %d", len(got), goroutines*each)
	}
}

func testCountRollover(t *testing.T, s dlq.Store) {
	name := uniqueName(t)
	prev := count(t, s, name, shortWindow)
	if prev != 1 {
		t.Fatalf("first CountFailure: got %d, want 1", prev)
	}
	// Count until the count starts again at 1: within a window each call
	// adds one; the first call in a new window returns 1.
	deadline := time.Now().Add(rolloverTimeout)
	for {
		time.Sleep(shortWindow / 10)
		n := count(t, s, name, shortWindow)
		switch n {
		case 1:
			return
		case prev + 1:
			prev = n
		default:
			t.Fatalf("CountFailure after %d in the same window: got %d, want %d (same window) or 1 (new window)",
				prev, n, prev+1)
		}
		if time.Now().After(deadline) {
			t.Fatalf("CountFailure with a %v window: still counting (%d) after %v, want a new window starting at 1",
				shortWindow, prev, rolloverTimeout)
		}
	}
}
