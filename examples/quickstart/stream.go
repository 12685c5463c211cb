package main

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/resilience-go/resilience"
)

const streamPrompt = "Why does streaming need backpressure?"

// streaming is step 4: a streamed completion whose tokens the provider
// sends as fast as it can, relayed through resilience.Stream to a consumer
// that takes ConsumerDelay per token (a client on a slow connection). The
// buffer bounds the tokens held; the producer waits when it is full.
func (e *env) streaming(ctx context.Context, out *outcome) error {
	c := e.cfg
	e.p.section(4, "streaming", fmt.Sprintf("%d tokens over SSE from %s to a consumer taking %v per token, buffer %d",
		c.StreamTokens, primaryModel, c.ConsumerDelay, c.StreamBuffer))
	var (
		accepted atomic.Int64 // tokens emit handed over to the buffer
		blocked  time.Duration
		text     strings.Builder
		consumed int
		peak     int64
	)
	err := resilience.Stream(ctx, resilience.StreamConfig{Buffer: c.StreamBuffer, IdleTimeout: 10 * c.AttemptTimeout},
		func(ctx context.Context, emit func(string) error) error {
			relay := func(tok string) error {
				t0 := time.Now()
				if err := emit(tok); err != nil {
					return err
				}
				blocked += time.Since(t0)
				accepted.Add(1)
				return nil
			}
			err := e.llm.stream(ctx, primaryModel, streamPrompt, c.StreamTokens, relay)
			if err != nil && accepted.Load() == 0 && ctx.Err() == nil {
				// Nothing reached the consumer yet: the cheaper model can
				// still answer in full.
				e.p.event("fallback", "%v; streaming from %s instead", err, fallbackModel)
				err = e.llm.stream(ctx, fallbackModel, streamPrompt, c.StreamTokens, relay)
			}
			return err
		},
		func(ctx context.Context, tok string) error {
			// The tokens accepted but not yet taken wait in the buffer.
			// The count lags the buffer (emit returns before accepted
			// grows), so it never exceeds the buffer's size.
			peak = max(peak, accepted.Load()-int64(consumed)-1)
			consumed++
			text.WriteString(tok)
			return sleep(ctx, c.ConsumerDelay)
		})
	if err != nil {
		return err
	}
	out.streamed, out.streamPeak = consumed, int(peak)
	shown := text.String()
	if len(shown) > 76 {
		shown = shown[:strings.LastIndexByte(shown[:76], ' ')] + " ..."
	}
	e.p.event("text", "%q", shown)
	e.p.event("done", "%d tokens in order; at most %d of %d buffered; the producer waited %v for the slow consumer",
		consumed, peak, c.StreamBuffer, blocked.Round(10*time.Millisecond))
	return nil
}
