package llmtest

import (
	"bytes"
	"fmt"
	"net/http"
	"time"
)

// answer is everything a route's writer needs to reply to one request.
type answer struct {
	parsed
	chunks    []string // the reply's stream chunks
	truncated bool     // the reply was cut at max_tokens
	prompt    int      // prompt tokens
	fault     Fault
}

func (a *answer) text() string {
	var b bytes.Buffer
	for _, c := range a.chunks {
		b.WriteString(c)
	}
	return b.String()
}

// statusWriter remembers the status sent, for [Stats.ByStatus].
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets [http.ResponseController] reach Flush.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// serve is the server's only handler.
func (s *Server) serve(rw http.ResponseWriter, r *http.Request) {
	route := routeOf(r.URL.Path)
	seq := s.arrive(route, r.Header)
	w := &statusWriter{ResponseWriter: rw}
	var o outcome
	// Deferred so that it also runs when a cut stream aborts the handler.
	defer func() {
		o.status = w.status
		s.leave(o)
	}()
	// abandon ends a request the client gave up on or the server is closing:
	// the connection is dropped, so a client still waiting sees an error
	// rather than an empty 200.
	abandon := func() {
		o.abandoned = true
		panic(http.ErrAbortHandler)
	}
	if route == Messages {
		w.Header().Set("request-id", fmt.Sprintf("req_llmtest_%d", seq))
	} else {
		w.Header().Set("x-request-id", fmt.Sprintf("req_llmtest_%d", seq))
	}
	if route == "" {
		s.writeError(w, route, Fault{Status: http.StatusNotFound,
			Message: fmt.Sprintf("llmtest: no route for %s %s", r.Method, r.URL.Path)})
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.writeError(w, route, Fault{Status: http.StatusMethodNotAllowed,
			Message: fmt.Sprintf("llmtest: %s wants POST, got %s", route, r.Method)})
		return
	}
	p, err := parseRequest(route, r)
	if err != nil {
		s.writeError(w, route, Fault{Status: http.StatusBadRequest, Message: err.Error()})
		return
	}
	p.req.Seq = seq
	s.draws.draw(p.req)
	s.countModel(p.req.Model)
	a := &answer{parsed: p, prompt: p.req.promptTokens()}
	cost := a.prompt
	if route != Embeddings {
		a.chunks = splitChunks(s.reply(p.req))
		if n := p.req.MaxTokens; n > 0 && len(a.chunks) > n {
			a.chunks, a.truncated = a.chunks[:n], true
		}
		cost += len(a.chunks)
		if p.req.MaxTokens > 0 {
			cost = a.prompt + p.req.MaxTokens
		}
	}
	if s.cfg.Limits != (Limits{}) {
		st := s.admit(time.Now(), cost)
		s.setLimitHeaders(w.Header(), route, st)
		if !st.ok {
			o.limitRejected = true
			s.writeError(w, route, s.limitFault(route, st))
			return
		}
	}
	a.fault = s.nextFault(p.req)
	o.fault = !a.fault.isZero()
	if a.fault.Hang {
		s.hold(r)
		abandon()
	}
	if !s.wait(r, a.fault.Delay) {
		abandon()
	}
	if a.fault.Status != 0 {
		s.writeError(w, route, a.fault)
		return
	}
	var complete bool
	switch route {
	case ChatCompletions:
		complete = s.writeChat(w, r, a)
	case Embeddings:
		complete = s.writeEmbeddings(w, r, a)
	case Messages:
		complete = s.writeMessage(w, r, a)
	}
	if !complete {
		if a.fault.Stream == StreamStall || r.Context().Err() != nil || s.closing() {
			abandon()
		}
		return
	}
	o.prompt = a.prompt
	if route != Embeddings {
		o.comp = len(a.chunks)
	}
}

func (s *Server) reply(req *Request) string {
	if s.cfg.Reply != nil {
		return s.cfg.Reply(req)
	}
	return Echo(req)
}

// writeError answers f.Status with the route's provider-shaped error body.
func (s *Server) writeError(w http.ResponseWriter, route Route, f Fault) {
	var body []byte
	if route == Messages {
		body = anthropicError(f)
	} else {
		body = openAIError(f)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	f.applyHeaders(h)
	w.WriteHeader(f.Status)
	_, _ = w.Write(body)
}

// frame is one server-sent event.
type frame struct {
	event string // "" for OpenAI's data-only events
	data  []byte
}

func (f frame) bytes() []byte {
	var b bytes.Buffer
	if f.event != "" {
		fmt.Fprintf(&b, "event: %s\n", f.event)
	}
	fmt.Fprintf(&b, "data: %s\n\n", f.data)
	return b.Bytes()
}

// stream sends head, one body frame per content chunk, then tail, breaking
// as the answer's fault says (errFrame is the in-band error event). It
// reports whether the whole stream was sent.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, a *answer, head, body, tail []frame, errFrame frame) bool {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	a.fault.applyHeaders(h)
	w.WriteHeader(http.StatusOK)
	if rc.Flush() != nil || !s.wait(r, a.fault.FirstTokenDelay) {
		return false
	}
	send := func(fs ...frame) bool {
		for _, f := range fs {
			if _, err := w.Write(f.bytes()); err != nil {
				return false
			}
		}
		return rc.Flush() == nil
	}
	if !send(head...) {
		return false
	}
	for i, f := range body {
		if a.fault.Stream != StreamOK && i == a.fault.After {
			return s.breakStream(w, r, rc, a.fault, f, errFrame)
		}
		if i > 0 && !s.wait(r, s.cfg.ChunkDelay) {
			return false
		}
		if !send(f) {
			return false
		}
	}
	if a.fault.Stream != StreamOK {
		return s.breakStream(w, r, rc, a.fault, tail[0], errFrame)
	}
	return send(tail...)
}

// breakStream applies a stream fault; next is the frame that was due.
func (s *Server) breakStream(w http.ResponseWriter, r *http.Request, rc *http.ResponseController, f Fault, next, errFrame frame) bool {
	switch f.Stream {
	case StreamCut:
		b := next.bytes()
		_, _ = w.Write(b[:len(b)/2])
		_ = rc.Flush()
		panic(http.ErrAbortHandler) // closes the connection without the final chunk
	case StreamStall:
		s.hold(r)
	case StreamErrorEvent:
		_, _ = w.Write(errFrame.bytes())
		_ = rc.Flush()
	}
	return false
}

// plain sends a JSON reply, breaking it halfway when the fault says so. It
// reports whether the whole body was sent.
func (s *Server) plain(w http.ResponseWriter, r *http.Request, a *answer, body []byte) bool {
	if !s.wait(r, a.fault.FirstTokenDelay) {
		return false
	}
	w.Header().Set("Content-Type", "application/json")
	a.fault.applyHeaders(w.Header())
	switch a.fault.Stream {
	case StreamCut, StreamTruncate, StreamStall:
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body[:len(body)/2])
		_ = http.NewResponseController(w).Flush()
		if a.fault.Stream == StreamCut {
			panic(http.ErrAbortHandler)
		}
		if a.fault.Stream == StreamStall {
			s.hold(r)
		}
		return false
	}
	_, err := w.Write(body)
	return err == nil
}
