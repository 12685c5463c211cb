package llmhttp

import (
	"bytes"
	"context"
	"io"
	"mime"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resilience-go/resilience"
)

// isStream reports whether resp is a server-sent event stream.
func isStream(resp *http.Response) bool {
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return err == nil && mt == "text/event-stream"
}

// body is the body of a response the transport returns. It replays the
// part already read for classification, ends the attempt's context when
// closed, and, for a stream, runs the first-byte and idle watchdog: a timer
// armed only while a Read is blocked, which cancels the attempt's context
// (unblocking that Read) and makes Read report a [*StreamError]. Time the
// caller spends between Reads never counts, so a slow consumer is not
// mistaken for a stalled server.
type body struct {
	rc       io.ReadCloser
	r        io.Reader // rc, or the part already read followed by rc
	complete bool      // rc was read to EOF for classification
	cancel   context.CancelCauseFunc

	first, idle time.Duration
	watched     bool       // first or idle is set
	mu          sync.Mutex // guards timer and closed: Close may run during a Read
	timer       *time.Timer
	closed      bool
	received    atomic.Int64
	stalled     atomic.Pointer[StreamError]
	closeOnce   sync.Once
	closeErr    error
}

func newBody(rc io.ReadCloser, cancel context.CancelCauseFunc) *body {
	return &body{rc: rc, r: rc, cancel: cancel}
}

// readPrefix reads up to n bytes for classification and arranges for Read
// to return them again.
func (b *body) readPrefix(n int64) []byte {
	buf, err := io.ReadAll(io.LimitReader(b.rc, n))
	// A read error shows again when the caller reads on; a body that
	// ended within n bytes needs nothing more from rc.
	b.complete = err == nil && int64(len(buf)) < n
	if b.complete {
		b.r = bytes.NewReader(buf)
	} else {
		b.r = io.MultiReader(bytes.NewReader(buf), b.rc)
	}
	return buf
}

// watch turns the stream watchdog on. first or idle of 0 means no limit
// for that phase.
func (b *body) watch(first, idle time.Duration) {
	b.first, b.idle = first, idle
	b.watched = first > 0 || idle > 0
}

// stall is run by the watchdog's timer while a Read is blocked.
func (b *body) stall() {
	got := b.received.Load()
	e := &StreamError{Received: got, Waited: b.idle, err: resilience.ErrIdleTimeout}
	if got == 0 {
		e.Waited, e.err = b.first, resilience.ErrFirstItemTimeout
	}
	b.stalled.Store(e)
	b.cancel(e)
}

// Read reads the body; after a stall it returns the [*StreamError].
func (b *body) Read(p []byte) (int, error) {
	if e := b.stalled.Load(); e != nil {
		return 0, e
	}
	if !b.watched || len(p) == 0 {
		return b.r.Read(p)
	}
	b.arm()
	n, err := b.r.Read(p)
	b.disarm()
	if n > 0 {
		b.received.Add(int64(n))
	}
	if err != nil {
		if e := b.stalled.Load(); e != nil {
			return n, e
		}
	}
	return n, err
}

// arm starts the watchdog for one Read: the first-byte limit until a byte
// has arrived, the idle limit after.
func (b *body) arm() {
	d := b.idle
	if b.received.Load() == 0 {
		d = b.first
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed || d <= 0:
	case b.timer == nil:
		b.timer = time.AfterFunc(d, b.stall)
	default:
		b.timer.Reset(d)
	}
}

// disarm stops the watchdog when a Read returns.
func (b *body) disarm() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.timer != nil {
		b.timer.Stop()
	}
}

// Close stops the watchdog, closes the underlying body and ends the
// attempt's context. It is safe to call more than once.
func (b *body) Close() error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		b.mu.Unlock()
		b.disarm()
		b.closeErr = b.rc.Close()
		b.cancel(nil)
	})
	return b.closeErr
}

// discard closes a response the caller will not see. Its body was read in
// full for classification, or is dropped with its connection: reading an
// unknown rest from a server that may hang is not worth a connection.
func discard(resp *http.Response) {
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
}
