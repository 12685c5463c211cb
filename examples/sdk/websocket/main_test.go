package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/llmhttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestResponsesOverWebSocketThroughTheTransport(t *testing.T) {
	srv := NewServer(0)
	defer srv.Close()
	res, err := Converse(t.Context(), srv.URL, Turns)
	require.NoError(t, err)
	wantEvents := 0
	for i, prompt := range Turns {
		want := Model + ": " + prompt
		assert.Equal(t, want, res.Texts[i], "turn %d", i+1)
		wantEvents += 2 + len(strings.Fields(want)) // created, the deltas, completed
	}
	assert.Equal(t, wantEvents, res.Events, "events received")
	assert.Equal(t, 1, srv.Handshakes(), "one connection for every turn")
	assert.Equal(t, 1, res.Breaker.WindowCalls, "the handshake counts for the breaker")
	assert.Zero(t, res.Breaker.WindowFailures)
}

func TestRefusedHandshakeReachesTheServerOnce(t *testing.T) {
	for _, tt := range []struct {
		status   int
		failures int
	}{{http.StatusServiceUnavailable, 1}, {http.StatusInternalServerError, 1}, {http.StatusTooManyRequests, 0}} {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			srv := NewServer(tt.status)
			defer srv.Close()
			res, err := Converse(t.Context(), srv.URL, Turns)
			require.Error(t, err)
			assert.Contains(t, err.Error(), fmt.Sprint(tt.status))
			assert.Equal(t, 1, srv.Handshakes(), "handshakes the server saw")
			assert.Equal(t, tt.failures, res.Breaker.WindowFailures, "breaker failures")
		})
	}
}

// openai-go's own WebSocket recovery decides how often to dial again:
// after the server goes down, Recover with 3 attempts makes exactly 3
// handshakes, though the transport would retry a plain request 5 times.
func TestSDKRecoveryDecidesHowOftenToRedial(t *testing.T) {
	srv := NewFlakyServer(http.StatusServiceUnavailable, 1)
	defer srv.Close()
	counts, err := Redial(t.Context(), srv.URL, 3)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "503")
	assert.Equal(t, 1+3, srv.Handshakes(), "the first connection, then the SDK's 3 attempts")
	assert.Equal(t, 3, counts.WindowFailures, "each refused handshake counts once")
}

func TestDemoRuns(t *testing.T) {
	require.NoError(t, run(t.Context()))
}

// echoServer echoes every WebSocket message, and refuses handshakes with
// refuse when it is not 0.
func echoServer(t *testing.T, refuse int) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if refuse != 0 {
			http.Error(w, "refused", refuse)
			return
		}
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer conn.CloseNow()
		conn.SetReadLimit(1 << 20)
		for {
			typ, data, err := conn.Read(r.Context())
			if err != nil {
				return
			}
			if err := conn.Write(r.Context(), typ, data); err != nil {
				return
			}
		}
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv, &hits
}

// newTransport is an llmhttp transport with every knob that could get in a
// WebSocket's way: retries, a breaker, a limiter, tight stream limits.
func newTransport(t *testing.T) (*llmhttp.Transport, *resilience.Breaker) {
	t.Helper()
	br, err := resilience.NewBreaker(resilience.BreakerConfig{FailureRate: 1, Window: time.Hour, MinCalls: 1 << 20})
	require.NoError(t, err)
	lim, err := resilience.NewRateLimiter(resilience.RateLimit{RequestsPerMinute: 600})
	require.NoError(t, err)
	tr, err := llmhttp.NewTransport(llmhttp.Config{
		Breaker: br, Limiter: lim, AttemptTimeout: 10 * time.Second,
		Retry:                  resilience.RetryPolicy{MaxAttempts: 5, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond},
		StreamFirstByteTimeout: time.Millisecond, StreamIdleTimeout: time.Millisecond,
	})
	require.NoError(t, err)
	t.Cleanup(tr.CloseIdleConnections)
	return tr, br
}

func TestCoderWebSocketEchoesThroughTheTransport(t *testing.T) {
	srv, hits := echoServer(t, 0)
	tr, br := newTransport(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: tr},
	})
	require.NoError(t, err)
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)
	assert.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	assert.Equal(t, 1, llmhttp.Attempts(resp))

	messages := []struct {
		typ  websocket.MessageType
		data []byte
	}{
		{websocket.MessageText, []byte("hello")},
		{websocket.MessageText, []byte(`{"type":"response.create","input":"second"}`)},
		{websocket.MessageBinary, bytes.Repeat([]byte{0, 1, 2, 255}, 64<<10)}, // 256 KiB
		{websocket.MessageText, []byte("last")},
	}
	for i, m := range messages {
		require.NoError(t, conn.Write(ctx, m.typ, m.data), "message %d", i)
		typ, data, err := conn.Read(ctx)
		require.NoError(t, err, "echo %d", i)
		assert.Equal(t, m.typ, typ, "echo %d: type", i)
		assert.Equal(t, m.data, data, "echo %d: bytes", i)
	}
	require.NoError(t, conn.Close(websocket.StatusNormalClosure, "done"))
	assert.Equal(t, int64(1), hits.Load(), "handshakes")
	assert.Equal(t, 1, br.Counts().WindowCalls, "the handshake counts for the breaker")
}

func TestCoderWebSocketRefusedHandshakeReachesTheServerOnce(t *testing.T) {
	srv, hits := echoServer(t, http.StatusServiceUnavailable)
	tr, br := newTransport(t)
	conn, resp, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: tr},
	})
	require.Error(t, err)
	assert.Nil(t, conn)
	require.NotNil(t, resp)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, 1, llmhttp.Attempts(resp))
	assert.Equal(t, int64(1), hits.Load(), "handshakes the server saw (the transport allows 5 attempts)")
	assert.Equal(t, 1, br.Counts().WindowFailures, "the refusal counts for the breaker")
}
