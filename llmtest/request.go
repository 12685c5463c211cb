package llmtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"unicode"
)

// Route names an API endpoint the server speaks. Requests are matched on the
// end of their path, so any base-URL prefix works ("/v1/chat/completions",
// "/openai/v1/chat/completions", "//chat/completions").
type Route string

// The routes the server answers. Any other path gets a 404 in OpenAI's error
// shape; a method other than POST gets a 405.
const (
	// ChatCompletions is OpenAI's chat API, with and without "stream": true.
	ChatCompletions Route = "/v1/chat/completions"
	// Embeddings is OpenAI's embeddings API: one vector per input.
	Embeddings Route = "/v1/embeddings"
	// Messages is Anthropic's Messages API, with and without "stream": true.
	Messages Route = "/v1/messages"
)

// routeOf maps a request path to its route, or "" when unknown.
func routeOf(path string) Route {
	switch {
	case strings.HasSuffix(path, "/chat/completions"):
		return ChatCompletions
	case strings.HasSuffix(path, "/embeddings"):
		return Embeddings
	case strings.HasSuffix(path, "/messages"):
		return Messages
	}
	return ""
}

// Request is what the server understood of one API call. [Config.Reply] and
// [Config.FaultFor] receive it; they must not modify it.
type Request struct {
	// Seq is the request's arrival number, from 1, across all routes.
	Seq int
	// Route is the endpoint called.
	Route Route
	// Model is the request's "model" field.
	Model string
	// Messages are the conversation, in order. A system prompt (OpenAI's
	// "system" or "developer" message, Anthropic's "system" field) comes
	// first with Role "system". Only text content is kept.
	Messages []Message
	// Input holds the texts of an embeddings request, one per vector asked.
	// A token-array input is kept as its numbers joined by spaces.
	Input []string
	// Stream reports whether the caller asked for a stream.
	Stream bool
	// MaxTokens is max_tokens (or max_completion_tokens); 0 when absent.
	MaxTokens int
	// Header is the request's HTTP header.
	Header http.Header
	// Rand is this request's own generator, seeded by [Config.Seed] and by
	// what the request is, not by when it came: the k-th request with the
	// same route, model, stream flag, max_tokens and text draws the same
	// numbers on every run, however concurrent requests interleave. (Only
	// identical requests in flight at once may swap theirs.) [Config.Reply]
	// and [Config.FaultFor] may draw from it, say a latency, and a FaultFor
	// that does so and keeps no other state gives the same faults every run.
	// It is not safe for concurrent use; it is the request's alone.
	Rand *rand.Rand

	draw float64 // the number Config.Rates uses, from the same seed
}

// Message is one turn of a conversation.
type Message struct {
	Role    string
	Content string
}

// Echo is the default [Config.Reply]: the text of the last user message, or
// "ok" when there is none.
func Echo(req *Request) string {
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == "user" {
			return req.Messages[i].Content
		}
	}
	return "ok"
}

// promptTokens counts the words of the request's texts, at least 1.
func (r *Request) promptTokens() int {
	n := 0
	for _, m := range r.Messages {
		n += len(strings.Fields(m.Content))
	}
	for _, in := range r.Input {
		n += len(strings.Fields(in))
	}
	return max(n, 1)
}

// wireRequest holds the fields of both APIs' request bodies that the
// server looks at.
type wireRequest struct {
	Model               string          `json:"model"`
	Messages            []wireMessage   `json:"messages"`
	System              json.RawMessage `json:"system"`
	Stream              bool            `json:"stream"`
	MaxTokens           int             `json:"max_tokens"`
	MaxCompletionTokens int             `json:"max_completion_tokens"`
	StreamOptions       struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Input          json.RawMessage `json:"input"`
	Dimensions     int             `json:"dimensions"`
	EncodingFormat string          `json:"encoding_format"`
}

type wireMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// parsed is a decoded request plus the wire fields only a route needs.
type parsed struct {
	req          *Request
	includeUsage bool
	dimensions   int
	base64       bool
}

