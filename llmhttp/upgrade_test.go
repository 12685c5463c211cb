package llmhttp

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resilience-go/resilience"
)

// echoUpgradeServer switches every upgrade request to a raw echo protocol
// (hijacking the connection as a WebSocket server does, and answering the
// bytes it receives, upper-cased), and answers other requests with status.
func echoUpgradeServer(t *testing.T, status int) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if status != http.StatusSwitchingProtocols || !isUpgrade(r) {
			w.WriteHeader(status)
			_, _ = io.WriteString(w, `{"error":{"message":"handshake refused","type":"server_error"}}`)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		if rw.Flush() != nil {
			return
		}
		for {
			line, err := rw.ReadString('\n')
			if err != nil {
				return
			}
			_, _ = rw.WriteString(strings.ToUpper(line))
			if rw.Flush() != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func upgradeRequest(t *testing.T, ctx context.Context, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "echo")
	return req
}

func TestTransportHandsBackTheUpgradedConnection(t *testing.T) {
	srv, hits := echoUpgradeServer(t, http.StatusSwitchingProtocols)
	base := srv.Client().Transport

	// What net/http itself hands back for a 101.
	direct, err := base.RoundTrip(upgradeRequest(t, t.Context(), srv.URL))
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, direct.StatusCode)
	wantType := reflect.TypeOf(direct.Body)
	require.NoError(t, direct.Body.Close())

	br := countingBreaker(t)
	lim, err := resilience.NewRateLimiter(resilience.RateLimit{RequestsPerMinute: 6000})
	require.NoError(t, err)
	tr := newTestTransport(t, Config{
		Base: base, Retry: fastRetry, Breaker: br, Limiter: lim,
		AttemptTimeout: 10 * time.Second, StreamFirstByteTimeout: time.Millisecond, StreamIdleTimeout: time.Millisecond,
	})
	resp, err := tr.RoundTrip(upgradeRequest(t, t.Context(), srv.URL))
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	assert.Equal(t, wantType, reflect.TypeOf(resp.Body), "the body must be the base transport's own, not a wrapper")
	conn, ok := resp.Body.(io.ReadWriteCloser)
	require.True(t, ok, "got body %T, want an io.ReadWriteCloser", resp.Body)
	assert.Equal(t, 1, Attempts(resp))

	// Several messages both ways, over a connection the transport no
	// longer watches (the watchdog limits above are 1 ms).
	r := bufio.NewReader(conn)
	for _, msg := range []string{"hello\n", "second message\n", strings.Repeat("x", 64<<10) + "\n"} {
		_, err := io.WriteString(conn, msg)
		require.NoError(t, err)
		time.Sleep(5 * time.Millisecond) // longer than the stream limits
		got, err := r.ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, strings.ToUpper(msg), got)
	}
	require.NoError(t, conn.Close())
	assert.Equal(t, int64(2), hits.Load(), "handshakes the server saw")
	c := br.Counts()
	assert.Equal(t, 1, c.WindowCalls, "the handshake counts for the breaker")
	assert.Zero(t, c.WindowFailures)
}

func TestTransportDoesNotRetryAFailedUpgrade(t *testing.T) {
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusBadGateway} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			srv, hits := echoUpgradeServer(t, status)
			br := countingBreaker(t)
			tr := newTestTransport(t, Config{Base: srv.Client().Transport, Retry: fastRetry, Breaker: br})
			resp, err := tr.RoundTrip(upgradeRequest(t, t.Context(), srv.URL))
			require.NoError(t, err)
			assert.Equal(t, status, resp.StatusCode)
			assert.Contains(t, readAll(t, resp), "handshake refused", "the refusal's body reaches the SDK")
			assert.Equal(t, int64(1), hits.Load(), "handshakes the server saw")
			assert.Equal(t, 1, Attempts(resp))

			// The same request without the upgrade is retried.
			hits.Store(0)
			resp, err = tr.RoundTrip(must(http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)))
			require.NoError(t, err)
			_ = readAll(t, resp)
			assert.Equal(t, int64(3), hits.Load(), "plain requests the server saw")
		})
	}
}

func TestTransportDoesNotRetryAnUpgradeThatTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := newFakeBase(func(_ int, r *http.Request) (*http.Response, error) { return hang(r) })
		tr := newTestTransport(t, Config{Base: base, Retry: exactRetry, AttemptTimeout: 2 * time.Second})
		_, err := tr.RoundTrip(upgradeRequest(t, t.Context(), "http://llm.test/v1/responses"))
		require.ErrorIs(t, err, ErrAttemptTimeout)
		assert.Equal(t, []time.Duration{0}, base.sent(), "one handshake, cut by the attempt timeout")
	})
}

