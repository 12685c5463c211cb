package resilience

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// TestErrorChainsSayThePrefixOnce builds the chain a guarded LLM call
// produces (Parallel over Fallback over a retried, timed-out call) and
// checks the whole message says "resilience: " once, while errors.Is and
// errors.As still reach every link.
func TestErrorChainsSayThePrefixOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errMini := errors.New("llm: gpt-4o-mini: HTTP 503")
		guard := Pipeline(RetryPolicy{MaxAttempts: 1}, Timeout(5*time.Second))
		_, err := Parallel(t.Context(), []int{0}, 1, func(ctx context.Context, _ int) (string, error) {
			return Fallback(ctx, 10*time.Second,
				func(ctx context.Context) (string, error) {
					return Execute(ctx, guard, func(ctx context.Context) (string, error) {
						<-ctx.Done() // a hung call
						return "", ctx.Err()
					})
				},
				func(context.Context) (string, error) { return "", errMini })
		})
		want := "resilience: Parallel item 0: fallback failed: llm: gpt-4o-mini: HTTP 503 " +
			"(primary: gave up after 1 attempt(s): timeout after 5s: context deadline exceeded)"
		if err == nil || err.Error() != want {
			t.Fatalf("got error %v\nwant %s", err, want)
		}
		for _, target := range []error{errMini, ErrTimeout, context.DeadlineExceeded} {
			if !errors.Is(err, target) {
				t.Errorf("errors.Is(err, %v) = false, want true", target)
			}
		}
		var re *RetryError
		if !errors.As(err, &re) || re.Attempts != 1 {
			t.Errorf("errors.As(err, *RetryError) = %v, %v; want the retry's error with 1 attempt", re, err)
		}
	})
}

// TestErrorChainsKeepOtherPrefixes checks that only this package's prefix
// is dropped inside a chain: another package's says where its error came
// from, and a sentinel keeps its text after the prefix.
func TestErrorChainsKeepOtherPrefixes(t *testing.T) {
	errLLM := errors.New("llmhttp: no response headers within the attempt timeout")
	_, err := Retry(t.Context(), RetryPolicy{MaxAttempts: 1}, func(context.Context) (int, error) { return 0, errLLM })
	if want := "resilience: gave up after 1 attempt(s): llmhttp: no response headers within the attempt timeout"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	b, err := NewBreaker(BreakerConfig{FailureThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	_ = b.Do(t.Context(), func(context.Context) error { return errLLM })
	_, err = Hedge(t.Context(), 0,
		func(ctx context.Context) (int, error) {
			return Execute(ctx, b, func(context.Context) (int, error) { return 1, nil })
		},
		func(context.Context) (int, error) { return 0, errLLM })
	got := ""
	if err != nil {
		got = err.Error()
	}
	if !strings.HasPrefix(got, "resilience: all 2 hedged calls failed: circuit breaker is open until ") ||
		!strings.HasSuffix(got, "\nllmhttp: no response headers within the attempt timeout") || strings.Count(got, "resilience: ") != 1 {
		t.Errorf("got %q, want one prefix, the open breaker's text and llmhttp's error", got)
	}
	if !errors.Is(err, ErrOpen) || !errors.Is(err, errLLM) {
		t.Errorf("errors.Is(err, ErrOpen) = %v, errors.Is(err, errLLM) = %v; want both true", errors.Is(err, ErrOpen), errors.Is(err, errLLM))
	}
}
