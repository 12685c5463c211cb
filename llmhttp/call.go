package llmhttp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/resilience-go/resilience"
)

// call is the state of one RoundTrip across its attempts. Attempts run one
// after the other, so it needs no lock.
type call struct {
	t   *Transport
	req *http.Request
	ctx context.Context

	buf        []byte        // the request body, or its first part when rest is set
	rest       io.ReadCloser // the unread rest of a body larger than MaxBodyBuffer
	restSent   bool          // rest was handed to an attempt
	replayable bool          // the body can be sent again
	upgrade    bool          // the request asks to switch protocols: one attempt only
	retry      bool          // the last attempt may be retried
	n          int32         // attempts made (beside the flags: the struct stays in the 128-byte size class)
	tokens     int           // the estimate reserved per attempt
	breaker    *resilience.Breaker

	took   time.Duration  // the last attempt's time to headers; -1 when Base was not called
	resp   *http.Response // the last attempt's response, not yet returned or closed
	apiErr *APIError      // its error, for a status >= 400
	obs    *observedCall  // nil: the call is not observed (observer.go)
}

// newCall reads what the attempts need from req: the body to replay, the
// token estimate and the breaker.
func (t *Transport) newCall(req *http.Request) (*call, error) {
	c := &call{t: t, req: req, ctx: req.Context(), replayable: true, upgrade: isUpgrade(req), breaker: t.cfg.Breaker}
	if req.Body != nil && req.Body != http.NoBody {
		buf, complete, err := readUpTo(req.Body, t.cfg.MaxBodyBuffer)
		if err != nil {
			_ = req.Body.Close()
			return nil, fmt.Errorf("llmhttp: reading the request body: %w", err)
		}
		c.buf = buf
		if complete {
			_ = req.Body.Close()
		} else {
			c.rest = req.Body
			c.replayable = req.GetBody != nil
			if !c.replayable {
				t.log.Debug("llmhttp: request body above MaxBodyBuffer and without GetBody: sent once, not retried",
					"url", req.URL.Redacted(), "max_body_buffer", t.cfg.MaxBodyBuffer)
			}
		}
	}
	c.startObserving()
	if t.cfg.Limiter == nil && t.cfg.Breakers == nil {
		return c, nil
	}
	m := readMeta(c.buf)
	if t.cfg.Breakers != nil {
		key := req.URL.Host + " " + m.model
		if t.cfg.BreakerKey != nil {
			key = t.cfg.BreakerKey(req, m.model)
		}
		c.breaker = t.cfg.Breakers.Get(key)
	}
	if l := t.cfg.Limiter; l != nil {
		if t.cfg.EstimateTokens != nil {
			c.tokens = t.cfg.EstimateTokens(c.buf)
		} else {
			c.tokens = len(c.buf)/4 + m.maxTokens
		}
		_, capacity := l.Capacity()
		c.tokens = max(c.tokens, 0)
		if capacity > 0 {
			c.tokens = min(c.tokens, capacity)
		}
	}
	return c, nil
}

// body returns the request body of the next attempt.
func (c *call) body() (io.ReadCloser, func() (io.ReadCloser, error), error) {
	switch {
	case c.rest != nil && !c.restSent:
		c.restSent = true
		return struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(c.buf), c.rest), c.rest}, c.req.GetBody, nil
	case c.rest != nil:
		rc, err := c.req.GetBody()
		if err != nil {
			return nil, nil, fmt.Errorf("llmhttp: GetBody for a retry: %w", err)
		}
		return rc, c.req.GetBody, nil
	case c.buf != nil:
		buf := c.buf
		get := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
		rc, _ := get()
		return rc, get, nil
	}
	return c.req.Body, c.req.GetBody, nil // nil or http.NoBody
}

// attempt is one attempt under the retry policy, observed when the call
// is.
func (c *call) attempt(ctx context.Context) (struct{}, error) {
	if c.obs != nil {
		return c.observeAttempt(ctx)
	}
	return c.attemptOnce(ctx)
}

// attemptOnce is one attempt: the limiter, the breaker, then the request.
// The limiter is skipped while the breaker is open, so a rejected attempt
// spends no rate budget.
func (c *call) attemptOnce(ctx context.Context) (struct{}, error) {
	c.n++
	c.retry = false
	c.abandon()
	if c.breaker == nil {
		if err := c.wait(ctx); err != nil {
			return struct{}{}, err
		}
		return struct{}{}, unmark(c.send(ctx))
	}
	waitInside := c.breaker.State() == resilience.StateOpen
	if !waitInside {
		if err := c.wait(ctx); err != nil {
			return struct{}{}, err
		}
	}
	err := c.breaker.Do(ctx, func(ctx context.Context) error {
		if waitInside { // the breaker let a trial through after all
			if err := c.wait(ctx); err != nil {
				return uncounted{err}
			}
		}
		return c.send(ctx)
	})
	return struct{}{}, unmark(err)
}

// wait waits for the rate limiter.
func (c *call) wait(ctx context.Context) error {
	if c.t.cfg.Limiter == nil {
		return nil
	}
	if err := c.t.cfg.Limiter.Wait(ctx, c.tokens); err != nil {
		return fmt.Errorf("llmhttp: waiting for the rate limiter: %w", err)
	}
	return nil
}

