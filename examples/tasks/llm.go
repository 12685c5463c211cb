package main

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resilience-go/resilience"
)

// llm is what the task handlers call: a chat model and an embedding model.
// The program uses [simLLM]; the tests wrap it to control its pace.
type llm interface {
	Chat(ctx context.Context, req chatPayload, attempt int) (chatReply, error)
	Embed(ctx context.Context, docs []string, model string) ([][]float32, error)
}

// chatReply is what a chat completion returns.
type chatReply struct {
	Content      string
	InputTokens  int
	OutputTokens int
}

// Errors of the simulated provider.
var (
	errOverloaded  = errors.New("simulated LLM: 503 upstream overloaded")
	errRateLimited = errors.New("simulated LLM: 429 rate limited")
	errOutage      = errors.New("simulated LLM: 503 service unavailable (outage)")
)

// knownModels are the models the simulated provider serves; any other is a
// permanent error (retrying cannot help), so the task fails at once into the
// dead letters.
var knownModels = []string{"gpt-4o-mini", "gpt-4o", "text-embedding-3-small", "text-embedding-3-large"}

// embeddingDims is the size of the simulated embeddings.
const embeddingDims = 8

// simLLM simulates a provider: every call waits latency (jittered ±50%),
// a share failRate of calls fails with a transient error, a chat whose last
// message contains "[flaky]" fails on its first attempt, an unknown model
// fails permanently, and while down every call fails (an outage).
type simLLM struct {
	latency  time.Duration
	failRate float64
	down     atomic.Bool
	mu       sync.Mutex
	rng      *rand.Rand
}

func newSimLLM(latency time.Duration, failRate float64, seed uint64) *simLLM {
	return &simLLM{latency: latency, failRate: failRate, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// call waits one call's latency and decides whether it fails.
func (s *simLLM) call(ctx context.Context, model string) error {
	s.mu.Lock()
	wait := time.Duration(float64(s.latency) * (0.5 + s.rng.Float64()))
	fail := s.rng.Float64() < s.failRate
	limited := s.rng.IntN(2) == 0
	s.mu.Unlock()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	switch {
	case !slices.Contains(knownModels, model):
		return resilience.Permanent(fmt.Errorf("simulated LLM: 404 model %q does not exist", model))
	case s.down.Load():
		return errOutage
	case fail && limited:
		return resilience.RetryAfter(errRateLimited, time.Second) // the provider asks for 1 s
	case fail:
		return errOverloaded
	}
	return nil
}

// Chat answers the last message with a canned reply of at most MaxTokens
// words.
func (s *simLLM) Chat(ctx context.Context, req chatPayload, attempt int) (chatReply, error) {
	if err := s.call(ctx, req.Model); err != nil {
		return chatReply{}, err
	}
	last := req.Messages[len(req.Messages)-1].Content
	if strings.Contains(last, "[flaky]") && attempt == 1 {
		return chatReply{}, errOverloaded
	}
	words := strings.Fields(fmt.Sprintf("(simulated %s, temperature %.1f) You said: %s", req.Model, req.Temperature, last))
	words = words[:min(len(words), req.MaxTokens)]
	in := 0
	for _, m := range req.Messages {
		in += len(strings.Fields(m.Content))
	}
	return chatReply{Content: strings.Join(words, " "), InputTokens: in, OutputTokens: len(words)}, nil
}

// Embed returns one deterministic pseudo-embedding per document.
func (s *simLLM) Embed(ctx context.Context, docs []string, model string) ([][]float32, error) {
	if err := s.call(ctx, model); err != nil {
		return nil, err
	}
	out := make([][]float32, len(docs))
	for i, d := range docs {
		h := fnv.New64a()
		_, _ = h.Write([]byte(d))
		r := rand.New(rand.NewPCG(h.Sum64(), 0))
		v := make([]float32, embeddingDims)
		for j := range v {
			v[j] = r.Float32()*2 - 1
		}
		out[i] = v
	}
	return out, nil
}
