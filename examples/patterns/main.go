// Command patterns runs the five resilience patterns against a simulated
// LLM (latency 0.5-3 s, injected timeouts and errors), scaled down so the
// whole run takes a few seconds, and prints what happened.
//
//	go run ./examples/patterns [-scale 0.1] [-seed 1]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/resilience-go/resilience"
)

func main() {
	scale := flag.Float64("scale", 0.1, "time scale: 1 runs at real LLM latencies, 0.1 ten times faster")
	seed := flag.Uint64("seed", 1, "seed of the simulated LLM's latencies and faults")
	flag.Parse()
	if !(*scale > 0 && *scale <= 10) {
		fmt.Fprintln(os.Stderr, "patterns: -scale must be in (0, 10]")
		os.Exit(2)
	}
	if _, err := run(context.Background(), os.Stdout, *scale, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "patterns:", err)
		os.Exit(1)
	}
}

// errUnavailable is the simulated provider's 503.
var errUnavailable = errors.New("503 service unavailable")

// llm is a simulated LLM endpoint. Latencies are given at full scale.
type llm struct {
	scale float64
	mu    sync.Mutex
	rng   *rand.Rand
	calls atomic.Int64
}

func (m *llm) d(full time.Duration) time.Duration { return time.Duration(float64(full) * m.scale) }

// latency draws a full-scale latency in [0.5 s, 3 s).
func (m *llm) latency() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return 500*time.Millisecond + time.Duration(m.rng.Int64N(int64(2500*time.Millisecond)))
}

// complete answers prompt after the given full-scale latency, or fails with
// fail, and honours ctx.
func (m *llm) complete(ctx context.Context, model, prompt string, latency time.Duration, fail error) (string, error) {
	m.calls.Add(1)
	t := time.NewTimer(m.d(latency))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	if fail != nil {
		return "", fail
	}
	return fmt.Sprintf("%s: answer to %q", model, prompt), nil
}

// Summary is what a run measured; the test checks it.
type Summary struct {
	Sequential, Concurrent time.Duration // pattern 1, at full scale
	FallbackAnswer         string        // pattern 2
	FallbackAfter          time.Duration // full scale
	RetryAttempts          int           // pattern 3
	RetryDelays            []time.Duration
	BreakerTransitions     []string // pattern 4
	BreakerRejected        int
	BreakerRecovered       bool
	StreamItems            int // pattern 5
	StreamPeakBuffer       int
	StreamBuffer           int
	LLMCalls               int64
}

