package dlq

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// ErrUnsupported is wrapped by the error of [Recorder.AlertStates] when the
// Recorder's store does not implement [AlertReader].
var ErrUnsupported = errors.New("dlq: not supported by this store")

// FailureCount is the failure count of one task name in the current window,
// as an [AlertReader] reports it.
type FailureCount struct {
	// TaskName is the name counted by [Store.CountFailure].
	TaskName string
	// Failures is the count in the current window; always at least 1, since
	// names without a failure in the current window are not reported.
	Failures int64
	// WindowStart is when the current window began: the window number
	// times the window length after the Unix epoch, in UTC. The window ends,
	// and the count starts again from zero, one window length later.
	WindowStart time.Time
}

// AlertReader is implemented by a [Store] that can report its failure
// counts without adding to them, for a dashboard or a health check. It is
// optional: find it with a type assertion, or call [Recorder.AlertStates].
//
// The cost of a call grows with the number of task names counted with that
// window length, never with the number of stored entries.
type AlertReader interface {
	// FailureCounts returns the counts that [Store.CountFailure] with this
	// window length has made in the current window (the same window a
	// CountFailure call made now would count in, by the same clock), one per
	// task name with at least one failure: most failures first, ties by task
	// name in byte order, at most limit of them. Counting does not change
	// through this call. limit 0 returns an empty slice; a negative limit
	// or a window <= 0 returns an error wrapping [ErrInvalidArgument]; a
	// done ctx returns an error wrapping ctx's error. Safe for concurrent
	// use with every other method.
	FailureCounts(ctx context.Context, window time.Duration, limit int) ([]FailureCount, error)
}

// AlertState is the alert state of one task name in the current window, as
// [Recorder.AlertStates] reports it.
type AlertState struct {
	// TaskName is the task name the failures were counted for.
	TaskName string
	// Failures is the failure count of TaskName in the current window.
	Failures int64
	// Threshold is the Recorder's alert threshold: the count that raises
	// the alert.
	Threshold int64
	// Window is the length of the Recorder's counting window.
	Window time.Duration
	// WindowStart is when the current window began; it ends at
	// WindowStart + Window.
	WindowStart time.Time
	// Alerted is true when Failures has reached Threshold, so the Recorder
	// has raised (or, with a shared store, some Recorder has raised) this
	// window's alert for TaskName.
	Alerted bool
}

// WindowEnd returns when the current window ends and the count of
// s.TaskName starts again from zero: s.WindowStart plus s.Window.
func (s AlertState) WindowEnd() time.Time { return s.WindowStart.Add(s.Window) }

// Threshold returns the failure count of one task name within one window
// that raises an alert: AlertConfig.Threshold, or its default.
func (r *Recorder) Threshold() int64 { return r.threshold }

// Window returns the length of the Recorder's counting windows:
// AlertConfig.Window, or its default.
func (r *Recorder) Window() time.Duration { return r.window }

// AlertStates returns the alert state of up to limit task names that failed
// in the current window of the Recorder's window length: the names with most
// failures first (so every alerted name comes before every name that has not
// alerted), ties by name. It reads the counts through the store's
// [AlertReader] and changes nothing.
//
// It returns an error wrapping [ErrUnsupported] when the store does not
// implement AlertReader, one wrapping [ErrInvalidArgument] for a negative
// limit, and one wrapping ctx's error when ctx is done. Safe for concurrent
// use.
func (r *Recorder) AlertStates(ctx context.Context, limit int) ([]AlertState, error) {
	ar, ok := r.store.(AlertReader)
	if !ok {
		return nil, fmt.Errorf("%w: %T does not report failure counts (it does not implement dlq.AlertReader)",
			ErrUnsupported, r.store)
	}
	counts, err := ar.FailureCounts(ctx, r.window, limit)
	if err != nil {
		return nil, fmt.Errorf("dlq: alert states: %w", err)
	}
	out := make([]AlertState, len(counts))
	for i, c := range counts {
		out[i] = AlertState{
			TaskName:    c.TaskName,
			Failures:    c.Failures,
			Threshold:   r.threshold,
			Window:      r.window,
			WindowStart: c.WindowStart,
			Alerted:     c.Failures >= r.threshold,
		}
	}
	return out, nil
}

var _ AlertReader = (*MemoryStore)(nil)

// FailureCounts implements [AlertReader]: it returns the counters of the
// given window length that are in their current window by [time.Now], most
// failures first, ties by name, at most limit. It keeps only the best limit
// counters while it scans, so it takes O(c log limit + c) time and one
// allocation of min(limit, c) counts for the c counters the store holds (at
// most about twice the counters still in their window, or 64), whatever the
// number of entries.
func (s *MemoryStore) FailureCounts(ctx context.Context, window time.Duration, limit int) ([]FailureCount, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if window <= 0 {
		return nil, invalid("FailureCounts window must be > 0, got %v", window)
	}
	if limit < 0 {
		return nil, invalid("FailureCounts limit must be >= 0, got %d", limit)
	}
	if limit == 0 {
		return []FailureCount{}, nil
	}
	now := time.Now()
	idx := windowIndex(now, window)
	start := time.Unix(0, idx*int64(window)).UTC()

	s.mu.Lock()
	defer s.mu.Unlock()
	// out stays sorted and never grows past limit, so its one allocation
	// is all the call makes.
	out := make([]FailureCount, 0, min(limit, len(s.counts)))
	for k, c := range s.counts {
		if k.window != window || c.index != idx {
			continue
		}
		fc := FailureCount{TaskName: k.name, Failures: c.count, WindowStart: start}
		if len(out) == limit && byFailures(fc, out[limit-1]) >= 0 {
			continue
		}
		i, _ := slices.BinarySearchFunc(out, fc, byFailures)
		if len(out) == limit {
			out = out[:limit-1]
		}
		out = slices.Insert(out, i, fc)
	}
	return out, nil
}

// byFailures orders counts most failures first, then by task name.
func byFailures(a, b FailureCount) int {
	return cmp.Or(cmp.Compare(b.Failures, a.Failures), cmp.Compare(a.TaskName, b.TaskName))
}
