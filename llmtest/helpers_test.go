package llmtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// chatBody is an OpenAI chat request asking for text.
func chatBody(model, text string, stream bool) string {
	return fmt.Sprintf(`{"model":%q,"stream":%t,"messages":[{"role":"system","content":"be brief"},{"role":"user","content":%q}]}`,
		model, stream, text)
}

// messagesBody is an Anthropic Messages request asking for text.
func messagesBody(model, text string, stream bool) string {
	return fmt.Sprintf(`{"model":%q,"max_tokens":100,"stream":%t,"messages":[{"role":"user","content":[{"type":"text","text":%q}]}]}`,
		model, stream, text)
}

// bodyFor returns a request body for route.
func bodyFor(route Route, stream bool) string {
	switch route {
	case Messages:
		return messagesBody("claude-test", "hello big world", stream)
	case Embeddings:
		return `{"model":"emb","input":"hello"}`
	}
	return chatBody("gpt-test", "hello big world", stream)
}

// post sends body to srv's path and returns the response; the caller closes it.
func post(t testing.TB, srv *Server, path, body string, header ...string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return srv.Client().Do(req)
}

// mustPost is post that fails the test on a transport error and reads the body.
func mustPost(t testing.TB, srv *Server, path, body string, header ...string) (*http.Response, []byte) {
	t.Helper()
	resp, err := post(t, srv, path, body, header...)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body of POST %s: %v", path, err)
	}
	return resp, b
}

type sseEvent struct{ event, data string }

// readSSE parses server-sent events until the body ends; it returns the
// events read so far and the read error (nil on a clean end).
func readSSE(r io.Reader) ([]sseEvent, error) {
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.data != "" {
				out = append(out, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "event: "):
			cur.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data = strings.TrimPrefix(line, "data: ")
		}
	}
	return out, sc.Err()
}

// drain sends a request from a goroutine other than the test's and reads
// the whole answer, reporting failures with t.Errorf.
func drain(t testing.TB, srv *Server, route Route) {
	resp, err := post(t, srv, string(route), bodyFor(route, false))
	if err != nil {
		t.Errorf("POST %s: %v", route, err)
		return
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Errorf("reading POST %s: %v", route, err)
	}
}

// decode unmarshals b into a generic map, failing the test on bad JSON.
func decode(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", b, err)
	}
	return m
}

// path walks nested maps and arrays: path(m, "choices", 0, "message", "content").
func path(v any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}
