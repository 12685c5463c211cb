package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
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

// decodeEnqueueRequest reads one JSON object (or nothing) from body and
// returns the payload and options it asks for, or an *httpError (400 or 413).
func decodeEnqueueRequest(body io.Reader) (json.RawMessage, []EnqueueOption, error) {
	var req enqueueRequest
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil && err != io.EOF {
		return nil, nil, bodyError("malformed JSON body", err)
	}
	if err := dec.Decode(&struct{}{}); err != io.EOF {
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
			return nil, nil, &httpError{http.StatusBadRequest, fmt.Sprintf("queue: max_retries is %d; want 0 or more", *req.MaxRetries)}
		}
		opts = append(opts, WithMaxRetries(*req.MaxRetries))
	}
	if req.Delay != "" {
		d, err := time.ParseDuration(req.Delay)
		if err != nil || d < 0 {
			return nil, nil, &httpError{http.StatusBadRequest,
				fmt.Sprintf("queue: delay %q: want a duration of 0 or more such as \"10s\" or \"1m30s\"", req.Delay)}
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
// size cap, 400 otherwise.
func bodyError(what string, err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("queue: request body is larger than %d bytes", tooBig.Limit)}
	}
	return &httpError{http.StatusBadRequest, fmt.Sprintf("queue: %s: %v", what, err)}
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
	TaskID     string          `json:"task_id"`
	Name       string          `json:"name"`
	Queue      string          `json:"queue"`
	Status     State           `json:"status"`
	Progress   *Progress       `json:"progress"`
	Result     json.RawMessage `json:"result"`
	Error      string          `json:"error"`
	Attempt    int             `json:"attempt"`
	MaxRetries int             `json:"max_retries"`
	Retries    int             `json:"retries"`
	EnqueuedAt time.Time       `json:"enqueued_at"`
	NotBefore  time.Time       `json:"not_before,omitzero"`
	StartedAt  time.Time       `json:"started_at,omitzero"`
	FinishedAt time.Time       `json:"finished_at,omitzero"`
	ExpiresAt  time.Time       `json:"expires_at,omitzero"`
}

func viewOf(t *Task) taskView {
	return taskView{
		TaskID: t.ID, Name: t.Name, Queue: t.Queue, Status: t.State, Progress: t.Progress,
		Result: t.Result, Error: t.Error, Attempt: t.Attempt, MaxRetries: t.MaxRetries, Retries: t.Retries,
		EnqueuedAt: t.EnqueuedAt, NotBefore: t.NotBefore, StartedAt: t.StartedAt, FinishedAt: t.FinishedAt, ExpiresAt: t.ExpiresAt,
	}
}

func (a *httpAPI) get(w http.ResponseWriter, r *http.Request) {
	t, err := a.c.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, viewOf(t))
}
