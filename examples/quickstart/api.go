package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/queue"
)

// apiClient talks to the task API (queue.NewHTTPHandlerWith) over HTTP, as
// a web backend or curl would.
type apiClient struct {
	base string // http://127.0.0.1:PORT
	http *http.Client
}

// taskView is the task object of GET /tasks/{id} and of its event stream.
type taskView struct {
	TaskID   string          `json:"task_id"`
	Status   queue.State     `json:"status"`
	Progress *queue.Progress `json:"progress"`
	Result   json.RawMessage `json:"result"`
	Error    string          `json:"error"`
	Attempt  int             `json:"attempt"`
}

// do sends a request with an optional JSON body and decodes a JSON answer
// with status want into out (when not nil).
func (a *apiClient) do(ctx context.Context, method, path string, body any, want int, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: got %s %s, want %d", method, path, resp.Status, bytes.TrimSpace(b), want)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// enqueueReq is the body of POST /tasks/{name}.
type enqueueReq struct {
	Payload    any    `json:"payload"`
	Queue      string `json:"queue,omitempty"`
	MaxRetries *int   `json:"max_retries,omitempty"` // nil: the worker's retry policy decides
	TaskID     string `json:"task_id,omitempty"`     // an idempotency key; empty: a random id
}

// enqueue posts a task: POST /tasks/{name}. It returns the task id from
// the 202 answer.
func (a *apiClient) enqueue(ctx context.Context, name string, r enqueueReq) (string, error) {
	var out struct {
		TaskID string      `json:"task_id"`
		Status queue.State `json:"status"`
	}
	if err := a.do(ctx, http.MethodPost, "/tasks/"+name, r, http.StatusAccepted, &out); err != nil {
		return "", err
	}
	return out.TaskID, nil
}

// deadLetters lists the dead letters: GET /dead-letters.
func (a *apiClient) deadLetters(ctx context.Context) ([]dlq.Entry, error) {
	var out struct {
		Entries []dlq.Entry `json:"entries"`
	}
	err := a.do(ctx, http.MethodGet, "/dead-letters", nil, http.StatusOK, &out)
	return out.Entries, err
}

// replay re-enqueues a dead letter: POST /dead-letters/{id}/replay. It
// returns the new task's id.
func (a *apiClient) replay(ctx context.Context, id string) (string, error) {
	var out struct {
		TaskID string `json:"task_id"`
	}
	err := a.do(ctx, http.MethodPost, "/dead-letters/"+url.PathEscape(id)+"/replay", nil, http.StatusAccepted, &out)
	return out.TaskID, err
}

// follow reads GET /tasks/{id}/events, the task's changes as Server-Sent
// Events, and calls fn with each until the task is done.
func (a *apiClient) follow(ctx context.Context, id string, fn func(taskView)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/tasks/"+url.PathEscape(id)+"/events", nil)
	if err != nil {
		return err
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /tasks/%s/events: got %s", id, resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20) // a done task's event carries its result
	event := ""
	for sc.Scan() {
		line := sc.Text()
		if e, ok := strings.CutPrefix(line, "event: "); ok {
			event = e
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		if event == "error" {
			return fmt.Errorf("GET /tasks/%s/events: %s", id, data)
		}
		var v taskView
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			return fmt.Errorf("GET /tasks/%s/events: %w", id, err)
		}
		fn(v)
		if v.Status.Done() {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("GET /tasks/%s/events: %w", id, err)
	}
	return fmt.Errorf("GET /tasks/%s/events: the stream ended before the task was done", id)
}
