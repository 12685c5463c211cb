package main

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/resilience-go/resilience/internal/redistest"
	"github.com/resilience-go/resilience/queue"
)

// TestMain fails the package's tests when any goroutine outlives them: a
// run must stop its provider, workers, task API and Redis client.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testConfig is the pipeline scaled down: fewer tasks and documents,
// millisecond latencies and delays, no requests held past the attempt
// timeout (a generous one, so a slow machine cannot cut a normal request).
// The same faults otherwise: 429s, 5xx, the storm.
func testConfig(out io.Writer) Config {
	c := defaultConfig()
	c.Seed = 7
	c.Out = out
	c.ChatBacklog, c.ChatWaves, c.ChatPerWave, c.WaveGap = 6, 2, 3, 0
	c.Documents, c.BatchSize = 200, 20
	c.StreamTokens, c.StreamBuffer, c.ConsumerDelay = 60, 8, 100*time.Microsecond
	c.Latency, c.SlowRate = 2*time.Millisecond, 0
	c.RetryAfter, c.RetryBase = 5*time.Millisecond, 2*time.Millisecond
	c.AttemptTimeout, c.PrimaryBudget = 10*time.Second, 10*time.Second
	c.BreakerRecovery = 20 * time.Millisecond
	c.RequestsPerMinute = 60_000
	return c
}

// checkSummary asserts what every run must show, whatever the timing: it
// counts outcomes only, never durations.
func checkSummary(t *testing.T, cfg Config, s Summary, out string) {
	t.Helper()
	final := s.States[queue.StateSuccess] + s.States[queue.StateFailure]
	assert.Equal(t, s.Tasks, final, "tasks in a final state (states %v)", s.States)
	wantTasks := cfg.ChatBacklog + cfg.ChatWaves*cfg.ChatPerWave + 1 + len(invoices) + 1 // chats, embed, extractions, replay
	assert.GreaterOrEqual(t, s.Tasks, wantTasks, "tasks enqueued (probes may add chats)")

	// The poisoned task: dead-lettered once, alerted once, replayed to SUCCESS.
	assert.Equal(t, 1, s.States[queue.StateFailure], "tasks in FAILURE")
	assert.Equal(t, []string{"extract-" + poisonInvoice}, s.Poisoned, "poisoned tasks")
	assert.Equal(t, []string{"extract-" + poisonInvoice + "-replay-1"}, s.Replays, "replays")
	assert.Equal(t, 1, s.ReplayedOK, "replays that reached SUCCESS")
	assert.Equal(t, 1, s.DeadLetters, "dead letters after the failure")
	assert.Equal(t, 0, s.DeadLettersLeft, "dead letters left after the replay")
	assert.Equal(t, []string{taskExtract}, s.Alerts, "alerts raised")
	assert.GreaterOrEqual(t, s.TaskRetries, extractRetries, "task retries (the poisoned task's, and any other)")

	// The storm: gpt-4o's breaker opened, closed again, and the fallback
	// answered meanwhile.
	chain := path(s.Transitions, primaryModel)
	assert.True(t, strings.HasPrefix(chain, "CLOSED->OPEN->HALF_OPEN"), "gpt-4o's transitions %q, want CLOSED->OPEN->HALF_OPEN first", chain)
	assert.True(t, strings.HasSuffix(chain, "HALF_OPEN->CLOSED"), "gpt-4o's transitions %q, want HALF_OPEN->CLOSED last", chain)
	assert.GreaterOrEqual(t, s.Fallbacks, 1, "chat tasks answered by the fallback")

	// Retries: within the policy's 3 attempts per call, and a 429 waited
	// out at least as long as the server asked.
	assert.Greater(t, s.Amplification, 1.0, "amplification (the scripted 429 and the storm are retried)")
	assert.LessOrEqual(t, s.Amplification, 3.0, "amplification, bounded by MaxAttempts 3")
	assert.Positive(t, s.RateLimited, "429s (the first answer is one)")
	assert.Zero(t, s.LimitRejected, "429s from the provider's RPM/TPM limits")
	assert.Positive(t, s.Retries429, "retries after a 429")
	assert.GreaterOrEqual(t, s.Min429Wait, cfg.RetryAfter, "shortest wait before retrying a 429")

	// The embedding and the stream.
	assert.Positive(t, s.Embedded, "documents embedded")
	assert.Equal(t, cfg.Documents, s.Embedded+s.EmbedFailed, "documents embedded or in failed batches")
	assert.Equal(t, cfg.StreamTokens, s.StreamTokens, "tokens streamed to the consumer")
	assert.LessOrEqual(t, s.StreamPeak, cfg.StreamBuffer, "peak tokens buffered")
	assert.Equal(t, cfg.StreamBuffer, s.StreamBuffer, "stream buffer")

	for _, want := range []string{"1 chat completions", "2 batch embedding", "3 poisoned task", "4 streaming",
		"ALERT", "/dead-letters/extract-" + poisonInvoice + "/replay", "progress", "Summary", "amplification"} {
		assert.Contains(t, out, want)
	}
}

// TestRunMemory runs the scaled-down pipeline on the in-memory broker and
// checks its summary, so the quick start cannot rot.
func TestRunMemory(t *testing.T) {
	var out strings.Builder
	cfg := testConfig(&out)
	s, err := run(context.Background(), cfg)
	require.NoError(t, err, "run:\n%s", out.String())
	checkSummary(t, cfg, s, out.String())
	if t.Failed() {
		t.Logf("output:\n%s", out.String())
	}
}

