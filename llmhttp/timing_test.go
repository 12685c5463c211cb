package llmhttp

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resilience-go/resilience"
)

func TestTransportAttemptTimeoutIsRetriedAndCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := newFakeBase(func(n int, r *http.Request) (*http.Response, error) { return hang(r) })
		br := countingBreaker(t)
		tr := newTestTransport(t, Config{Base: base, Retry: exactRetry, Breaker: br, AttemptTimeout: 5 * time.Second})
		start := time.Now()
		resp, err := post(t, tr, t.Context(), "http://llm.test/v1/chat/completions", `{}`)
		assert.Nil(t, resp)
		for _, target := range []error{ErrAttemptTimeout, resilience.ErrTimeout, context.DeadlineExceeded} {
			assert.ErrorIs(t, err, target)
		}
		var re *resilience.RetryError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, 3, re.Attempts)
		// 5 s, wait 1 s, 5 s, wait 2 s, 5 s.
		assert.Equal(t, []time.Duration{0, 6 * time.Second, 13 * time.Second}, base.sent())
		assert.Equal(t, 18*time.Second, time.Since(start))
		assert.Equal(t, 3, br.Counts().WindowFailures)
		assert.True(t, resilience.IsOverload(err), "an attempt timeout must read as overload")
	})
}

func TestTransportAttemptTimeoutCoversHeadersOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var body *chanBody
		base := newFakeBase(func(n int, r *http.Request) (*http.Response, error) {
			time.Sleep(4 * time.Second)
			body = &chanBody{ctx: r.Context(), ch: make(chan string, 2)}
			body.ch <- "slow "
			return &http.Response{StatusCode: 200, Header: http.Header{}, Body: body, Request: r}, nil
		})
		tr := newTestTransport(t, Config{Base: base, AttemptTimeout: 5 * time.Second})
		resp, err := post(t, tr, t.Context(), "http://llm.test/", `{}`)
		require.NoError(t, err)
		time.Sleep(10 * time.Second) // well past the attempt timeout
		body.ch <- "body"
		close(body.ch)
		assert.Equal(t, "slow body", readAll(t, resp))
	})
}

func TestTransportHonoursTheServersWait(t *testing.T) {
	tests := []struct {
		name   string
		header map[string]string
		want   time.Duration
	}{
		{"Retry-After seconds", map[string]string{"Retry-After": "7"}, 7 * time.Second},
		{"retry-after-ms wins", map[string]string{"retry-after-ms": "1500", "Retry-After": "7"}, 1500 * time.Millisecond},
		{"fractional milliseconds", map[string]string{"retry-after-ms": "2500.5"}, 2500500 * time.Microsecond},
		{"HTTP date", map[string]string{"Retry-After": "Sat, 01 Jan 2000 00:00:09 GMT"}, 9 * time.Second},
		{"capped by MaxRetryAfter", map[string]string{"Retry-After": "3600"}, 60 * time.Second},
		{"negative: ignored, backoff", map[string]string{"Retry-After": "-5"}, time.Second},
		{"huge: ignored, backoff", map[string]string{"Retry-After": "99999999999999"}, time.Second},
		{"malformed: ignored, backoff", map[string]string{"retry-after-ms": "soon", "Retry-After": "NaN"}, time.Second},
		{"shorter than the backoff: backoff", map[string]string{"retry-after-ms": "10"}, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// The bubble's clock starts at 2000-01-01 00:00:00 UTC.
				require.Equal(t, 2000, time.Now().UTC().Year())
				base := newFakeBase(func(n int, r *http.Request) (*http.Response, error) {
					if n == 1 {
						return respond(r, 429, tt.header, rateBody), nil
					}
					return respond(r, 200, nil, "ok"), nil
				})
				var logs logBuffer
				tr := newTestTransport(t, Config{Base: base, Retry: exactRetry, Logger: logs.logger()})
				resp, err := post(t, tr, t.Context(), "http://llm.test/", `{}`)
				require.NoError(t, err)
				assert.Equal(t, 200, resp.StatusCode)
				readAll(t, resp)
				assert.Equal(t, []time.Duration{0, tt.want}, base.sent())
				if strings.Contains(tt.name, "ignored") {
					assert.Contains(t, logs.String(), "ignoring a retry-after header", "nonsense must be logged at debug level")
				}
			})
		})
	}
}

