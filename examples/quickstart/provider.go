package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resilience-go/resilience/llmtest"
)

// The models the pipeline calls.
const (
	primaryModel  = "gpt-4o"
	fallbackModel = "gpt-4o-mini"
	embedModel    = "text-embedding-3-small"
)

// The scripted 5xx storm: from gpt-4o's request number stormFrom (counted
// from 1, streams aside), every request to gpt-4o answers 503 until its
// breaker has opened, and stormTail more after that (which fail the
// breaker's first trial, unless a request sent before it opened takes
// them). The storm follows the breaker rather than the clock so that every
// run, however fast or slow the machine, shows the breaker opening: a few
// successes sent before the storm may land between its failures, so the
// number of failures it takes varies, but not the outcome.
const (
	stormFrom        = 4
	stormTail        = 1
	breakerThreshold = 5
)

// newProvider starts the fake provider: the OpenAI chat and embeddings API
// of package llmtest on a loopback port, with rate limits 25% above the
// client's limiter, faults drawn by a [faults], and a 429 scripted for the
// very first request so that every run shows Retry-After at work.
func newProvider(cfg Config) (*llmtest.Server, *faults, error) {
	f := &faults{cfg: cfg, essay: essay(cfg.StreamTokens), tail: stormTail}
	srv, err := llmtest.NewServer(llmtest.Config{
		Seed:     cfg.Seed,
		Reply:    f.reply,
		FaultFor: f.faultFor,
		Limits: llmtest.Limits{
			RequestsPerMinute: cfg.RequestsPerMinute * 5 / 4,
			TokensPerMinute:   2_000_000,
		},
	})
	if err != nil {
		return nil, nil, err
	}
	if err := srv.Script(llmtest.Fault{Status: http.StatusTooManyRequests, PreciseRetryAfter: cfg.RetryAfter}); err != nil {
		srv.Close()
		return nil, nil, err
	}
	return srv, f, nil
}

// faults decides what happens to each request the fake provider admits:
// every request waits a latency drawn from [Latency/4, Latency]; gpt-4o's
// requests in the storm answer 503; of the others, a share SlowRate hangs
// past the client's attempt timeout, and a share FaultRate answers 429
// (with retry-after-ms) or 500, 502 or 503. The draws come from the
// request's own generator (llmtest.Request.Rand, seeded by Config.Seed and
// the request's text), so a request meets the same draw on every run
// whatever order concurrent requests arrive in. Which requests are sent
// still depends on timing (the storm ends when the breaker opens, an open
// breaker sends calls to the fallback), so the run's counts vary a little.
type faults struct {
	cfg   Config
	essay string

	opened atomic.Bool // gpt-4o's breaker has opened: the storm is ending

	mu      sync.Mutex
	primary int // gpt-4o requests seen, streams aside
	tail    int // storm requests left after the breaker opened
}

// breakerOpened tells the storm that gpt-4o's breaker has opened.
func (f *faults) breakerOpened() { f.opened.Store(true) }

func (f *faults) faultFor(req *llmtest.Request) llmtest.Fault {
	rng := req.Rand
	latency := f.cfg.Latency/4 + time.Duration(rng.Int64N(int64(f.cfg.Latency*3/4)+1))
	u, status := rng.Float64(), []int{500, 502, 503}[rng.IntN(3)] // drawn whether used or not
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.Model == primaryModel && !req.Stream {
		f.primary++
		if opened := f.opened.Load(); f.primary >= stormFrom && (!opened || f.tail > 0) {
			if opened {
				f.tail--
			}
			return llmtest.Fault{Delay: latency, Status: http.StatusServiceUnavailable,
				Message: "The server is overloaded (a scripted storm of 503s)."}
		}
	}
	switch {
	case u < f.cfg.SlowRate:
		return llmtest.Fault{Delay: 2 * f.cfg.AttemptTimeout}
	case u < f.cfg.SlowRate+f.cfg.FaultRate/2:
		return llmtest.Fault{Delay: latency, Status: http.StatusTooManyRequests, PreciseRetryAfter: f.cfg.RetryAfter}
	case u < f.cfg.SlowRate+f.cfg.FaultRate:
		return llmtest.Fault{Delay: latency, Status: status}
	}
	return llmtest.Fault{Delay: latency}
}

