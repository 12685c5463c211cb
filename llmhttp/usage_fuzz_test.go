package llmhttp

import (
	"testing"
)

// FuzzUsageSniffer feeds any body, split at any point, to the usage
// reader: it must not panic, and the split must not change what it reads.
func FuzzUsageSniffer(f *testing.F) {
	f.Add([]byte(`{"model":"gpt-4o","usage":{"prompt_tokens":3,"completion_tokens":5}}`), true, uint16(7))
	f.Add([]byte("data: {\"type\":\"message_start\",\"message\":{\"model\":\"claude\",\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\r\n\r\n"+
		"data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":4}}\n\ndata: [DONE]\n"), true, uint16(30))
	f.Add([]byte(`{"usage":null}`), false, uint16(3))
	f.Fuzz(func(t *testing.T, body []byte, stream bool, cut uint16) {
		whole := newUsageSniffer(stream)
		whole.write(body)
		wu, wm := whole.result()

		split := newUsageSniffer(stream)
		i := int(cut) % (len(body) + 1)
		split.write(body[:i])
		split.write(body[i:])
		su, sm := split.result()
		if wu != su || wm != sm {
			t.Fatalf("split at %d: got %+v %q, want %+v %q", i, su, sm, wu, wm)
		}
		if !wu.HasInput && wu.InputTokens != 0 || !wu.HasOutput && wu.OutputTokens != 0 {
			t.Fatalf("a count without its Has flag: %+v", wu)
		}
	})
}

func TestUsageSnifferAnthropicStreamTakesTheLastOutputCount(t *testing.T) {
	s := newUsageSniffer(true)
	s.write([]byte("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-x\",\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}\n\n"))
	s.write([]byte("event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":7}}\n\n"))
	u, m := s.result()
	if want := (Usage{InputTokens: 12, OutputTokens: 7, HasInput: true, HasOutput: true}); u != want || m != "claude-x" {
		t.Fatalf("got %+v %q, want %+v %q", u, m, want, "claude-x")
	}
}

func TestUsageSnifferPlainBodyTooLargeReportsNothing(t *testing.T) {
	s := newUsageSniffer(false)
	s.write([]byte(`{"model":"m","usage":{"prompt_tokens":1},"pad":"`))
	s.write(make([]byte, maxUsageBody))
	s.write([]byte(`"}`))
	if u, _ := s.result(); u.HasInput {
		t.Fatalf("got %+v from a body above maxUsageBody, want no usage", u)
	}
}
