package main

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// small is the benchmark scaled down: 200 calls at concurrency 20 against
// a server limited to 600 RPM (10 per second), which the 20 callers
// exceed without a limiter. It runs over in-process pipes, so inside a
// synctest bubble every latency, Retry-After and timeout is exact and CPU
// noise cannot cut an attempt.
var small = Scenario{Calls: 200, Concurrency: 20, Seed: 7, Scale: 10, RPM: 600, InMemory: true}

func runAll(t *testing.T, sc Scenario) map[Client]Result {
	t.Helper()
	rs := map[Client]Result{}
	for _, c := range Clients {
		synctest.Test(t, func(t *testing.T) {
			r, err := Run(t.Context(), sc, c)
			require.NoError(t, err)
			rs[c] = r
		})
	}
	return rs
}

func TestChaos(t *testing.T) {
	rs := runAll(t, small)
	for _, c := range Clients {
		r := rs[c]
		t.Logf("%s: ok %d/%d, requests %d (%.2f per call, %.2f beyond drawn faults), 429s %d (limit %d), p50 %v, p99 %v, wall %v",
			c, r.OK, r.Calls, r.Stats.Requests, r.Amplification(), r.Controlled(), r.Stats.RateLimited, r.Limited,
			small.Provider(r.Percentile(0.5)), small.Provider(r.Percentile(0.99)), small.Provider(r.Wall))

		// The ledger adds up: the server received exactly the requests the
		// client side sent; each got a 200, a 429 or a 503, or was a hang
		// that the client abandoned.
		assert.Equal(t, r.Attempts, r.Stats.Requests, "%s: server requests vs client attempts", c)
		for code := range r.Stats.ByStatus {
			assert.Contains(t, []int{200, 429, 503}, code, "%s: status sent", c)
		}
		assert.Equal(t, r.Unanswered(), r.Stats.Abandoned, "%s: requests without an answer vs abandoned", c)
		assert.LessOrEqual(t, r.Limited, r.Stats.RateLimited, "%s: 429s from the RPM limit vs in all", c)
		assert.Len(t, r.Latencies, r.Calls, "%s: latencies", c)
	}

	// openai-go alone: each call's first request carries retry count 0,
	// and every other request is one of its own retries.
	a := rs[SDKRetries]
	assert.Equal(t, a.Calls, a.Stats.RetryCounts[0], "(a): first requests")
	assert.Equal(t, a.Stats.Requests-a.Calls, a.Stats.SDKRetries, "(a): SDK retries")

	for _, c := range []Client{Transport, Limited, Adaptive, InTransport} {
		r := rs[c]
		assert.Equal(t, r.Calls, r.OK, "%s: calls succeeded, failures %v", c, r.Failures)
		assert.Zero(t, r.Stats.SDKRetries, "%s: the SDK retried on its own", c)
		assert.Equal(t, r.OK, r.Stats.ByStatus[200], "%s: every 200 the server sent ended one call", c)
		assert.LessOrEqual(t, r.Stats.Requests, MaxAttempts*r.Calls, "%s: attempts per call", c)
	}

	// Around the SDK call, the AdaptiveLimiter sees only calls, which all
	// succeed in the end: it never moves. In the transport it sees every
	// attempt's 429, 503 and timeout, and lowers the limit.
	assert.Zero(t, rs[Adaptive].Limits.Decreases, "(d): decreases")
	e := rs[InTransport].Limits
	assert.Positive(t, e.Decreases, "(e): decreases")
	assert.Less(t, e.Low, small.Concurrency, "(e): lowest limit")

	b, lim := rs[Transport], rs[Limited]
	assert.Less(t, lim.Limited, b.Limited, "429s from the RPM limit with the RateLimiter vs without")
	assert.Less(t, lim.Stats.RateLimited, b.Stats.RateLimited, "429s in all with the RateLimiter vs without")
	assert.LessOrEqual(t, lim.Controlled(), 1.3, "(c): requests per call beyond drawn faults")
	assert.Greater(t, b.Controlled(), lim.Controlled(), "(b) vs (c): requests per call beyond drawn faults")
	// No client completes every call below the floor the draws set, and
	// with the limiter (c) stays close to it.
	assert.LessOrEqual(t, lim.Amplification(), 1.3*Floor, "(c): requests per call")
}

func TestRPMWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &rpmWindow{start: time.Now(), span: 100 * time.Millisecond, capacity: 2, rpm: 120}
		time.Sleep(30 * time.Millisecond)
		assert.Zero(t, w.fault(nil), "first request of the window")
		assert.Zero(t, w.fault(nil), "second request of the window")
		f := w.fault(nil)
		assert.Equal(t, 429, f.Status, "third request of the window")
		assert.Equal(t, 70*time.Millisecond, f.PreciseRetryAfter, "wait to the window's end")
		assert.Equal(t, 70*time.Millisecond, f.RetryAfter, "Retry-After (sent rounded up to a second)")
		assert.Equal(t, "0", f.Header.Get("x-ratelimit-remaining-requests"), "requests left")
		assert.Equal(t, "70ms", f.Header.Get("x-ratelimit-reset-requests"), "reset")
		assert.Equal(t, "120", f.Header.Get("x-ratelimit-limit-requests"), "limit")
		time.Sleep(70 * time.Millisecond)
		assert.Zero(t, w.fault(nil), "first request of the next window")
		assert.Equal(t, 1, w.rejected(), "refused requests")
	})
}

func TestScenarioValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Scenario)
		ok   bool
	}{
		{"default", func(*Scenario) {}, true},
		{"no calls", func(s *Scenario) { s.Calls = 0 }, false},
		{"no concurrency", func(s *Scenario) { s.Concurrency = 0 }, false},
		{"scale below 1", func(s *Scenario) { s.Scale = 0.5 }, false},
		{"scale NaN", func(s *Scenario) { s.Scale = nan() }, false},
		{"RPM below one per second", func(s *Scenario) { s.RPM = 59 }, false},
		{"negative burst", func(s *Scenario) { s.Burst = -1 }, false},
		{"burst above RPM", func(s *Scenario) { s.Burst = 601 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := small
			tt.edit(&sc)
			err := sc.validate()
			if tt.ok {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
}

func nan() float64 {
	zero := 0.0
	return zero / zero
}

func TestPercentile(t *testing.T) {
	r := Result{Latencies: []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}}
	tests := []struct {
		q    float64
		want time.Duration
	}{{0, 1}, {0.5, 5}, {0.99, 10}, {1, 10}}
	for _, tt := range tests {
		assert.Equal(t, tt.want, r.Percentile(tt.q), "q=%v", tt.q)
	}
	assert.Zero(t, Result{}.Percentile(0.5), "no calls")
}