func TestTransportGivesUpWhenTheWaitPassesTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := newFakeBase(func(n int, r *http.Request) (*http.Response, error) {
			return respond(r, 429, map[string]string{"Retry-After": "30"}, rateBody), nil
		})
		tr := newTestTransport(t, Config{Base: base, Retry: exactRetry})
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		start := time.Now()
		resp, err := post(t, tr, ctx, "http://llm.test/", `{}`)
		require.NoError(t, err)
		assert.Equal(t, 429, resp.StatusCode)
		assert.Equal(t, rateBody, readAll(t, resp))
		assert.Equal(t, 1, Attempts(resp))
		assert.Equal(t, time.Duration(0), time.Since(start), "got a wait, want the 429 at once")
	})
}

func TestTransportFollowsRateLimitHeaders(t *testing.T) {
	tests := []struct {
		name   string
		cfg    resilience.RateLimit
		header map[string]string
		want   time.Duration // when the second request goes
	}{
		{"OpenAI: no requests left", resilience.RateLimit{RequestsPerMinute: 60},
			map[string]string{"x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1m0s"},
			time.Second},
		{"OpenAI: tokens left for half of the next request", resilience.RateLimit{TokensPerMinute: 600},
			map[string]string{"x-ratelimit-remaining-tokens": "50", "x-ratelimit-reset-tokens": "55s"},
			5 * time.Second},
		{"Anthropic: no requests left, RFC 3339 reset", resilience.RateLimit{},
			map[string]string{"anthropic-ratelimit-requests-limit": "2", "anthropic-ratelimit-requests-remaining": "0",
				"anthropic-ratelimit-requests-reset": "2000-01-01T00:00:10Z"},
			5 * time.Second},
		{"nonsense: ignored", resilience.RateLimit{RequestsPerMinute: 60},
			map[string]string{"x-ratelimit-remaining-requests": "-1", "anthropic-ratelimit-tokens-remaining": "lots",
				"anthropic-ratelimit-requests-remaining": "zero", "x-ratelimit-reset-requests": "next tuesday"},
			0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				lim, err := resilience.NewRateLimiter(tt.cfg)
				require.NoError(t, err)
				base := newFakeBase(func(n int, r *http.Request) (*http.Response, error) {
					return respond(r, 200, tt.header, "ok"), nil
				})
				tr := newTestTransport(t, Config{Base: base, Limiter: lim, EstimateTokens: func([]byte) int { return 100 }})
				for range 2 {
					resp, err := post(t, tr, t.Context(), "http://llm.test/", `{}`)
					require.NoError(t, err)
					readAll(t, resp)
				}
				assert.Equal(t, []time.Duration{0, tt.want}, base.sent())
			})
		})
	}
}

func TestTransportReservesTheEstimatedTokens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim, err := resilience.NewRateLimiter(resilience.RateLimit{TokensPerMinute: 600})
		require.NoError(t, err)
		base := newFakeBase(func(n int, r *http.Request) (*http.Response, error) { return respond(r, 200, nil, "ok"), nil })
		var seen []string
		tr := newTestTransport(t, Config{Base: base, Limiter: lim, EstimateTokens: func(b []byte) int {
			seen = append(seen, string(b))
			return 10_000 // capped at the limiter's 600
		}})
		for range 2 {
			resp, err := post(t, tr, t.Context(), "http://llm.test/", `{"max_tokens":5}`)
			require.NoError(t, err)
			readAll(t, resp)
		}
		assert.Equal(t, []time.Duration{0, time.Minute}, base.sent())
		assert.Equal(t, []string{`{"max_tokens":5}`, `{"max_tokens":5}`}, seen)
	})
}