// parseRequest decodes the body of a request to route; its error is meant
// for a 400 answer.
func parseRequest(route Route, r *http.Request) (parsed, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return parsed{}, fmt.Errorf("reading the request body: %w", err)
	}
	if len(body) > maxBodyBytes {
		return parsed{}, fmt.Errorf("request body larger than %d bytes", maxBodyBytes)
	}
	var w wireRequest
	if err := json.Unmarshal(body, &w); err != nil {
		return parsed{}, fmt.Errorf("request body is not valid JSON: %w", err)
	}
	if w.Model == "" {
		return parsed{}, errors.New("you must provide a model parameter")
	}
	req := &Request{Route: route, Model: w.Model, Stream: w.Stream, Header: r.Header.Clone(),
		MaxTokens: max(w.MaxTokens, w.MaxCompletionTokens)}
	if w.MaxTokens < 0 || w.MaxCompletionTokens < 0 {
		return parsed{}, errors.New("max_tokens must be >= 0")
	}
	p := parsed{req: req, includeUsage: w.StreamOptions.IncludeUsage,
		dimensions: w.Dimensions, base64: w.EncodingFormat == "base64"}
	switch route {
	case Embeddings:
		req.Input, err = inputTexts(w.Input)
		if err != nil {
			return parsed{}, err
		}
		if w.Dimensions < 0 {
			return parsed{}, errors.New("dimensions must be >= 0")
		}
		return p, nil
	case Messages:
		if req.MaxTokens == 0 {
			return parsed{}, errors.New("max_tokens: Field required")
		}
		if len(w.System) > 0 && string(w.System) != "null" {
			req.Messages = append(req.Messages, Message{Role: "system", Content: textOf(w.System)})
		}
	}
	if len(w.Messages) == 0 {
		return parsed{}, errors.New("messages: at least one message is required")
	}
	for _, m := range w.Messages {
		role := m.Role
		if role == "developer" {
			role = "system"
		}
		req.Messages = append(req.Messages, Message{Role: role, Content: textOf(m.Content)})
	}
	return p, nil
}

// textOf returns the text of a content field: a JSON string, or an array of
// blocks whose "text" fields are joined. Anything else is "".
func textOf(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var blocks []struct {
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &blocks) != nil {
		return ""
	}
	parts := make([]string, 0, len(blocks))
	for _, b := range blocks {
		if b.Text != "" {
			parts = append(parts, b.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// inputTexts decodes an embeddings "input": a string, an array of strings,
// an array of token ids or an array of such arrays.
func inputTexts(raw json.RawMessage) ([]string, error) {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil && len(many) > 0 {
		return many, nil
	}
	var ids []int
	if json.Unmarshal(raw, &ids) == nil && len(ids) > 0 {
		return []string{joinInts(ids)}, nil
	}
	var idLists [][]int
	if json.Unmarshal(raw, &idLists) == nil && len(idLists) > 0 {
		out := make([]string, len(idLists))
		for i, l := range idLists {
			out[i] = joinInts(l)
		}
		return out, nil
	}
	return nil, errors.New("input: want a string, an array of strings or of token ids")
}

func joinInts(ids []int) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.Itoa(id)
	}
	return strings.Join(parts, " ")
}

// splitChunks splits text into stream chunks, one per word, each keeping the
// spaces before it: "Hello big world" → "Hello", " big", " world".
// Trailing spaces stay with the last word.
func splitChunks(text string) []string {
	var out []string
	start := 0
	prevSpace, seenWord := true, false
	for i, r := range text {
		space := unicode.IsSpace(r)
		if space && !prevSpace && seenWord {
			out = append(out, text[start:i])
			start = i
		}
		seenWord = seenWord || !space
		prevSpace = space
	}
	rest := text[start:]
	switch {
	case rest == "":
	case strings.TrimSpace(rest) == "" && len(out) > 0:
		out[len(out)-1] += rest
	default:
		out = append(out, rest)
	}
	return out
}
