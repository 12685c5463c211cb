// Package resilience makes calls to slow, rate-limited and flaky upstreams,
// such as LLM APIs, survivable. It offers five patterns that keep AI
// pipelines running, as small composable primitives:
//
// Bounded parallel calls ([Parallel], [ParallelSettled], [Semaphore]):
//
//	answers, err := resilience.Parallel(ctx, prompts, 5, func(ctx context.Context, p string) (string, error) {
//		return llm.Complete(ctx, p)
//	})
//
// Timeout with fallback, and hedging ([Fallback], [Hedge]):
//
//	answer, err := resilience.Fallback(ctx, 3*time.Second, bigModel, cheapModel)
//
// Retry with jittered exponential backoff that honours Retry-After ([Retry],
// [RetryPolicy], [RetryAfter], [Permanent]):
//
//	answer, err := resilience.Retry(ctx, resilience.RetryPolicy{MaxAttempts: 4}, call)
//
// A three-state circuit breaker ([Breaker], [BreakerConfig]):
//
//	breaker, _ := resilience.NewBreaker(resilience.BreakerConfig{FailureThreshold: 5})
//	err := breaker.Do(ctx, func(ctx context.Context) error { ... })
//
// Bounded streaming with backpressure and stall timeouts ([Stream]):
//
//	err := resilience.Stream(ctx, resilience.StreamConfig{Buffer: 64, IdleTimeout: 10 * time.Second}, produce, consume)
//
// Every long-lived primitive is a [Policy]; [Pipeline] composes them, first
// outermost, and [Execute] runs a typed call under one:
//
//	guard := resilience.Pipeline(semaphore, breaker, resilience.RetryPolicy{}, resilience.Timeout(30*time.Second))
//	answer, err := resilience.Execute(ctx, guard, call)
//
// All blocking calls take a context first, return an error wrapping
// ctx.Err() when it ends, and leave no goroutine running after they return.
// Bad arguments are reported as errors wrapping [ErrInvalidArgument], never
// as hangs or panics.
package resilience
