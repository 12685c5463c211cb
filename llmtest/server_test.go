package llmtest

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewServerRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // part of the message naming the field
	}{
		{"negative chunk delay", Config{ChunkDelay: -time.Second}, "Config.ChunkDelay"},
		{"negative dimensions", Config{Dimensions: -1}, "Config.Dimensions"},
		{"negative RPM", Config{Limits: Limits{RequestsPerMinute: -1}}, "Limits.RequestsPerMinute"},
		{"negative TPM", Config{Limits: Limits{TokensPerMinute: -5}}, "Limits.TokensPerMinute"},
		{"NaN rate", Config{Rates: Rates{{P: math.NaN(), Fault: Error(500)}}}, "Rates[0].P"},
		{"rate above 1", Config{Rates: Rates{{P: 1.5, Fault: Error(500)}}}, "Rates[0].P"},
		{"negative rate", Config{Rates: Rates{{P: -0.1, Fault: Error(500)}}}, "Rates[0].P"},
		{"rates sum above 1", Config{Rates: Rates{{P: 0.6, Fault: Error(500)}, {P: 0.6, Fault: Hang()}}}, "add up to"},
		{"bad fault in rates", Config{Rates: Rates{{P: 0.1, Fault: Error(200)}}}, "Fault.Status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := NewServer(tt.cfg)
			if srv != nil {
				srv.Close()
			}
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrInvalidArgument), "got %v, want an error wrapping ErrInvalidArgument", err)
			assert.Contains(t, err.Error(), tt.want)
			assert.Nil(t, srv)
		})
	}
}

func TestChatCompletion(t *testing.T) {
	srv := Start(t, Config{})
	resp, b := mustPost(t, srv, "/v1/chat/completions", chatBody("gpt-test", "hello big world", false))
	require.Equal(t, http.StatusOK, resp.StatusCode, "body %s", b)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.Equal(t, "req_llmtest_1", resp.Header.Get("x-request-id"))
	m := decode(t, b)
	assert.Equal(t, "chat.completion", m["object"])
	assert.Equal(t, "chatcmpl-llmtest-1", m["id"])
	assert.Equal(t, "gpt-test", m["model"])
	assert.Equal(t, "assistant", path(m, "choices", 0, "message", "role"))
	assert.Equal(t, "hello big world", path(m, "choices", 0, "message", "content"))
	assert.Equal(t, "stop", path(m, "choices", 0, "finish_reason"))
	// "be brief" + "hello big world": 5 words in, 3 out.
	assert.Equal(t, 5.0, path(m, "usage", "prompt_tokens"))
	assert.Equal(t, 3.0, path(m, "usage", "completion_tokens"))
	assert.Equal(t, 8.0, path(m, "usage", "total_tokens"))
}

func TestChatCompletionStream(t *testing.T) {
	for _, includeUsage := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "include_usage"}[includeUsage], func(t *testing.T) {
			srv := Start(t, Config{})
			body := chatBody("gpt-test", "hello big world", true)
			if includeUsage {
				body = strings.Replace(body, `"stream":true`, `"stream":true,"stream_options":{"include_usage":true}`, 1)
			}
			resp, err := post(t, srv, "/v1/chat/completions", body)
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, "text/event-stream; charset=utf-8", resp.Header.Get("Content-Type"))
			events, err := readSSE(resp.Body)
			require.NoError(t, err)
			require.NotEmpty(t, events)
			assert.Equal(t, "[DONE]", events[len(events)-1].data, "the stream must end with data: [DONE]")
			var text strings.Builder
			var finish any
			var usage any
			for i, e := range events[:len(events)-1] {
				m := decode(t, []byte(e.data))
				assert.Equal(t, "chat.completion.chunk", m["object"], "event %d", i)
				assert.Equal(t, "chatcmpl-llmtest-1", m["id"], "event %d", i)
				if i == 0 {
					assert.Equal(t, "assistant", path(m, "choices", 0, "delta", "role"))
				}
				if c, ok := path(m, "choices", 0, "delta", "content").(string); ok {
					text.WriteString(c)
				}
				if f := path(m, "choices", 0, "finish_reason"); f != nil {
					finish = f
				}
				if u := m["usage"]; u != nil {
					usage = u
				}
			}
			assert.Equal(t, "hello big world", text.String())
			assert.Equal(t, "stop", finish)
			if includeUsage {
				assert.Equal(t, 3.0, path(usage, "completion_tokens"))
			} else {
				assert.Nil(t, usage, "usage is sent only when stream_options.include_usage is set")
			}
			// role chunk + one chunk per word + finish chunk (+ usage chunk) + [DONE]
			want := 1 + 3 + 1 + 1
			if includeUsage {
				want++
			}
			assert.Len(t, events, want)
		})
	}
}

