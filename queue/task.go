package queue

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"maps"
	"time"
	"unicode"
	"unicode/utf8"
)

// State is where a task is in its life. The zero value is not a valid state.
type State string

// The states of a task. A task moves PENDING → STARTED → (PROCESSING) →
// SUCCESS or FAILURE, with RETRY between attempts and back to PENDING when
// its lease was lost or it was handed back at shutdown; [Client.Cancel]
// ends it REVOKED from any state that is not final.
const (
	// StatePending: enqueued and waiting to be claimed (or for its delay).
	StatePending State = "PENDING"
	// StateStarted: claimed by a worker, which holds its lease.
	StateStarted State = "STARTED"
	// StateProcessing: the handler reported progress ([ReportProgress]).
	StateProcessing State = "PROCESSING"
	// StateRetry: an attempt failed and the next one waits for its backoff.
	StateRetry State = "RETRY"
	// StateSuccess: the handler returned a result; kept for the result TTL.
	StateSuccess State = "SUCCESS"
	// StateFailure: the task failed for good; kept for the result TTL, and
	// recorded in the worker's dead letters.
	StateFailure State = "FAILURE"
	// StateRevoked: cancelled by [Client.Cancel]; final like SUCCESS and
	// FAILURE, never retried and never a dead letter; kept for the result
	// TTL.
	StateRevoked State = "REVOKED"
)

// States returns every state, in the order of a task's life.
func States() []State {
	return []State{StatePending, StateStarted, StateProcessing, StateRetry, StateSuccess, StateFailure, StateRevoked}
}

// Valid reports whether s is one of the states in [States].
func (s State) Valid() bool {
	switch s {
	case StatePending, StateStarted, StateProcessing, StateRetry, StateSuccess, StateFailure, StateRevoked:
		return true
	}
	return false
}

func statesList() string {
	var b []byte
	for i, s := range States() {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, s...)
	}
	return string(b)
}

// Done reports whether s is final: [StateSuccess], [StateFailure] or
// [StateRevoked]. A done task never changes again; it is removed when its
// result expires.
func (s State) Done() bool { return s == StateSuccess || s == StateFailure || s == StateRevoked }

// Leased reports whether a task in state s is held by a worker under a
// lease: [StateStarted] or [StateProcessing].
func (s State) Leased() bool { return s == StateStarted || s == StateProcessing }

// Progress is what a handler reports while it runs ([ReportProgress]),
// visible through [Client.Get] as [Task.Progress].
type Progress struct {
	Current int64  `json:"current"`
	Total   int64  `json:"total"`
	Status  string `json:"status,omitempty"`
}

// Task is one unit of background work and its outcome. Values returned by a
// [Client] or [Broker] are snapshots owned by the caller: changing them
// changes nothing in the broker.
type Task struct {
	// ID identifies the task; unique within a broker (see [WithTaskID]).
	ID string `json:"id"`
	// Name selects the handler (see [Worker.Handle]).
	Name string `json:"name"`
	// Queue is the queue the task waits in ([DefaultQueue] unless [WithQueue]).
	Queue string `json:"queue"`
	// Payload is the handler's input as JSON.
	Payload json.RawMessage `json:"payload,omitempty"`
	// State is where the task is; see [State].
	State State `json:"state"`
	// Progress is the last progress the latest attempt reported, or nil when
	// it reported none. It stays after the attempt ends: a task in RETRY,
	// SUCCESS or FAILURE shows the last progress of its latest attempt. It
	// is cleared when the task goes back to PENDING (its lease ran out, or
	// it was handed back at shutdown) and when a new attempt claims it.
	Progress *Progress `json:"progress,omitempty"`
	// Result is the handler's return value as JSON, set in [StateSuccess].
	Result json.RawMessage `json:"result,omitempty"`
	// Error is the error of the last failed attempt (in RETRY or FAILURE).
	Error string `json:"error,omitempty"`
	// Attempt counts the attempts started, including ones whose worker was
	// lost; an attempt handed back at shutdown is not counted.
	Attempt int `json:"attempt"`
	// MaxRetries caps the retries after handler failures. [DefaultRetries]
	// (-1, the value when [WithMaxRetries] was not given) means the worker's
	// retry policy decides.
	MaxRetries int `json:"max_retries"`
	// Retries counts the handler failures that were retried so far.
	Retries int `json:"retries"`
	// Redeliveries counts the attempts whose lease ran out (a lost or
	// stalled worker); capped by [WorkerConfig.MaxRedeliveries].
	Redeliveries int `json:"redeliveries"`
	// EnqueuedAt is when the task was first enqueued.
	EnqueuedAt time.Time `json:"enqueued_at"`
	// NotBefore is when the task may next be claimed ([WithDelay], or the
	// backoff before a retry); zero means at once.
	NotBefore time.Time `json:"not_before,omitzero"`
	// StartedAt is when the latest attempt started.
	StartedAt time.Time `json:"started_at,omitzero"`
	// FinishedAt is when the task reached SUCCESS, FAILURE or REVOKED.
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// ExpiresAt is when a done task and its result are removed.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// CancelRequested is set on a running task that [Client.Cancel] was
	// called for: it will end REVOKED whatever its handler returns.
	CancelRequested bool `json:"cancel_requested,omitempty"`
	// Headers are metadata set at enqueue ([WithHeaders], enqueue hooks of
	// [Client.Use]) that every broker stores and returns unchanged, such as
	// a trace context; nil when there are none.
	Headers map[string]string `json:"headers,omitempty"`
}

