// Command firstcall sends a batch of prompts to an LLM over plain net/http,
// each call guarded by a concurrency limit, a circuit breaker, retries and a
// per-attempt timeout, with a cheaper model, guarded the same way, as the
// fallback. It runs offline against a fake OpenAI-compatible provider
// (package llmtest) that fails some calls on purpose.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/llmhttp"
	"github.com/resilience-go/resilience/llmtest"
)

var prompts = []string{"Why are LLM calls slow?", "What does a breaker do?", "Summarise this 900-page book."}

func main() {
	srv, err := fakeProvider()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	if err := run(context.Background(), os.Stdout, srv.URL); err != nil {
		log.Fatal(err)
	}
}

// fakeProvider echoes each prompt back as its answer, except that gpt-4o is
// down for the second prompt and both models refuse the third.
func fakeProvider() (*llmtest.Server, error) {
	return llmtest.NewServer(llmtest.Config{FaultFor: func(r *llmtest.Request) llmtest.Fault {
		switch p := llmtest.Echo(r); {
		case p == prompts[1] && r.Model == "gpt-4o":
			return llmtest.Error(http.StatusServiceUnavailable)
		case p == prompts[2]:
			return llmtest.Fault{Status: http.StatusBadRequest, Message: "the prompt is over the context length"}
		}
		return llmtest.Fault{}
	}})
}

func run(ctx context.Context, out io.Writer, url string) error {
	big, small := guarded(url, "gpt-4o"), guarded(url, "gpt-4o-mini")
	// Settled, not fail-fast: one prompt's failure must not discard the other answers.
	results, err := resilience.ParallelSettled(ctx, prompts, 10, func(ctx context.Context, p string) (string, error) {
		return resilience.Fallback(ctx, 5*time.Second, // gpt-4o gets 5 s, retries included
			func(ctx context.Context) (string, error) { return big(ctx, p) },
			func(ctx context.Context) (string, error) { return small(ctx, p) },
		)
	})
	for i, r := range results {
		if r.Err != nil {
			fmt.Fprintf(out, "%d failed: %v\n", i, r.Err)
		} else {
			fmt.Fprintf(out, "%d %s\n", i, r.Value)
		}
	}
	return err // only for bad arguments
}

// guarded returns a call to model with its own limit, breaker and retries.
func guarded(url, model string) func(ctx context.Context, prompt string) (string, error) {
	breaker, _ := resilience.NewBreaker(resilience.BreakerConfig{FailureThreshold: 5}) // errs only on bad config
	// 3 attempts, jittered backoff from 100 ms; a Retry-After wait is honoured.
	retry := resilience.RetryPolicy{MaxAttempts: 3, BaseDelay: 100 * time.Millisecond}
	guard := resilience.Pipeline(
		resilience.NewSemaphore(10),        // at most 10 calls in flight
		breaker,                            // fail fast while the model is down
		retry,                              // then retry what failed
		resilience.Timeout(30*time.Second), // each attempt gets 30 s
	)
	return func(ctx context.Context, prompt string) (string, error) {
		return resilience.Execute(ctx, guard, func(ctx context.Context) (string, error) {
			return complete(ctx, url, model, prompt)
		})
	}
}

// complete asks model for a chat completion of prompt.
func complete(ctx context.Context, url, model, prompt string) (string, error) {
	body, _ := json.Marshal(map[string]any{"model": model,
		"messages": []map[string]string{{"role": "user", "content": prompt}}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		return "", resilience.Permanent(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err // a network error: worth retrying
	}
	defer resp.Body.Close()
	var answer struct {
		Model   string
		Choices []struct{ Message struct{ Content string } }
		Error   struct{ Message string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		return "", fmt.Errorf("%s: HTTP %d: %w", model, resp.StatusCode, err)
	}
	switch err := fmt.Errorf("%s: HTTP %d: %s", model, resp.StatusCode, answer.Error.Message); {
	case resp.StatusCode == http.StatusTooManyRequests:
		wait, _ := llmhttp.ParseRetryAfter(resp.Header, time.Now())
		return "", resilience.RetryAfter(err, wait) // retried, no sooner than the server asked
	case resp.StatusCode >= 500:
		return "", err // retried with backoff
	case resp.StatusCode != http.StatusOK || len(answer.Choices) == 0:
		return "", resilience.Permanent(err) // retrying a bad request cannot help
	}
	return answer.Model + ": " + answer.Choices[0].Message.Content, nil
}
