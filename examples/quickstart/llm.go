package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/resilience-go/resilience"
)

// llmClient is a tiny OpenAI-shaped client over plain net/http: the
// resilience is all in its transport (llmhttp), exactly as it would be
// under an SDK (see examples/sdk). It counts the calls it makes; the
// provider counts the attempts that reach it.
type llmClient struct {
	http *http.Client // its Transport is an *llmhttp.Transport
	base string       // the provider's URL

	calls    atomic.Int64 // requests made (each may be several attempts)
	rejected atomic.Int64 // calls an open breaker refused without an attempt
}

type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type chatRequest struct {
	Model     string    `json:"model"`
	Messages  []message `json:"messages"`
	MaxTokens int       `json:"max_tokens"`
	Stream    bool      `json:"stream,omitempty"`
}

// usage is a completion's token usage.
type usage struct {
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
}

// answer is a chat completion.
type answer struct {
	Model   string
	Content string
	Usage   usage
}

// post sends one API request through the resilient transport. With
// llmhttp's ReturnErrors, an error status that survived the retries comes
// back as an error wrapping *llmhttp.APIError.
func (c *llmClient) post(ctx context.Context, path string, body any) (*http.Response, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer quickstart")
	c.calls.Add(1)
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, resilience.ErrOpen) || errors.Is(err, resilience.ErrHalfOpenLimit) {
			c.rejected.Add(1)
		}
		return nil, fmt.Errorf("%s %s: %w", path, modelOf(body), unwrapURL(err))
	}
	return resp, nil
}

// unwrapURL drops net/http's *url.Error wrapper ("Post \"http://...\": "),
// which only repeats the URL.
func unwrapURL(err error) error {
	if u, ok := err.(*url.Error); ok {
		return u.Err
	}
	return err
}

func modelOf(body any) string {
	if r, ok := body.(chatRequest); ok {
		return r.Model
	}
	if r, ok := body.(embeddingsRequest); ok {
		return r.Model
	}
	return ""
}

// chat asks model for a completion of prompt.
func (c *llmClient) chat(ctx context.Context, model, prompt string, maxTokens int) (answer, error) {
	resp, err := c.post(ctx, "/v1/chat/completions", chatRequest{
		Model: model, Messages: []message{{Role: "user", Content: prompt}}, MaxTokens: maxTokens,
	})
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	var out struct {
		Model   string `json:"model"`
		Choices []struct {
			Message message `json:"message"`
		} `json:"choices"`
		Usage struct {
			PromptTokens     int `json:"prompt_tokens"`
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return answer{}, fmt.Errorf("chat %s: decoding the completion: %w", model, err)
	}
	if len(out.Choices) == 0 {
		return answer{}, fmt.Errorf("chat %s: the completion has no choices", model)
	}
	return answer{Model: out.Model, Content: out.Choices[0].Message.Content,
		Usage: usage{InputTokens: out.Usage.PromptTokens, OutputTokens: out.Usage.CompletionTokens}}, nil
}

type embeddingsRequest struct {
	Model string   `json:"model"`
	Input []string `json:"input"`
}

// embed returns the embeddings of input, one vector per text.
func (c *llmClient) embed(ctx context.Context, model string, input []string) ([][]float32, error) {
	resp, err := c.post(ctx, "/v1/embeddings", embeddingsRequest{Model: model, Input: input})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Data []struct {
			Embedding []float32 `json:"embedding"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("embeddings %s: decoding the answer: %w", model, err)
	}
	if len(out.Data) != len(input) {
		return nil, fmt.Errorf("embeddings %s: got %d vectors for %d inputs", model, len(out.Data), len(input))
	}
	vecs := make([][]float32, len(out.Data))
	for i, d := range out.Data {
		vecs[i] = d.Embedding
	}
	return vecs, nil
}

// stream asks model for a streamed completion and hands each content delta
// to emit, in order, until the stream's [DONE]. It returns emit's error as
// is, and an error when the stream breaks or ends without [DONE].
func (c *llmClient) stream(ctx context.Context, model, prompt string, maxTokens int, emit func(string) error) error {
	resp, err := c.post(ctx, "/v1/chat/completions", chatRequest{
		Model: model, Messages: []message{{Role: "user", Content: prompt}}, MaxTokens: maxTokens, Stream: true,
	})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	for {
		line, err := r.ReadString('\n')
		if data, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "data: "); ok {
			if data == "[DONE]" {
				return nil
			}
			var chunk struct {
				Choices []struct {
					Delta struct {
						Content *string `json:"content"`
					} `json:"delta"`
				} `json:"choices"`
			}
			if jerr := json.Unmarshal([]byte(data), &chunk); jerr != nil {
				return fmt.Errorf("stream %s: a chunk is not JSON: %w", model, jerr)
			}
			if len(chunk.Choices) > 0 && chunk.Choices[0].Delta.Content != nil && *chunk.Choices[0].Delta.Content != "" {
				if eerr := emit(*chunk.Choices[0].Delta.Content); eerr != nil {
					return eerr
				}
			}
		}
		if err == io.EOF {
			return fmt.Errorf("stream %s: ended without [DONE]", model)
		}
		if err != nil {
			return fmt.Errorf("stream %s: %w", model, err)
		}
	}
}
