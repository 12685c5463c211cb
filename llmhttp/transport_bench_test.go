package llmhttp_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/resilience-go/resilience/llmhttp"
)

// benchBody is a small OpenAI chat completion.
const benchBody = `{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-2024-08-06",` +
	`"choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],` +
	`"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}`

// BenchmarkTransportRoundTrip is one successful call through a Transport
// over an in-memory base: the transport's own cost per call, body read
// and closed.
func BenchmarkTransportRoundTrip(b *testing.B) {
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(benchBody)), Request: r}, nil
	})
	tr, err := llmhttp.NewTransport(llmhttp.Config{Base: base})
	if err != nil {
		b.Fatal(err)
	}
	payload := []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, "http://llm.test/v1/chat/completions", bytes.NewReader(payload))
		resp, err := tr.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
}
