package resilience_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/resilience-go/resilience"
)

// httpStatus is an SDK-style error with a status code.
type httpStatus int

func (s httpStatus) Error() string   { return fmt.Sprintf("HTTP %d", int(s)) }
func (s httpStatus) StatusCode() int { return int(s) }

// The limit grows by one after each run of two successes and halves when the
// upstream answers 503 (or 429, 529, or a call times out).
func ExampleAdaptiveLimiter() {
	limiter, err := resilience.NewAdaptiveLimiter(resilience.AdaptiveConfig{
		Min: 1, Initial: 1, Max: 8, SuccessesToGrow: 2,
		OnLimitChange: func(from, to int) { fmt.Printf("limit %d -> %d\n", from, to) },
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	ok := func(context.Context) error { return nil }
	overloaded := func(context.Context) error { return httpStatus(503) }

	for range 4 {
		_ = limiter.Do(ctx, ok)
	}
	err = limiter.Do(ctx, overloaded)
	var status interface{ StatusCode() int }
	fmt.Println(errors.As(err, &status), status.StatusCode(), "limit now", limiter.Limit())
	// Output:
	// limit 1 -> 2
	// limit 2 -> 3
	// limit 3 -> 1
	// true 503 limit now 1
}
