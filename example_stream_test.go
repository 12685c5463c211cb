package resilience_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/resilience-go/resilience"
)

// Stream tokens from a fast LLM to a slow consumer. The producer
// can never get more than Buffer tokens ahead, so memory stays bounded
// however slow the client is; IdleTimeout catches a stalled upstream.
func ExampleStream() {
	tokens := strings.Fields("Backpressure keeps memory bounded when streaming tokens .")
	produce := func(ctx context.Context, emit func(string) error) error {
		for _, tok := range tokens {
			if err := emit(tok); err != nil { // blocks while 2 tokens wait
				return err
			}
		}
		return nil
	}
	var out []string
	consume := func(ctx context.Context, tok string) error {
		time.Sleep(time.Millisecond) // a slow client
		out = append(out, tok)
		return nil
	}

	cfg := resilience.StreamConfig{Buffer: 2, IdleTimeout: 5 * time.Second}
	err := resilience.Stream(context.Background(), cfg, produce, consume)
	fmt.Println(strings.Join(out, " "), err)
	// Output:
	// Backpressure keeps memory bounded when streaming tokens . <nil>
}
