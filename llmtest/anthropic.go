package llmtest

import (
	"fmt"
	"net/http"
)

// Anthropic wire shapes, reduced to the fields SDKs read.
type (
	anError struct {
		Type  string      `json:"type"`
		Error anErrorBody `json:"error"`
	}
	anErrorBody struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	}
	anMessage struct {
		ID           string    `json:"id"`
		Type         string    `json:"type"`
		Role         string    `json:"role"`
		Model        string    `json:"model"`
		Content      []anBlock `json:"content"`
		StopReason   *string   `json:"stop_reason"`
		StopSequence *string   `json:"stop_sequence"`
		Usage        anUsage   `json:"usage"`
	}
	anBlock struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	anUsage struct {
		InputTokens  int `json:"input_tokens"`
		OutputTokens int `json:"output_tokens"`
	}
	anEvent struct {
		Type         string      `json:"type"`
		Message      *anMessage  `json:"message,omitempty"`
		Index        *int        `json:"index,omitempty"`
		ContentBlock *anBlock    `json:"content_block,omitempty"`
		Delta        any         `json:"delta,omitempty"`
		Usage        *anOutUsage `json:"usage,omitempty"`
	}
	anTextDelta struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	anStopDelta struct {
		StopReason   string  `json:"stop_reason"`
		StopSequence *string `json:"stop_sequence"`
	}
	anOutUsage struct {
		OutputTokens int `json:"output_tokens"`
	}
)

// anthropicError renders f as Anthropic's error body.
func anthropicError(f Fault) []byte {
	typ := f.ErrorType
	if typ == "" {
		typ = anthropicErrorType(f.Status)
	}
	return mustJSON(anError{Type: "error", Error: anErrorBody{Type: typ, Message: messageOf(f)}})
}

// anthropicErrorType is the error type Anthropic sends with status.
func anthropicErrorType(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return "invalid_request_error"
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case 529:
		return "overloaded_error"
	case http.StatusGatewayTimeout:
		return "timeout_error"
	}
	if status >= 500 {
		return "api_error"
	}
	return "invalid_request_error"
}

// writeMessage answers a Messages API call, plain or streamed.
func (s *Server) writeMessage(w http.ResponseWriter, r *http.Request, a *answer) bool {
	stop := "end_turn"
	if a.truncated {
		stop = "max_tokens"
	}
	msg := anMessage{ID: fmt.Sprintf("msg_llmtest_%d", a.req.Seq), Type: "message", Role: "assistant",
		Model: a.req.Model, Content: []anBlock{{Type: "text", Text: a.text()}}, StopReason: &stop,
		Usage: anUsage{InputTokens: a.prompt, OutputTokens: len(a.chunks)}}
	if !a.req.Stream {
		return s.plain(w, r, a, mustJSON(msg))
	}
	ev := func(e anEvent) frame { return frame{event: e.Type, data: mustJSON(e)} }
	zero := 0
	start := msg
	start.Content, start.StopReason, start.Usage.OutputTokens = []anBlock{}, nil, 1
	head := []frame{
		ev(anEvent{Type: "message_start", Message: &start}),
		ev(anEvent{Type: "content_block_start", Index: &zero, ContentBlock: &anBlock{Type: "text"}}),
		ev(anEvent{Type: "ping"}),
	}
	body := make([]frame, len(a.chunks))
	for i, c := range a.chunks {
		body[i] = ev(anEvent{Type: "content_block_delta", Index: &zero, Delta: anTextDelta{Type: "text_delta", Text: c}})
	}
	tail := []frame{
		ev(anEvent{Type: "content_block_stop", Index: &zero}),
		ev(anEvent{Type: "message_delta", Delta: anStopDelta{StopReason: stop},
			Usage: &anOutUsage{OutputTokens: len(a.chunks)}}),
		ev(anEvent{Type: "message_stop"}),
	}
	f := a.fault
	if f.ErrorType == "" {
		f.ErrorType = "overloaded_error"
		if f.Message == "" {
			f.Message = "Overloaded"
		}
	}
	return s.stream(w, r, a, head, body, tail, frame{event: "error", data: anthropicError(f)})
}
