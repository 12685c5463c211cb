// Command goopenai shows sashabaranov/go-openai made resilient through its
// HTTP client: an llmhttp transport under the SDK (which has no retries
// of its own) waits out 429s, opens a circuit breaker on a 5xx storm so a
// fallback model takes over, returns a 400 at once, cuts a hung attempt,
// and turns a broken or stalled stream into an error. It runs offline
// against the llmtest fake provider, in a few seconds:
//
//	go run ./goopenai
package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/resilience-go/resilience/examples/sdk/internal/demo"
	openai "github.com/sashabaranov/go-openai"
)

func main() {
	demo.Main("sashabaranov/go-openai", newChat, nil)
}

// newChat wires go-openai to the provider at baseURL through hc, whose
// transport is the resilient one.
func newChat(baseURL string, hc *http.Client) demo.Chat {
	cfg := openai.DefaultConfig("sk-demo")
	cfg.BaseURL = baseURL + "/v1"
	cfg.HTTPClient = hc
	client := openai.NewClientWithConfig(cfg)
	return func(ctx context.Context, model, prompt string, stream bool) (string, error) {
		req := openai.ChatCompletionRequest{
			Model:    model,
			Messages: []openai.ChatCompletionMessage{{Role: openai.ChatMessageRoleUser, Content: prompt}},
		}
		if !stream {
			res, err := client.CreateChatCompletion(ctx, req)
			if err != nil {
				return "", err
			}
			return res.Choices[0].Message.Content, nil
		}
		s, err := client.CreateChatCompletionStream(ctx, req)
		if err != nil {
			return "", err
		}
		defer s.Close()
		var text strings.Builder
		for {
			chunk, err := s.Recv()
			if errors.Is(err, io.EOF) {
				return text.String(), nil // data: [DONE]
			}
			if err != nil {
				return text.String(), err
			}
			if len(chunk.Choices) > 0 {
				text.WriteString(chunk.Choices[0].Delta.Content)
			}
		}
	}
}
