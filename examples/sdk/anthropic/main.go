// Command anthropic shows anthropic-sdk-go made resilient through its HTTP
// client: an llmhttp transport under the SDK (with the SDK's own retries
// off) waits out 429s, opens a circuit breaker on a 5xx storm so a
// fallback model takes over, returns a 400 at once, cuts a hung attempt,
// and turns a broken or stalled stream into an error. It runs offline
// against the llmtest fake provider, in a few seconds:
//
//	go run ./anthropic
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/resilience-go/resilience/examples/sdk/internal/demo"
	"github.com/resilience-go/resilience/llmhttp"
)

func main() {
	demo.Main("anthropic-sdk-go v2", newChat, describe)
}

// newChat wires anthropic-sdk-go to the provider at baseURL through hc,
// whose transport is the resilient one. The SDK must not retry on its own:
// each of its retries would repeat all of the transport's attempts.
func newChat(baseURL string, hc *http.Client) demo.Chat {
	client := anthropic.NewClient(
		option.WithoutEnvironmentDefaults(), // no ANTHROPIC_* variables or profiles
		option.WithBaseURL(baseURL),
		option.WithAPIKey("sk-ant-demo"),
		option.WithHTTPClient(hc),
		option.WithMaxRetries(0),
	)
	return func(ctx context.Context, model, prompt string, stream bool) (string, error) {
		params := anthropic.MessageNewParams{
			Model:     anthropic.Model(model),
			MaxTokens: 256,
			Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(prompt))},
		}
		if !stream {
			msg, err := client.Messages.New(ctx, params)
			if err != nil {
				return "", err
			}
			return msg.Content[0].Text, nil
		}
		s := client.Messages.NewStreaming(ctx, params)
		defer s.Close()
		var text strings.Builder
		for s.Next() {
			if ev := s.Current(); ev.Type == "content_block_delta" {
				text.WriteString(ev.Delta.Text)
			}
		}
		return text.String(), s.Err()
	}
}

// describe renders anthropic-sdk-go's API errors with what the provider
// sent: status, error type and message, and the attempts the transport
// made ([llmhttp.Attempts]).
func describe(err error) string {
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) {
		return err.Error()
	}
	return fmt.Sprintf("HTTP %d %s: %s (%d attempt(s))", apiErr.StatusCode, apiErr.Type(), apiErr.Message,
		llmhttp.Attempts(apiErr.Response))
}
