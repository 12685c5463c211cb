package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/resilience-go/resilience"
)

// flakyLLM simulates a model API that is down for its first calls, then
// recovers.
type flakyLLM struct{ failuresLeft int }

var errUnavailable = errors.New("503 service unavailable")

func (l *flakyLLM) Generate(_ context.Context, prompt string) (string, error) {
	if l.failuresLeft > 0 {
		l.failuresLeft--
		return "", errUnavailable
	}
	return "answer to " + prompt, nil
}

// The circuit breaker pattern: after 3 consecutive failures the breaker
// opens and fails fast instead of calling the struggling API; after the
// recovery timeout it lets one trial call through, which closes it again.
func ExampleBreaker() {
	breaker, err := resilience.NewBreaker(resilience.BreakerConfig{
		FailureThreshold: 3,
		RecoveryTimeout:  50 * time.Millisecond, // 30 s or more in production
		HalfOpenMaxCalls: 1,
		OnStateChange: func(from, to resilience.State) {
			fmt.Printf("  [breaker %v -> %v]\n", from, to)
		},
	})
	if err != nil {
		panic(err)
	}
	llm := &flakyLLM{failuresLeft: 3}
	ask := func(prompt string) {
		var answer string
		err := breaker.Do(context.Background(), func(ctx context.Context) error {
			var err error
			answer, err = llm.Generate(ctx, prompt)
			return err
		})
		switch {
		case errors.Is(err, resilience.ErrOpen):
			fmt.Printf("%s: rejected without calling the API\n", prompt)
		case err != nil:
			fmt.Printf("%s: failed: %v\n", prompt, err)
		default:
			fmt.Printf("%s: %s\n", prompt, answer)
		}
	}

	for _, p := range []string{"q1", "q2", "q3", "q4"} {
		ask(p)
	}
	time.Sleep(60 * time.Millisecond) // the recovery timeout passes
	fmt.Println("state:", breaker.State())
	ask("q5")
	fmt.Println("state:", breaker.State())

	// Output:
	// q1: failed: 503 service unavailable
	// q2: failed: 503 service unavailable
	//   [breaker CLOSED -> OPEN]
	// q3: failed: 503 service unavailable
	// q4: rejected without calling the API
	//   [breaker OPEN -> HALF_OPEN]
	// state: HALF_OPEN
	//   [breaker HALF_OPEN -> CLOSED]
	// q5: answer to q5
	// state: CLOSED
}

// Trip opens a breaker on the caller's decision, for example when the API
// says the quota is exhausted for the next minute.
func ExampleBreaker_Trip() {
	breaker, err := resilience.NewBreaker(resilience.BreakerConfig{})
	if err != nil {
		panic(err)
	}
	breaker.Trip(time.Minute) // a 429 with Retry-After: 60

	err = breaker.Do(context.Background(), func(context.Context) error { return nil })
	var open *resilience.BreakerOpenError
	if errors.As(err, &open) {
		fmt.Println("rejected, retry in", time.Until(open.Until).Round(time.Minute))
	}
	fmt.Println(breaker.State())
	// Output:
	// rejected, retry in 1m0s
	// OPEN
}

// A BreakerGroup keeps one breaker per provider, so one provider's outage
// does not block calls to the others.
func ExampleBreakerGroup() {
	group, err := resilience.NewBreakerGroup(resilience.BreakerGroupConfig{
		Breaker: resilience.BreakerConfig{FailureThreshold: 2},
		OnStateChange: func(provider string, from, to resilience.State) {
			fmt.Printf("%s: %v -> %v\n", provider, from, to)
		},
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	down := func(context.Context) error { return errUnavailable }
	up := func(context.Context) error { return nil }

	for range 3 {
		_ = group.Do(ctx, "provider-a", down)
	}
	fmt.Println("provider-a open:", errors.Is(group.Do(ctx, "provider-a", up), resilience.ErrOpen))
	fmt.Println("provider-b error:", group.Do(ctx, "provider-b", up))
	fmt.Println("keys:", group.Len())
	// Output:
	// provider-a: CLOSED -> OPEN
	// provider-a open: true
	// provider-b error: <nil>
	// keys: 2
}