func run(ctx context.Context, out io.Writer, scale float64, seed uint64) (Summary, error) {
	m := &llm{scale: scale, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	full := func(d time.Duration) time.Duration {
		return time.Duration(float64(d) / scale).Round(10 * time.Millisecond)
	}
	var s Summary
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(out, "Five resilience patterns against a simulated LLM (time scale %.2g, seed %d)\n\n", scale, seed)

	// Pattern 1: 3 calls of 1.5 s, one after another, then at once.
	prompts := []string{"summarise", "translate", "classify"}
	start := time.Now()
	for _, p := range prompts {
		if _, err := m.complete(ctx, "gpt-4o", p, 1500*time.Millisecond, nil); err != nil {
			return s, err
		}
	}
	s.Sequential = full(time.Since(start))
	start = time.Now()
	if _, err := resilience.Parallel(ctx, prompts, 5, func(ctx context.Context, p string) (string, error) {
		return m.complete(ctx, "gpt-4o", p, 1500*time.Millisecond, nil)
	}); err != nil {
		return s, err
	}
	s.Concurrent = full(time.Since(start))
	fmt.Fprintln(tw, "1. parallel calls\t3 calls of 1.5 s\t")
	fmt.Fprintf(tw, "\tsequential\t%v\t%.2f req/s\n", s.Sequential, 3/s.Sequential.Seconds())
	fmt.Fprintf(tw, "\tParallel(limit 5)\t%v\t%.2f req/s (%.1fx)\n", s.Concurrent, 3/s.Concurrent.Seconds(), s.Sequential.Seconds()/s.Concurrent.Seconds())

	// Pattern 2: the big model hangs past its 2 s budget; the small one answers.
	start = time.Now()
	answer, err := resilience.Fallback(ctx, m.d(2*time.Second),
		func(ctx context.Context) (string, error) {
			return m.complete(ctx, "gpt-4o", "explain backpressure", 6*time.Second, nil)
		},
		func(ctx context.Context) (string, error) {
			return m.complete(ctx, "gpt-4o-mini", "explain backpressure", m.latency()/4, nil)
		})
	if err != nil {
		return s, err
	}
	s.FallbackAnswer, s.FallbackAfter = answer, full(time.Since(start))
	fmt.Fprintln(tw, "2. timeout + fallback\tgpt-4o budget 2 s\t")
	fmt.Fprintf(tw, "\tanswered by\t%s\tafter %v\n", answer[:len("gpt-4o-mini")], s.FallbackAfter)

	// Pattern 3: two 503s, then success; delays doubling from 1 s, full jitter.
	failures := 2
	policy := resilience.RetryPolicy{
		MaxAttempts: 4, BaseDelay: m.d(time.Second), MaxDelay: m.d(60 * time.Second),
		OnRetry: func(e resilience.RetryEvent) { s.RetryDelays = append(s.RetryDelays, full(e.Delay)) },
	}
	_, err = resilience.Retry(ctx, policy, func(ctx context.Context) (string, error) {
		s.RetryAttempts++
		var fail error
		if s.RetryAttempts <= failures {
			fail = errUnavailable
		}
		return m.complete(ctx, "gpt-4o", "draft an email", 500*time.Millisecond, fail)
	})
	if err != nil {
		return s, err
	}
	fmt.Fprintln(tw, "3. retry + backoff\t2 x 503, then 200\t")
	fmt.Fprintf(tw, "\tattempts\t%d\tdelays %v\n", s.RetryAttempts, s.RetryDelays)

	// Pattern 4: the upstream is down for 4 s; the breaker opens after 3
	// failures, rejects at once, probes after 2 s and closes when it is back.
	var mu sync.Mutex
	breaker, err := resilience.NewBreaker(resilience.BreakerConfig{
		FailureThreshold: 3, RecoveryTimeout: m.d(2 * time.Second), HalfOpenMaxCalls: 1,
		OnStateChange: func(from, to resilience.State) {
			mu.Lock()
			s.BreakerTransitions = append(s.BreakerTransitions, from.String()+"->"+to.String())
			mu.Unlock()
		},
	})
	if err != nil {
		return s, err
	}
	downUntil := time.Now().Add(m.d(4 * time.Second))
	for range 24 {
		err := breaker.Do(ctx, func(ctx context.Context) error {
			var fail error
			if time.Now().Before(downUntil) {
				fail = errUnavailable
			}
			_, err := m.complete(ctx, "gpt-4o", "ping", 100*time.Millisecond, fail)
			return err
		})
		if errors.Is(err, resilience.ErrOpen) {
			s.BreakerRejected++
		}
		if err == nil && breaker.State() == resilience.StateClosed && time.Now().After(downUntil) {
			s.BreakerRecovered = true
			break
		}
		time.Sleep(m.d(250 * time.Millisecond))
	}
	fmt.Fprintln(tw, "4. circuit breaker\tupstream down 4 s\t")
	fmt.Fprintf(tw, "\ttransitions\t%v\trejected at once: %d\n", s.BreakerTransitions, s.BreakerRejected)

	// Pattern 5: 300 tokens produced fast, consumed slowly, buffer 16.
	s.StreamBuffer = 16
	var produced, taken, peak atomic.Int64
	err = resilience.Stream(ctx, resilience.StreamConfig{Buffer: s.StreamBuffer, IdleTimeout: m.d(5 * time.Second)},
		func(ctx context.Context, emit func(string) error) error {
			for i := range 300 {
				if err := emit(fmt.Sprintf("tok%d", i)); err != nil {
					return err
				}
				if n := produced.Add(1) - taken.Load(); n > peak.Load() {
					peak.Store(n)
				}
			}
			return nil
		},
		func(ctx context.Context, tok string) error {
			taken.Add(1)
			time.Sleep(m.d(2 * time.Millisecond))
			s.StreamItems++
			return nil
		})
	if err != nil {
		return s, err
	}
	// produced-taken also counts the item the consumer has received but not
	// yet started on, so its bound is Buffer+1.
	s.StreamPeakBuffer = int(peak.Load())
	fmt.Fprintln(tw, "5. streaming\t300 tokens, slow consumer\t")
	fmt.Fprintf(tw, "\tdelivered\t%d in order\tpeak ahead of consumer: %d (buffer %d + 1 in hand)\n", s.StreamItems, s.StreamPeakBuffer, s.StreamBuffer)

	s.LLMCalls = m.calls.Load()
	fmt.Fprintf(tw, "\nsimulated LLM calls\t%d\t\n", s.LLMCalls)
	return s, tw.Flush()
}
