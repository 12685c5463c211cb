package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/resilience-go/resilience"
)

// errOverloaded is a fake provider's 503.
var errOverloaded = errors.New("503 overloaded")

// Retry with exponential backoff. The fake LLM fails
// twice, then answers; OnRetry shows each wait (no jitter here, so the
// delays are exactly 100 ms and 200 ms).
func ExampleRetry() {
	calls := 0
	complete := func(ctx context.Context) (string, error) {
		calls++
		if calls <= 2 {
			return "", errOverloaded
		}
		return "Backpressure slows the producer to the consumer's pace.", nil
	}
	policy := resilience.RetryPolicy{
		MaxAttempts: 4,
		BaseDelay:   100 * time.Millisecond,
		Jitter:      resilience.JitterNone,
		OnRetry: func(e resilience.RetryEvent) {
			fmt.Printf("attempt %d failed (%v); retrying in %v\n", e.Attempt, e.Err, e.Delay)
		},
	}
	answer, err := resilience.Retry(context.Background(), policy, complete)
	fmt.Println(answer, err)
	// Output:
	// attempt 1 failed (503 overloaded); retrying in 100ms
	// attempt 2 failed (503 overloaded); retrying in 200ms
	// Backpressure slows the producer to the consumer's pace. <nil>
}

// A 400 will not get better by asking again: Permanent stops at once, and
// the error still matches the original.
func ExamplePermanent() {
	errBadRequest := errors.New("400 context_length_exceeded")
	calls := 0
	_, err := resilience.Retry(context.Background(), resilience.RetryPolicy{}, func(ctx context.Context) (string, error) {
		calls++
		return "", resilience.Permanent(errBadRequest)
	})
	fmt.Println(calls, errors.Is(err, errBadRequest))
	fmt.Println(err)
	// Output:
	// 1 true
	// resilience: gave up after 1 attempt(s): 400 context_length_exceeded
}

// A server that answers 429 with Retry-After: 2 s gets at least that wait,
// even though the schedule's first delay is shorter. With a deadline that
// the wait cannot fit, Retry gives up at once instead of sleeping in vain.
func ExampleRetryAfter() {
	rateLimited := func(ctx context.Context) (string, error) {
		return "", resilience.RetryAfter(errors.New("429 rate limited"), 2*time.Second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	_, err := resilience.Retry(ctx, resilience.RetryPolicy{BaseDelay: 10 * time.Millisecond}, rateLimited)
	fmt.Println(err)
	fmt.Println("waited less than 100ms:", time.Since(start) < 100*time.Millisecond)
	// Output:
	// resilience: gave up after 1 attempt(s): 429 rate limited
	// waited less than 100ms: true
}

// A budget shared by every caller of one upstream keeps retries to a share
// of calls, so a dead upstream is not hammered by everyone's retries.
func ExampleRetryBudget() {
	budget, err := resilience.NewRetryBudget(resilience.RetryBudgetConfig{Ratio: 0.1, MinRetries: 1, Window: time.Minute})
	if err != nil {
		panic(err)
	}
	policy := resilience.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, Budget: budget}
	down := func(ctx context.Context) (int, error) { return 0, errOverloaded }
	for range 3 {
		_, err := resilience.Retry(context.Background(), policy, down)
		var re *resilience.RetryError
		errors.As(err, &re)
		fmt.Printf("attempts %d, budget exhausted: %v\n", re.Attempts, errors.Is(err, resilience.ErrRetryBudgetExhausted))
	}
	// Output:
	// attempts 2, budget exhausted: true
	// attempts 1, budget exhausted: true
	// attempts 1, budget exhausted: true
}
