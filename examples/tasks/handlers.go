package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/queue"
)

// Task names, as in the routes POST /tasks/chat/completions and POST
// /tasks/embeddings/batch.
const (
	taskChat  = "chat/completions"
	taskEmbed = "embeddings/batch"
)

// message is one chat message.
type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// chatPayload is the payload of a chat task (the arguments of
// process_chat_completion in the Python Celery version this example ports).
type chatPayload struct {
	Messages    []message `json:"messages"`
	Model       string    `json:"model"`
	Temperature float64   `json:"temperature"`
	MaxTokens   int       `json:"max_tokens"`
}

// usage counts the tokens of a completion.
type usage struct {
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
}

// chatResult is the result of a chat task.
type chatResult struct {
	Status  string `json:"status"`
	Content string `json:"content,omitempty"`
	Usage   *usage `json:"usage,omitempty"`
	Error   string `json:"error,omitempty"`
}

// chatHandler runs one attempt of a chat task: progress "Calling LLM...",
// then the model. An error is retried by the worker (3 retries with
// jittered backoff); a permanent one (unknown model) is not. At the soft
// time limit it returns a "timeout" result instead of failing, as a Celery
// task does when it catches SoftTimeLimitExceeded.
func chatHandler(model llm) queue.HandlerFunc {
	return func(ctx context.Context, t *queue.Task) (any, error) {
		var p chatPayload
		if err := json.Unmarshal(t.Payload, &p); err != nil || len(p.Messages) == 0 {
			return nil, resilience.Permanent(fmt.Errorf("bad chat payload %s: %v", t.Payload, err))
		}
		_ = queue.ReportProgress(ctx, queue.Progress{Current: 0, Total: 1, Status: "Calling LLM..."})
		reply, err := model.Chat(ctx, p, t.Attempt)
		if errors.Is(context.Cause(ctx), queue.ErrSoftTimeLimit) {
			return chatResult{Status: "timeout", Error: "Task exceeded time limit"}, nil
		}
		if err != nil {
			return nil, err
		}
		return chatResult{
			Status: "success", Content: reply.Content,
			Usage: &usage{InputTokens: reply.InputTokens, OutputTokens: reply.OutputTokens},
		}, nil
	}
}

// embedPayload is the payload of a batch-embedding task (the arguments of
// batch_embed_documents in the Python Celery version).
type embedPayload struct {
	Documents []string `json:"documents"`
	Model     string   `json:"model"`
	BatchSize int      `json:"batch_size"`
}

// batchError records a batch that could not be embedded.
type batchError struct {
	BatchStart int    `json:"batch_start"`
	Error      string `json:"error"`
}

// embedResult is the result of a batch-embedding task.
type embedResult struct {
	Status          string       `json:"status"` // success or partial_success
	EmbeddingsCount int          `json:"embeddings_count"`
	Dimensions      int          `json:"dimensions"`
	Errors          []batchError `json:"errors"`
}

// embedHandler embeds the documents batch by batch, reporting progress
// before each batch. A batch that fails is recorded and skipped, so the
// task ends in partial_success rather than being retried as a whole (as in
// the Python Celery version); a permanent error (unknown model) fails the task.
func embedHandler(model llm) queue.HandlerFunc {
	return queue.Typed(func(ctx context.Context, p embedPayload) (embedResult, error) {
		total := len(p.Documents)
		res := embedResult{Status: "success", Dimensions: embeddingDims, Errors: []batchError{}}
		for i := 0; i < total; i += p.BatchSize {
			batch := p.Documents[i:min(i+p.BatchSize, total)]
			err := queue.ReportProgress(ctx, queue.Progress{
				Current: int64(i), Total: int64(total),
				Status: fmt.Sprintf("Processing batch %d", i/p.BatchSize+1),
			})
			if err != nil {
				return res, err // the lease is lost: another worker has the task
			}
			vecs, err := model.Embed(ctx, batch, p.Model)
			switch {
			case ctx.Err() != nil:
				return res, context.Cause(ctx)
			case resilience.IsPermanent(err):
				return res, err
			case err != nil:
				res.Errors = append(res.Errors, batchError{BatchStart: i, Error: err.Error()})
			default:
				res.EmbeddingsCount += len(vecs)
			}
		}
		if len(res.Errors) > 0 {
			res.Status = "partial_success"
		}
		return res, nil
	})
}
