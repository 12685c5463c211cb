package llmtest

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStatsCounters(t *testing.T) {
	srv := Start(t, Config{})
	require.NoError(t, srv.Script(RateLimited(time.Second), Error(500), Fault{}, InsufficientQuota()))
	mustPost(t, srv, string(ChatCompletions), chatBody("a", "x", false))
	mustPost(t, srv, string(ChatCompletions), chatBody("a", "x", true))
	mustPost(t, srv, string(Messages), bodyFor(Messages, false))
	mustPost(t, srv, string(Embeddings), bodyFor(Embeddings, false))
	mustPost(t, srv, "/v1/nope", `{}`)
	st := srv.Stats()
	assert.Equal(t, 5, st.Requests)
	assert.Equal(t, map[Route]int{ChatCompletions: 2, Messages: 1, Embeddings: 1}, st.ByRoute)
	assert.Equal(t, map[string]int{"a": 2, "claude-test": 1, "emb": 1}, st.ByModel)
	assert.Equal(t, map[int]int{429: 2, 500: 1, 200: 1, 404: 1}, st.ByStatus)
	assert.Equal(t, 2, st.RateLimited)
	assert.Equal(t, 0, st.LimitRejected)
	assert.Equal(t, 3, st.Faults)
	assert.Equal(t, 0, st.InFlight)
	assert.Equal(t, 1, st.PeakInFlight)
	assert.Equal(t, 3, st.PromptTokens, "only the successful reply's usage counts")
	assert.Equal(t, 3, st.CompletionTokens)

	// The snapshot is a copy.
	st.ByStatus[200] = 99
	assert.Equal(t, 1, srv.Stats().ByStatus[200])

	srv.ResetStats()
	st = srv.Stats()
	assert.Equal(t, 0, st.Requests)
	assert.Empty(t, st.ByStatus)
	mustPost(t, srv, string(Messages), bodyFor(Messages, false))
	_, b := mustPost(t, srv, string(Messages), bodyFor(Messages, false))
	assert.Equal(t, "msg_llmtest_7", path(decode(t, b), "id"), "ResetStats does not restart request numbers")
}

func TestRetryCountHeader(t *testing.T) {
	srv := Start(t, Config{})
	for _, v := range []string{"0", "1", "2", "2", "junk", "-1", ""} {
		hdr := []string{}
		if v != "" {
			hdr = []string{"X-Stainless-Retry-Count", v}
		}
		mustPost(t, srv, string(ChatCompletions), bodyFor(ChatCompletions, false), hdr...)
	}
	st := srv.Stats()
	assert.Equal(t, map[int]int{0: 1, 1: 1, 2: 2}, st.RetryCounts)
	assert.Equal(t, 3, st.SDKRetries)
	assert.Equal(t, 7, st.Requests)
}

func TestPeakInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := Start(t, Config{InMemory: true, Rates: Rates{{P: 1, Fault: Latency(time.Second)}}})
		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() { drain(t, srv, Messages) })
		}
		synctest.Wait()
		assert.Equal(t, 5, srv.Stats().InFlight, "all five are held by their latency")
		wg.Wait()
		st := srv.Stats()
		assert.Equal(t, 5, st.PeakInFlight)
		assert.Equal(t, 0, st.InFlight)
		assert.Equal(t, 5, st.Faults)
	})
}

func TestWaitIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := Start(t, Config{InMemory: true})
		require.NoError(t, srv.WaitIdle(t.Context()), "an idle server returns at once")
		require.NoError(t, srv.Script(Latency(2*time.Second)))
		go drain(t, srv, Embeddings)
		synctest.Wait()
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		assert.ErrorIs(t, srv.WaitIdle(ctx), context.DeadlineExceeded)
		start := time.Now()
		require.NoError(t, srv.WaitIdle(t.Context()))
		assert.Equal(t, time.Second, time.Since(start), "WaitIdle returns when the last request ends")
		assert.Equal(t, 1, srv.Stats().ByStatus[200])
	})
}

// TestConcurrentUse hammers one server from many goroutines; the race
// detector checks the locking and the counters must add up.
func TestConcurrentUse(t *testing.T) {
	srv := Start(t, Config{Seed: 3, Rates: Rates{{P: 0.3, Fault: Error(503)}, {P: 0.1, Fault: CutStream(1)}}})
	const workers, each = 20, 10
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				route := []Route{ChatCompletions, Messages, Embeddings}[(w+i)%3]
				resp, err := post(t, srv, string(route), bodyFor(route, i%2 == 0))
				if err == nil {
					_, _ = readSSE(resp.Body)
					resp.Body.Close()
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, srv.WaitIdle(t.Context()))
	st := srv.Stats()
	assert.Equal(t, workers*each, st.Requests)
	sum := 0
	for _, n := range st.ByStatus {
		sum += n
	}
	assert.Equal(t, workers*each, sum, "every request got a status")
	assert.Equal(t, workers*each, st.ByRoute[ChatCompletions]+st.ByRoute[Messages]+st.ByRoute[Embeddings])
	assert.Positive(t, st.ByStatus[503])
	assert.LessOrEqual(t, st.PeakInFlight, workers)
}
