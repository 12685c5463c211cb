package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/queue"
)

// taskChat is the chat-completion task (process_chat_completion in the
// Python Celery pattern this ports).
const taskChat = "chat"

// maxProbes bounds the extra chat tasks sent after the waves while gpt-4o's
// breaker has not closed again.
const maxProbes = 8

type chatPayload struct {
	Prompt string `json:"prompt"`
}

type chatResult struct {
	Status  string `json:"status"`
	Model   string `json:"model"`
	Content string `json:"content"`
	Usage   usage  `json:"usage"`
}

// chatHandler asks gpt-4o and, when it fails, runs out of budget, or its
// breaker is open (the transport then fails at once, without a request),
// gpt-4o-mini: a timeout with fallback. An error after both is
// retried by the worker.
func chatHandler(llm *llmClient, budget time.Duration) queue.HandlerFunc {
	return queue.Typed(func(ctx context.Context, p chatPayload) (chatResult, error) {
		_ = queue.ReportProgress(ctx, queue.Progress{Total: 1, Status: "Calling LLM..."})
		ask := func(model string) func(context.Context) (answer, error) {
			return func(ctx context.Context) (answer, error) { return llm.chat(ctx, model, p.Prompt, 64) }
		}
		a, err := resilience.Fallback(ctx, budget, ask(primaryModel), ask(fallbackModel))
		if err != nil {
			return chatResult{}, err
		}
		return chatResult{Status: "success", Model: a.Model, Content: a.Content, Usage: a.Usage}, nil
	})
}

// chats is step 1. A backlog of chat tasks is accepted through the task
// API while no worker runs (as during a deploy), low-priority ones first;
// then the workers start, take high before default before low, and more
// tasks arrive in waves. gpt-4o's storm opens its breaker meanwhile. If the
// breaker has not closed again by the end, one more task at a time follows
// its recovery timeout, until a trial call closes it.
func (e *env) chats(ctx context.Context, out *outcome) error {
	c := e.cfg
	e.p.section(1, "chat completions", fmt.Sprintf("%d tasks through POST /tasks/%s, %s with %s as its fallback",
		c.ChatBacklog+c.ChatWaves*c.ChatPerWave, taskChat, primaryModel, fallbackModel))
	e.p.event("script", "the provider's first answer is a 429; from %s's request #%d, a storm of 503s until its breaker opens",
		primaryModel, stormFrom)
	ids, err := e.enqueueChats(ctx, 0, c.ChatBacklog, true)
	if err != nil {
		return err
	}
	backlog := len(ids)
	e.p.event("backlog", "%d tasks accepted (202) before any worker runs, the low ones first; now the workers start", backlog)
	e.startWorkers()
	e.p.event("waves", "%d more waves of %d tasks follow, %v apart", c.ChatWaves, c.ChatPerWave, c.WaveGap)
	for range c.ChatWaves {
		if err := sleep(ctx, c.WaveGap); err != nil {
			return err
		}
		more, err := e.enqueueChats(ctx, len(ids), c.ChatPerWave, false)
		if err != nil {
			return err
		}
		ids = append(ids, more...)
	}
	out.ids = append(out.ids, ids...)
	tasks, err := e.waitAll(ctx, ids)
	if err != nil {
		return err
	}
	waits := map[string][]time.Duration{}
	for _, t := range tasks[:backlog] {
		waits[t.Queue] = append(waits[t.Queue], t.StartedAt.Sub(t.EnqueuedAt))
	}
	for range maxProbes {
		b := e.breakers.Get(primaryModel).Counts()
		if b.State == resilience.StateClosed {
			break
		}
		if err := sleep(ctx, time.Until(b.OpenUntil)+time.Millisecond); err != nil {
			return err
		}
		e.p.event("probe", "%s's breaker is not closed yet: one more task after its recovery timeout", primaryModel)
		id, err := e.api.enqueue(ctx, taskChat, enqueueReq{Payload: chatPayload{Prompt: prompts[0].q}, Queue: queue.QueueHigh})
		if err != nil {
			return err
		}
		out.ids = append(out.ids, id)
		t, err := e.waitAll(ctx, []string{id})
		if err != nil {
			return err
		}
		tasks = append(tasks, t...)
	}
	byModel := map[string]int{}
	ok := 0
	for _, t := range tasks {
		var r chatResult
		if t.State == queue.StateSuccess && json.Unmarshal(t.Result, &r) == nil {
			ok++
			byModel[r.Model]++
		}
	}
	out.fallbacks = byModel[fallbackModel]
	e.p.event("done", "%d of %d SUCCESS: %d answered by %s, %d by %s (fallback)",
		ok, len(tasks), byModel[primaryModel], primaryModel, byModel[fallbackModel], fallbackModel)
	e.p.event("priority", "the backlog's mean wait for a worker: high %v, default %v, low %v",
		mean(waits[queue.QueueHigh]), mean(waits[queue.QueueDefault]), mean(waits[queue.QueueLow]))
	return nil
}

// enqueueChats enqueues n chat tasks, numbered from first for their
// prompts. sorted puts the first third in low, the next in default and the
// rest in high; otherwise the queues take turns.
func (e *env) enqueueChats(ctx context.Context, first, n int, sorted bool) ([]string, error) {
	ids := make([]string, 0, n)
	for i := range n {
		q := []string{queue.QueueHigh, queue.QueueDefault, queue.QueueLow}[(first+i)%3]
		if sorted {
			q = []string{queue.QueueLow, queue.QueueDefault, queue.QueueHigh}[min(3*i/n, 2)]
		}
		id, err := e.api.enqueue(ctx, taskChat, enqueueReq{Payload: chatPayload{Prompt: prompts[(first+i)%len(prompts)].q}, Queue: q})
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// waitAll waits for each task to be done and returns them in order.
func (e *env) waitAll(ctx context.Context, ids []string) ([]*queue.Task, error) {
	tasks := make([]*queue.Task, len(ids))
	for i, id := range ids {
		t, err := e.client.Wait(ctx, id)
		if err != nil {
			return nil, err
		}
		tasks[i] = t
	}
	return tasks, nil
}

// mean returns the mean of ds rounded to the millisecond, 0 for none.
func mean(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return (sum / time.Duration(len(ds))).Round(time.Millisecond)
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
