package dlq_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/resilience-go/resilience/dlq"
)

// quiet is a logger that writes nothing, for Recorders whose alert records
// a test does not look at.
var quiet = slog.New(slog.DiscardHandler)

// recordN records n failures of name through rec, failing t on error.
func recordN(t *testing.T, rec *dlq.Recorder, name string, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := rec.Record(t.Context(), failure(name, i)); err != nil {
			t.Fatalf("Record(%s #%d): got error %v, want nil", name, i, err)
		}
	}
}

// states calls rec.AlertStates and fails t on error.
func states(t *testing.T, rec *dlq.Recorder, limit int) []dlq.AlertState {
	t.Helper()
	got, err := rec.AlertStates(t.Context(), limit)
	if err != nil {
		t.Fatalf("AlertStates(%d): got error %v, want nil", limit, err)
	}
	return got
}

func TestRecorderAlertStatesFollowTheWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec, err := dlq.NewRecorder(dlq.NewMemoryStore(), dlq.AlertConfig{
			Threshold: 3, Window: time.Hour, Logger: quiet,
		})
		if err != nil {
			t.Fatalf("NewRecorder: got error %v, want nil", err)
		}
		if got := states(t, rec, 10); len(got) != 0 {
			t.Fatalf("AlertStates before any failure: got %+v, want none", got)
		}
		// The bubble's clock starts at midnight; the window is the hour
		// from 00:00 to 01:00.
		hour := time.Now().Truncate(time.Hour).UTC()
		time.Sleep(20 * time.Minute)
		recordN(t, rec, "chat", 1, 2)
		recordN(t, rec, "embed", 1, 4)
		recordN(t, rec, "rank", 1, 3)

		want := []dlq.AlertState{
			{TaskName: "embed", Failures: 4, Threshold: 3, Window: time.Hour, WindowStart: hour, Alerted: true},
			{TaskName: "rank", Failures: 3, Threshold: 3, Window: time.Hour, WindowStart: hour, Alerted: true},
			{TaskName: "chat", Failures: 2, Threshold: 3, Window: time.Hour, WindowStart: hour, Alerted: false},
		}
		got := states(t, rec, 10)
		if len(got) != len(want) {
			t.Fatalf("AlertStates: got %+v, want %+v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("AlertStates[%d]: got %+v, want %+v", i, got[i], want[i])
			}
		}
		if end := got[0].WindowEnd(); !end.Equal(hour.Add(time.Hour)) {
			t.Errorf("WindowEnd: got %v, want %v", end, hour.Add(time.Hour))
		}
		if got := states(t, rec, 1); len(got) != 1 || got[0].TaskName != "embed" {
			t.Errorf("AlertStates(1): got %+v, want embed only", got)
		}

		// 00:59:59 is still the same window; 01:00 starts a new one, with no
		// failures and no alert.
		time.Sleep(39*time.Minute + 59*time.Second)
		if got := states(t, rec, 10); len(got) != 3 {
			t.Errorf("AlertStates one second before the window ends: got %d names, want 3", len(got))
		}
		time.Sleep(time.Second)
		if got := states(t, rec, 10); len(got) != 0 {
			t.Errorf("AlertStates in a new window: got %+v, want none", got)
		}
		recordN(t, rec, "chat", 3, 1)
		got = states(t, rec, 10)
		wantNew := dlq.AlertState{TaskName: "chat", Failures: 1, Threshold: 3, Window: time.Hour,
			WindowStart: hour.Add(time.Hour), Alerted: false}
		if len(got) != 1 || got[0] != wantNew {
			t.Errorf("AlertStates after a failure in the new window: got %+v, want [%+v]", got, wantNew)
		}
	})
}

