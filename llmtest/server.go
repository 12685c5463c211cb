package llmtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// ErrInvalidArgument is wrapped by every error that reports bad input to this
// package: a negative duration or limit, a NaN or out-of-range rate, a status
// code outside 400..599. The wrapping message names the field and the allowed
// range.
var ErrInvalidArgument = errors.New("llmtest: invalid argument")

// DefaultDimensions is the length of the embedding vectors the server returns
// when neither [Config.Dimensions] nor the request's "dimensions" field sets it.
const DefaultDimensions = 8

// maxBodyBytes bounds the request bodies the server reads.
const maxBodyBytes = 8 << 20

// Config configures a [Server]. The zero value is a well-behaved provider that
// echoes the last user message, never fails and has no rate limits.
type Config struct {
	// Reply returns the assistant's text for a chat or messages request. It is
	// called concurrently and must be deterministic if the test relies on the
	// text. The server cuts the text to the request's max_tokens (a token is a
	// whitespace-separated word). Nil means [Echo].
	Reply func(req *Request) string

	// FaultFor picks a fault from the request itself, for example "fail every
	// call to model X". It is consulted when the scripted queue
	// ([Server.Script]) is empty; a zero [Fault] means "none", and then Rates
	// are drawn. It is called concurrently. An invalid fault it returns is
	// answered with a 500 whose message says what was wrong. Nil means none.
	FaultFor func(req *Request) Fault

	// Rates injects faults at random, drawn with Seed, for requests that
	// neither the script nor FaultFor gave a fault. Empty means none.
	Rates Rates

	// Seed seeds the draws behind Rates and each [Request.Rand]. Each kind
	// of request (the same route, model, stream flag, max_tokens and text)
	// has its own stream of draws, and the k-th well-formed request of a
	// kind takes its k-th number, so the same Seed and the same requests
	// give the same faults whatever order concurrent requests arrive in;
	// only identical requests in flight at once may swap theirs. 0 is a
	// seed like any other.
	Seed uint64

	// Limits enforces requests and tokens per minute with realistic
	// rate-limit headers. The zero value means no limits and no such headers.
	Limits Limits

	// ChunkDelay is the pause between two content chunks of a stream.
	// 0 means none; negative is an error.
	ChunkDelay time.Duration

	// Dimensions is the length of embedding vectors when the request does
	// not ask for one. 0 means [DefaultDimensions]; negative is an error.
	Dimensions int

	// InMemory serves over in-process pipes ([net.Pipe]) instead of a
	// loopback TCP port. Only the server's own [Server.Transport] and
	// [Server.Client] reach it (URL is then http://llmtest.invalid). Use it
	// inside a testing/synctest bubble, where loopback sockets would keep
	// fake time from advancing: with InMemory, a NewServer called inside the
	// bubble runs entirely on the bubble's fake clock, so "a hang cut by a
	// 10s attempt timeout" takes microseconds and is exact.
	InMemory bool
}

// Server is a fake OpenAI and Anthropic API served over HTTP. Create it with
// [NewServer] or [Start]; it is safe for concurrent use. Close it to stop it.
type Server struct {
	// URL is the server's base URL without a trailing slash, such as
	// http://127.0.0.1:41234. Point OpenAI SDKs at URL+"/v1" and the
	// Anthropic SDK at URL.
	URL string

	cfg    Config
	ts     *httptest.Server
	client *http.Client
	start  time.Time

	done      chan struct{}
	closeOnce sync.Once

	mu     sync.Mutex
	idle   chan struct{} // closed when no request is in flight
	seq    int
	script []Fault
	draws  *drawer
	win    window
	st     Stats
}

// NewServer validates cfg and starts a server. It returns an error wrapping
// [ErrInvalidArgument] for a bad Config and never a half-started server.
// The caller must call [Server.Close].
func NewServer(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:   cfg,
		start: time.Now(),
		done:  make(chan struct{}),
		draws: newDrawer(cfg.Seed),
		st:    newStats(),
		idle:  make(chan struct{}),
	}
	close(s.idle)
	h := http.HandlerFunc(s.serve)
	if cfg.InMemory {
		l := newPipeListener()
		s.ts = &httptest.Server{Listener: l, Config: &http.Server{Handler: h}}
		s.ts.Start()
		s.client = &http.Client{Transport: l.transport()}
	} else {
		s.ts = httptest.NewServer(h)
		s.client = s.ts.Client()
	}
	s.URL = s.ts.URL
	return s, nil
}