// DefaultRetries is the [Task.MaxRetries] of a task enqueued without
// [WithMaxRetries]: the worker's [WorkerConfig.Retry] policy decides (3
// retries with the default policy, like Celery's default max_retries=3).
const DefaultRetries = -1

// Clone returns a deep copy of t (its byte slices and Progress copied).
func (t *Task) Clone() *Task {
	if t == nil {
		return nil
	}
	c := *t
	c.Payload = cloneRaw(t.Payload)
	c.Result = cloneRaw(t.Result)
	if t.Progress != nil {
		p := *t.Progress
		c.Progress = &p
	}
	c.Headers = maps.Clone(t.Headers)
	return &c
}

func cloneRaw(b json.RawMessage) json.RawMessage {
	if b == nil {
		return nil
	}
	return bytes.Clone(b)
}

// maxNameLen bounds task names, ids and queue names.
const maxNameLen = 256

// checkName reports whether s is usable as a task name, task id or queue
// name: 1 to 256 bytes of valid UTF-8 made of printable characters
// ([unicode.IsPrint]) other than the space. That refuses control
// characters, every other space, and the invisible format characters
// (category Cf, such as U+200B ZERO WIDTH SPACE, U+202E RIGHT-TO-LEFT
// OVERRIDE and U+FEFF BYTE ORDER MARK), which would make two names that
// look the same differ, or make a name in a log read backwards. Without
// allowSlash (ids and queue names, which appear in URL paths as one
// segment) s may not hold '/' nor be "." or "..", which a URL path
// resolves away.
func checkName(field, s string, allowSlash bool) error {
	if s == "" {
		return invalidArg("%s is empty; want 1 to %d printable characters", field, maxNameLen)
	}
	if len(s) > maxNameLen {
		return invalidArg("%s is %d bytes long; want at most %d", field, len(s), maxNameLen)
	}
	if !utf8.ValidString(s) {
		return invalidArg("%s %q is not valid UTF-8", field, s)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || r == ' ' || (!allowSlash && r == '/') {
			want := "printable characters without spaces"
			if !allowSlash {
				want += " or '/'"
			}
			return invalidArg("%s %q contains %U (%s); want %s", field, s, r, runeKind(r), want)
		}
	}
	if !allowSlash && (s == "." || s == "..") {
		return invalidArg("%s %q is a relative path segment; want a name other than \".\" and \"..\"", field, s)
	}
	return nil
}

// runeKind names why checkName refuses r.
func runeKind(r rune) string {
	switch {
	case r == '/':
		return "a slash"
	case unicode.IsSpace(r):
		return "a space"
	case unicode.IsControl(r):
		return "a control character"
	case unicode.Is(unicode.Cf, r):
		return "an invisible format character"
	}
	return "not a printable character"
}

// CheckQueueName reports whether name is a valid queue name, as [Client]
// and [Worker] check it: 1 to 256 bytes of printable UTF-8 without spaces
// or '/', and not "." or "..". It returns nil, or an error wrapping
// [ErrInvalidArgument] that says what is wrong. A [Broker] that takes queue
// names from outside the queue package (a Pauser, an Inspector) checks them
// with it, so every broker accepts the same names.
func CheckQueueName(name string) error {
	return checkName("queue name", name, false)
}

// newID returns a random version 4 UUID, the id of a task enqueued without
// [WithTaskID].
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}
