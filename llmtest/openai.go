package llmtest

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"time"
)

// OpenAI wire shapes, reduced to the fields SDKs read.
type (
	oaError struct {
		Error oaErrorBody `json:"error"` // first, so the event starts with {"error":
	}
	oaErrorBody struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	}
	oaChat struct {
		ID                string     `json:"id"`
		Object            string     `json:"object"`
		Created           int64      `json:"created"`
		Model             string     `json:"model"`
		SystemFingerprint string     `json:"system_fingerprint"`
		Choices           []oaChoice `json:"choices"`
		Usage             *oaUsage   `json:"usage,omitempty"`
	}
	oaChoice struct {
		Index        int        `json:"index"`
		Message      *oaMessage `json:"message,omitempty"`
		Delta        *oaDelta   `json:"delta,omitempty"`
		Logprobs     *struct{}  `json:"logprobs"`
		FinishReason *string    `json:"finish_reason"`
	}
	oaMessage struct {
		Role    string  `json:"role"`
		Content string  `json:"content"`
		Refusal *string `json:"refusal"`
	}
	oaDelta struct {
		Role    string  `json:"role,omitempty"`
		Content *string `json:"content,omitempty"`
	}
	oaUsage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens,omitempty"`
		TotalTokens      int `json:"total_tokens"`
	}
	oaEmbeddings struct {
		Object string        `json:"object"`
		Data   []oaEmbedding `json:"data"`
		Model  string        `json:"model"`
		Usage  oaUsage       `json:"usage"`
	}
	oaEmbedding struct {
		Object    string `json:"object"`
		Index     int    `json:"index"`
		Embedding any    `json:"embedding"` // []float32, or a base64 string
	}
)

// openAIError renders f as OpenAI's error body.
func openAIError(f Fault) []byte {
	typ, code := f.ErrorType, f.Code
	if typ == "" {
		switch {
		case f.Status == http.StatusTooManyRequests:
			typ = "requests"
		case f.Status >= 500:
			typ = "server_error"
		default:
			typ = "invalid_request_error"
		}
	}
	if code == "" && f.Status == http.StatusTooManyRequests && typ != "insufficient_quota" {
		code = "rate_limit_exceeded"
	}
	body := oaErrorBody{Message: messageOf(f), Type: typ}
	if code != "" {
		body.Code = &code
	}
	return mustJSON(oaError{Error: body})
}

// messageOf is f's error message, or one derived from its status.
func messageOf(f Fault) string {
	if f.Message != "" {
		return f.Message
	}
	text := http.StatusText(f.Status)
	if f.Status == 529 {
		text = "Overloaded"
	}
	return fmt.Sprintf("llmtest: injected %d %s", f.Status, text)
}

// writeChat answers a chat completion, plain or streamed.
func (s *Server) writeChat(w http.ResponseWriter, r *http.Request, a *answer) bool {
	id := fmt.Sprintf("chatcmpl-llmtest-%d", a.req.Seq)
	created := time.Now().Unix()
	finish := "stop"
	if a.truncated {
		finish = "length"
	}
	usage := &oaUsage{PromptTokens: a.prompt, CompletionTokens: len(a.chunks), TotalTokens: a.prompt + len(a.chunks)}
	chunk := func(choices []oaChoice, u *oaUsage) frame {
		return frame{data: mustJSON(oaChat{ID: id, Object: "chat.completion.chunk", Created: created,
			Model: a.req.Model, SystemFingerprint: "fp_llmtest", Choices: choices, Usage: u})}
	}
	if !a.req.Stream {
		return s.plain(w, r, a, mustJSON(oaChat{ID: id, Object: "chat.completion", Created: created,
			Model: a.req.Model, SystemFingerprint: "fp_llmtest", Usage: usage,
			Choices: []oaChoice{{Message: &oaMessage{Role: "assistant", Content: a.text()}, FinishReason: &finish}}}))
	}
	empty := ""
	head := []frame{chunk([]oaChoice{{Delta: &oaDelta{Role: "assistant", Content: &empty}}}, nil)}
	body := make([]frame, len(a.chunks))
	for i, c := range a.chunks {
		body[i] = chunk([]oaChoice{{Delta: &oaDelta{Content: &c}}}, nil)
	}
	tail := []frame{chunk([]oaChoice{{Delta: &oaDelta{}, FinishReason: &finish}}, nil)}
	if a.includeUsage {
		tail = append(tail, chunk([]oaChoice{}, usage))
	}
	tail = append(tail, frame{data: []byte("[DONE]")})
	f := a.fault
	if f.ErrorType == "" {
		f.ErrorType = "server_error"
	}
	if f.Message == "" {
		f.Message = "llmtest: injected error event"
	}
	return s.stream(w, r, a, head, body, tail, frame{data: openAIError(f)})
}

// writeEmbeddings answers one deterministic unit vector per input.
func (s *Server) writeEmbeddings(w http.ResponseWriter, r *http.Request, a *answer) bool {
	dims := a.dimensions
	if dims == 0 {
		dims = s.cfg.Dimensions
	}
	if dims == 0 {
		dims = DefaultDimensions
	}
	out := oaEmbeddings{Object: "list", Model: a.req.Model, Data: make([]oaEmbedding, len(a.req.Input)),
		Usage: oaUsage{PromptTokens: a.prompt, TotalTokens: a.prompt}}
	for i, in := range a.req.Input {
		v := Embed(in, dims)
		var e any = v
		if a.base64 {
			e = encodeFloats(v)
		}
		out.Data[i] = oaEmbedding{Object: "embedding", Index: i, Embedding: e}
	}
	return s.plain(w, r, a, mustJSON(out))
}

// Embed returns the vector the server answers for text: dims numbers of unit
// length, a pure function of text and dims, so a test can compute the
// expected embedding. Texts that differ give different vectors.
func Embed(text string, dims int) []float32 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(text))
	x := h.Sum64()
	v := make([]float32, max(dims, 0))
	var norm float64
	for i := range v {
		x += 0x9e3779b97f4a7c15 // splitmix64
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		f := float64(z>>11)/(1<<53)*2 - 1
		v[i] = float32(f)
		norm += f * f
	}
	if norm = math.Sqrt(norm); norm > 0 {
		for i := range v {
			v[i] = float32(float64(v[i]) / norm)
		}
	}
	return v
}

// encodeFloats is OpenAI's base64 encoding: little-endian float32s.
func encodeFloats(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return base64.StdEncoding.EncodeToString(b)
}

// mustJSON marshals values whose types cannot fail to marshal.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("llmtest: marshal: " + err.Error()) // unreachable: fixed wire types
	}
	return b
}