func TestUpgradeHandshakeWaitsForLimiterAndBreaker(t *testing.T) {
	t.Run("open breaker", func(t *testing.T) {
		srv, hits := echoUpgradeServer(t, http.StatusSwitchingProtocols)
		br := countingBreaker(t)
		br.Trip(time.Hour)
		tr := newTestTransport(t, Config{Base: srv.Client().Transport, Retry: fastRetry, Breaker: br})
		_, err := tr.RoundTrip(upgradeRequest(t, t.Context(), srv.URL))
		require.ErrorIs(t, err, resilience.ErrOpen)
		assert.Zero(t, hits.Load(), "handshakes the server saw")
	})
	t.Run("limiter cooling down", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			lim, err := resilience.NewRateLimiter(resilience.RateLimit{RequestsPerMinute: 60})
			require.NoError(t, err)
			start := time.Now()
			lim.Cooldown(start.Add(3 * time.Second))
			base := newFakeBase(func(_ int, r *http.Request) (*http.Response, error) {
				return respond(r, http.StatusSwitchingProtocols, nil, ""), nil
			})
			tr := newTestTransport(t, Config{Base: base, Limiter: lim})
			resp, err := tr.RoundTrip(upgradeRequest(t, t.Context(), "http://llm.test/v1/responses"))
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			assert.Equal(t, []time.Duration{3 * time.Second}, base.sent(), "the handshake waited for the cooldown")
		})
	})
}

func TestTransportReturnsA101AsTheBaseGaveIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		conn := &rwc{}
		base := newFakeBase(func(_ int, r *http.Request) (*http.Response, error) {
			resp := respond(r, http.StatusSwitchingProtocols, map[string]string{"Upgrade": "websocket"}, "")
			resp.Body = conn
			return resp, nil
		})
		// A Classify that asks to retry everything must not retry a 101.
		tr := newTestTransport(t, Config{Base: base, Retry: fastRetry, StreamIdleTimeout: time.Second,
			Classify: func(Attempt) Decision { return Decision{Retry: true, Failure: true} }})
		req := upgradeRequest(t, t.Context(), "http://llm.test/v1/responses")
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		assert.Same(t, conn, resp.Body, "the body must be the base's, unwrapped")
		assert.Same(t, req, resp.Request)
		assert.Len(t, base.sent(), 1)
	})
}

// rwc is a read-write body, as net/http returns for a 101.
type rwc struct{ written int }

func (*rwc) Read([]byte) (int, error)      { return 0, io.EOF }
func (c *rwc) Write(p []byte) (int, error) { c.written += len(p); return len(p), nil }
func (*rwc) Close() error                  { return nil }

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestIsUpgrade(t *testing.T) {
	tests := []struct {
		name       string
		connection []string
		upgrade    string
		want       bool
	}{
		{"websocket handshake", []string{"Upgrade"}, "websocket", true},
		{"lower case", []string{"upgrade"}, "websocket", true},
		{"among other tokens", []string{"keep-alive, Upgrade"}, "websocket", true},
		{"on a second line", []string{"keep-alive", " upgrade "}, "h2c", true},
		{"no Upgrade header", []string{"Upgrade"}, "", false},
		{"blank Upgrade header", []string{"Upgrade"}, "  ", false},
		{"Connection without the token", []string{"keep-alive"}, "websocket", false},
		{"token as a substring only", []string{"upgraded, no-upgrade"}, "websocket", false},
		{"no Connection header", nil, "websocket", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "http://llm.test/", nil)
			for _, v := range tt.connection {
				req.Header.Add("Connection", v)
			}
			if tt.upgrade != "" {
				req.Header.Set("Upgrade", tt.upgrade)
			}
			assert.Equal(t, tt.want, isUpgrade(req), "got isUpgrade(%q, %q)", tt.connection, tt.upgrade)
		})
	}
}

func FuzzIsUpgrade(f *testing.F) {
	f.Add("Upgrade", "websocket")
	f.Add("keep-alive,upgrade", "h2c")
	f.Add("upgrade ,", "")
	f.Add("\tUPGRADE\t", "x")
	f.Fuzz(func(t *testing.T, connection, upgrade string) {
		req := &http.Request{Header: http.Header{"Connection": {connection}, "Upgrade": {upgrade}}}
		got := isUpgrade(req)
		want := strings.TrimSpace(upgrade) != ""
		if want {
			want = false
			for _, tok := range strings.Split(connection, ",") {
				want = want || strings.ToLower(strings.TrimSpace(tok)) == "upgrade"
			}
		}
		if got != want {
			t.Fatalf("isUpgrade(Connection %q, Upgrade %q) = %v, want %v", connection, upgrade, got, want)
		}
	})
}
