package main

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// Config is one run of the pipeline: main fills it from defaultConfig and
// the flags, the test scales it down.
type Config struct {
	Seed      uint64    // seed of the provider's fault draws
	RedisAddr string    // Redis host:port; empty runs on the in-memory broker
	Out       io.Writer // where the run is narrated; nil means io.Discard
	Live      bool      // draw a live progress bar (Out is a terminal)
	Addr      string    // host:port of the task API and its dashboard; empty means 127.0.0.1:0, a free loopback port
	Serve     bool      // keep the task API, the dashboard and the workers up after the run, until the run's context ends

	ChatBacklog int           // chat tasks enqueued before the worker starts, low ones first
	ChatWaves   int           // waves of chat tasks after it started
	ChatPerWave int           // chat tasks per wave, spread over high, default and low
	WaveGap     time.Duration // pause before each wave

	Documents     int // documents of the batch embedding
	BatchSize     int // documents per embeddings request
	EmbedParallel int // embeddings requests in flight at once

	StreamTokens  int           // tokens of the streamed answer
	StreamBuffer  int           // resilience.Stream's buffer, in tokens
	ConsumerDelay time.Duration // the slow consumer's time per token

	Latency   time.Duration // the provider's latency per request, drawn from [Latency/4, Latency]
	FaultRate float64       // share of requests answered 429 (half) or 5xx (half)
	SlowRate  float64       // share of requests held past AttemptTimeout

	RetryAfter        time.Duration // the wait an injected 429 asks for (retry-after-ms)
	AttemptTimeout    time.Duration // llmhttp's bound on the wait for response headers
	RetryBase         time.Duration // first retry delay, of the transport and of the worker
	BreakerRecovery   time.Duration // how long an open breaker rejects calls
	PrimaryBudget     time.Duration // Fallback's timeout for gpt-4o before gpt-4o-mini answers
	RequestsPerMinute int           // the client's rate limit; the provider allows 25% more
}

// defaultConfig is the configuration of `go run ./examples/quickstart`.
func defaultConfig() Config {
	return Config{
		Seed:          1,
		ChatBacklog:   12,
		ChatWaves:     4,
		ChatPerWave:   3,
		WaveGap:       600 * time.Millisecond,
		Documents:     3000,
		BatchSize:     100,
		EmbedParallel: 4,
		StreamTokens:  300,
		StreamBuffer:  32,
		ConsumerDelay: 5 * time.Millisecond,

		Latency:   160 * time.Millisecond,
		FaultRate: 0.10,
		SlowRate:  0.02,

		RetryAfter:        250 * time.Millisecond,
		AttemptTimeout:    time.Second,
		RetryBase:         100 * time.Millisecond,
		BreakerRecovery:   400 * time.Millisecond,
		PrimaryBudget:     4 * time.Second,
		RequestsPerMinute: 1200,
	}
}

// validate reports the first field out of range.
func (c Config) validate() error {
	positive := []struct {
		name string
		v    int
	}{
		{"ChatBacklog", c.ChatBacklog}, {"ChatWaves", c.ChatWaves}, {"ChatPerWave", c.ChatPerWave}, {"Documents", c.Documents},
		{"BatchSize", c.BatchSize}, {"EmbedParallel", c.EmbedParallel}, {"StreamTokens", c.StreamTokens},
		{"StreamBuffer", c.StreamBuffer}, {"RequestsPerMinute", c.RequestsPerMinute},
	}
	for _, f := range positive {
		if f.v < 1 {
			return fmt.Errorf("quickstart: Config.%s is %d; want >= 1", f.name, f.v)
		}
	}
	durations := []struct {
		name string
		d    time.Duration
		min  time.Duration
	}{
		{"WaveGap", c.WaveGap, 0}, {"ConsumerDelay", c.ConsumerDelay, 0}, {"Latency", c.Latency, 0},
		{"RetryAfter", c.RetryAfter, time.Millisecond}, {"AttemptTimeout", c.AttemptTimeout, time.Millisecond},
		{"RetryBase", c.RetryBase, time.Millisecond}, {"BreakerRecovery", c.BreakerRecovery, time.Millisecond},
		{"PrimaryBudget", c.PrimaryBudget, time.Millisecond},
	}
	for _, f := range durations {
		if f.d < f.min {
			return fmt.Errorf("quickstart: Config.%s is %v; want >= %v", f.name, f.d, f.min)
		}
	}
	switch {
	case !(c.FaultRate >= 0 && c.SlowRate >= 0 && c.FaultRate+c.SlowRate <= 1):
		return fmt.Errorf("quickstart: Config.FaultRate (%v) and SlowRate (%v) must be >= 0 and add up to at most 1", c.FaultRate, c.SlowRate)
	case c.RequestsPerMinute < 60:
		return errors.New("quickstart: Config.RequestsPerMinute must be >= 60 (a burst of one second's share)")
	}
	return nil
}