// TestRunRedis runs the same pipeline on a private redis-server with two
// worker pools, and checks that it leaves no key behind. It skips without
// redis-server (see internal/redistest).
func TestRunRedis(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	var out strings.Builder
	cfg := testConfig(&out)
	cfg.RedisAddr = srv.Addr
	s, err := run(context.Background(), cfg)
	require.NoError(t, err, "run:\n%s", out.String())
	checkSummary(t, cfg, s, out.String())
	assert.Contains(t, out.String(), "2 workers of 2 slots on the Redis broker")

	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	keys, err := rdb.Keys(context.Background(), "{quickstart-*").Result()
	require.NoError(t, err)
	assert.Empty(t, keys, "keys left in Redis")
	if t.Failed() {
		t.Logf("output:\n%s", out.String())
	}
}

// TestRunBadRedis fails at once, naming the address, when Redis cannot be
// reached.
func TestRunBadRedis(t *testing.T) {
	var out strings.Builder
	cfg := testConfig(&out)
	cfg.RedisAddr = "127.0.0.1:1" // nothing listens on port 1
	_, err := run(context.Background(), cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot reach Redis at 127.0.0.1:1")
}

// TestRunCancelled returns the context's error when it has ended, and
// leaves nothing running (goleak checks).
func TestRunCancelled(t *testing.T) {
	var out strings.Builder
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := run(ctx, testConfig(&out))
	assert.ErrorIs(t, err, context.Canceled)
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string // in the error; "" for none
	}{
		{"default", func(*Config) {}, ""},
		{"no documents", func(c *Config) { c.Documents = 0 }, "Config.Documents is 0; want >= 1"},
		{"negative buffer", func(c *Config) { c.StreamBuffer = -1 }, "Config.StreamBuffer is -1"},
		{"negative gap", func(c *Config) { c.WaveGap = -time.Second }, "Config.WaveGap is -1s"},
		{"zero recovery", func(c *Config) { c.BreakerRecovery = 0 }, "Config.BreakerRecovery is 0s"},
		{"rates above 1", func(c *Config) { c.FaultRate, c.SlowRate = 0.8, 0.3 }, "add up to at most 1"},
		{"NaN rate", func(c *Config) { c.FaultRate = nanRate() }, "FaultRate (NaN)"},
		{"rpm below 60", func(c *Config) { c.RequestsPerMinute = 30 }, "RequestsPerMinute must be >= 60"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaultConfig()
			tt.change(&c)
			err := c.validate()
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func nanRate() float64 {
	zero := 0.0
	return zero / zero
}

func TestStripFence(t *testing.T) {
	tests := []struct{ in, want string }{
		{"{\"a\":1}", "{\"a\":1}"},
		{"```json\n{\"a\":1}\n```", "{\"a\":1}"},
		{"```\n{\"a\":1}\n```", "{\"a\":1}"},
		{"  ```json\n{\"a\":1}\n```\n", "{\"a\":1}"},
		{"```", "```"},
		{"```json {\"a\":1}", "```json {\"a\":1}"}, // not closed: left alone
	}
	for _, tt := range tests {
		if got := stripFence(tt.in); got != tt.want {
			t.Errorf("stripFence(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestLineView(t *testing.T) {
	tests := []struct {
		name    string
		updates []int64 // out of 100
		want    []string
	}{
		{"every quarter", []int64{0, 10, 25, 30, 60, 75, 100}, []string{"0/100", " 25/100", " 60/100", " 75/100", "100/100"}},
		{"jumps print once", []int64{0, 80, 100}, []string{"0/100", " 80/100", "100/100"}},
		{"stopped short", []int64{0, 30, 40}, []string{"0/100", " 30/100", " 40/100"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			v := newProgressView(&b, false, "progress")
			for _, u := range tt.updates {
				v.update(u, 100)
			}
			v.done()
			lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
			require.Len(t, lines, len(tt.want), "lines:\n%s", b.String())
			for i, w := range tt.want {
				assert.Contains(t, lines[i], w+" docs", "line %d", i)
			}
		})
	}
}

// TestBarView draws the live bar into a buffer: it ends its line once
// complete, and done after a partial run ends it too.
func TestBarView(t *testing.T) {
	for _, last := range []int64{100, 40} {
		var b strings.Builder
		v := newProgressView(&b, true, "progress")
		for cur := int64(0); cur <= last; cur += 20 {
			v.update(cur, 100)
		}
		v.done()
		s := b.String()
		assert.Contains(t, s, "/100")
		assert.True(t, strings.HasSuffix(s, "\n"), "bar output %q does not end its line", s)
		assert.Equal(t, 1, strings.Count(s, "\n"), "bar output %q: want one line end", s)
	}
}

func TestClip(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"answer not JSON: invalid character", 20, "answer not JSON:..."},
		{"oneverylongword", 8, "oneve..."},
	}
	for _, tt := range tests {
		if got := clip(tt.in, tt.n); got != tt.want {
			t.Errorf("clip(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestPath(t *testing.T) {
	tr := []string{"gpt-4o CLOSED->OPEN", "mini CLOSED->OPEN", "gpt-4o OPEN->HALF_OPEN", "gpt-4o HALF_OPEN->CLOSED"}
	assert.Equal(t, "CLOSED->OPEN->HALF_OPEN->CLOSED", path(tr, "gpt-4o"))
	assert.Equal(t, "CLOSED->OPEN", path(tr, "mini"))
	assert.Equal(t, "", path(tr, "other"))
	assert.True(t, slices.Equal([]string{"gpt-4o", "mini"}, keysOf(tr)), "keysOf = %v", keysOf(tr))
}
