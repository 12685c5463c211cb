// Package llmtest is a fake LLM provider for offline tests: an HTTP server
// that speaks enough of the OpenAI API (chat completions, plain and
// streamed, and embeddings) and of the Anthropic Messages API (plain and
// streamed) for the real SDKs to parse its answers, and that fails on
// command.
//
// # Pointing an SDK at it
//
//	srv := llmtest.Start(t, llmtest.Config{}) // or NewServer, then Close
//
//	// github.com/openai/openai-go/v3
//	client := openai.NewClient(option.WithBaseURL(srv.URL+"/v1/"), option.WithAPIKey("test"),
//		option.WithHTTPClient(srv.Client()))
//	// github.com/anthropics/anthropic-sdk-go/v2
//	client := anthropic.NewClient(option.WithBaseURL(srv.URL), option.WithAPIKey("test"),
//		option.WithHTTPClient(srv.Client()))
//	// github.com/sashabaranov/go-openai
//	cfg := openai.DefaultConfig("test")
//	cfg.BaseURL, cfg.HTTPClient = srv.URL+"/v1", srv.Client()
//
// To test a resilient transport, put it over [Server.Transport] instead:
// &http.Client{Transport: wrap(srv.Transport())}.
//
// Replies are deterministic: by default the assistant echoes the last user
// message ([Echo]); [Config.Reply] computes any other text. Streams send one
// chunk per word. Usage counts a whitespace-separated word as a token.
//
// # Faults
//
// A [Fault] says what goes wrong with one request: an error status with
// Retry-After, retry-after-ms and x-should-retry headers and a
// provider-shaped JSON body; added latency; a hang until the client gives
// up; a slow first token; a stream cut mid-way, ended without its
// terminator, stalled, or carrying an in-band error event. Faults come from
// three places, in this order:
//
//   - a script, one fault per request in arrival order: [Server.Script];
//   - a function of the request, such as "every call to model X fails":
//     [Config.FaultFor];
//   - a seeded random draw: [Config.Rates] and [Config.Seed].
//
// For example, a 429 that must be waited out, then a 529, then successes:
//
//	err := srv.Script(llmtest.RateLimited(2*time.Second), llmtest.Overloaded())
//
// # Rate limits
//
// [Config.Limits] makes the server enforce requests and tokens per minute
// itself, answering 429 with Retry-After beyond them, and send the
// x-ratelimit-* (OpenAI) or anthropic-ratelimit-* headers that clients use
// to pace themselves.
//
// # Assertions
//
// [Server.Stats] counts requests per route, model and status, 429s, faults,
// abandoned requests, peak concurrency, and the X-Stainless-Retry-Count
// values the OpenAI and Anthropic SDKs send, so a test can assert that
// retries did not multiply: with the SDK's own retries off, Requests equals
// the attempts a resilient transport made, and SDKRetries is 0. A request
// is counted on arrival; its outcome (status, abandonment) is recorded when
// its handler returns, which [Server.WaitIdle] waits for.
//
// # Fake time
//
// With [Config.InMemory] the server listens on in-process pipes, which a
// testing/synctest bubble can wait on. Created inside the bubble, it runs on
// the bubble's fake clock: delays, hangs, Retry-After waits, rate-limit
// windows and client timeouts are exact and take no real time. Reach it
// through [Server.Transport] or [Server.Client].
//
// A Server is safe for concurrent use. [Server.Close] ends held requests
// and leaves no goroutine behind.
package llmtest
