package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// ThinkTime is how long the server waits before a turn's first delta:
// longer than the demo transport's stream limits, which must not apply.
const ThinkTime = 20 * time.Millisecond

// Server is a local stand-in for the Responses WebSocket endpoint
// (GET /v1/responses, upgraded). It speaks only what the demo needs.
type Server struct {
	*httptest.Server
	refuse     int // when not 0, handshakes after the first accept are answered with this status
	accept     int // handshakes accepted before refusing
	handshakes atomic.Int64
	wg         sync.WaitGroup
}

// NewServer starts a server; refuse, when not 0, is the status with which
// it refuses every handshake.
func NewServer(refuse int) *Server { return NewFlakyServer(refuse, 0) }

// NewFlakyServer starts a server that accepts the first accept handshakes
// and refuses every later one with refuse (when not 0), as a provider
// that goes down while a connection is open.
func NewFlakyServer(refuse, accept int) *Server {
	s := &Server{refuse: refuse, accept: accept}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Handshakes returns how many upgrade requests reached the server.
func (s *Server) Handshakes() int { return int(s.handshakes.Load()) }

// Close stops the server and waits for its connections' handlers.
func (s *Server) Close() {
	s.CloseClientConnections()
	s.Server.Close()
	s.wg.Wait()
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/responses" {
		http.Error(w, `{"error":{"message":"not found","type":"invalid_request_error"}}`, http.StatusNotFound)
		return
	}
	if n := s.handshakes.Add(1); s.refuse != 0 && n > int64(s.accept) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(s.refuse)
		fmt.Fprintf(w, `{"error":{"message":"handshake refused with %d","type":"server_error"}}`, s.refuse)
		return
	}
	if got := r.Header.Get("Authorization"); got != "Bearer sk-demo" {
		http.Error(w, `{"error":{"message":"bad key","type":"invalid_request_error"}}`, http.StatusUnauthorized)
		return
	}
	s.wg.Add(1)
	defer s.wg.Done()
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer conn.CloseNow()
	ctx := r.Context()
	for n := 1; ; n++ {
		if err := s.turn(ctx, conn, n); err != nil {
			return
		}
	}
}

// turn answers one response.create: response.created, a delta per word of
// the answer, response.completed.
func (s *Server) turn(ctx context.Context, conn *websocket.Conn, n int) error {
	_, data, err := conn.Read(ctx)
	if err != nil {
		return err
	}
	var ev struct {
		Type  string `json:"type"`
		Model string `json:"model"`
		Input string `json:"input"`
	}
	if err := json.Unmarshal(data, &ev); err != nil || ev.Type != "response.create" {
		return send(ctx, conn, map[string]any{"type": "error", "error": map[string]any{
			"type": "invalid_request_error", "message": fmt.Sprintf("want a response.create event, got %.100q", data)}})
	}
	id := fmt.Sprintf("resp_demo_%d", n)
	seq := 0
	next := func() int { seq++; return seq }
	response := func(status string) map[string]any {
		return map[string]any{"id": id, "object": "response", "status": status, "model": ev.Model, "output": []any{}}
	}
	if err := send(ctx, conn, map[string]any{"type": "response.created", "sequence_number": next(), "response": response("in_progress")}); err != nil {
		return err
	}
	time.Sleep(ThinkTime)
	words := strings.Fields(ev.Model + ": " + ev.Input)
	for i, w := range words {
		if i < len(words)-1 {
			w += " "
		}
		if err := send(ctx, conn, map[string]any{"type": "response.output_text.delta", "sequence_number": next(),
			"item_id": "msg_" + id, "output_index": 0, "content_index": 0, "delta": w, "logprobs": []any{}}); err != nil {
			return err
		}
	}
	return send(ctx, conn, map[string]any{"type": "response.completed", "sequence_number": next(), "response": response("completed")})
}

func send(ctx context.Context, conn *websocket.Conn, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return conn.Write(ctx, websocket.MessageText, b)
}
