package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/resilience-go/resilience/queue"
)

// outcome is what the steps found, for the summary.
type outcome struct {
	ids         []string // every task enqueued, in order
	fallbacks   int      // chat tasks answered by the fallback model
	embedded    int      // documents embedded
	embedFailed int      // documents in batches that failed
	poisoned    []string // tasks that failed into the dead letters
	deadLetters int      // dead letters listed before the replay
	replays     []string // the tasks that replayed them
	streamed    int      // tokens the slow consumer got
	streamPeak  int      // most tokens waiting in the stream's buffer
}

// Summary is what a run measured. The test asserts on it.
type Summary struct {
	Calls         int     // LLM API calls made by the pipeline
	Attempts      int     // requests that reached the provider (each call: 1 to 3)
	Amplification float64 // Attempts per call sent: Attempts / (Calls - Rejected)
	Rejected      int     // calls an open breaker refused without a request

	RateLimited   int           // 429s the provider sent
	LimitRejected int           // of which because its RPM/TPM limits were exceeded
	Retries       int           // attempts the transport retried
	Retries429    int           // of which after a 429
	Min429Wait    time.Duration // the shortest wait before retrying a 429
	TaskRetries   int           // failed task attempts the workers retried

	Transitions []string // breaker state changes, "gpt-4o CLOSED->OPEN", in order
	Fallbacks   int      // chat tasks answered by gpt-4o-mini

	Tasks       int                 // tasks enqueued
	States      map[queue.State]int // tasks by their state at the end
	Poisoned    []string            // tasks that failed for good
	Replays     []string            // their replays
	ReplayedOK  int                 // replays that reached SUCCESS
	Embedded    int                 // documents embedded
	EmbedFailed int                 // documents in batches that failed

	DeadLetters     int      // dead letters listed after the failure
	DeadLettersLeft int      // dead letters left at the end
	Alerts          []string // task names alerted, in order

	StreamTokens int // tokens the slow consumer received
	StreamPeak   int // most tokens waiting in the buffer
	StreamBuffer int // the buffer's size

	Wall time.Duration // the whole run, start to shutdown (with -serve, start to the summary)
}

// summarize reads the tasks' final states, the dead letters left and the
// provider's counters.
func (e *env) summarize(ctx context.Context, out outcome) (Summary, error) {
	s := Summary{
		Fallbacks: out.fallbacks, Tasks: len(out.ids), States: map[queue.State]int{},
		Poisoned: out.poisoned, Replays: out.replays, Embedded: out.embedded, EmbedFailed: out.embedFailed, DeadLetters: out.deadLetters,
		StreamTokens: out.streamed, StreamPeak: out.streamPeak, StreamBuffer: e.cfg.StreamBuffer,
	}
	for _, id := range out.ids {
		t, err := e.client.Get(ctx, id)
		if err != nil {
			return s, err
		}
		s.States[t.State]++
		for _, r := range out.replays {
			if r == id && t.State == queue.StateSuccess {
				s.ReplayedOK++
			}
		}
	}
	left, err := e.store.Len(ctx)
	if err != nil {
		return s, err
	}
	s.DeadLettersLeft = left
	if err := e.provider.WaitIdle(ctx); err != nil { // requests cut by a timeout finish on the server
		return s, err
	}
	st := e.provider.Stats()
	s.Calls, s.Rejected = int(e.llm.calls.Load()), int(e.llm.rejected.Load())
	s.Attempts, s.RateLimited, s.LimitRejected = st.Requests, st.RateLimited, st.LimitRejected
	if sent := s.Calls - s.Rejected; sent > 0 {
		s.Amplification = float64(s.Attempts) / float64(sent)
	}
	m := e.m
	m.mu.Lock()
	defer m.mu.Unlock()
	s.Retries, s.Retries429, s.Min429Wait, s.TaskRetries = m.retries, m.retries429, m.min429Wait, m.taskRetries
	s.Transitions = append([]string(nil), m.transitions...)
	for _, a := range m.alerts {
		s.Alerts = append(s.Alerts, a.TaskName)
	}
	return s, nil
}

// printSummary prints the summary table, in one piece: with -serve the
// workers keep running and may print meanwhile.
func (e *env) printSummary(s Summary) {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "\nSummary")
	row := func(name, value, note string) {
		if note == "" {
			fmt.Fprintf(w, "  %s\t%s\n", name, value)
			return
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\n", name, value, note)
	}
	row("LLM calls", fmt.Sprint(s.Calls), fmt.Sprintf("%d refused at once by an open breaker", s.Rejected))
	row("attempts", fmt.Sprint(s.Attempts), "requests that reached the provider")
	row("amplification", fmt.Sprintf("%.2fx", s.Amplification), "attempts per call sent; at most 3 by the retry policy")
	row("retries", fmt.Sprint(s.Retries), fmt.Sprintf("%d after a 429: shortest wait %v, as its retry-after-ms asked (%v)",
		s.Retries429, s.Min429Wait.Round(time.Millisecond), e.cfg.RetryAfter))
	row("429s", fmt.Sprint(s.RateLimited), fmt.Sprintf("%d from the provider's own RPM/TPM limits", s.LimitRejected))
	var chains []string
	for _, k := range keysOf(s.Transitions) {
		chains = append(chains, k+" "+path(s.Transitions, k))
	}
	row("breaker transitions", fmt.Sprint(len(s.Transitions)), strings.Join(chains, "; "))
	row("fallbacks", fmt.Sprint(s.Fallbacks), "chat tasks answered by "+fallbackModel)
	var states []string
	for _, st := range []queue.State{queue.StateSuccess, queue.StateFailure, queue.StatePending, queue.StateStarted,
		queue.StateProcessing, queue.StateRetry} {
		if n := s.States[st]; n > 0 {
			states = append(states, fmt.Sprintf("%s %d", st, n))
		}
	}
	row("tasks", fmt.Sprint(s.Tasks), strings.Join(states, ", ")+fmt.Sprintf(" (%d task retries)", s.TaskRetries))
	row("embeddings", fmt.Sprint(s.Embedded), fmt.Sprintf("documents embedded; %d in batches that failed", s.EmbedFailed))
	row("dead letters", fmt.Sprint(s.DeadLetters), fmt.Sprintf("%d replayed to SUCCESS, %d left", s.ReplayedOK, s.DeadLettersLeft))
	row("alerts", fmt.Sprint(len(s.Alerts)), strings.Join(s.Alerts, ", "))
	row("peak stream buffer", fmt.Sprintf("%d/%d", s.StreamPeak, s.StreamBuffer), fmt.Sprintf("tokens held for the slow consumer (%d streamed)", s.StreamTokens))
	row("wall time", s.Wall.Round(10*time.Millisecond).String(), "")
	_ = w.Flush()
	e.p.line(b.String())
}
