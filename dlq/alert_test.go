package dlq_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/resilience-go/resilience/dlq"
)

// captureHandler is a slog.Handler that keeps every record; safe for
// concurrent use.
type captureHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *captureHandler) WithGroup(string) slog.Handler            { return h }
func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}

func (h *captureHandler) all() []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]slog.Record(nil), h.records...)
}

// attrs returns r's attributes as strings by key.
func attrs(r slog.Record) map[string]string {
	m := make(map[string]string)
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	return m
}

// alerts collects the alerts a hook receives; safe for concurrent use.
type alerts struct {
	mu  sync.Mutex
	got []dlq.Alert
}

func (a *alerts) hook(al dlq.Alert) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, al)
}

func (a *alerts) all() []dlq.Alert {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]dlq.Alert(nil), a.got...)
}

// failure returns an entry for the n-th failure of task name.
func failure(name string, n int) dlq.Entry {
	return dlq.Entry{TaskID: fmt.Sprintf("%s-%d", name, n), TaskName: name, Queue: "default", Error: "boom"}
}

func TestRecorderAlertsOncePerWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var got alerts
		logs := &captureHandler{}
		rec, err := dlq.NewRecorder(dlq.NewMemoryStore(), dlq.AlertConfig{
			Threshold: 3, Window: time.Hour, OnAlert: got.hook, Logger: slog.New(logs),
		})
		if err != nil {
			t.Fatalf("NewRecorder: got error %v, want nil", err)
		}
		ctx := t.Context()
		record := func(e dlq.Entry) {
			t.Helper()
			if err := rec.Record(ctx, e); err != nil {
				t.Fatalf("Record(%s): got error %v, want nil", e.TaskID, err)
			}
		}

		time.Sleep(10 * time.Minute)
		for i := 1; i <= 2; i++ {
			record(failure("embed", i))
			record(failure("chat", i)) // another name, counted apart
		}
		if n := len(got.all()); n != 0 {
			t.Fatalf("alerts after 2 failures with threshold 3: got %d, want 0", n)
		}
		time.Sleep(time.Minute)
		alertAt := time.Now()
		record(failure("embed", 3))
		for i := 4; i <= 6; i++ {
			record(failure("embed", i))
		}
		first := got.all()
		if len(first) != 1 {
			t.Fatalf("alerts after 6 failures in one window: got %d, want 1", len(first))
		}
		a := first[0]
		if a.TaskName != "embed" || a.Count != 3 || a.Window != time.Hour || !a.At.Equal(alertAt) || a.Last.TaskID != "embed-3" {
			t.Errorf("alert: got %+v, want TaskName embed, Count 3, Window 1h, At %v, Last embed-3", a, alertAt)
		}

		// 00:11 → 01:00: a new window, which alerts again at its third failure.
		time.Sleep(49 * time.Minute)
		for i := 7; i <= 9; i++ {
			record(failure("embed", i))
		}
		if n := len(got.all()); n != 2 {
			t.Errorf("alerts after a second window with 3 failures: got %d, want 2", n)
		}

		records := logs.all()
		if len(records) != 2 {
			t.Fatalf("log records: got %d, want 2 (one per alert)", len(records))
		}
		r := records[0]
		if r.Level != dlq.LevelCritical {
			t.Errorf("log level: got %v, want %v", r.Level, dlq.LevelCritical)
		}
		if m := attrs(r); m["task_name"] != "embed" || m["failures"] != "3" || m["task_id"] != "embed-3" || m["window"] != "1h0m0s" {
			t.Errorf("log attributes: got %v, want task_name=embed failures=3 task_id=embed-3 window=1h0m0s", m)
		}
	})
}

// TestRecorderConcurrentRecordsAlertOncePerWindow has many goroutines record
// failures of one name at once, in two windows: the hook runs exactly once in
// each, whatever the interleaving (run it with -race).
func TestRecorderConcurrentRecordsAlertOncePerWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const goroutines, each = 16, 20
		var calls atomic.Int64
		rec, err := dlq.NewRecorder(dlq.NewMemoryStore(), dlq.AlertConfig{
			Threshold: 10,
			OnAlert:   func(dlq.Alert) { calls.Add(1) },
			Logger:    slog.New(slog.DiscardHandler),
		})
		if err != nil {
			t.Fatalf("NewRecorder: got error %v, want nil", err)
		}
		for window := 1; window <= 2; window++ {
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() {
					for i := range each {
						e := failure("embed", (window*goroutines+g)*each+i)
						if err := rec.Record(t.Context(), e); err != nil {
							t.Errorf("Record: got error %v, want nil", err)
						}
					}
				})
			}
			wg.Wait()
			if got := calls.Load(); got != int64(window) {
				t.Fatalf("hook calls after %d windows of %d failures: got %d, want %d",
					window, goroutines*each, got, window)
			}
			time.Sleep(dlq.DefaultAlertWindow)
		}
		if n, _ := rec.Store().Len(t.Context()); n != 2*goroutines*each {
			t.Errorf("stored entries: got %d, want %d", n, 2*goroutines*each)
		}
	})
}

