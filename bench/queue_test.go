package bench

import (
	"context"
	"testing"
	"time"
)

// TestQueueWorkloads runs each queue workload briefly through both
// systems, so that the harness of cmd/queuecompare is known to work. It
// needs redis-server on PATH and skips without it.
func TestQueueWorkloads(t *testing.T) {
	srv, err := StartRedisServer()
	if err != nil {
		t.Skip(err)
	}
	defer srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, mk := range []func(string) QueueSystem{NewRedisqSystem, NewAsynqSystem} {
		sys := mk(srv.Addr)
		t.Run(sys.Name(), func(t *testing.T) {
			defer sys.Close()
			if err := srv.Flush(); err != nil {
				t.Fatal(err)
			}
			if v, err := MeasureEnqueue(ctx, sys, 200); err != nil || v <= 0 {
				t.Fatalf("MeasureEnqueue: got %v, %v; want a positive rate", v, err)
			}
			if err := srv.Flush(); err != nil {
				t.Fatal(err)
			}
			if v, err := MeasureEndToEnd(ctx, sys, 200, 4, 2); err != nil || v <= 0 {
				t.Fatalf("MeasureEndToEnd: got %v, %v; want a positive rate", v, err)
			}
			if err := srv.Flush(); err != nil {
				t.Fatal(err)
			}
			p, err := MeasurePickup(ctx, sys, 100, 300*time.Millisecond, 4)
			if err != nil || p.Samples == 0 || p.P50 <= 0 || p.P99 < p.P50 || p.Max < p.P99 {
				t.Fatalf("MeasurePickup: got %+v, %v; want ordered positive percentiles", p, err)
			}
		})
	}
}

func TestTableHelpers(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -20000: "-20,000"} {
		if got := Count(n); got != want {
			t.Errorf("Count(%d) = %q, want %q", n, got, want)
		}
	}
	if got := Median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("Median = %v, want 2", got)
	}
	if got := Ratio(time.Millisecond, 0); got != 1000 {
		t.Errorf("Ratio(1ms, 0) = %v, want 1000", got)
	}
	if got := Ms(1500 * time.Microsecond); got != "1.50 ms" {
		t.Errorf("Ms = %q", got)
	}
}
