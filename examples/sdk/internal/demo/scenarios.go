package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/llmtest"
)

// Prompt is what every scenario asks.
const Prompt = "hello big world"

// StormCalls is how many calls the storm scenario makes.
const StormCalls = 4

// Scenarios lists the scenarios in the order the programs run them.
func Scenarios() []Scenario {
	return []Scenario{
		{"429 with Retry-After, then success", RateLimited},
		{"5xx storm: the breaker opens, the fallback model answers", Storm},
		{"400 is not retried", BadRequest},
		{"hung server, cut by the attempt timeout", Hang},
		{"stream cut mid-way", CutStream},
		{"stream stalls, cut by the idle watchdog", StallStream},
	}
}

// RateLimited: the first attempt gets a 429 asking to wait RetryAfter; the
// transport waits that long and the second attempt succeeds.
func RateLimited(ctx context.Context, env Env) (Result, error) {
	return run(ctx, env, "rate limited", llmtest.Config{}, []llmtest.Fault{llmtest.RateLimited(RetryAfter)},
		func(ctx context.Context, chat Chat, res *Result) {
			res.Text, res.Err = chat(ctx, PrimaryModel, Prompt, false)
		})
}

// Storm: every call to the primary model fails with 503. The first call's
// attempts open the primary model's breaker; later calls are rejected by
// the breaker without reaching the server, and resilience.Fallback asks
// the fallback model, whose breaker is its own.
func Storm(ctx context.Context, env Env) (Result, error) {
	cfg := llmtest.Config{FaultFor: func(req *llmtest.Request) llmtest.Fault {
		if req.Model == PrimaryModel {
			return llmtest.Error(503)
		}
		return llmtest.Fault{}
	}}
	return run(ctx, env, "storm", cfg, nil, func(ctx context.Context, chat Chat, res *Result) {
		for range StormCalls {
			var a Answer
			a.Text, a.Err = resilience.Fallback(ctx, FallbackTimeout,
				func(ctx context.Context) (string, error) {
					text, err := chat(ctx, PrimaryModel, Prompt, false)
					a.PrimaryErr = err
					return text, err
				},
				func(ctx context.Context) (string, error) { return chat(ctx, FallbackModel, Prompt, false) })
			res.Answers = append(res.Answers, a)
		}
	})
}

// BadRequest: a 400 (context_length_exceeded) is the caller's fault and
// comes back after one attempt.
func BadRequest(ctx context.Context, env Env) (Result, error) {
	f := llmtest.Fault{Status: 400, Code: "context_length_exceeded",
		Message: "This model's maximum context length is 8192 tokens."}
	return run(ctx, env, "bad request", llmtest.Config{}, []llmtest.Fault{f},
		func(ctx context.Context, chat Chat, res *Result) {
			res.Text, res.Err = chat(ctx, PrimaryModel, Prompt, false)
		})
}

// Hang: the first attempt never gets an answer; the attempt timeout cuts it
// and the retry succeeds.
func Hang(ctx context.Context, env Env) (Result, error) {
	return run(ctx, env, "hang", llmtest.Config{}, []llmtest.Fault{llmtest.Hang()},
		func(ctx context.Context, chat Chat, res *Result) {
			res.Text, res.Err = chat(ctx, PrimaryModel, Prompt, false)
		})
}

// CutStream: the connection drops after two chunks of a stream. The SDK
// reports an error instead of a short answer; the transport does not retry
// (part of the answer was already used).
func CutStream(ctx context.Context, env Env) (Result, error) {
	return run(ctx, env, "stream cut", llmtest.Config{}, []llmtest.Fault{llmtest.CutStream(2)},
		func(ctx context.Context, chat Chat, res *Result) {
			res.Text, res.Err = chat(ctx, PrimaryModel, Prompt, true)
		})
}

// StallStream: the stream goes silent after one chunk; the transport's idle
// watchdog ends it with an error after StreamIdleTimeout.
func StallStream(ctx context.Context, env Env) (Result, error) {
	return run(ctx, env, "stream stall", llmtest.Config{}, []llmtest.Fault{llmtest.StallStream(1)},
		func(ctx context.Context, chat Chat, res *Result) {
			res.Text, res.Err = chat(ctx, PrimaryModel, Prompt, true)
		})
}

// Print writes a scenario's result for a person to read; describe renders
// the SDK's errors (nil means err.Error()).
func Print(w io.Writer, name string, r Result, describe func(error) string) {
	if describe == nil {
		describe = func(err error) string { return err.Error() }
	}
	fmt.Fprintf(w, "== %s ==\n", name)
	for i, a := range r.Answers {
		why := "answered"
		switch {
		case errors.Is(a.PrimaryErr, resilience.ErrOpen):
			why = "rejected at once by its open breaker"
		case a.PrimaryErr != nil:
			why = "failed: " + describe(a.PrimaryErr)
		}
		fmt.Fprintf(w, "call %d: primary %s\n        answer %q", i+1, why, a.Text)
		if a.Err != nil {
			fmt.Fprintf(w, ", error: %s", describe(a.Err))
		}
		fmt.Fprintln(w)
	}
	if r.Answers == nil {
		fmt.Fprintf(w, "answer:   %q\n", r.Text)
		if r.Err != nil {
			fmt.Fprintf(w, "error:    %s\n", describe(r.Err))
		}
	}
	fmt.Fprintf(w, "ledger:   SDK requests %d -> attempts sent %d -> server requests %d, SDK retries %d\n",
		r.Calls, r.Sent, r.Stats.Requests, r.Stats.SDKRetries)
	fmt.Fprintf(w, "server:   statuses %v", r.Stats.ByStatus)
	if len(r.Stats.ByModel) > 1 {
		fmt.Fprintf(w, ", models %v", r.Stats.ByModel)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "took:     %v\n\n", r.Elapsed.Round(time.Millisecond))
}

// RunAll runs every scenario through env's SDK, printing the results to w
// (errors rendered by describe). It reports whether every ledger
// balanced: the server received exactly the attempts the transport sent,
// and none was a retry of the SDK's own.
func RunAll(ctx context.Context, w io.Writer, env Env, describe func(error) string) (bool, error) {
	ok := true
	for _, sc := range Scenarios() {
		r, err := sc.Run(ctx, env)
		if err != nil {
			return false, fmt.Errorf("%s: %w", sc.Name, err)
		}
		Print(w, sc.Name, r, describe)
		if r.Sent != r.Stats.Requests || r.Stats.SDKRetries != 0 {
			ok = false
		}
	}
	if ok {
		fmt.Fprintln(w, "every request the server saw was an attempt the transport sent: no retry was multiplied")
	}
	return ok, nil
}

// Main is a program's main: it runs every scenario through the SDK that
// newChat wires, in real time, and exits non-zero when a scenario cannot
// run or a ledger does not balance.
func Main(sdk string, newChat NewChat, describe func(error) string) {
	fmt.Printf("%s through llmhttp, against the llmtest fake provider (offline)\n\n", sdk)
	ok, err := RunAll(context.Background(), os.Stdout, Env{NewChat: newChat}, describe)
	if err != nil {
		log.Fatal(err)
	}
	if !ok {
		log.Fatal("a ledger does not balance: the server saw requests the transport did not send")
	}
}
