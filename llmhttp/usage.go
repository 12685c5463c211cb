package llmhttp

import (
	"bytes"
	"encoding/json"
)

// maxUsageBody is the largest plain (not streamed) response body an
// observed call keeps to read its usage from. A larger one reports no
// usage; LLM answers are far smaller (a batch of large embeddings is the
// exception).
const maxUsageBody = 4 << 20

// maxUsageLine is the longest event line of a stream that is parsed for
// usage; longer lines (big content deltas) are skipped.
const maxUsageLine = 1 << 20

// usageSniffer reads the usage and the model from a response body as the
// caller reads it: the whole JSON document of a plain response, the data
// lines of a server-sent event stream.
type usageSniffer struct {
	stream   bool
	buf      []byte // plain: the body so far; stream: the unfinished line
	overflow bool   // plain: the body passed maxUsageBody; stream: the current line is too long
	usage    Usage
	model    string
}

func newUsageSniffer(stream bool) *usageSniffer { return &usageSniffer{stream: stream} }

// write feeds the next bytes of the body.
func (s *usageSniffer) write(p []byte) {
	if !s.stream {
		if s.overflow {
			return
		}
		if len(s.buf)+len(p) > maxUsageBody {
			s.overflow, s.buf = true, nil
			return
		}
		s.buf = append(s.buf, p...)
		return
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.appendLine(p)
			return
		}
		s.appendLine(p[:i])
		if !s.overflow {
			s.line(s.buf)
		}
		s.buf, s.overflow = s.buf[:0], false
		p = p[i+1:]
	}
}

func (s *usageSniffer) appendLine(p []byte) {
	if s.overflow {
		return
	}
	if len(s.buf)+len(p) > maxUsageLine {
		s.overflow, s.buf = true, s.buf[:0]
		return
	}
	s.buf = append(s.buf, p...)
}

// line handles one line of an event stream: a "data:" line whose JSON
// may carry usage or the model.
func (s *usageSniffer) line(l []byte) {
	l = bytes.TrimSuffix(l, []byte("\r"))
	data, ok := bytes.CutPrefix(l, []byte("data:"))
	if !ok {
		return
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return // "[DONE]" and other non-JSON data
	}
	if s.model != "" && !bytes.Contains(data, []byte(`"usage"`)) {
		return // a content delta: skip the decoding
	}
	s.parse(data)
}

// result returns the usage and model read so far; for a plain body it
// decodes the body.
func (s *usageSniffer) result() (Usage, string) {
	if !s.stream && !s.overflow && len(s.buf) > 0 {
		s.parse(s.buf)
		s.buf = nil
	}
	return s.usage, s.model
}

// usageFields is a usage object in any of the providers' shapes.
type usageFields struct {
	PromptTokens     *int64 `json:"prompt_tokens"`
	CompletionTokens *int64 `json:"completion_tokens"`
	InputTokens      *int64 `json:"input_tokens"`
	OutputTokens     *int64 `json:"output_tokens"`
}

// usageHolder is an object that may hold a model and a usage.
type usageHolder struct {
	Model string       `json:"model"`
	Usage *usageFields `json:"usage"`
}

// parse reads the model and usage of one JSON document: an OpenAI chat
// completion or chunk (top level), an OpenAI responses event ("response"),
// an Anthropic message (top level) or stream event ("message" of
// message_start, top-level "usage" of message_delta). A count present in
// a later document replaces an earlier one: Anthropic's message_delta
// carries the cumulative output count.
func (s *usageSniffer) parse(doc []byte) {
	var v struct {
		usageHolder
		Message  *usageHolder `json:"message"`
		Response *usageHolder `json:"response"`
	}
	if json.Unmarshal(doc, &v) != nil {
		return
	}
	for _, h := range []*usageHolder{&v.usageHolder, v.Message, v.Response} {
		if h == nil {
			continue
		}
		if h.Model != "" && s.model == "" {
			s.model = h.Model
		}
		if u := h.Usage; u != nil {
			s.add(u)
		}
	}
}

func (s *usageSniffer) add(u *usageFields) {
	for _, in := range []*int64{u.PromptTokens, u.InputTokens} {
		if in != nil {
			s.usage.InputTokens, s.usage.HasInput = *in, true
		}
	}
	for _, out := range []*int64{u.CompletionTokens, u.OutputTokens} {
		if out != nil {
			s.usage.OutputTokens, s.usage.HasOutput = *out, true
		}
	}
}