// send makes one HTTP attempt and classifies it. It returns nil for a
// success, the attempt's error for a failure, and an uncounted error for
// an outcome the breaker must not count.
func (c *call) send(ctx context.Context) error {
	rc, getBody, err := c.body()
	if err != nil {
		return uncounted{err}
	}
	actx, cancel := context.WithCancelCause(ctx)
	var b *body // owns cancel once created: closing it ends actx
	defer func() {
		if b == nil {
			cancel(nil)
		}
	}()
	r := c.req.WithContext(actx)
	r.Body, r.GetBody = rc, getBody
	if c.buf != nil && c.rest == nil {
		r.ContentLength = int64(len(c.buf)) // known now, even if the caller's reader hid it
	}
	var timer *time.Timer
	if d := c.t.cfg.AttemptTimeout; d > 0 {
		timer = time.AfterFunc(d, func() { cancel(ErrAttemptTimeout) })
	}
	sent := time.Now()
	resp, err := c.t.base.RoundTrip(r)
	c.took = time.Since(sent)
	if err == nil && resp.StatusCode == http.StatusSwitchingProtocols {
		if timer != nil {
			timer.Stop()
		}
		c.switched(resp) // the connection is the caller's: ending actx leaves it open
		return nil
	}
	var prefix []byte
	if err == nil {
		if resp.Header == nil {
			resp.Header = http.Header{}
		}
		if resp.Body == nil {
			resp.Body = http.NoBody
		}
		b = newBody(resp.Body, cancel)
		resp.Body = b
		if resp.StatusCode >= 400 {
			prefix = b.readPrefix(maxErrorBody) // still under the attempt timeout
		}
	}
	if timer != nil && !timer.Stop() && (err != nil || !b.complete) {
		// Cut by the attempt timeout before the headers (or the error
		// body) arrived.
		discard(resp)
		if errors.Is(err, context.Canceled) {
			err = nil // only the echo of our own cancellation
		}
		resp, err = nil, &attemptTimeoutError{d: c.t.cfg.AttemptTimeout, err: err}
	}
	if err != nil {
		if c.ctx.Err() != nil { // the caller gave up: say nothing, retry nothing
			return uncounted{err}
		}
		d := c.t.classify(Attempt{Request: c.req, Number: int(c.n), Err: err})
		c.retry = d.Retry
		if d.Failure {
			return err
		}
		return uncounted{err}
	}
	now := time.Now()
	c.t.updateLimiter(resp.Header, now)
	resp.Request = c.req
	c.resp = resp
	d := c.t.classify(Attempt{Request: c.req, Number: int(c.n), Response: resp, Body: prefix})
	c.retry = d.Retry
	if resp.StatusCode < 400 && !d.Retry && !d.Failure && !d.Quota {
		if isStream(resp) && (c.t.cfg.StreamFirstByteTimeout > 0 || c.t.cfg.StreamIdleTimeout > 0) {
			b.watch(c.t.cfg.StreamFirstByteTimeout, c.t.cfg.StreamIdleTimeout)
		}
		return nil
	}
	c.apiErr = newAPIError(resp, prefix)
	err = c.apiErr
	wait, hasWait := c.t.serverWait(resp.Header, now)
	if hasWait {
		c.t.coolDown(resp, d, now.Add(wait))
	}
	if d.Quota {
		c.retry = false
		if c.breaker != nil {
			c.breaker.Trip(c.t.cfg.QuotaCooldown)
		}
		c.t.log.Warn("llmhttp: the provider reports an exhausted quota", "url", c.req.URL.Redacted(),
			"status", resp.StatusCode, "type", c.apiErr.Type, "breaker_open_for", c.t.cfg.QuotaCooldown)
	} else if hasWait && d.Retry {
		err = resilience.RetryAfter(err, wait)
	}
	if d.Failure {
		return err
	}
	return uncounted{err}
}

// abandon closes the last attempt's response: a retry follows.
func (c *call) abandon() {
	if c.resp != nil {
		discard(c.resp)
		c.resp, c.apiErr = nil, nil
	}
}

// finish turns the retry loop's outcome into RoundTrip's result, and
// reports it when the call is observed.
func (c *call) finish(err error) (*http.Response, error) {
	resp, err := c.result(err)
	if c.obs != nil {
		c.observeFinish(resp, err)
	}
	return resp, err
}

// result turns the retry loop's outcome into RoundTrip's result.
func (c *call) result(err error) (*http.Response, error) {
	if c.rest != nil && !c.restSent {
		_ = c.rest.Close() // no attempt took the body
	}
	if err != nil && c.ctx.Err() != nil {
		c.abandon()
		return nil, err
	}
	if c.resp == nil {
		return nil, err
	}
	if err != nil && c.t.cfg.ReturnErrors && c.apiErr != nil {
		e := c.apiErr
		e.Attempts = int(c.n)
		c.abandon()
		return nil, e
	}
	resp := c.resp
	c.resp = nil
	resp.Header.Set(AttemptsHeader, strconv.Itoa(int(c.n)))
	return resp, nil
}
