package llmhttp

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/resilience-go/resilience"
)

// adaptiveAttempt runs one attempt in a slot of Config.Adaptive and gives
// the slot back with the attempt's verdict on the provider's load.
func (c *call) adaptiveAttempt(ctx context.Context) (struct{}, error) {
	var err error
	ran := false
	lerr := c.t.cfg.Adaptive.Do(ctx, func(ctx context.Context) error {
		ran = true
		c.took = -1
		_, err = c.attempt(ctx)
		return c.loadSignal(err)
	})
	if !ran { // no slot before ctx ended
		return struct{}{}, fmt.Errorf("llmhttp: waiting for the adaptive limiter: %w", lerr)
	}
	return struct{}{}, err
}

// loadSignal is what the adaptive limiter learns from an attempt that
// ended with err: err itself when the provider answered (or failed to),
// a slow answer as an overload, and a neutral error when the attempt says
// nothing about the provider's load.
func (c *call) loadSignal(err error) error {
	switch {
	case c.took < 0 || c.ctx.Err() != nil:
		// Refused before Base (breaker, limiter), or ended by the caller.
		return errNoSignal
	case c.resp != nil && c.resp.StatusCode == http.StatusTooManyRequests && !bucketEmpty(c.resp.Header):
		// A 429 that does not say the account's bucket is empty: a
		// quota error, or a refusal of this request alone.
		return errNoSignal
	case err != nil:
		return err
	case c.t.cfg.AdaptiveLatency > 0 && c.took > c.t.cfg.AdaptiveLatency:
		return &slowAttemptError{took: c.took, limit: c.t.cfg.AdaptiveLatency}
	}
	return nil
}

// errNoSignal tells the adaptive limiter to leave its limit alone: it is
// not an overload for resilience.IsOverload.
var errNoSignal = context.Canceled

// slowAttemptError is the overload signal of an answer slower than
// Config.AdaptiveLatency. Only the adaptive limiter sees it.
type slowAttemptError struct{ took, limit time.Duration }

func (e *slowAttemptError) Error() string {
	return fmt.Sprintf("llmhttp: response headers after %v, above AdaptiveLatency %v", e.took, e.limit)
}

func (e *slowAttemptError) Is(target error) bool { return target == resilience.ErrTimeout }
func (e *slowAttemptError) Timeout() bool        { return true }