func TestMessages(t *testing.T) {
	srv := Start(t, Config{})
	resp, b := mustPost(t, srv, "/v1/messages", messagesBody("claude-test", "hello big world", false))
	require.Equal(t, http.StatusOK, resp.StatusCode, "body %s", b)
	assert.Equal(t, "req_llmtest_1", resp.Header.Get("request-id"))
	m := decode(t, b)
	assert.Equal(t, "message", m["type"])
	assert.Equal(t, "msg_llmtest_1", m["id"])
	assert.Equal(t, "assistant", m["role"])
	assert.Equal(t, "text", path(m, "content", 0, "type"))
	assert.Equal(t, "hello big world", path(m, "content", 0, "text"))
	assert.Equal(t, "end_turn", m["stop_reason"])
	assert.Equal(t, 3.0, path(m, "usage", "input_tokens"))
	assert.Equal(t, 3.0, path(m, "usage", "output_tokens"))
}

func TestMessagesStream(t *testing.T) {
	srv := Start(t, Config{})
	resp, err := post(t, srv, "/v1/messages", messagesBody("claude-test", "hello big world", true))
	require.NoError(t, err)
	defer resp.Body.Close()
	events, err := readSSE(resp.Body)
	require.NoError(t, err)
	var names []string
	var text strings.Builder
	for _, e := range events {
		names = append(names, e.event)
		m := decode(t, []byte(e.data))
		assert.Equal(t, e.event, m["type"], "each event's data repeats its type")
		if e.event == "content_block_delta" {
			text.WriteString(path(m, "delta", "text").(string))
		}
		if e.event == "message_delta" {
			assert.Equal(t, "end_turn", path(m, "delta", "stop_reason"))
			assert.Equal(t, 3.0, path(m, "usage", "output_tokens"))
		}
	}
	assert.Equal(t, []string{"message_start", "content_block_start", "ping",
		"content_block_delta", "content_block_delta", "content_block_delta",
		"content_block_stop", "message_delta", "message_stop"}, names)
	assert.Equal(t, "hello big world", text.String())
}

func TestMaxTokensCutsTheReply(t *testing.T) {
	srv := Start(t, Config{})
	_, b := mustPost(t, srv, "/v1/chat/completions",
		`{"model":"m","max_completion_tokens":2,"messages":[{"role":"user","content":"one two three four"}]}`)
	m := decode(t, b)
	assert.Equal(t, "one two", path(m, "choices", 0, "message", "content"))
	assert.Equal(t, "length", path(m, "choices", 0, "finish_reason"))

	_, b = mustPost(t, srv, "/v1/messages",
		`{"model":"c","max_tokens":3,"messages":[{"role":"user","content":"one two three four"}]}`)
	m = decode(t, b)
	assert.Equal(t, "one two three", path(m, "content", 0, "text"))
	assert.Equal(t, "max_tokens", m["stop_reason"])
}

func TestReplyFunc(t *testing.T) {
	srv := Start(t, Config{Reply: func(req *Request) string {
		return req.Model + " says " + strings.ToUpper(Echo(req))
	}})
	_, b := mustPost(t, srv, "/v1/chat/completions", chatBody("gpt-x", "hi", false))
	assert.Equal(t, "gpt-x says HI", path(decode(t, b), "choices", 0, "message", "content"))
}

