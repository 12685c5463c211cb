package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/resilience-go/resilience"
)

// Pipeline composes policies, first outermost: here at most 2 calls in
// flight, a breaker, retries, and a deadline for each attempt. Execute runs
// a typed call under it.
func ExamplePipeline() {
	breaker, err := resilience.NewBreaker(resilience.BreakerConfig{FailureThreshold: 3})
	if err != nil {
		panic(err)
	}
	guard := resilience.Pipeline(
		resilience.NewSemaphore(2),
		breaker,
		resilience.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond},
		resilience.Timeout(50*time.Millisecond),
	)

	attempts := 0
	answer, err := resilience.Execute(context.Background(), guard, func(ctx context.Context) (string, error) {
		attempts++
		if attempts == 1 {
			<-ctx.Done() // the first attempt hangs until its deadline
			return "", ctx.Err()
		}
		return "42", nil
	})
	fmt.Println(answer, err, attempts, breaker.State())
	// Output: 42 <nil> 2 CLOSED
}

// Timeout gives each call a deadline; its error matches both ErrTimeout and
// context.DeadlineExceeded.
func ExampleTimeout() {
	err := resilience.Timeout(10*time.Millisecond).Do(context.Background(), func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	fmt.Println(errors.Is(err, resilience.ErrTimeout), errors.Is(err, context.DeadlineExceeded))
	// Output: true true
}
