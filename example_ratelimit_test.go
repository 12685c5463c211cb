package resilience_test

import (
	"context"
	"fmt"
	"time"

	"github.com/resilience-go/resilience"
)

// A provider allows 500 requests and 30,000 tokens per minute. Each call
// reserves its estimate (prompt plus max_tokens) before it starts and
// settles with the usage the response reports, so unused tokens go back.
func ExampleRateLimiter() {
	limiter, err := resilience.NewRateLimiter(resilience.RateLimit{RequestsPerMinute: 500, TokensPerMinute: 30_000})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()

	r, err := limiter.Reserve(ctx, 1_200+1_000) // prompt + max_tokens
	if err != nil {
		panic(err)
	}
	// ... call the model; the response reports 1,450 tokens used.
	r.Settle(1_450)
	fmt.Println("reserved", r.Tokens(), "tokens, settled at 1450")

	// A request larger than the whole token budget is refused, never queued.
	err = limiter.Wait(ctx, 50_000)
	fmt.Println(err)

	// After a 429 with Retry-After: 20, every caller waits. A caller whose
	// deadline comes sooner is told at once instead of waiting in vain.
	limiter.Cooldown(time.Now().Add(20 * time.Second))
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	err = limiter.Wait(short, 100)
	fmt.Println(err != nil, short.Err() == nil)
	// Output:
	// reserved 2200 tokens, settled at 1450
	// resilience: invalid argument: RateLimiter: tokens must be at most the token bucket's capacity 30000, got 50000
	// true true
}
