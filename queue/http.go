package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/resilience-go/resilience/dlq"
)

// Defaults of [HTTPConfig] fields left zero.
const (
	DefaultMaxBodyBytes = 1 << 20 // 1 MiB
	DefaultSSEKeepAlive = 15 * time.Second
)

// HTTPConfig configures the handler of [NewHTTPHandlerWith]. The zero value
// serves the task, queue and dashboard routes without dead letters, open to
// anyone who can reach it, with the defaults below.
type HTTPConfig struct {
	// DeadLetters, when set, adds the dead-letter routes (list, get,
	// replay, delete) over this store, usually [Worker.DeadLetters]. nil
	// means no such routes (they answer 404).
	DeadLetters dlq.Store

	// Alerts is the alerting of the workers that write to DeadLetters
	// (set it to their [WorkerConfig.Alerts]): its Threshold and Window say
	// which failure counts GET /queues and the dashboard show and when a
	// task name counts as alerted. OnAlert and Logger are not used here.
	// The zero value means the defaults, the same as a worker's zero
	// value. It is used only with DeadLetters, and only when that store
	// implements [dlq.AlertReader] (the in-memory and Redis ones do). A negative
	// Threshold or Window is an error.
	Alerts dlq.AlertConfig

	// MaxBodyBytes caps the size of a request body; a larger body is
	// answered 413. 0 means DefaultMaxBodyBytes (1 MiB); negative is an
	// error.
	MaxBodyBytes int64

	// SSEKeepAlive is how often an event stream with nothing to report
	// sends a comment line, so that proxies do not close it as idle. 0
	// means DefaultSSEKeepAlive (15 s); negative is an error.
	SSEKeepAlive time.Duration

	// Logger receives a record for every answer in the 5xx range, with the
	// error behind it (the client is told only "internal error" or "broker
	// unavailable"). nil means [slog.Default].
	Logger *slog.Logger

	// ReadOnly, when true, answers 403 to every request that would change
	// something (enqueue, cancel, pause, resume, replay, delete), and the
	// dashboard shows no buttons. false (the default) allows them.
	ReadOnly bool

	// Authorize, when set, is called first for every request, the
	// dashboard's included, from the request's goroutine (it must be safe
	// for concurrent use). A nil error lets the request through; an error
	// refuses it with 403, or with 401 when it wraps [ErrUnauthenticated],
	// and its message is the answer's "error" (write it for the person at
	// the other end). The answer has no WWW-Authenticate header: for HTTP
	// basic auth, wrap the handler in middleware that sends the challenge.
	// nil means no check: the handler is open to everyone who can reach it.
	Authorize func(r *http.Request) error
}

// ErrUnauthenticated, wrapped by the error of [HTTPConfig.Authorize], makes
// the handler answer 401 (no or bad credentials) instead of 403 (known
// caller, not allowed).
var ErrUnauthenticated = errors.New("queue: authentication required")

// NewHTTPHandler returns an HTTP API over c with [HTTPConfig]'s defaults
// and no dead-letter routes; see [NewHTTPHandlerWith] for the routes. A nil
// c gives a handler that answers every request 500 with a JSON error.
func NewHTTPHandler(c *Client) http.Handler {
	h, err := NewHTTPHandlerWith(c, HTTPConfig{})
	if err != nil {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			writeError(w, http.StatusInternalServerError, err.Error())
		})
	}
	return h
}

