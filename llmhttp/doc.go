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
// against the breaker: a 429 is retried after the server's wait and
// becomes a cooldown for every caller of the limiter, but never opens the
// breaker (quota is not health); an exhausted quota trips the breaker; 408,
// 409, 5xx and 529 are retried and counted; other 4xx come back at once.
// Rate-limit headers (x-ratelimit-*, anthropic-ratelimit-*) keep the
// limiter in line with the server ([ParseLimitStatus]).
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
package llmhttp