// TestRecorderAlertStatesUseTheRecorderWindow counts one name with two
// window lengths: each Recorder reports its own counts and threshold.
func TestRecorderAlertStatesUseTheRecorderWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := dlq.NewMemoryStore()
		hourly, err := dlq.NewRecorder(store, dlq.AlertConfig{Threshold: 2, Window: time.Hour, Logger: quiet})
		if err != nil {
			t.Fatalf("NewRecorder: got error %v, want nil", err)
		}
		daily, err := dlq.NewRecorder(store, dlq.AlertConfig{Logger: quiet, Window: 24 * time.Hour})
		if err != nil {
			t.Fatalf("NewRecorder: got error %v, want nil", err)
		}
		recordN(t, hourly, "embed", 1, 2)
		recordN(t, daily, "embed", 3, 1)
		if g := states(t, hourly, 10); len(g) != 1 || g[0].Failures != 2 || g[0].Threshold != 2 || !g[0].Alerted {
			t.Errorf("hourly AlertStates: got %+v, want embed with 2 failures of 2, alerted", g)
		}
		g := states(t, daily, 10)
		if len(g) != 1 || g[0].Failures != 1 || g[0].Threshold != dlq.DefaultAlertThreshold || g[0].Alerted ||
			g[0].Window != 24*time.Hour {
			t.Errorf("daily AlertStates: got %+v, want embed with 1 failure of %d in 24h, not alerted", g, dlq.DefaultAlertThreshold)
		}
		if hourly.Threshold() != 2 || hourly.Window() != time.Hour || daily.Threshold() != dlq.DefaultAlertThreshold {
			t.Errorf("Threshold/Window: got %d/%v and %d, want 2/1h and %d",
				hourly.Threshold(), hourly.Window(), daily.Threshold(), dlq.DefaultAlertThreshold)
		}
	})
}

// countOnly is a Store without the optional AlertReader.
type countOnly struct{ dlq.Store }

func TestRecorderAlertStatesErrors(t *testing.T) {
	rec, err := dlq.NewRecorder(countOnly{dlq.NewMemoryStore()}, dlq.AlertConfig{Logger: quiet})
	if err != nil {
		t.Fatalf("NewRecorder: got error %v, want nil", err)
	}
	if _, err := rec.AlertStates(t.Context(), 10); !errors.Is(err, dlq.ErrUnsupported) {
		t.Errorf("AlertStates over a store without AlertReader: got error %v, want one wrapping %v", err, dlq.ErrUnsupported)
	}

	rec, err = dlq.NewRecorder(dlq.NewMemoryStore(), dlq.AlertConfig{Logger: quiet})
	if err != nil {
		t.Fatalf("NewRecorder: got error %v, want nil", err)
	}
	if _, err := rec.AlertStates(t.Context(), -1); !errors.Is(err, dlq.ErrInvalidArgument) {
		t.Errorf("AlertStates(-1): got error %v, want one wrapping %v", err, dlq.ErrInvalidArgument)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := rec.AlertStates(ctx, 10); !errors.Is(err, context.Canceled) {
		t.Errorf("AlertStates with a done context: got error %v, want one wrapping %v", err, context.Canceled)
	}
}

// TestMemoryStoreFailureCountsMatchSortedModel counts random failures of
// many names and checks every limit against a plain sort of all the counts,
// so the bounded selection keeps exactly the best ones in order.
func TestMemoryStoreFailureCountsMatchSortedModel(t *testing.T) {
	s := dlq.NewMemoryStore()
	rng := rand.New(rand.NewPCG(3, 4))
	model := map[string]int64{}
	for range 2000 {
		name := fmt.Sprintf("task-%03d", rng.IntN(150))
		if _, err := s.CountFailure(t.Context(), name, 1000*time.Hour); err != nil {
			t.Fatalf("CountFailure: got error %v, want nil", err)
		}
		model[name]++
	}
	want := make([]dlq.FailureCount, 0, len(model))
	for name, n := range model {
		want = append(want, dlq.FailureCount{TaskName: name, Failures: n})
	}
	slices.SortFunc(want, func(a, b dlq.FailureCount) int {
		return cmp.Or(cmp.Compare(b.Failures, a.Failures), cmp.Compare(a.TaskName, b.TaskName))
	})
	for _, limit := range []int{1, 2, 7, 50, len(want) - 1, len(want), len(want) + 10} {
		got, err := s.FailureCounts(t.Context(), 1000*time.Hour, limit)
		if err != nil {
			t.Fatalf("FailureCounts(%d): got error %v, want nil", limit, err)
		}
		w := want[:min(limit, len(want))]
		if len(got) != len(w) {
			t.Fatalf("FailureCounts(%d): got %d counts, want %d", limit, len(got), len(w))
		}
		for i := range w {
			if got[i].TaskName != w[i].TaskName || got[i].Failures != w[i].Failures {
				t.Fatalf("FailureCounts(%d)[%d]: got %s=%d, want %s=%d",
					limit, i, got[i].TaskName, got[i].Failures, w[i].TaskName, w[i].Failures)
			}
		}
	}
}