// TestRecorderHookRunsOutsideLocks calls the store and the Recorder from the
// hook: if Record held a store lock around the hook, this would deadlock,
// which synctest reports as a failure.
func TestRecorderHookRunsOutsideLocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := dlq.NewMemoryStore()
		var rec *dlq.Recorder
		var inHook []int
		rec, err := dlq.NewRecorder(store, dlq.AlertConfig{
			Threshold: 1,
			Logger:    slog.New(slog.DiscardHandler),
			OnAlert: func(a dlq.Alert) {
				n, err := rec.Store().Len(t.Context())
				if err != nil {
					t.Errorf("Len in hook: got error %v, want nil", err)
				}
				inHook = append(inHook, n)
				if a.TaskName == "embed" {
					if err := rec.Record(t.Context(), failure("nested", 1)); err != nil {
						t.Errorf("Record in hook: got error %v, want nil", err)
					}
				}
			},
		})
		if err != nil {
			t.Fatalf("NewRecorder: got error %v, want nil", err)
		}
		if err := rec.Record(t.Context(), failure("embed", 1)); err != nil {
			t.Fatalf("Record: got error %v, want nil", err)
		}
		// The hook saw the entry already stored, then the nested one.
		if len(inHook) != 2 || inHook[0] != 1 || inHook[1] != 2 {
			t.Errorf("Len seen by the hooks: got %v, want [1 2]", inHook)
		}
	})
}

// faultyStore is a MemoryStore whose Push or CountFailure can be made to
// fail, and which counts CountFailure calls.
type faultyStore struct {
	*dlq.MemoryStore
	pushErr, countErr error
	counted           atomic.Int64
}

func (s *faultyStore) Push(ctx context.Context, e dlq.Entry) error {
	if s.pushErr != nil {
		return s.pushErr
	}
	return s.MemoryStore.Push(ctx, e)
}

func (s *faultyStore) CountFailure(ctx context.Context, name string, w time.Duration) (int64, error) {
	s.counted.Add(1)
	if s.countErr != nil {
		return 0, s.countErr
	}
	return s.MemoryStore.CountFailure(ctx, name, w)
}

func TestRecorderStoreErrors(t *testing.T) {
	errDown := errors.New("store down")
	tests := []struct {
		name        string
		pushErr     error
		countErr    error
		entry       dlq.Entry
		wantErr     error
		wantCounted int64
		wantLen     int
	}{
		{"push fails: not counted", errDown, nil, failure("embed", 1), errDown, 0, 0},
		{"empty task id: not counted", nil, nil, dlq.Entry{TaskName: "embed"}, dlq.ErrInvalidArgument, 0, 0},
		{"count fails: entry kept, no alert", nil, errDown, failure("embed", 1), errDown, 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := &faultyStore{MemoryStore: dlq.NewMemoryStore(), pushErr: tc.pushErr, countErr: tc.countErr}
			var hooked atomic.Int64
			rec, err := dlq.NewRecorder(store, dlq.AlertConfig{
				Threshold: 1, OnAlert: func(dlq.Alert) { hooked.Add(1) }, Logger: slog.New(slog.DiscardHandler),
			})
			if err != nil {
				t.Fatalf("NewRecorder: got error %v, want nil", err)
			}
			err = rec.Record(t.Context(), tc.entry)
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("Record: got error %v, want one wrapping %v", err, tc.wantErr)
			}
			if got := store.counted.Load(); got != tc.wantCounted {
				t.Errorf("CountFailure calls: got %d, want %d", got, tc.wantCounted)
			}
			if got := hooked.Load(); got != 0 {
				t.Errorf("hook calls after a failed Record: got %d, want 0", got)
			}
			if n, _ := store.Len(t.Context()); n != tc.wantLen {
				t.Errorf("stored entries: got %d, want %d", n, tc.wantLen)
			}
		})
	}
}

func TestNewRecorderRejectsBadInput(t *testing.T) {
	tests := []struct {
		name  string
		store dlq.Store
		cfg   dlq.AlertConfig
		field string
	}{
		{"nil store", nil, dlq.AlertConfig{}, "store"},
		{"negative threshold", dlq.NewMemoryStore(), dlq.AlertConfig{Threshold: -1}, "Threshold"},
		{"negative window", dlq.NewMemoryStore(), dlq.AlertConfig{Window: -time.Second}, "Window"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := dlq.NewRecorder(tc.store, tc.cfg)
			if !errors.Is(err, dlq.ErrInvalidArgument) {
				t.Fatalf("NewRecorder: got error %v, want one wrapping ErrInvalidArgument", err)
			}
			if rec != nil {
				t.Errorf("NewRecorder: got a Recorder with error %v, want nil", err)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %q: does not name the field %s", err, tc.field)
			}
		})
	}
}