// NewHTTPHandlerWith returns an HTTP API over c, configured by cfg. Every
// answer but the dashboard's is JSON, errors as {"error": "..."}. Routes (Go
// 1.22 patterns, relative to where the handler is mounted; http.StripPrefix
// works, and so does the dashboard under a prefix):
//
//   - POST /tasks/{name...} enqueues a task named name (which may contain
//     '/' but may not end in "/events", the path of a task's event stream).
//     The body (optional) is {"payload": any JSON, "queue": "high",
//     "max_retries": 3, "delay": "10s", "task_id": "idempotency key"}; all
//     fields are optional and unknown fields are rejected. It answers 202
//     {"task_id", "status"} with a Location header naming the task. With a
//     task_id that exists, the existing task is answered (see [WithTaskID]).
//   - GET /tasks/{id} answers {"task_id", "name", "queue", "status",
//     "progress", "payload", "result", "error", "attempt", "max_retries",
//     "retries", "redeliveries", "enqueued_at"} plus "not_before",
//     "started_at", "finished_at", "expires_at", "cancel_requested" and
//     "headers" when set; progress, payload and result are null when absent.
//   - GET /tasks/{id}/events answers a Server-Sent Events stream of the
//     same objects, one "event: state" per observed change (see
//     [Client.Watch]), ending after the one whose status is done (SUCCESS,
//     FAILURE, REVOKED; an EventSource should close then, or it
//     reconnects). A comment line is sent every SSEKeepAlive while nothing
//     changes. When the task vanishes or the broker fails mid-stream, an
//     "event: error" with {"error"} ends it.
//   - DELETE /tasks/{id} cancels the task ([Client.Cancel]) and answers 200
//     with it as GET does.
//   - GET /tasks?queue=&state=&offset=0&limit=50 lists tasks newest first
//     ([Client.List]): {"tasks": [...], "offset", "limit"}, each task as
//     GET answers it but without payload and result. state is a [State]
//     name; offset is 0 to [MaxListOffset], limit 1 to [MaxListLimit].
//   - GET /queues answers {"queues": [...], "dead_letters": count or null
//     without a store, "alerts": [...] or null, "read_only"}, the queues as
//     [QueueStats] objects ([Client.Stats]). "alerts" holds the task names
//     that failed for good in the current alert window (see
//     [dlq.Recorder.AlertStates]), up to [MaxAlertStates], most failures
//     first: {"task_name", "failures", "threshold", "window" (a Go
//     duration), "window_start", "window_end", "alerted"}. It is null
//     without cfg.DeadLetters or when that store does not implement
//     [dlq.AlertReader].
//   - POST /queues/{name}/pause and POST /queues/{name}/resume answer 200
//     {"queue", "paused"} ([Client.PauseQueue], [Client.ResumeQueue]).
//   - With cfg.DeadLetters: GET /dead-letters?offset=0&limit=50 answers
//     {"entries": [...], "total", "offset", "limit", "next_offset"} (oldest
//     first, limit 1 to 1000, and no more entries than fit in
//     [MaxDeadLetterPageBytes]; next_offset is where the next page starts,
//     or null after the last); GET /dead-letters/{id} one [dlq.Entry]; POST
//     /dead-letters/{id}/replay answers 202 {"task_id", "status",
//     "replay_of"} (see [Client.Replay]); DELETE /dead-letters/{id} 204.
//   - GET /ui/ serves the dashboard: HTML, CSS and JavaScript embedded in
//     the binary, which use the routes above with relative URLs.
//
// Every POST must carry "Content-Type: application/json" (415 otherwise),
// with or without a body: a web page on another site can make a browser
// send a form or a plain fetch without a CORS preflight, but not one with
// this header, so no page a user visits can enqueue, replay or pause
// through their browser. DELETE needs a preflight too, which the handler
// never grants.
//
// Statuses: 400 for malformed JSON, unknown fields, trailing data, a bad
// task name or id, an unknown queue, a delay that is not a non-negative Go
// duration, a negative max_retries, bad paging or an unknown state; 401 or
// 403 when cfg.Authorize refuses; 403 for a change when cfg.ReadOnly is set;
// 404 for an unknown task, entry or route; 405 (with Allow) for a wrong
// method, including POST /tasks without a task name; 409 when a dead letter
// cannot be enqueued as it is (its queue is unknown to c); 413 for a body
// over MaxBodyBytes; 415 for a POST that is not JSON; 501 when the broker
// lacks what a route needs ([ErrUnsupported]); 503 "queue: broker
// unavailable" when the broker is closed or cannot be reached; 500
// otherwise.
//
// The handler is open by default: it does no authentication or rate
// limiting. Set cfg.Authorize, or wrap it in your own middleware, before
// you expose it. Any task name can be enqueued; one without a handler fails
// into the dead letters when a worker claims it.
//
// NewHTTPHandlerWith returns an error wrapping [ErrInvalidArgument] for a
// nil c or a negative MaxBodyBytes, SSEKeepAlive, Alerts.Threshold or
// Alerts.Window. The handler is safe for
// concurrent use.
func NewHTTPHandlerWith(c *Client, cfg HTTPConfig) (http.Handler, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if cfg.MaxBodyBytes < 0 {
		return nil, invalidArg("HTTPConfig.MaxBodyBytes is %d; want > 0 (0 means %d)", cfg.MaxBodyBytes, DefaultMaxBodyBytes)
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.SSEKeepAlive < 0 {
		return nil, invalidArg("HTTPConfig.SSEKeepAlive is %v; want > 0 (0 means %v)", cfg.SSEKeepAlive, DefaultSSEKeepAlive)
	}
	if cfg.SSEKeepAlive == 0 {
		cfg.SSEKeepAlive = DefaultSSEKeepAlive
	}
	if cfg.Alerts.Threshold < 0 {
		return nil, invalidArg("HTTPConfig.Alerts.Threshold is %d; want >= 0 (0 means %d)", cfg.Alerts.Threshold, dlq.DefaultAlertThreshold)
	}
	if cfg.Alerts.Window < 0 {
		return nil, invalidArg("HTTPConfig.Alerts.Window is %v; want >= 0 (0 means %v)", cfg.Alerts.Window, dlq.DefaultAlertWindow)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	a := &httpAPI{c: c, cfg: cfg, mux: http.NewServeMux()}
	if cfg.DeadLetters != nil {
		if _, ok := cfg.DeadLetters.(dlq.AlertReader); ok {
			// Only Threshold and Window matter for reading the counts.
			rec, err := dlq.NewRecorder(cfg.DeadLetters, dlq.AlertConfig{Threshold: cfg.Alerts.Threshold, Window: cfg.Alerts.Window})
			if err != nil {
				return nil, wrapOp("HTTPConfig.Alerts", err)
			}
			a.alerts = rec
		}
	}
	a.mux.HandleFunc("POST /tasks/{name...}", a.enqueue)
	a.mux.HandleFunc("GET /tasks", a.listTasks)
	a.mux.HandleFunc("GET /tasks/{id}", a.get)
	a.mux.HandleFunc("DELETE /tasks/{id}", a.cancel)
	a.mux.HandleFunc("GET /tasks/{id}/events", a.events)
	a.mux.HandleFunc("GET /queues", a.queues)
	a.mux.HandleFunc("POST /queues/{name}/pause", a.pause)
	a.mux.HandleFunc("POST /queues/{name}/resume", a.resume)
	if cfg.DeadLetters != nil {
		a.mux.HandleFunc("GET /dead-letters", a.listDead)
		a.mux.HandleFunc("GET /dead-letters/{id}", a.getDead)
		a.mux.HandleFunc("DELETE /dead-letters/{id}", a.deleteDead)
		a.mux.HandleFunc("POST /dead-letters/{id}/replay", a.replayDead)
	}
	a.mux.HandleFunc("GET /ui", redirectToUI)
	a.mux.Handle("GET /ui/", uiHandler(cfg.ReadOnly))
	return a, nil
}

// httpAPI is the handler of [NewHTTPHandlerWith].
type httpAPI struct {
	c   *Client
	cfg HTTPConfig
	mux *http.ServeMux
	// alerts reads the alert states of cfg.DeadLetters; nil when there is
	// no store or it cannot report them.
	alerts *dlq.Recorder
}

func (a *httpAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a.cfg.Authorize != nil {
		if err := a.cfg.Authorize(r); err != nil {
			code := http.StatusForbidden
			if errors.Is(err, ErrUnauthenticated) {
				code = http.StatusUnauthorized
			}
			writeError(w, code, err.Error())
			return
		}
	}
	_, pattern := a.mux.Handler(r)
	if err := a.refuse(r, pattern); err != nil {
		a.fail(w, r, err)
		return
	}
	if pattern != "" {
		a.mux.ServeHTTP(w, r)
		return
	}
	// No route: the mux answers 404 or 405 (with Allow) in plain text;
	// answer the same status in JSON instead.
	a.mux.ServeHTTP(&routeErrorWriter{ResponseWriter: w, r: r}, r)
}

// routeErrorWriter turns the mux's plain-text error answers into JSON.
type routeErrorWriter struct {
	http.ResponseWriter
	r       *http.Request
	swallow bool
}

func (rw *routeErrorWriter) WriteHeader(code int) {
	if code < 400 {
		rw.ResponseWriter.WriteHeader(code)
		return
	}
	rw.swallow = true
	msg := fmt.Sprintf("queue: no route for %s %s", rw.r.Method, rw.r.URL.Path)
	if code == http.StatusMethodNotAllowed {
		msg = fmt.Sprintf("queue: method %s not allowed for %s; allowed: %s",
			rw.r.Method, rw.r.URL.Path, rw.Header().Get("Allow"))
	}
	writeError(rw.ResponseWriter, code, msg)
}

func (rw *routeErrorWriter) Write(b []byte) (int, error) {
	if rw.swallow {
		return len(b), nil
	}
	return rw.ResponseWriter.Write(b)
}

// httpError is an error with the status it is answered with, and the
// Allow header of a 405.
type httpError struct {
	code  int
	msg   string
	allow string
}

func (e *httpError) Error() string { return e.msg }

// badRequest returns a 400 whose message is the formatted text.
func badRequest(format string, args ...any) error {
	return &httpError{code: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// writeJSON answers code with v as JSON.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"queue: internal error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Content-Length")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// writeError answers code with {"error": msg}.
func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// statusOf maps an error to the status it is answered with.
func statusOf(err error) int {
	var he *httpError
	switch {
	case errors.As(err, &he):
		return he.code
	case errors.Is(err, ErrTaskNotFound), errors.Is(err, dlq.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrInvalidArgument), errors.Is(err, ErrUnknownQueue), errors.Is(err, dlq.ErrInvalidArgument):
		return http.StatusBadRequest
	case errors.Is(err, ErrUnsupported):
		return http.StatusNotImplemented
	case unavailable(err):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// fail answers err: 4xx with its message, 501 with the route, other 5xx
// with a generic message (the error is logged unless the client went away).
func (a *httpAPI) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := statusOf(err)
	if code == http.StatusNotImplemented {
		// The client's message names Go types; say it in the request's terms.
		writeError(w, code, fmt.Sprintf("queue: %s %s is not supported by this broker", r.Method, r.URL.Path))
		return
	}
	if code < 500 {
		var he *httpError
		if errors.As(err, &he) && he.allow != "" {
			w.Header().Set("Allow", he.allow)
		}
		writeError(w, code, err.Error())
		return
	}
	if r.Context().Err() == nil {
		a.cfg.Logger.LogAttrs(r.Context(), slog.LevelError, "queue: HTTP request failed",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", code), slog.Any("error", err))
	}
	msg := "queue: internal error"
	if code == http.StatusServiceUnavailable {
		msg = "queue: broker unavailable"
	}
	writeError(w, code, msg)
}
