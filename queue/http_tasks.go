package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"
)

// The task routes of [NewHTTPHandlerWith]: POST /tasks/{name...} and GET
// /tasks/{id}, with the decoding of enqueue requests and the task object
// both they and the event stream answer.

// enqueueRequest is the body of POST /tasks/{name...}.
type enqueueRequest struct {
	Payload    json.RawMessage `json:"payload"`
	Queue      string          `json:"queue"`
	MaxRetries *int            `json:"max_retries"`
	Delay      string          `json:"delay"`
	TaskID     string          `json:"task_id"`
}

// enqueueFields lists the fields of [enqueueRequest] for error messages.
const enqueueFields = "payload, queue, max_retries, delay, task_id"

// decodeEnqueueRequest reads one JSON object (or nothing) from body and
// returns the payload and options it asks for, or an *httpError (400 or 413).
func decodeEnqueueRequest(body io.Reader) (json.RawMessage, []EnqueueOption, error) {
	var req enqueueRequest
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil && err != io.EOF {
		return nil, nil, bodyError("malformed JSON body", err)
	}
	// The rest is read as raw JSON, not into a struct: an object there is
	// trailing data, not a field of the request.
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		if err == nil {
			err = errors.New("a second JSON value follows the object")
		}
		return nil, nil, bodyError("trailing data after the JSON body", err)
	}
	var opts []EnqueueOption
	if req.Queue != "" {
		opts = append(opts, WithQueue(req.Queue))
	}
	if req.MaxRetries != nil {
		if *req.MaxRetries < 0 {
			return nil, nil, badRequest("queue: max_retries is %d; want 0 or more", *req.MaxRetries)
		}
		opts = append(opts, WithMaxRetries(*req.MaxRetries))
	}
	if req.Delay != "" {
		d, err := time.ParseDuration(req.Delay)
		if err != nil || d < 0 {
			return nil, nil, badRequest("queue: delay %q: want a duration of 0 or more such as \"10s\" or \"1m30s\"", req.Delay)
		}
		opts = append(opts, WithDelay(d))
	}
	if req.TaskID != "" {
		opts = append(opts, WithTaskID(req.TaskID))
	}
	if len(req.Payload) == 0 || string(req.Payload) == "null" {
		req.Payload = nil
	}
	return req.Payload, opts, nil
}

// bodyError classifies an error reading the body: 413 when it hit the
// size cap, 400 otherwise, with a message in the request's terms (JSON
// field names, never Go type names).
func bodyError(what string, err error) error {
	var (
		tooBig   *http.MaxBytesError
		typeErr  *json.UnmarshalTypeError
		syntax   *json.SyntaxError
		unknownF = "json: unknown field "
	)
	switch {
	case errors.As(err, &tooBig):
		return &httpError{code: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("queue: request body is larger than %d bytes", tooBig.Limit)}
	case errors.As(err, &typeErr) && typeErr.Field == "":
		return badRequest("queue: %s: the body is a JSON %s; want an object with the fields %s", what, typeErr.Value, enqueueFields)
	case errors.As(err, &typeErr):
		return badRequest("queue: %s: field %q is a JSON %s; want %s", what, typeErr.Field, typeErr.Value, jsonKind(typeErr.Type.Kind()))
	case errors.As(err, &syntax):
		return badRequest("queue: %s: %s (at byte %d)", what, strings.TrimPrefix(syntax.Error(), "json: "), syntax.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("queue: %s: the body ends inside a JSON value", what)
	case strings.HasPrefix(err.Error(), unknownF):
		return badRequest("queue: %s: unknown field %s; want only %s", what, strings.TrimPrefix(err.Error(), unknownF), enqueueFields)
	}
	return badRequest("queue: %s: %v", what, err)
}

// jsonKind names the JSON value a Go kind decodes from.
func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}

func (a *httpAPI) enqueue(w http.ResponseWriter, r *http.Request) {
	payload, opts, err := decodeEnqueueRequest(http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var p any // a nil RawMessage would not say null
	if payload != nil {
		p = payload
	}
	t, err := a.c.Enqueue(r.Context(), r.PathValue("name"), p, opts...)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", taskLocation(r, t.ID))
	writeJSON(w, http.StatusAccepted, accepted{TaskID: t.ID, Status: t.State})
}

// accepted is the answer to a request that enqueued a task.
type accepted struct {
	TaskID   string `json:"task_id"`
	Status   State  `json:"status"`
	ReplayOf string `json:"replay_of,omitempty"`
}

// taskLocation returns the URL path of task id as this handler serves it,
// keeping the prefix that a wrapping http.StripPrefix removed.
func taskLocation(r *http.Request, id string) string {
	prefix := ""
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil {
		if p, ok := strings.CutSuffix(u.EscapedPath(), r.URL.EscapedPath()); ok {
			prefix = p
		}
	}
	return prefix + "/tasks/" + url.PathEscape(id)
}

// taskView is a task as the HTTP API shows it.
type taskView struct {
	TaskID          string            `json:"task_id"`
	Name            string            `json:"name"`
	Queue           string            `json:"queue"`
	Status          State             `json:"status"`
	Progress        *Progress         `json:"progress"`
	Payload         json.RawMessage   `json:"payload"`
	Result          json.RawMessage   `json:"result"`
	Error           string            `json:"error"`
	Attempt         int               `json:"attempt"`
	MaxRetries      int               `json:"max_retries"`
	Retries         int               `json:"retries"`
	Redeliveries    int               `json:"redeliveries"`
	EnqueuedAt      time.Time         `json:"enqueued_at"`
	NotBefore       time.Time         `json:"not_before,omitzero"`
	StartedAt       time.Time         `json:"started_at,omitzero"`
	FinishedAt      time.Time         `json:"finished_at,omitzero"`
	ExpiresAt       time.Time         `json:"expires_at,omitzero"`
	CancelRequested bool              `json:"cancel_requested,omitzero"`
	Headers         map[string]string `json:"headers,omitempty"`
}

func viewOf(t *Task) taskView {
	return taskView{
		TaskID: t.ID, Name: t.Name, Queue: t.Queue, Status: t.State, Progress: t.Progress,
		Payload: rawOrNil(t.Payload), Result: rawOrNil(t.Result), Error: t.Error, Attempt: t.Attempt, MaxRetries: t.MaxRetries,
		Retries: t.Retries, Redeliveries: t.Redeliveries, EnqueuedAt: t.EnqueuedAt, NotBefore: t.NotBefore,
		StartedAt: t.StartedAt, FinishedAt: t.FinishedAt, ExpiresAt: t.ExpiresAt,
		CancelRequested: t.CancelRequested, Headers: t.Headers,
	}
}

// rawOrNil returns b, or nil when b is empty (an empty RawMessage does not
// marshal).
func rawOrNil(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	return b
}

// listedView is a task as GET /tasks lists it: without payload and result,
// which may be large (GET /tasks/{id} has them).
type listedView struct {
	taskView
	Payload json.RawMessage `json:"payload,omitempty"` // always nil: hides taskView's
	Result  json.RawMessage `json:"result,omitempty"`  // always nil: hides taskView's
}

func (a *httpAPI) get(w http.ResponseWriter, r *http.Request) { a.answerTask(w, r, a.c.Get) }

// answerTask answers the task that op (Get or Cancel) returns for the id
// in the path.
func (a *httpAPI) answerTask(w http.ResponseWriter, r *http.Request, op func(context.Context, string) (*Task, error)) {
	t, err := op(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, viewOf(t))
}