// reply is the fake model: a canned answer per prompt, an invoice's fields
// as JSON for an extraction, and a long essay for a stream (which the
// server cuts at max_tokens words).
func (f *faults) reply(req *llmtest.Request) string {
	prompt := llmtest.Echo(req)
	switch {
	case req.Stream:
		return f.essay
	case strings.HasPrefix(prompt, extractPrefix):
		return extraction(prompt)
	}
	for _, p := range prompts {
		if p.q == prompt {
			return p.a
		}
	}
	return "I do not know."
}

// prompts are the chat tasks' questions, about the patterns this pipeline
// shows, with the fake model's answers.
var prompts = []struct{ q, a string }{
	{"Why are LLM calls I/O-bound?", "Most of a call is spent waiting on the network and on inference, not on the CPU."},
	{"What does a semaphore add to parallel LLM calls?", "It caps the calls in flight, so the provider is not overwhelmed."},
	{"When should a call fall back to a cheaper model?", "When the primary fails or runs out of time while the caller can still wait."},
	{"Why add jitter to exponential backoff?", "So that clients that failed together do not retry together."},
	{"What does a circuit breaker prevent?", "Cascading failures: it fails fast while the upstream is down."},
	{"Why does streaming need backpressure?", "A bounded buffer keeps a fast producer from exhausting memory."},
	{"Why acknowledge AI tasks late?", "A task whose worker dies is delivered again instead of lost."},
	{"What belongs in a dead-letter queue?", "Tasks that failed for good, kept for review, alerts and replay."},
}

// extractPrefix starts the prompt of an invoice extraction.
const extractPrefix = "Extract the invoice fields as JSON: "

// invoice is what an extraction returns.
type invoice struct {
	Number   string  `json:"invoice"`
	Vendor   string  `json:"vendor"`
	Total    float64 `json:"total"`
	Currency string  `json:"currency"`
}

// invoices are the documents of the extraction tasks. The model wraps its
// answer for poisonInvoice in a Markdown code fence, which the first
// version of the handler cannot parse.
var invoices = []invoice{
	{"INV-1016", "Acme GmbH", 1250, "EUR"},
	{"INV-1017", "Globex Ltd", 89.9, "GBP"},
	{"INV-1018", "Initech Inc", 4200, "USD"},
}

const poisonInvoice = "INV-1017"

// document is the text an extraction task sends for inv.
func (inv invoice) document() string {
	return fmt.Sprintf("Invoice %s from %s, total %.2f %s, due in 30 days.", inv.Number, inv.Vendor, inv.Total, inv.Currency)
}

// extraction answers an extraction prompt with the JSON of the invoice it
// names, fenced for the poisoned one.
func extraction(prompt string) string {
	for _, inv := range invoices {
		if strings.Contains(prompt, inv.Number) {
			b, _ := json.Marshal(inv) // a struct of strings and a float
			if inv.Number == poisonInvoice {
				return "```json\n" + string(b) + "\n```"
			}
			return string(b)
		}
	}
	return "{}"
}

// essay returns n words about backpressure, the streamed answer.
func essay(n int) string {
	const text = "Backpressure keeps a fast producer from running away from a slow consumer. " +
		"The model streams tokens as fast as it can, but the client on the other end reads them at its own pace, " +
		"so the server holds at most a small buffer of tokens and the producer waits whenever that buffer is full. " +
		"Memory stays bounded however slow the reader is, and nothing is lost or delivered twice. "
	words := strings.Fields(text)
	out := make([]string, n)
	for i := range out {
		out[i] = words[i%len(words)]
	}
	return strings.Join(out, " ")
}
