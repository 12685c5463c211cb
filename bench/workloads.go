package bench

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/avast/retry-go/v4"
	"github.com/cenkalti/backoff/v4"
	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"github.com/resilience-go/resilience"
	"github.com/sony/gobreaker/v2"
)

var errBoom = errors.New("boom")

func ok(context.Context) error { return nil }

// mustBreaker returns a breaker of ours with the default config.
func mustBreaker(cfg resilience.BreakerConfig) *resilience.Breaker {
	b, err := resilience.NewBreaker(cfg)
	if err != nil {
		panic(err)
	}
	return b
}

// BreakerClosedOurs: a successful call through a closed breaker.
func BreakerClosedOurs(b *testing.B) {
	br := mustBreaker(resilience.BreakerConfig{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_ = br.Do(ctx, ok)
	}
}

// BreakerClosedGobreaker: the same through sony/gobreaker/v2.
func BreakerClosedGobreaker(b *testing.B) {
	cb := gobreaker.NewCircuitBreaker[any](gobreaker.Settings{Name: "bench"})
	fn := func() (any, error) { return nil, nil }
	b.ReportAllocs()
	for b.Loop() {
		_, _ = cb.Execute(fn)
	}
}

// BreakerClosedFailsafe: the same through failsafe-go.
func BreakerClosedFailsafe(b *testing.B) {
	cb := circuitbreaker.NewWithDefaults[any]()
	fn := func() error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		_ = failsafe.With[any](cb).Run(fn)
	}
}

// BreakerClosedParallelOurs: closed-state successes from all cores.
func BreakerClosedParallelOurs(b *testing.B) {
	br := mustBreaker(resilience.BreakerConfig{})
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = br.Do(ctx, ok)
		}
	})
}

// BreakerClosedParallelGobreaker: the same through gobreaker.
func BreakerClosedParallelGobreaker(b *testing.B) {
	cb := gobreaker.NewCircuitBreaker[any](gobreaker.Settings{Name: "bench"})
	fn := func() (any, error) { return nil, nil }
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, _ = cb.Execute(fn)
		}
	})
}

// BreakerOpenOurs: rejection by an open breaker.
func BreakerOpenOurs(b *testing.B) {
	br := mustBreaker(resilience.BreakerConfig{FailureThreshold: 1, RecoveryTimeout: time.Hour})
	ctx := context.Background()
	_ = br.Do(ctx, func(context.Context) error { return errBoom })
	if br.State() != resilience.StateOpen {
		b.Fatal("breaker did not open")
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = br.Do(ctx, ok)
	}
}

// BreakerOpenGobreaker: the same through gobreaker.
func BreakerOpenGobreaker(b *testing.B) {
	cb := gobreaker.NewCircuitBreaker[any](gobreaker.Settings{
		Name:        "bench",
		Timeout:     time.Hour,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 1 },
	})
	_, _ = cb.Execute(func() (any, error) { return nil, errBoom })
	if cb.State() != gobreaker.StateOpen {
		b.Fatal("gobreaker did not open")
	}
	fn := func() (any, error) { return nil, nil }
	b.ReportAllocs()
	for b.Loop() {
		_, _ = cb.Execute(fn)
	}
}

// RetryFirstTryOurs: Retry whose first attempt succeeds.
func RetryFirstTryOurs(b *testing.B) {
	ctx := context.Background()
	fn := func(context.Context) (int, error) { return 1, nil }
	b.ReportAllocs()
	for b.Loop() {
		_, _ = resilience.Retry(ctx, resilience.RetryPolicy{}, fn)
	}
}

// RetryFirstTryBackoff: cenkalti/backoff/v4 Retry with its default
// exponential schedule, first attempt succeeds.
func RetryFirstTryBackoff(b *testing.B) {
	op := func() error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		_ = backoff.Retry(op, backoff.NewExponentialBackOff())
	}
}

// RetryFirstTryRetryGo: avast/retry-go/v4 Do, first attempt succeeds.
func RetryFirstTryRetryGo(b *testing.B) {
	op := func() error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		_ = retry.Do(op, retry.Attempts(3))
	}
}

// PipelineOurs: Execute(ctx, Pipeline(semaphore, breaker, retry), fn).
func PipelineOurs(b *testing.B) {
	p := resilience.Pipeline(resilience.NewSemaphore(64), mustBreaker(resilience.BreakerConfig{}), resilience.RetryPolicy{})
	ctx := context.Background()
	fn := func(context.Context) (int, error) { return 1, nil }
	b.ReportAllocs()
	for b.Loop() {
		_, _ = resilience.Execute(ctx, p, fn)
	}
}

// PipelineFailsafe: failsafe-go's retry policy around its circuit breaker.
func PipelineFailsafe(b *testing.B) {
	rp := retrypolicy.NewWithDefaults[int]()
	cb := circuitbreaker.NewWithDefaults[int]()
	ex := failsafe.With[int](rp, cb)
	fn := func() (int, error) { return 1, nil }
	b.ReportAllocs()
	for b.Loop() {
		_, _ = ex.Get(fn)
	}
}
