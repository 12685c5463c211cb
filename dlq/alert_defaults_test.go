package dlq_test

import (
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/resilience-go/resilience/dlq"
)

// TestRecorderZeroConfigDefaults checks the zero AlertConfig: the alert comes
// at the 10th failure within an hour, and the record goes to slog.Default()
// as it is when the alert is raised. Not parallel: it swaps slog's default.
func TestRecorderZeroConfigDefaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		logs := &captureHandler{}
		old := slog.Default()
		t.Cleanup(func() { slog.SetDefault(old) })

		rec, err := dlq.NewRecorder(dlq.NewMemoryStore(), dlq.AlertConfig{})
		if err != nil {
			t.Fatalf("NewRecorder: got error %v, want nil", err)
		}
		slog.SetDefault(slog.New(logs)) // after NewRecorder: resolved at alert time
		for i := 1; i <= 2*dlq.DefaultAlertThreshold; i++ {
			if err := rec.Record(t.Context(), failure("embed", i)); err != nil {
				t.Fatalf("Record #%d: got error %v, want nil", i, err)
			}
			want := 0
			if i >= dlq.DefaultAlertThreshold {
				want = 1
			}
			if got := len(logs.all()); got != want {
				t.Fatalf("critical records after %d failures: got %d, want %d", i, got, want)
			}
			// Spread the failures over the hour, ending just before it does.
			time.Sleep((dlq.DefaultAlertWindow - time.Nanosecond) / (2 * dlq.DefaultAlertThreshold))
		}
		r := logs.all()[0]
		if r.Level != dlq.LevelCritical {
			t.Errorf("log level: got %v, want %v", r.Level, dlq.LevelCritical)
		}
		if got := attrs(r)["window"]; got != dlq.DefaultAlertWindow.String() {
			t.Errorf("window attribute: got %s, want %v", got, dlq.DefaultAlertWindow)
		}
	})
}

func TestRecorderThresholdOneAlertsOnFirstFailure(t *testing.T) {
	var got alerts
	rec, err := dlq.NewRecorder(dlq.NewMemoryStore(), dlq.AlertConfig{
		Threshold: 1, OnAlert: got.hook, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("NewRecorder: got error %v, want nil", err)
	}
	if err := rec.Record(t.Context(), failure("embed", 1)); err != nil {
		t.Fatalf("Record: got error %v, want nil", err)
	}
	if a := got.all(); len(a) != 1 || a[0].Count != 1 {
		t.Errorf("alerts after one failure with threshold 1: got %+v, want one with Count 1", a)
	}
}

func TestRecorderSetsZeroFailedAt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := dlq.NewMemoryStore()
		rec, err := dlq.NewRecorder(store, dlq.AlertConfig{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatalf("NewRecorder: got error %v, want nil", err)
		}
		if rec.Store() != store {
			t.Errorf("Store(): got %p, want the store given to NewRecorder %p", rec.Store(), store)
		}
		time.Sleep(time.Minute)
		now := time.Now()
		given := now.Add(-time.Hour)
		withTime := failure("embed", 2)
		withTime.FailedAt = given
		for _, e := range []dlq.Entry{failure("embed", 1), withTime} {
			if err := rec.Record(t.Context(), e); err != nil {
				t.Fatalf("Record(%s): got error %v, want nil", e.TaskID, err)
			}
		}
		for id, want := range map[string]time.Time{"embed-1": now, "embed-2": given} {
			e, err := store.Get(t.Context(), id)
			if err != nil {
				t.Fatalf("Get(%s): got error %v, want nil", id, err)
			}
			if !e.FailedAt.Equal(want) {
				t.Errorf("Get(%s).FailedAt: got %v, want %v", id, e.FailedAt, want)
			}
		}
	})
}

func TestLevelCritical(t *testing.T) {
	if dlq.LevelCritical <= slog.LevelError {
		t.Errorf("LevelCritical: got %v, want above %v", dlq.LevelCritical, slog.LevelError)
	}
	if got := dlq.LevelCritical.String(); got != "ERROR+4" {
		t.Errorf("LevelCritical.String(): got %q, want %q", got, "ERROR+4")
	}
}
