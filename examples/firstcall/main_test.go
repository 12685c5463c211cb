package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRunOutput runs the program against its fake provider: the first
// prompt is answered by gpt-4o, the second by the fallback after gpt-4o's
// 503s, and the third fails on both models without sinking the batch.
func TestRunOutput(t *testing.T) {
	srv, err := fakeProvider()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var out strings.Builder
	if err := run(context.Background(), &out, srv.URL); err != nil {
		t.Fatalf("run: %v", err)
	}
	want := `0 gpt-4o: Why are LLM calls slow?
1 gpt-4o-mini: What does a breaker do?
2 failed: resilience: fallback failed: gave up after 1 attempt(s): gpt-4o-mini: HTTP 400: the prompt is over the context length (primary: gave up after 1 attempt(s): gpt-4o: HTTP 400: the prompt is over the context length)
`
	if got := out.String(); got != want {
		t.Errorf("got output\n%s\nwant\n%s", got, want)
	}
	st := srv.Stats()
	if got := st.ByModel["gpt-4o"]; got != 5 { // 1 + 3 attempts at the 503 + 1 refused
		t.Errorf("gpt-4o got %d requests, want 5: 3 attempts at the 503s and 1 each for the others", got)
	}
}

// TestReadmeShowsThisProgram keeps the README's first code block and this
// program the same text, so the code a reader meets first always compiles
// and runs.
func TestReadmeShowsThisProgram(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "## Quick start in code\n")
	if !ok {
		t.Fatal(`README.md has no "## Quick start in code" section`)
	}
	_, block, ok := strings.Cut(after, "```go\n")
	if !ok {
		t.Fatal("README.md's quick start has no ```go block")
	}
	block, _, ok = strings.Cut(block, "```\n")
	if !ok {
		t.Fatal("README.md's quick start block is not closed")
	}
	if block != string(src) {
		t.Errorf("README.md's quick start block differs from examples/firstcall/main.go: copy main.go into it verbatim\n--- README block ---\n%s", block)
	}
}
