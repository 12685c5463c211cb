package main

import (
	"context"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRunSummary runs the demo at 1/100 of real time and checks what it
// reports, so the demo cannot rot.
func TestRunSummary(t *testing.T) {
	var out strings.Builder
	s, err := run(context.Background(), &out, 0.01, 7)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if ratio := s.Sequential.Seconds() / s.Concurrent.Seconds(); ratio < 2 {
		t.Errorf("sequential %v vs concurrent %v: got speed-up %.2f, want about 3", s.Sequential, s.Concurrent, ratio)
	}
	if !strings.HasPrefix(s.FallbackAnswer, "gpt-4o-mini:") {
		t.Errorf("fallback answer %q, want one from gpt-4o-mini", s.FallbackAnswer)
	}
	if s.RetryAttempts != 3 || len(s.RetryDelays) != 2 {
		t.Errorf("retry: got %d attempts and delays %v, want 3 attempts and 2 delays", s.RetryAttempts, s.RetryDelays)
	}
	if len(s.BreakerTransitions) < 3 || s.BreakerTransitions[0] != "CLOSED->OPEN" || s.BreakerTransitions[len(s.BreakerTransitions)-1] != "HALF_OPEN->CLOSED" {
		t.Errorf("breaker transitions %v, want CLOSED->OPEN first and HALF_OPEN->CLOSED last", s.BreakerTransitions)
	}
	if s.BreakerRejected == 0 || !s.BreakerRecovered {
		t.Errorf("breaker: rejected %d, recovered %v; want rejections and recovery", s.BreakerRejected, s.BreakerRecovered)
	}
	if s.StreamItems != 300 || s.StreamPeakBuffer > s.StreamBuffer+1 || s.StreamPeakBuffer < 1 {
		t.Errorf("stream: %d items, peak %d with buffer %d; want 300 items and 1 <= peak <= buffer+1", s.StreamItems, s.StreamPeakBuffer, s.StreamBuffer)
	}
	for _, want := range []string{"1. parallel calls", "2. timeout + fallback", "3. retry + backoff", "4. circuit breaker", "5. streaming"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
