package resilience_test

import (
	"context"
	"fmt"
	"time"

	"github.com/resilience-go/resilience"
)

// Try the expensive model first and fall back to a cheaper one
// when it does not answer in time. The fake GPT-4 here is stuck; Fallback
// cancels it after the timeout and asks the cheap model.
func ExampleFallback() {
	gpt4 := func(ctx context.Context) (string, error) {
		<-ctx.Done() // overloaded: answers only when given up on
		return "", ctx.Err()
	}
	cheap := func(ctx context.Context) (string, error) {
		return "answer from gpt-4o-mini", nil
	}

	answer, err := resilience.Fallback(context.Background(), 20*time.Millisecond, gpt4, cheap)
	fmt.Println(answer, err)
	// Output:
	// answer from gpt-4o-mini <nil>
}

// Hedge asks a second replica when the first has not answered within the
// delay, and takes the first answer. The loser is cancelled.
func ExampleHedge() {
	slowReplica := func(ctx context.Context) (string, error) {
		<-ctx.Done() // a stuck connection
		return "", ctx.Err()
	}
	fastReplica := func(ctx context.Context) (string, error) {
		return "answer from replica 2", nil
	}

	answer, err := resilience.Hedge(context.Background(), 10*time.Millisecond, slowReplica, fastReplica)
	fmt.Println(answer, err)
	// Output:
	// answer from replica 2 <nil>
}
