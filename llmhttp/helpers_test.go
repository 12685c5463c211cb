package llmhttp

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resilience-go/resilience"
)

// reply is one scripted response.
type reply struct {
	status int
	header map[string]string
	body   string
}

// script serves its replies in order (the last one again when they run
// out) and records what it received.
type script struct {
	mu      sync.Mutex
	replies []reply
	bodies  []string
	headers []http.Header
}

func (s *script) next(r *http.Request) reply {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bodies = append(s.bodies, string(b))
	s.headers = append(s.headers, r.Header.Clone())
	i := min(len(s.bodies)-1, len(s.replies)-1)
	return s.replies[i]
}

func (s *script) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.bodies)
}

func (s *script) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bodies...)
}

// serve starts an httptest server playing the replies.
func serve(t *testing.T, replies ...reply) (*httptest.Server, *script) {
	t.Helper()
	s := &script{replies: replies}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep := s.next(r)
		for k, v := range rep.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(rep.status)
		_, _ = io.WriteString(w, rep.body)
	}))
	t.Cleanup(srv.Close)
	return srv, s
}

// fastRetry retries at once (1 ms apart), three attempts.
var fastRetry = resilience.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, Jitter: resilience.JitterNone}

// exactRetry waits exactly 1 s, then 2 s, ... between attempts.
var exactRetry = resilience.RetryPolicy{Jitter: resilience.JitterNone}

func newTestTransport(t *testing.T, cfg Config) *Transport {
	t.Helper()
	tr, err := NewTransport(cfg)
	require.NoError(t, err)
	return tr
}

// post sends a JSON body through tr.
func post(t *testing.T, tr http.RoundTripper, ctx context.Context, url, body string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	return tr.RoundTrip(req)
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return string(b)
}

// countingBreaker counts its outcomes in a window that never opens it:
// WindowCalls are successes and failures, WindowFailures the failures;
// ignored outcomes appear in neither.
func countingBreaker(t *testing.T) *resilience.Breaker {
	t.Helper()
	b, err := resilience.NewBreaker(resilience.BreakerConfig{FailureRate: 1, Window: time.Hour, MinCalls: 1 << 20})
	require.NoError(t, err)
	return b
}

// fakeBase is an in-memory transport for synctest bubbles: each call runs
// fn, which may block on the request's context.
type fakeBase struct {
	mu    sync.Mutex
	times []time.Duration // when each request was sent, from start
	start time.Time
	fn    func(n int, r *http.Request) (*http.Response, error)
}

func newFakeBase(fn func(n int, r *http.Request) (*http.Response, error)) *fakeBase {
	return &fakeBase{start: time.Now(), fn: fn}
}

func (f *fakeBase) RoundTrip(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.times = append(f.times, time.Since(f.start))
	n := len(f.times)
	f.mu.Unlock()
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	return f.fn(n, r)
}

func (f *fakeBase) sent() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.times...)
}

// respond builds a response.
func respond(r *http.Request, status int, header map[string]string, body string) *http.Response {
	h := http.Header{}
	for k, v := range header {
		h.Set(k, v)
	}
	return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(body)), Request: r}
}

// hang blocks until the request's context ends, as a server that never
// answers.
func hang(r *http.Request) (*http.Response, error) {
	<-r.Context().Done()
	return nil, r.Context().Err()
}

// chanBody is a response body fed through a channel; Read fails when the
// request's context ends, as net/http's bodies do.
type chanBody struct {
	ctx context.Context
	ch  chan string
	buf bytes.Buffer
}

func (b *chanBody) Read(p []byte) (int, error) {
	if b.buf.Len() == 0 {
		select {
		case s, ok := <-b.ch:
			if !ok {
				return 0, io.EOF
			}
			b.buf.WriteString(s)
		case <-b.ctx.Done():
			return 0, b.ctx.Err()
		}
	}
	return b.buf.Read(p)
}

func (b *chanBody) Close() error { return nil }

// logBuffer is a slog logger writing text lines to a buffer.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// callsApart sends a JSON request through tr from n goroutines, the k-th
// starting k*gap after the first, and waits for all of them; a failed
// call fails the test.
func callsApart(t *testing.T, tr http.RoundTripper, n int, gap time.Duration) {
	t.Helper()
	var wg sync.WaitGroup
	for i := range n {
		if i > 0 {
			time.Sleep(gap)
		}
		wg.Go(func() {
			resp, err := post(t, tr, t.Context(), "http://llm.test/", `{}`)
			if assert.NoError(t, err) {
				readAll(t, resp)
			}
		})
	}
	wg.Wait()
}
