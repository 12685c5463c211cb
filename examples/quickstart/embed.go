package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/queue"
)

// taskEmbed is the batch-embedding task (batch_embed_documents in the
// Python Celery pattern this ports).
const taskEmbed = "embed"

type embedPayload struct {
	Documents []string `json:"documents"`
	Model     string   `json:"model"`
	BatchSize int      `json:"batch_size"`
}

type embedResult struct {
	Status          string       `json:"status"` // "success", or "partial_success" with errors
	EmbeddingsCount int          `json:"embeddings_count"`
	Dimensions      int          `json:"dimensions"`
	Errors          []batchError `json:"errors,omitempty"`
}

type batchError struct {
	BatchStart int    `json:"batch_start"`
	Error      string `json:"error"`
}

// embedHandler embeds the documents in batches, parallel of them at once
// (resilience.ParallelSettled: a semaphore over the batches), and reports
// the documents done as the task's progress after each batch. A batch that
// fails after the transport's retries is recorded, and the task ends in
// partial success, as the Python version does.
func embedHandler(llm *llmClient, parallel int) queue.HandlerFunc {
	return queue.Typed(func(ctx context.Context, p embedPayload) (embedResult, error) {
		total, size := len(p.Documents), max(p.BatchSize, 1)
		var starts []int
		for s := 0; s < total; s += size {
			starts = append(starts, s)
		}
		var mu sync.Mutex // keeps the reports in order
		done, batches := 0, 0
		_ = queue.ReportProgress(ctx, queue.Progress{Total: int64(total), Status: "starting"})
		results, err := resilience.ParallelSettled(ctx, starts, parallel, func(ctx context.Context, start int) (int, error) {
			batch := p.Documents[start:min(start+size, total)]
			vecs, err := llm.embed(ctx, p.Model, batch)
			if err != nil {
				return 0, err
			}
			mu.Lock()
			defer mu.Unlock()
			done += len(batch)
			batches++
			_ = queue.ReportProgress(ctx, queue.Progress{Current: int64(done), Total: int64(total),
				Status: fmt.Sprintf("batch %d of %d", batches, len(starts))})
			return len(vecs[0]), nil
		})
		if err != nil {
			return embedResult{}, err
		}
		if ctx.Err() != nil {
			return embedResult{}, context.Cause(ctx)
		}
		r := embedResult{Status: "success"}
		for i, res := range results {
			if res.Err != nil {
				r.Errors = append(r.Errors, batchError{BatchStart: starts[i], Error: res.Err.Error()})
				continue
			}
			r.EmbeddingsCount += min(starts[i]+size, total) - starts[i]
			r.Dimensions = res.Value
		}
		if len(r.Errors) > 0 {
			r.Status = "partial_success"
		}
		return r, nil
	})
}

// embedding is step 2: one task embeds cfg.Documents documents while the
// pipeline follows its progress over the task API's event stream and draws
// it.
func (e *env) embedding(ctx context.Context, out *outcome) error {
	c := e.cfg
	e.p.section(2, "batch embedding", fmt.Sprintf("%d documents in batches of %d, %d in flight; progress from GET /tasks/{id}/events",
		c.Documents, c.BatchSize, c.EmbedParallel))
	docs := make([]string, c.Documents)
	for i := range docs {
		docs[i] = fmt.Sprintf("doc-%05d: %s", i, prompts[i%len(prompts)].a)
	}
	id, err := e.api.enqueue(ctx, taskEmbed, enqueueReq{
		Payload: embedPayload{Documents: docs, Model: embedModel, BatchSize: c.BatchSize}, Queue: queue.QueueLow,
	})
	if err != nil {
		return err
	}
	out.ids = append(out.ids, id)
	view := newProgressView(c.Out, c.Live, "progress")
	e.p.hold()
	err = e.api.follow(ctx, id, func(v taskView) {
		if v.Progress != nil && v.Progress.Total > 0 {
			view.update(v.Progress.Current, v.Progress.Total)
		}
	})
	view.done()
	e.p.release()
	if err != nil {
		return err
	}
	t, err := e.client.Get(ctx, id)
	if err != nil {
		return err
	}
	var r embedResult
	if t.State != queue.StateSuccess || json.Unmarshal(t.Result, &r) != nil {
		return fmt.Errorf("embedding task %s ended in %s: %s", id, t.State, t.Error)
	}
	out.embedded, out.embedFailed = r.EmbeddingsCount, c.Documents-r.EmbeddingsCount
	e.p.event("done", "%s: %d embeddings of %d dimensions, %d failed batches (task %s)",
		r.Status, r.EmbeddingsCount, r.Dimensions, len(r.Errors), t.State)
	return nil
}
