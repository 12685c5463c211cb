// Command chaos measures openai-go v3 against a misbehaving provider: 2,000
// chat completions at concurrency 50 against the llmtest fake provider,
// which answers 20% of requests with a 429 (with Retry-After), 5% with a
// 503, lets 2% hang, and enforces its own requests-per-minute limit. It
// runs the same workload five times, each on a fresh server with the same
// seed:
//
//	(a) openai-go's built-in retries alone (2 retries, a per-request timeout)
//	(b) an llmhttp transport: retries and a circuit breaker, SDK retries off
//	(c) (b) with a RateLimiter at the server's RPM
//	(d) (c) with an AdaptiveLimiter around every call
//	(e) (c) with the AdaptiveLimiter in llmhttp.Config (per attempt)
//
// and prints a Markdown table: success rate, requests per call, 429s (drawn
// at random and from the RPM limit, apart), 5xx, hangs, p50/p99 latency and
// wall time. Time is scaled so that the five runs take about a
// minute; the table reports provider time.
//
//	go run ./chaos [-calls 2000] [-concurrency 50] [-seed 1] [-scale 10] [-rpm 2000] [-burst 0]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"maps"
	"math"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"
)

func main() {
	sc := Scenario{}
	flag.IntVar(&sc.Calls, "calls", 2000, "chat completions per configuration")
	flag.IntVar(&sc.Concurrency, "concurrency", 50, "calls in flight at once")
	flag.Uint64Var(&sc.Seed, "seed", 1, "seed of the server's fault draws")
	flag.Float64Var(&sc.Scale, "scale", 10, "time runs this many times faster than at a real provider (1 to 1000)")
	flag.IntVar(&sc.RPM, "rpm", 2000, "the server's requests-per-minute limit, in provider time")
	flag.IntVar(&sc.Burst, "burst", 0, "the RateLimiter's burst; 0 means one second's share, rpm/60")
	flag.Parse()

	writeHeader(os.Stdout, sc)
	var results []Result
	start := time.Now()
	for _, c := range Clients {
		r, err := Run(context.Background(), sc, c)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Fprintf(os.Stderr, "%s: done in %v\n", c, r.Wall.Round(time.Millisecond))
		results = append(results, r)
	}
	writeTable(os.Stdout, sc, results)
	fmt.Printf("\nReal time for the five runs: %v.\n", time.Since(start).Round(100*time.Millisecond))
	for _, r := range results {
		if r.Stats.Requests != r.Attempts {
			log.Fatalf("%s: the server received %d requests but the client sent %d", r.Client, r.Stats.Requests, r.Attempts)
		}
	}
}

// writeHeader states the workload and the time scale.
func writeHeader(w io.Writer, sc Scenario) {
	fmt.Fprintf(w, "Chaos benchmark: %d chat completions through openai-go v3 at concurrency %d, seed %d.\n\n",
		sc.Calls, sc.Concurrency, sc.Seed)
	fmt.Fprintf(w, "- Server (llmtest, in-process over loopback TCP): each admitted request draws %.0f%% 429 "+
		"(Retry-After / retry-after-ms %v), %.0f%% 503, %.0f%% hang; the rest answer after %v.\n",
		100*P429, RetryAfter, 100*P5xx, 100*PHang, Latency)
	fmt.Fprintf(w, "- Server RPM limit: %d RPM, enforced as %d requests per 1 s window (OpenAI quantizes limits this way); "+
		"beyond it, 429 with Retry-After = the rest of the window. These 429s draw no fault.\n", sc.RPM, sc.PerSecond())
	fmt.Fprintf(w, "- (a) openai-go: 2 retries (its default), per-request timeout %v, default net/http transport.\n", AttemptTimeout)
	fmt.Fprintf(w, "- (b) llmhttp: %d attempts, backoff %v..%v with full jitter and the server's Retry-After, "+
		"attempt timeout %v, breaker opening at %.0f%% failures over %v; SDK retries off.\n",
		MaxAttempts, BaseDelay, MaxDelay, AttemptTimeout, 100*BreakerRate, BreakerWindow)
	fmt.Fprintf(w, "- (c) (b) + RateLimiter: %d RPM with a burst of %d; a 429 whose headers report 0 requests left pauses every caller for its wait.\n",
		sc.RPM, sc.burst())
	fmt.Fprintf(w, "- (d) (c) + AdaptiveLimiter around each SDK call: AIMD between 1 and %d, halving on calls that fail with 429, 503 or a timeout.\n",
		sc.Concurrency)
	fmt.Fprintf(w, "- (e) (c) + the same AdaptiveLimiter in llmhttp.Config.Adaptive: it bounds attempts, not calls, and halves on "+
		"an attempt's 503, timeout, 429 reporting 0 requests left, or an answer slower than %v.\n", AdaptiveLatency)
	fmt.Fprintf(w, "- Every call has a deadline of %v. Time runs %gx faster than at a real provider "+
		"(a %v answer takes %v); all times below are provider time, measured and multiplied by %g. "+
		"openai-go's own backoff for 5xx (0.5 s, 1 s) cannot be scaled, so it shows as %v, %v in (a).\n\n",
		CallDeadline, sc.Scale, Latency, sc.real(Latency), sc.Scale,
		sc.Provider(500*time.Millisecond), sc.Provider(time.Second))
}