func TestTransportStreamWatchdog(t *testing.T) {
	tests := []struct {
		name        string
		first, idle time.Duration
		chunks      []time.Duration // a chunk "data: x\n\n" after each pause
		wantErr     error
		wantAt      time.Duration
		wantBytes   int64
	}{
		{"no first byte", 3 * time.Second, time.Second, nil, resilience.ErrFirstItemTimeout, 3 * time.Second, 0},
		{"stalls after two chunks", 3 * time.Second, 2 * time.Second, []time.Duration{time.Second, 1500 * time.Millisecond},
			resilience.ErrIdleTimeout, 4500 * time.Millisecond, 18},
		{"idle only: the first byte may take long", 0, 2 * time.Second, []time.Duration{time.Minute},
			resilience.ErrIdleTimeout, time.Minute + 2*time.Second, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var reqCtx context.Context
				base := newFakeBase(func(n int, r *http.Request) (*http.Response, error) {
					reqCtx = r.Context()
					ch := make(chan string)
					go func() {
						for _, d := range tt.chunks {
							time.Sleep(d)
							select {
							case ch <- "data: x\n\n":
							case <-r.Context().Done():
								return
							}
						}
					}()
					h := map[string]string{"Content-Type": "text/event-stream; charset=utf-8"}
					resp := respond(r, 200, h, "")
					resp.Body = &chanBody{ctx: r.Context(), ch: ch}
					return resp, nil
				})
				tr := newTestTransport(t, Config{Base: base, StreamFirstByteTimeout: tt.first, StreamIdleTimeout: tt.idle})
				start := time.Now()
				resp, err := post(t, tr, t.Context(), "http://llm.test/", `{"stream":true}`)
				require.NoError(t, err)
				buf := make([]byte, 1024)
				var got int64
				for {
					n, rerr := resp.Body.Read(buf)
					got += int64(n)
					if rerr != nil {
						err = rerr
						break
					}
				}
				assert.ErrorIs(t, err, tt.wantErr)
				assert.ErrorIs(t, err, resilience.ErrTimeout)
				var se *StreamError
				require.ErrorAs(t, err, &se)
				assert.Equal(t, tt.wantBytes, se.Received)
				assert.Equal(t, tt.wantBytes, got)
				assert.Equal(t, tt.wantAt, time.Since(start))
				assert.Contains(t, se.Error(), "llmhttp: stream stalled")
				assert.Error(t, reqCtx.Err(), "the stalled request must be cancelled")
				require.NoError(t, resp.Body.Close())
			})
		})
	}
}

func TestTransportStreamThatFinishesKeepsNoWatchdog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := newFakeBase(func(n int, r *http.Request) (*http.Response, error) {
			resp := respond(r, 200, map[string]string{"Content-Type": "text/event-stream"}, "data: a\n\ndata: [DONE]\n\n")
			return resp, nil
		})
		tr := newTestTransport(t, Config{Base: base, StreamFirstByteTimeout: time.Second, StreamIdleTimeout: time.Second})
		resp, err := post(t, tr, t.Context(), "http://llm.test/", `{}`)
		require.NoError(t, err)
		got, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		assert.Equal(t, "data: a\n\ndata: [DONE]\n\n", string(got))
		time.Sleep(time.Hour) // no timer may fire after the end, even before Close
		_, err = resp.Body.Read(make([]byte, 1))
		assert.Equal(t, io.EOF, err, "got %v after the stream ended, want io.EOF", err)
		require.NoError(t, resp.Body.Close())
	})
}

// The watchdog times only Reads blocked on the server: a consumer that
// takes far longer than the limits between its Reads (and before its first
// one) reads the whole stream, and a later stall is still caught exactly
// one idle limit after the blocked Read began.
func TestTransportStreamWatchdogIgnoresSlowConsumer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pauses := []time.Duration{0, 0, 1500 * time.Millisecond, 0} // server-side pause before each chunk
		base := newFakeBase(func(n int, r *http.Request) (*http.Response, error) {
			ch := make(chan string)
			go func() {
				for _, d := range pauses {
					time.Sleep(d)
					select {
					case ch <- "data: x\n\n":
					case <-r.Context().Done():
						return
					}
				}
				// Then the server stalls until the request is cancelled.
			}()
			resp := respond(r, 200, map[string]string{"Content-Type": "text/event-stream"}, "")
			resp.Body = &chanBody{ctx: r.Context(), ch: ch}
			return resp, nil
		})
		tr := newTestTransport(t, Config{Base: base, StreamFirstByteTimeout: time.Second, StreamIdleTimeout: 2 * time.Second})
		resp, err := post(t, tr, t.Context(), "http://llm.test/", `{"stream":true}`)
		require.NoError(t, err)
		buf := make([]byte, 9)
		var got int64
		for range pauses {
			time.Sleep(10 * time.Second) // the consumer is busy, far beyond both limits
			n, err := io.ReadFull(resp.Body, buf)
			require.NoError(t, err, "a slow consumer must not trip the watchdog")
			got += int64(n)
		}
		assert.Equal(t, int64(36), got)
		time.Sleep(10 * time.Second)
		start := time.Now()
		_, err = resp.Body.Read(buf)
		assert.ErrorIs(t, err, resilience.ErrIdleTimeout)
		assert.Equal(t, 2*time.Second, time.Since(start), "the stall counts from the blocked Read")
		var se *StreamError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, int64(36), se.Received)
		require.NoError(t, resp.Body.Close())
	})
}
