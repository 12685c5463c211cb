package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/resilience-go/resilience/queue"
)

// taskExtract asks the model for an invoice's fields as JSON.
const taskExtract = "extract"

// extractRetries is the max_retries of an extraction task: 3 attempts.
const extractRetries = 2

type extractPayload struct {
	Document string `json:"document"`
}

// extractHandler asks gpt-4o-mini for the fields of an invoice as JSON.
// Version 1 (tolerant false) parses the answer as it comes, and fails (a
// retryable error: models are not deterministic) when it is not JSON.
// Version 2, the fix deployed in step 3, first strips the Markdown code
// fence that the model puts around some answers.
func extractHandler(llm *llmClient, tolerant bool) queue.HandlerFunc {
	return queue.Typed(func(ctx context.Context, p extractPayload) (invoice, error) {
		a, err := llm.chat(ctx, fallbackModel, extractPrefix+p.Document, 64)
		if err != nil {
			return invoice{}, err
		}
		text := a.Content
		if tolerant {
			text = stripFence(text)
		}
		var inv invoice
		if err := json.Unmarshal([]byte(text), &inv); err != nil {
			return invoice{}, fmt.Errorf("answer not JSON: %w", err)
		}
		return inv, nil
	})
}

// stripFence returns the body of a Markdown code fence ("```json\n...\n```"),
// or s unchanged when it is not fenced.
func stripFence(s string) string {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "```") || !strings.HasSuffix(t, "```") || len(t) < 6 {
		return s
	}
	t = strings.TrimSuffix(strings.TrimPrefix(t, "```"), "```")
	if i := strings.IndexByte(t, '\n'); i >= 0 {
		t = t[i+1:] // the info string, such as "json"
	}
	return strings.TrimSpace(t)
}

// poison is step 3: invoice extractions, one of which poisons handler v1.
// It exhausts its retries, lands in the dead letters and raises the alert;
// handler v2 is registered on the running workers, and the dead letter is
// replayed through the task API, to SUCCESS.
func (e *env) poison(ctx context.Context, out *outcome) error {
	e.p.section(3, "poisoned task", fmt.Sprintf("%d invoice extractions, max_retries %d; the model fences its JSON for %s",
		len(invoices), extractRetries, poisonInvoice))
	retries := extractRetries
	var ids []string
	for _, inv := range invoices {
		id, err := e.api.enqueue(ctx, taskExtract, enqueueReq{
			Payload: extractPayload{Document: inv.document()}, Queue: queue.QueueDefault,
			MaxRetries: &retries, TaskID: "extract-" + inv.Number,
		})
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	out.ids = append(out.ids, ids...)
	tasks, err := e.waitAll(ctx, ids)
	if err != nil {
		return err
	}
	for _, t := range tasks {
		switch t.State {
		case queue.StateFailure:
			out.poisoned = append(out.poisoned, t.ID)
			e.p.event("failed", "%s: %s after %d attempts: %s", t.ID, t.State, t.Attempt, t.Error)
		default:
			e.p.event("ok", "%s: %s %s", t.ID, t.State, t.Result)
		}
	}
	if len(out.poisoned) == 0 {
		return errors.New("the poisoned extraction did not fail")
	}
	entries, err := e.api.deadLetters(ctx)
	if err != nil {
		return err
	}
	out.deadLetters = len(entries)
	for _, d := range entries {
		e.p.event("dead", "GET /dead-letters: %s (%s, queue %s, %d retries)", d.TaskID, d.TaskName, d.Queue, d.Retries)
	}
	for _, w := range e.workers {
		w.Handle(taskExtract, extractHandler(e.llm, true))
	}
	e.p.event("fix", "handler v2, which strips Markdown code fences, registered on the running worker(s)")
	for _, d := range entries {
		id, err := e.api.replay(ctx, d.TaskID)
		if err != nil {
			return err
		}
		out.ids = append(out.ids, id)
		out.replays = append(out.replays, id)
		t, err := e.waitAll(ctx, []string{id})
		if err != nil {
			return err
		}
		e.p.event("replay", "POST /dead-letters/%s/replay: 202, enqueued as %s", d.TaskID, id)
		e.p.event("ok", "%s: %s %s", id, t[0].State, t[0].Result)
	}
	return nil
}