// writeTable prints one column per configuration and the 429 ratios.
func writeTable(w io.Writer, sc Scenario, rs []Result) {
	row := func(name string, cell func(Result) string) {
		cells := []string{name}
		for _, r := range rs {
			cells = append(cells, cell(r))
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	head := []string{""}
	for _, r := range rs {
		head = append(head, r.Client.String())
	}
	fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat(" --- |", len(head)))
	row(fmt.Sprintf("calls succeeded within %v", CallDeadline), func(r Result) string {
		return fmt.Sprintf("%.2f%% (%d/%d)", 100*r.SuccessRate(), r.OK, r.Calls)
	})
	row(fmt.Sprintf("requests per call (floor %.2f)", Floor), func(r Result) string {
		return fmt.Sprintf("%.2f (%d)", r.Amplification(), r.Stats.Requests)
	})
	row("requests per call beyond drawn faults (1.00 is ideal; 1.3 or less keeps the bill and the rate limit in check)", func(r Result) string {
		return fmt.Sprintf("%.2f", r.Controlled())
	})
	row(fmt.Sprintf("429s drawn at random (%.0f%%)", 100*P429), func(r Result) string { return fmt.Sprint(r.Drawn429()) })
	row("429s from the RPM limit", func(r Result) string { return fmt.Sprint(r.Limited) })
	row("429s in all", func(r Result) string { return fmt.Sprint(r.Stats.RateLimited) })
	row("5xx", func(r Result) string { return fmt.Sprint(r.ServerErrors()) })
	row("hangs cut (no answer)", func(r Result) string { return fmt.Sprint(r.Unanswered()) })
	row("p50 call latency", func(r Result) string { return dur(sc.Provider(r.Percentile(0.50))) })
	row("p99 call latency", func(r Result) string { return dur(sc.Provider(r.Percentile(0.99))) })
	row("wall time", func(r Result) string { return dur(sc.Provider(r.Wall)) })
	row("server requests = client attempts", func(r Result) string {
		if r.Stats.Requests == r.Attempts {
			return fmt.Sprintf("yes (%d)", r.Attempts)
		}
		return fmt.Sprintf("NO: %d != %d", r.Stats.Requests, r.Attempts)
	})
	row("SDK's own retries seen by the server", func(r Result) string { return fmt.Sprint(r.Stats.SDKRetries) })

	b, c := find(rs, Transport), find(rs, Limited)
	if b != nil && c != nil {
		fmt.Fprintf(w, "\n429s without / with the RateLimiter, (b)/(c): in all %s; from the RPM limit %s; drawn at random %s.\n",
			ratio(b.Stats.RateLimited, c.Stats.RateLimited), ratio(b.Limited, c.Limited), ratio(b.Drawn429(), c.Drawn429()))
	}
	for _, r := range rs {
		if l := r.Limits; l != (LimitTrace{}) || r.Client == Adaptive || r.Client == InTransport {
			fmt.Fprintf(w, "%s: the AdaptiveLimiter's limit went down %d and up %d times, as low as %d, and ended at %d.\n",
				r.Client, l.Decreases, l.Raises, l.Low, l.Last)
		}
	}
	for _, r := range rs {
		if len(r.Failures) == 0 {
			continue
		}
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(r.Failures)) {
			parts = append(parts, fmt.Sprintf("%d %s", r.Failures[k], k))
		}
		fmt.Fprintf(w, "%s failed calls: %s.\n", r.Client, strings.Join(parts, ", "))
	}
}

// SuccessRate is the share of calls that succeeded within CallDeadline.
func (r Result) SuccessRate() float64 { return float64(r.OK) / float64(r.Calls) }

// Amplification is requests the server received per call.
func (r Result) Amplification() float64 { return float64(r.Stats.Requests) / float64(r.Calls) }

// Drawn429 is the 429s the server drew at random (P429), whatever the load.
func (r Result) Drawn429() int { return r.Stats.ByStatus[http.StatusTooManyRequests] - r.Limited }

// ServerErrors is the 5xx the server sent.
func (r Result) ServerErrors() int {
	n := 0
	for code, c := range r.Stats.ByStatus {
		if code >= 500 {
			n += c
		}
	}
	return n
}

// DrawnFaults is the requests that drew a fault: the retries no client can
// avoid.
func (r Result) DrawnFaults() int { return r.Drawn429() + r.ServerErrors() + r.Unanswered() }

// Controlled is the requests per call beyond those that drew a fault: 1
// for a client that completes every call and is never refused by the RPM
// limit.
func (r Result) Controlled() float64 {
	return float64(r.Stats.Requests-r.DrawnFaults()) / float64(r.Calls)
}

// Unanswered is the requests that got no status: hangs the client cut, and
// answers it stopped waiting for.
func (r Result) Unanswered() int {
	n := r.Stats.Requests
	for _, c := range r.Stats.ByStatus {
		n -= c
	}
	return n
}

// Percentile returns the q-quantile (0..1) of the call latencies, by
// nearest rank.
func (r Result) Percentile(q float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(r.Latencies)))) - 1
	return r.Latencies[min(max(i, 0), len(r.Latencies)-1)]
}

func find(rs []Result, c Client) *Result {
	for i := range rs {
		if rs[i].Client == c {
			return &rs[i]
		}
	}
	return nil
}

func ratio(a, b int) string {
	if b == 0 {
		return fmt.Sprintf("%d vs 0", a)
	}
	return fmt.Sprintf("%.1fx (%d vs %d)", float64(a)/float64(b), a, b)
}

func dur(d time.Duration) string {
	if d < 10*time.Second {
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}