// Start is [NewServer] for tests: it fails tb at once on a bad Config and
// closes the server when the test ends (tb.Cleanup).
func Start(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	s, err := NewServer(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Close stops the server: requests held by a hang, a delay or a stall end at
// once, every open connection is dropped (a client still reading a
// response gets an error), then Close waits for every handler to return
// and closes the idle connections of [Server.Client]. Calling it again
// does nothing.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		// A handler blocked writing to a client that stopped reading (an
		// in-memory pipe has no buffer at all) is freed by closing its
		// connection.
		s.ts.CloseClientConnections()
		s.ts.Close()
		s.client.CloseIdleConnections()
	})
}

// Client returns an HTTP client that reaches the server (the only one that
// does when [Config.InMemory] is set). Its idle connections are closed by
// [Server.Close].
func (s *Server) Client() *http.Client { return s.client }

// Transport returns the round tripper of [Server.Client], the base to wrap
// when testing a resilient transport: &http.Client{Transport: wrap(srv.Transport())}.
func (s *Server) Transport() http.RoundTripper { return s.client.Transport }

// Script queues faults for the next requests, one fault per request in
// arrival order, before FaultFor and Rates are consulted. A zero [Fault] in
// the queue lets one request through untouched. Requests that are rejected
// before a fault is chosen (unknown route, malformed body, own rate limits)
// do not consume the queue. Script checks every fault first and queues none
// when one is invalid (the error wraps [ErrInvalidArgument]).
func (s *Server) Script(faults ...Fault) error {
	for i, f := range faults {
		if err := f.validate(); err != nil {
			return fmt.Errorf("fault %d: %w", i, err)
		}
	}
	s.mu.Lock()
	s.script = append(s.script, faults...)
	s.mu.Unlock()
	return nil
}

// WaitIdle blocks until no request is being handled, so that the outcome of
// every request that arrived so far is in [Server.Stats] (a client that gave
// up returns before the server notices). It returns ctx.Err() if ctx ends
// first. Requests that arrive later are not waited for.
func (s *Server) WaitIdle(ctx context.Context) error {
	for {
		s.mu.Lock()
		idle, ch := s.st.InFlight == 0, s.idle
		s.mu.Unlock()
		if idle {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (c Config) validate() error {
	if c.ChunkDelay < 0 {
		return invalid("Config.ChunkDelay is %v; want >= 0", c.ChunkDelay)
	}
	if c.Dimensions < 0 {
		return invalid("Config.Dimensions is %d; want >= 0", c.Dimensions)
	}
	if err := c.Limits.validate(); err != nil {
		return err
	}
	return c.Rates.validate()
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidArgument}, args...)...)
}

// nextFault picks the fault of one admitted request: the scripted queue
// first, then FaultFor, then a draw from Rates.
func (s *Server) nextFault(req *Request) Fault {
	s.mu.Lock()
	if len(s.script) > 0 {
		f := s.script[0]
		s.script = s.script[1:]
		s.mu.Unlock()
		return f
	}
	s.mu.Unlock()
	if s.cfg.FaultFor != nil {
		f := s.cfg.FaultFor(req)
		if err := f.validate(); err != nil {
			return Fault{Status: http.StatusInternalServerError,
				Message: "llmtest: Config.FaultFor returned an invalid fault: " + err.Error()}
		}
		if !f.isZero() {
			return f
		}
	}
	if len(s.cfg.Rates) == 0 {
		return Fault{}
	}
	return s.cfg.Rates.pick(req.draw)
}

// wait pauses for d; it reports false when the client went away or the
// server is closing first.
func (s *Server) wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return r.Context().Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-s.done:
		return false
	}
}

// closing reports whether Close has begun.
func (s *Server) closing() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// hold blocks until the client gives up or the server closes.
func (s *Server) hold(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-s.done:
	}
}

// ceilSeconds rounds d up to whole seconds, at least 1.
func ceilSeconds(d time.Duration) int64 {
	return max(1, int64(math.Ceil(d.Seconds())))
}
