package resilience

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"
)

func benchOK(context.Context) error { return nil }

var errBench = errors.New("bench: upstream failed")

func benchFail(context.Context) error { return errBench }

func newBenchBreaker(b *testing.B, cfg BreakerConfig) *Breaker {
	b.Helper()
	br, err := NewBreaker(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return br
}

// BenchmarkBreakerClosedSuccess is the hot path: a successful call through a
// closed breaker in consecutive-failure mode.
func BenchmarkBreakerClosedSuccess(b *testing.B) {
	br := newBenchBreaker(b, BreakerConfig{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := br.Do(ctx, benchOK); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBreakerClosedSuccessParallel shows that successes scale: they
// write nothing shared.
func BenchmarkBreakerClosedSuccessParallel(b *testing.B) {
	br := newBenchBreaker(b, BreakerConfig{})
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := br.Do(ctx, benchOK); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkBreakerClosedMixed alternates a failure and a success, so the
// counter is written on every call.
func BenchmarkBreakerClosedMixed(b *testing.B) {
	br := newBenchBreaker(b, BreakerConfig{})
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		fn := benchOK
		if i&1 == 0 {
			fn = benchFail
		}
		i++
		_ = br.Do(ctx, fn)
	}
}

// BenchmarkBreakerOpenReject is the rejection of a call by an open breaker.
func BenchmarkBreakerOpenReject(b *testing.B) {
	br := newBenchBreaker(b, BreakerConfig{})
	br.Trip(time.Hour)
	ctx := context.Background()
	if err := br.Do(ctx, benchOK); !errors.Is(err, ErrOpen) {
		b.Fatalf("got %v, want ErrOpen", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := br.Do(ctx, benchOK); err == nil {
			b.Fatal("got nil, want ErrOpen")
		}
	}
}

// BenchmarkBreakerOpenRejectParallel is the rejection under contention.
func BenchmarkBreakerOpenRejectParallel(b *testing.B) {
	br := newBenchBreaker(b, BreakerConfig{})
	br.Trip(time.Hour)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := br.Do(ctx, benchOK); err == nil {
				b.Error("got nil, want ErrOpen")
				return
			}
		}
	})
}

// BenchmarkBreakerFailureRateSuccess is a successful call in failure-rate
// mode: it reads the clock and records the outcome in the window under the
// lock.
func BenchmarkBreakerFailureRateSuccess(b *testing.B) {
	br := newBenchBreaker(b, BreakerConfig{FailureRate: 0.5, Window: 10 * time.Second})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := br.Do(ctx, benchOK); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBreakerFailureRateSuccessParallel is the same under contention.
func BenchmarkBreakerFailureRateSuccessParallel(b *testing.B) {
	br := newBenchBreaker(b, BreakerConfig{FailureRate: 0.5, Window: 10 * time.Second})
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := br.Do(ctx, benchOK); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkBreakerExecute is a typed call through [Execute]: one allocation,
// the value holder.
func BenchmarkBreakerExecute(b *testing.B) {
	br := newBenchBreaker(b, BreakerConfig{})
	ctx := context.Background()
	fn := func(context.Context) (int, error) { return 1, nil }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Execute(ctx, br, fn); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBreakerGroupDo is a successful call through the breaker of an
// existing key.
func BenchmarkBreakerGroupDo(b *testing.B) {
	g, err := NewBreakerGroup(BreakerGroupConfig{})
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]string, 16)
	for i := range keys {
		keys[i] = "provider-" + strconv.Itoa(i)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if err := g.Do(ctx, keys[i&15], benchOK); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}
