package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/resilience-go/resilience/queue"
)

// maxBody caps request bodies, as the queue's own API does.
const maxBody = 1 << 20

// chatRequest is the body of POST /tasks/chat/completions (AsyncChatRequest
// in the Python FastAPI version). Absent fields take its defaults.
type chatRequest struct {
	Messages    []message `json:"messages"`
	Model       string    `json:"model"`
	Temperature *float64  `json:"temperature"`
	MaxTokens   int       `json:"max_tokens"`
	Priority    string    `json:"priority"`
}

// embedRequest is the body of POST /tasks/embeddings/batch.
type embedRequest struct {
	Documents []string `json:"documents"`
	Model     string   `json:"model"`
	BatchSize int      `json:"batch_size"`
	Priority  string   `json:"priority"`
}

// newAPI returns the task management API: the two task routes
// below, the simulator's outage switch, and for everything else the queue's
// HTTP API (GET /tasks/{id}, GET /tasks/{id}/events, the dead letters).
func newAPI(c *queue.Client, queueAPI http.Handler, sim *simLLM) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /tasks/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		var req chatRequest
		if !decode(w, r, &req) {
			return
		}
		p, err := req.payload()
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		enqueue(w, r, c, taskChat, p, req.Priority)
	})
	mux.HandleFunc("POST /tasks/embeddings/batch", func(w http.ResponseWriter, r *http.Request) {
		var req embedRequest
		if !decode(w, r, &req) {
			return
		}
		p, err := req.payload()
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		enqueue(w, r, c, taskEmbed, p, req.Priority)
	})
	mux.HandleFunc("PUT /simulator/outage", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Down bool `json:"down"`
		}
		if !decode(w, r, &req) {
			return
		}
		sim.down.Store(req.Down)
		writeJSON(w, http.StatusOK, req)
	})
	mux.Handle("/", queueAPI)
	return mux
}

// payload validates the request and applies the Python version's defaults.
func (req chatRequest) payload() (chatPayload, error) {
	p := chatPayload{Messages: req.Messages, Model: req.Model, Temperature: 0.7, MaxTokens: req.MaxTokens}
	if len(p.Messages) == 0 {
		return p, errors.New("messages: want at least one message")
	}
	for i, m := range p.Messages {
		if m.Role != "system" && m.Role != "user" && m.Role != "assistant" {
			return p, fmt.Errorf("messages[%d].role %q: want system, user or assistant", i, m.Role)
		}
	}
	if p.Model == "" {
		p.Model = "gpt-4o-mini"
	}
	if req.Temperature != nil {
		p.Temperature = *req.Temperature
	}
	if !(p.Temperature >= 0 && p.Temperature <= 2) {
		return p, fmt.Errorf("temperature %v: want 0 to 2", p.Temperature)
	}
	if p.MaxTokens == 0 {
		p.MaxTokens = 1024
	}
	if p.MaxTokens < 1 || p.MaxTokens > 16384 {
		return p, fmt.Errorf("max_tokens %d: want 1 to 16384", p.MaxTokens)
	}
	return p, nil
}

// payload validates the request and applies the Python version's defaults.
func (req embedRequest) payload() (embedPayload, error) {
	p := embedPayload{Documents: req.Documents, Model: req.Model, BatchSize: req.BatchSize}
	if len(p.Documents) == 0 || len(p.Documents) > 10000 {
		return p, fmt.Errorf("documents: want 1 to 10000, got %d", len(p.Documents))
	}
	if p.Model == "" {
		p.Model = "text-embedding-3-small"
	}
	if p.BatchSize == 0 {
		p.BatchSize = 100
	}
	if p.BatchSize < 1 || p.BatchSize > 1000 {
		return p, fmt.Errorf("batch_size %d: want 1 to 1000", p.BatchSize)
	}
	return p, nil
}

// decode reads one JSON object into v, answering 400 or 413 when it cannot.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	// A body that is not declared JSON is refused, as the queue's own API
	// does: an HTML form on any web site can post text/plain or
	// form-encoded bodies through a visitor's browser, but not JSON.
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("trailing data after the JSON object")
	}
	if err == nil {
		return true
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit))
	} else {
		writeError(w, http.StatusBadRequest, "malformed JSON body: "+err.Error())
	}
	return false
}

// enqueue enqueues a task in the queue named by priority (default when
// empty) and answers 202 {"task_id", "status"}, like the Python version.
func enqueue(w http.ResponseWriter, r *http.Request, c *queue.Client, name string, payload any, priority string) {
	if priority == "" {
		priority = queue.QueueDefault
	}
	t, err := c.Enqueue(r.Context(), name, payload, queue.WithQueue(priority))
	switch {
	case errors.Is(err, queue.ErrUnknownQueue):
		writeError(w, http.StatusBadRequest, fmt.Sprintf("priority %q: want one of %s", priority, strings.Join(c.Queues(), ", ")))
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Location", "/tasks/"+url.PathEscape(t.ID))
	writeJSON(w, http.StatusAccepted, struct {
		TaskID string      `json:"task_id"`
		Status queue.State `json:"status"`
	}{t.ID, t.State})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
