package dlq

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"
)

// counterLen returns how many failure counters s holds.
func (s *MemoryStore) counterLen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.counts)
}

// TestMemoryStoreForgetsEndedWindows counts 1,000 new names every minute
// for 20 minutes with a 1-minute window: without sweeping, the store would
// hold 20,000 counters; with it, the names of ended windows are dropped,
// while a name still in its (1h) window keeps its count through the sweeps.
func TestMemoryStoreForgetsEndedWindows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const perMinute, minutes = 1000, 20
		s := NewMemoryStore()
		ctx := t.Context()
		maxLen := 0
		for m := range minutes {
			for i := range perMinute {
				if _, err := s.CountFailure(ctx, fmt.Sprintf("m%d-%d", m, i), time.Minute); err != nil {
					t.Fatalf("CountFailure: got error %v, want nil", err)
				}
				maxLen = max(maxLen, s.counterLen())
			}
			got, err := s.CountFailure(ctx, "steady", time.Hour)
			if err != nil {
				t.Fatalf("CountFailure(steady): got error %v, want nil", err)
			}
			if got != int64(m+1) {
				t.Fatalf("minute %d: CountFailure(steady, 1h): got %d, want %d (a live counter was swept)", m, got, m+1)
			}
			time.Sleep(time.Minute)
		}
		// Live counters never exceed perMinute+1; the map may hold up to
		// twice the live ones before a sweep.
		if limit := 2*perMinute + 2; maxLen > limit {
			t.Errorf("failure counters held: got at most %d, want at most %d", maxLen, limit)
		}
	})
}

func TestWindowIndex(t *testing.T) {
	epoch := time.Unix(0, 0)
	tests := []struct {
		name string
		t    time.Time
		w    time.Duration
		want int64
	}{
		{"epoch", epoch, time.Hour, 0},
		{"just before the first hour ends", epoch.Add(time.Hour - 1), time.Hour, 0},
		{"first hour ends", epoch.Add(time.Hour), time.Hour, 1},
		{"just before the epoch", epoch.Add(-1), time.Hour, -1},
		{"one window before the epoch", epoch.Add(-time.Hour), time.Hour, -1},
		{"just past one window before", epoch.Add(-time.Hour - 1), time.Hour, -2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := windowIndex(tc.t, tc.w); got != tc.want {
				t.Errorf("windowIndex(%v, %v): got %d, want %d", tc.t.UTC(), tc.w, got, tc.want)
			}
		})
	}
}