func TestEmbeddings(t *testing.T) {
	srv := Start(t, Config{Dimensions: 4})
	_, b := mustPost(t, srv, "/v1/embeddings", `{"model":"emb","input":["a b","c"]}`)
	var got struct {
		Object string `json:"object"`
		Data   []struct {
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		} `json:"data"`
		Usage struct {
			PromptTokens int `json:"prompt_tokens"`
		} `json:"usage"`
	}
	require.NoError(t, json.Unmarshal(b, &got))
	assert.Equal(t, "list", got.Object)
	require.Len(t, got.Data, 2)
	assert.Equal(t, Embed("a b", 4), got.Data[0].Embedding)
	assert.Equal(t, Embed("c", 4), got.Data[1].Embedding)
	assert.Equal(t, 1, got.Data[1].Index)
	assert.NotEqual(t, got.Data[0].Embedding, got.Data[1].Embedding)
	assert.Equal(t, 3, got.Usage.PromptTokens)

	// The request's dimensions win, and base64 is little-endian float32s.
	_, b = mustPost(t, srv, "/v1/embeddings", `{"model":"emb","input":"a b","dimensions":3,"encoding_format":"base64"}`)
	enc, _ := path(decode(t, b), "data", 0, "embedding").(string)
	raw, err := base64.StdEncoding.DecodeString(enc)
	require.NoError(t, err)
	require.Len(t, raw, 12)
	want := Embed("a b", 3)
	for i := range want {
		assert.Equal(t, want[i], math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])), "component %d", i)
	}
}

func TestEmbedIsUnitLength(t *testing.T) {
	for _, dims := range []int{1, 8, 1536} {
		v := Embed("some text", dims)
		sum := 0.0
		for _, x := range v {
			sum += float64(x) * float64(x)
		}
		assert.InDelta(t, 1.0, sum, 1e-5, "dims %d: got squared norm %v, want 1", dims, sum)
	}
	assert.Empty(t, Embed("x", 0))
}

func TestRoutesAcceptAnyBasePrefix(t *testing.T) {
	srv := Start(t, Config{})
	for _, p := range []string{"/v1/chat/completions", "/openai/v1/chat/completions", "/v1//chat/completions"} {
		resp, b := mustPost(t, srv, p, chatBody("m", "x", false))
		assert.Equal(t, http.StatusOK, resp.StatusCode, "path %s: body %s", p, b)
	}
	assert.Equal(t, 3, srv.Stats().ByRoute[ChatCompletions])
}

func TestBadRequests(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		path, body string
		wantStatus int
		wantType   string // error type in the body
	}{
		{"unknown path", http.MethodPost, "/v1/completions-typo", `{}`, 404, "invalid_request_error"},
		{"GET", http.MethodGet, "/v1/chat/completions", "", 405, "invalid_request_error"},
		{"not JSON", http.MethodPost, "/v1/chat/completions", `{"model":`, 400, "invalid_request_error"},
		{"no model", http.MethodPost, "/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error"},
		{"no messages", http.MethodPost, "/v1/chat/completions", `{"model":"m"}`, 400, "invalid_request_error"},
		{"anthropic without max_tokens", http.MethodPost, "/v1/messages", `{"model":"c","messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error"},
		{"embeddings without input", http.MethodPost, "/v1/embeddings", `{"model":"e"}`, 400, "invalid_request_error"},
	}
	srv := Start(t, Config{})
	require.NoError(t, srv.Script(Error(503)))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			require.NoError(t, err)
			resp, err := srv.Client().Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, tt.wantStatus, resp.StatusCode)
			var m map[string]any
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
			assert.Equal(t, tt.wantType, path(m, "error", "type"))
			assert.NotEmpty(t, path(m, "error", "message"))
		})
	}
	assert.Equal(t, 1, srv.Stats().Queued, "rejected requests must not consume the script")
}
