package llmtest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSlowFirstToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := Start(t, Config{InMemory: true})
		require.NoError(t, srv.Script(SlowFirstToken(5*time.Second)))
		start := time.Now()
		resp, err := post(t, srv, string(Messages), bodyFor(Messages, true))
		require.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, time.Duration(0), time.Since(start), "headers come at once")
		buf := make([]byte, 1)
		_, err = resp.Body.Read(buf)
		require.NoError(t, err)
		assert.Equal(t, 5*time.Second, time.Since(start), "the first byte comes after FirstTokenDelay")
		events, err := readSSE(resp.Body)
		require.NoError(t, err)
		assert.Equal(t, "message_stop", events[len(events)-1].event, "the stream then completes")
	})
}

func TestChunkDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := Start(t, Config{InMemory: true, ChunkDelay: time.Second})
		start := time.Now()
		resp, err := post(t, srv, string(ChatCompletions), chatBody("m", "a b c d", true))
		require.NoError(t, err)
		defer resp.Body.Close()
		_, err = readSSE(resp.Body)
		require.NoError(t, err)
		assert.Equal(t, 3*time.Second, time.Since(start), "4 chunks, 3 pauses between them")
	})
}

// streamEnd reads a stream of route broken by f and returns its events and
// read error.
func streamEnd(t *testing.T, route Route, f Fault) ([]sseEvent, error) {
	srv := Start(t, Config{})
	require.NoError(t, srv.Script(f))
	resp, err := post(t, srv, string(route), bodyFor(route, true))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "stream faults strike after a 200")
	return readSSE(resp.Body)
}

func TestStreamCut(t *testing.T) {
	events, err := streamEnd(t, ChatCompletions, CutStream(2))
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "a cut connection is not a clean end")
	assert.Len(t, events, 1+2, "role chunk and 2 content chunks arrive before the cut")

	events, err = streamEnd(t, Messages, CutStream(1))
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Len(t, events, 3+1, "message_start, content_block_start, ping and 1 delta")

	events, err = streamEnd(t, Messages, CutStream(100))
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Equal(t, "content_block_delta", events[len(events)-1].event, "After past the end cuts before the closing events")
}

func TestStreamTruncate(t *testing.T) {
	events, err := streamEnd(t, ChatCompletions, TruncateStream(3))
	require.NoError(t, err, "a truncated stream ends cleanly")
	assert.Len(t, events, 1+3)
	assert.NotEqual(t, "[DONE]", events[len(events)-1].data)

	events, err = streamEnd(t, Messages, TruncateStream(1))
	require.NoError(t, err)
	assert.Equal(t, "content_block_delta", events[len(events)-1].event, "no message_stop")
}

func TestStreamErrorEvent(t *testing.T) {
	events, err := streamEnd(t, ChatCompletions, ErrorEvent(1))
	require.NoError(t, err)
	last := events[len(events)-1]
	assert.True(t, strings.HasPrefix(last.data, `{"error":{`), "got %s, want an OpenAI error object", last.data)
	assert.Equal(t, "server_error", path(decode(t, []byte(last.data)), "error", "type"))

	events, err = streamEnd(t, Messages, Fault{Stream: StreamErrorEvent, After: 2, ErrorType: "api_error", Message: "boom"})
	require.NoError(t, err)
	last = events[len(events)-1]
	assert.Equal(t, "error", last.event)
	var body struct {
		Type  string `json:"type"`
		Error struct{ Type, Message string }
	}
	require.NoError(t, json.Unmarshal([]byte(last.data), &body))
	assert.Equal(t, "error", body.Type)
	assert.Equal(t, "api_error", body.Error.Type)
	assert.Equal(t, "boom", body.Error.Message)

	events, _ = streamEnd(t, Messages, ErrorEvent(0))
	assert.Contains(t, events[len(events)-1].data, "overloaded_error", "Anthropic's default in-band error")
}

func TestStreamStall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := Start(t, Config{InMemory: true})
		require.NoError(t, srv.Script(StallStream(1)))
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+string(ChatCompletions),
			strings.NewReader(bodyFor(ChatCompletions, true)))
		start := time.Now()
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		events, err := readSSE(resp.Body)
		assert.ErrorIs(t, err, context.DeadlineExceeded, "the stall lasts until the client gives up")
		assert.Equal(t, 30*time.Second, time.Since(start))
		assert.Len(t, events, 1+1)
		require.NoError(t, srv.WaitIdle(t.Context()))
		assert.Equal(t, 1, srv.Stats().Abandoned)
	})
}

func TestPlainBodyFaults(t *testing.T) {
	for _, f := range []Fault{CutStream(0), TruncateStream(0)} {
		t.Run(f.Stream.String(), func(t *testing.T) {
			srv := Start(t, Config{})
			require.NoError(t, srv.Script(f))
			resp, err := post(t, srv, string(ChatCompletions), bodyFor(ChatCompletions, false))
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, 200, resp.StatusCode)
			b, readErr := io.ReadAll(resp.Body)
			if f.Stream == StreamCut {
				assert.ErrorIs(t, readErr, io.ErrUnexpectedEOF)
			} else {
				assert.NoError(t, readErr)
			}
			assert.Error(t, json.Unmarshal(b, new(map[string]any)), "half a JSON body must not parse")
		})
	}
}

func TestSplitChunks(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"one", []string{"one"}},
		{"hello big world", []string{"hello", " big", " world"}},
		{"  lead", []string{"  lead"}},
		{"trail  ", []string{"trail  "}},
		{"a\nb\t c", []string{"a", "\nb", "\t c"}},
		{"   ", []string{"   "}},
	}
	for _, tt := range tests {
		got := splitChunks(tt.in)
		assert.Equal(t, tt.want, got, "splitChunks(%q)", tt.in)
		assert.Equal(t, tt.in, strings.Join(got, ""), "chunks of %q must add up to it", tt.in)
	}
}
