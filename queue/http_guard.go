package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"syscall"
)

// The checks [NewHTTPHandlerWith]'s handler makes before it routes a
// request, and how it tells an unreachable broker from a failing one.

// eventsSuffix is the last segment of a task's event stream route. A task
// name enqueued over HTTP may not end in it, so that POST /tasks/x/events
// (a wrong method on the stream of task x) never enqueues a task named
// "x/events".
const eventsSuffix = "/events"

// refuse returns the error a request is answered with before it reaches
// its route (pattern, "" when none matches), or nil to let it through.
func (a *httpAPI) refuse(r *http.Request, pattern string) error {
	if r.Method == http.MethodPost {
		if p := r.URL.Path; p == "/tasks" {
			return &httpError{code: http.StatusMethodNotAllowed, allow: "GET, HEAD",
				msg: "queue: POST /tasks: the task name is missing; enqueue with POST /tasks/{name}"}
		} else if id, ok := strings.CutSuffix(strings.TrimPrefix(p, "/tasks/"), eventsSuffix); ok && strings.HasPrefix(p, "/tasks/") {
			return &httpError{code: http.StatusMethodNotAllowed, allow: "GET, HEAD",
				msg: fmt.Sprintf("queue: POST %s: this is the event stream of task %q (GET only); "+
					"a task name enqueued over HTTP may not end in %q", p, id, eventsSuffix)}
		}
	}
	if pattern == "" || r.Method == http.MethodGet || r.Method == http.MethodHead {
		return nil
	}
	if a.cfg.ReadOnly {
		return &httpError{code: http.StatusForbidden,
			msg: fmt.Sprintf("queue: %s %s: this API is read-only (HTTPConfig.ReadOnly)", r.Method, r.URL.Path)}
	}
	if r.Method == http.MethodPost {
		ct := r.Header.Get("Content-Type")
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return &httpError{code: http.StatusUnsupportedMediaType,
				msg: fmt.Sprintf("queue: POST %s: Content-Type is %q; want \"application/json\" (also with an empty body)", r.URL.Path, ct)}
		}
	}
	return nil
}

// unavailable reports whether err says the broker cannot be used right
// now, rather than that it failed: it was closed, the request's context
// ended, or the connection to it failed (a dial, a read or a write on the
// network). Such errors are answered 503, others 500.
func unavailable(err error) bool {
	var netErr net.Error // *net.OpError of a failed dial, read or write among them
	return errors.Is(err, ErrClosed) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
