// Package llmhttp makes any Go LLM SDK resilient through its HTTP client.
//
// The SDKs for OpenAI (openai-go), Anthropic (anthropic-sdk-go) and
// sashabaranov/go-openai all accept a custom *http.Client. [NewTransport]
// returns an [http.RoundTripper] that, for each request, waits for a
// [resilience.RateLimiter], asks a [resilience.Breaker] (or one breaker per
// host and model from a [resilience.BreakerGroup]), bounds the wait for
// response headers, and retries what is worth retrying with jittered
// backoff and the server's own Retry-After:
//
//	limiter, _ := resilience.NewRateLimiter(resilience.RateLimit{RequestsPerMinute: 500, TokensPerMinute: 200_000})
//	breaker, _ := resilience.NewBreaker(resilience.BreakerConfig{})
//	t, err := llmhttp.NewTransport(llmhttp.Config{
//		Limiter:                limiter,
//		Breaker:                breaker,
//		AttemptTimeout:         30 * time.Second,
//		StreamFirstByteTimeout: 30 * time.Second,
//		StreamIdleTimeout:      15 * time.Second,
//	})
//	client := openai.NewClient(
//		option.WithHTTPClient(&http.Client{Transport: t}),
//		option.WithMaxRetries(0), // the transport retries; double retries multiply load
//	)
//
// [DefaultClassify] documents which outcomes are retried and which count
// against the breaker: a 429 is retried after the server's wait but never
// opens the breaker (quota is not health); its wait becomes a cooldown for
// every caller of the limiter only when the 429 speaks for the whole
// account (a rate-limit header says a bucket has 0 left, or the quota is
// exhausted); an exhausted quota trips the breaker; 408,
// 409, 5xx and 529 are retried and counted; other 4xx come back at once.
// Rate-limit headers (x-ratelimit-*, anthropic-ratelimit-*) keep the
// limiter in line with the server ([ParseLimitStatus]). A
// [resilience.AdaptiveLimiter] set as Config.Adaptive bounds the attempts
// in flight, learning from each: its limit halves on a 503, a 529, an
// attempt timeout, a 429 that reports an empty bucket or an answer slower
// than Config.AdaptiveLatency, and grows after runs of successes.
//
// When retries end on an HTTP error, the transport returns the last
// response unchanged, so the SDK reports its own typed error with the
// status, type and code; [Attempts] reads the attempt count the transport
// adds to every response. Transport-level failures (connection errors,
// attempt timeouts, an open breaker) come back as errors: a
// [*resilience.RetryError] with the attempt count.
//
// Streaming responses (text/event-stream) are returned as soon as their
// headers arrive; their body fails with a [*StreamError] when the stream
// stalls, instead of hanging. Stalls after the headers are not retried:
// part of the answer may already have been used.
//
// # WebSockets
//
// WebSocket connections pass through. An SDK that opens one (openai-go's
// Realtime and Responses-over-WebSocket connections, through
// github.com/coder/websocket) sends an upgrade request (Connection:
// Upgrade) through its http.Client. For such a request the transport:
//
//   - waits for the Limiter (one request; a handshake has no body, so no
//     tokens) and asks the breaker, as for any request: an open breaker
//     refuses the handshake at once;
//   - bounds the wait for the handshake's response with AttemptTimeout;
//   - makes exactly one attempt: a failed handshake (a 5xx, a 429, a
//     connection error, a timeout) comes back as it is, not retried, and
//     counts for the breaker as any attempt does, so the SDK's own
//     WebSocket recovery decides whether and when to dial again (with both
//     layers retrying, one dial would multiply into many handshakes);
//   - returns a 101 Switching Protocols response exactly as the base
//     transport gave it, with only [AttemptsHeader] added: its Body is the
//     connection itself, readable and writable, with no wrapper and no
//     stream watchdog.
//
// What flows over the connection after the 101 is the SDK's business: the
// transport does not see messages, does not rate-limit or time them, and
// does not reconnect a dropped connection.
package llmhttp
