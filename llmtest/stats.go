package llmtest

import (
	"maps"
	"net/http"
	"strconv"
)

// Stats counts what the server saw and sent, for assertions such as "the
// transport made 3 attempts and the SDK none of its own". A Stats from
// [Server.Stats] is a snapshot: its maps are copies the caller may keep.
type Stats struct {
	// Requests counts every request received, on any path, on arrival.
	Requests int
	// ByRoute counts requests per known route (unknown paths are not here).
	ByRoute map[Route]int
	// ByModel counts well-formed API requests per "model" field.
	ByModel map[string]int
	// ByStatus counts the status codes sent. A request that ended before its
	// headers went out (a hang, or a delay the client gave up on) has none.
	ByStatus map[int]int
	// RateLimited counts the 429s sent, scripted, drawn or from [Limits].
	RateLimited int
	// LimitRejected counts the 429s sent because [Limits] were exceeded.
	LimitRejected int
	// Faults counts the requests that got a non-zero [Fault] (limits' 429s
	// are not faults).
	Faults int
	// Abandoned counts requests that ended before their response was
	// complete because the client gave up or the server closed: hangs,
	// delays and stalls that were cut short.
	Abandoned int
	// InFlight is the number of requests being handled now.
	InFlight int
	// PeakInFlight is the highest InFlight seen.
	PeakInFlight int
	// RetryCounts counts requests per value of the X-Stainless-Retry-Count
	// header that the OpenAI and Anthropic SDKs send (0 on a first try);
	// requests without the header, or with a malformed one, are not here.
	RetryCounts map[int]int
	// SDKRetries counts requests whose X-Stainless-Retry-Count was above 0:
	// retries made by the SDK itself. With the SDK's retries off it stays 0.
	SDKRetries int
	// PromptTokens and CompletionTokens add up the usage reported in
	// successful replies.
	PromptTokens, CompletionTokens int
	// Queued is the number of scripted faults not yet used.
	Queued int
}

func newStats() Stats {
	return Stats{ByRoute: map[Route]int{}, ByModel: map[string]int{}, ByStatus: map[int]int{}, RetryCounts: map[int]int{}}
}

// Stats returns a snapshot of the counters. Safe for concurrent use.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	st.ByRoute = maps.Clone(s.st.ByRoute)
	st.ByModel = maps.Clone(s.st.ByModel)
	st.ByStatus = maps.Clone(s.st.ByStatus)
	st.RetryCounts = maps.Clone(s.st.RetryCounts)
	st.Queued = len(s.script)
	return st
}

// ResetStats zeroes every counter except InFlight (requests being handled
// keep counting down as they finish). The fault script, the Rates generator
// and the Limits window are left as they are.
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	inFlight := s.st.InFlight
	s.st = newStats()
	s.st.InFlight, s.st.PeakInFlight = inFlight, inFlight
}

// arrive counts a request on arrival and returns its sequence number.
func (s *Server) arrive(route Route, h http.Header) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Requests++
	if route != "" {
		s.st.ByRoute[route]++
	}
	if v := h.Get("X-Stainless-Retry-Count"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			s.st.RetryCounts[n]++
			if n > 0 {
				s.st.SDKRetries++
			}
		}
	}
	if s.st.InFlight == 0 {
		s.idle = make(chan struct{})
	}
	s.st.InFlight++
	s.st.PeakInFlight = max(s.st.PeakInFlight, s.st.InFlight)
	s.seq++
	return s.seq
}

// outcome is what one handler reports when it ends.
type outcome struct {
	status        int // 0: no headers sent
	limitRejected bool
	fault         bool
	abandoned     bool
	prompt, comp  int // usage of a successful reply
}

// leave records the end of a request.
func (s *Server) leave(o outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.InFlight--
	if s.st.InFlight == 0 {
		close(s.idle)
	}
	if o.status != 0 {
		s.st.ByStatus[o.status]++
	}
	if o.status == http.StatusTooManyRequests {
		s.st.RateLimited++
	}
	if o.limitRejected {
		s.st.LimitRejected++
	}
	if o.fault {
		s.st.Faults++
	}
	if o.abandoned {
		s.st.Abandoned++
	}
	s.st.PromptTokens += o.prompt
	s.st.CompletionTokens += o.comp
}

func (s *Server) countModel(model string) {
	s.mu.Lock()
	s.st.ByModel[model]++
	s.mu.Unlock()
}
