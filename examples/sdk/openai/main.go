// Command openai shows openai-go v3 made resilient through its HTTP client:
// an llmhttp transport under the SDK (with the SDK's own retries off)
// waits out 429s, opens a circuit breaker on a 5xx storm so a fallback
// model takes over, returns a 400 at once, cuts a hung attempt, and turns
// a broken or stalled stream into an error. It runs offline against the
// llmtest fake provider, in a few seconds:
//
//	go run ./openai
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/resilience-go/resilience/examples/sdk/internal/demo"
	"github.com/resilience-go/resilience/llmhttp"
)

func main() {
	demo.Main("openai-go v3", newChat, describe)
}

// newChat wires openai-go to the provider at baseURL through hc, whose
// transport is the resilient one. The SDK must not retry on its own: each
// of its retries would repeat all of the transport's attempts.
func newChat(baseURL string, hc *http.Client) demo.Chat {
	client := openai.NewClient(
		option.WithBaseURL(baseURL+"/v1/"),
		option.WithAPIKey("sk-demo"),
		option.WithHTTPClient(hc),
		option.WithMaxRetries(0),
	)
	return func(ctx context.Context, model, prompt string, stream bool) (string, error) {
		params := openai.ChatCompletionNewParams{
			Model:    model,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt)},
		}
		if !stream {
			res, err := client.Chat.Completions.New(ctx, params)
			if err != nil {
				return "", err
			}
			return res.Choices[0].Message.Content, nil
		}
		s := client.Chat.Completions.NewStreaming(ctx, params)
		defer s.Close()
		var text strings.Builder
		for s.Next() {
			if c := s.Current(); len(c.Choices) > 0 {
				text.WriteString(c.Choices[0].Delta.Content)
			}
		}
		return text.String(), s.Err()
	}
}

// describe renders openai-go's API errors with what the provider sent:
// status, error type, code and message, and the attempts the transport
// made ([llmhttp.Attempts]).
func describe(err error) string {
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) {
		return err.Error()
	}
	kind := apiErr.Type
	if apiErr.Code != "" {
		kind += "/" + apiErr.Code
	}
	return fmt.Sprintf("HTTP %d %s: %s (%d attempt(s))", apiErr.StatusCode, kind, apiErr.Message,
		llmhttp.Attempts(apiErr.Response))
}
