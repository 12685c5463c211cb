package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/resilience-go/resilience"
)

// fakeLLM stands in for a chat-completion API: it answers a prompt with its
// upper-case echo, and counts how many calls run at once.
type fakeLLM struct {
	running, peak atomic.Int64
}

func (l *fakeLLM) Complete(ctx context.Context, prompt string) (string, error) {
	n := l.running.Add(1)
	defer l.running.Add(-1)
	for p := l.peak.Load(); n > p; p = l.peak.Load() {
		if l.peak.CompareAndSwap(p, n) {
			break
		}
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return strings.ToUpper(prompt), nil
}

// Concurrent LLM calls with a limit. Parallel keeps at most 2
// calls in flight and returns the answers in the order of the prompts.
func ExampleParallel() {
	llm := &fakeLLM{}
	prompts := []string{"summarise chapter 1", "summarise chapter 2", "summarise chapter 3", "summarise chapter 4"}

	answers, err := resilience.Parallel(context.Background(), prompts, 2, llm.Complete)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	for _, a := range answers {
		fmt.Println(a)
	}
	fmt.Println("never more than 2 in flight:", llm.peak.Load() <= 2)
	// Output:
	// SUMMARISE CHAPTER 1
	// SUMMARISE CHAPTER 2
	// SUMMARISE CHAPTER 3
	// SUMMARISE CHAPTER 4
	// never more than 2 in flight: true
}

// ParallelSettled keeps every outcome: one failing prompt does not cancel
// the others.
func ExampleParallelSettled() {
	prompts := []string{"hello", "", "world"}
	results, _ := resilience.ParallelSettled(context.Background(), prompts, 3,
		func(ctx context.Context, p string) (string, error) {
			if p == "" {
				return "", errors.New("empty prompt")
			}
			return strings.ToUpper(p), nil
		})
	for i, r := range results {
		if r.Err != nil {
			fmt.Printf("%d: error: %v\n", i, r.Err)
			continue
		}
		fmt.Printf("%d: %s\n", i, r.Value)
	}
	// Output:
	// 0: HELLO
	// 1: error: empty prompt
	// 2: WORLD
}

// A Semaphore shared by every request handler caps the calls to one
// upstream across the whole process. DoWeighted takes token-sized permits:
// here a budget of 1,000 tokens in flight.
func ExampleSemaphore() {
	tokens := resilience.NewSemaphore(1000)
	ctx := context.Background()

	err := tokens.DoWeighted(ctx, 600, func(ctx context.Context) error {
		fmt.Println("in flight:", tokens.InFlight())
		// A 600-token request cannot start beside this one; a 400-token one can.
		return tokens.DoWeighted(ctx, 400, func(context.Context) error {
			fmt.Println("in flight:", tokens.InFlight())
			return nil
		})
	})
	fmt.Println("error:", err, "- in flight after:", tokens.InFlight())

	// A request larger than the whole budget fails at once instead of hanging.
	err = tokens.Acquire(ctx, 5000)
	fmt.Println(err)
	// Output:
	// in flight: 600
	// in flight: 1000
	// error: <nil> - in flight after: 0
	// resilience: invalid argument: Semaphore.Acquire: weight must be in [1, 1000] (the capacity), got 5000
}
