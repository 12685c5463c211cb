// Command websocket shows openai-go v3's Responses API over a WebSocket
// going through an llmhttp transport: the handshake gets the transport's
// rate limiter, breaker and attempt timeout, and the upgraded connection
// comes back untouched, so the SDK talks over it as it would without the
// transport. A refused handshake reaches the server once: the transport
// does not retry it, the SDK's own WebSocket recovery decides (and, asked
// for 3 attempts after the server went down, makes exactly 3).
//
// It runs offline against a local server that speaks enough of the
// Responses WebSocket protocol: it answers each response.create with
// response.created, one response.output_text.delta per word, and
// response.completed.
//
//	go run ./websocket
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/llmhttp"
)

// Model is the model the demo asks for.
const Model = "gpt-realtime-demo"

// Turns are the prompts of the demo's conversation, one response.create
// each, over one connection.
var Turns = []string{"say hello over a websocket", "and once more, with feeling"}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context) error {
	srv := NewServer(0)
	defer srv.Close()
	fmt.Println("openai-go v3, Responses over WebSocket, through llmhttp:")
	res, err := Converse(ctx, srv.URL, Turns)
	if err != nil {
		return err
	}
	for i, text := range res.Texts {
		fmt.Printf("  turn %d: %q -> %q\n", i+1, Turns[i], text)
	}
	fmt.Printf("  events received: %d; handshakes the server saw: %d; breaker: %d success(es), %d failure(s)\n\n",
		res.Events, srv.Handshakes(), res.Breaker.WindowCalls-res.Breaker.WindowFailures, res.Breaker.WindowFailures)

	refusing := NewServer(http.StatusServiceUnavailable)
	defer refusing.Close()
	fmt.Println("The same dial against a server that refuses the handshake with a 503:")
	res, err = Converse(ctx, refusing.URL, Turns)
	if err == nil {
		return errors.New("websocket: the refused handshake succeeded")
	}
	fmt.Printf("  error: %v\n", err)
	fmt.Printf("  handshakes the server saw: %d (the transport does not retry an upgrade); breaker: %d failure(s)\n",
		refusing.Handshakes(), res.Breaker.WindowFailures)
	if refusing.Handshakes() != 1 {
		return fmt.Errorf("websocket: the refused handshake reached the server %d times, want 1", refusing.Handshakes())
	}

	flaky := NewFlakyServer(http.StatusServiceUnavailable, 1)
	defer flaky.Close()
	fmt.Println("\nopenai-go's own recovery, 3 attempts, after the server went down (503):")
	breaker, err := Redial(ctx, flaky.URL, 3)
	if err == nil {
		return errors.New("websocket: recovery from a server that is down succeeded")
	}
	fmt.Printf("  error: %v\n", err)
	fmt.Printf("  handshakes the server saw: %d (the first connection and the SDK's 3); breaker: %d failure(s)\n",
		flaky.Handshakes(), breaker.WindowFailures)
	return nil
}

// Redial connects to the server at baseURL, then asks openai-go to
// recover the connection with the given number of attempts, as after a
// dropped connection: the SDK's recovery decides how often to dial, the
// transport dials each time once. It returns recovery's error and the
// breaker's counts.
func Redial(ctx context.Context, baseURL string, attempts int) (resilience.BreakerCounts, error) {
	client, breaker, closeIdle, err := NewClient(baseURL)
	if err != nil {
		return resilience.BreakerCounts{}, err
	}
	defer closeIdle()
	conn, err := client.Responses.Connect(ctx, responses.ResponseConnectionOptions{})
	if err != nil {
		return breaker.Counts(), fmt.Errorf("websocket: connect: %w", err)
	}
	defer conn.Close()
	next, err := conn.Recover(ctx, responses.ResponseRecoveryOptions{MaxAttempts: attempts, RetryDelay: time.Millisecond})
	if err == nil {
		_ = next.Close()
	}
	return breaker.Counts(), err
}

// NewClient returns openai-go for the provider at baseURL, over an llmhttp
// transport with a breaker (which never opens: it only counts), a rate
// limiter and an attempt timeout, with the SDK's retries off; closeIdle
// closes the transport's idle connections.
func NewClient(baseURL string) (client openai.Client, breaker *resilience.Breaker, closeIdle func(), err error) {
	breaker, err = resilience.NewBreaker(resilience.BreakerConfig{FailureRate: 1, Window: time.Hour, MinCalls: 1 << 20})
	if err != nil {
		return client, nil, nil, err
	}
	limiter, err := resilience.NewRateLimiter(resilience.RateLimit{RequestsPerMinute: 600})
	if err != nil {
		return client, nil, nil, err
	}
	t, err := llmhttp.NewTransport(llmhttp.Config{
		Breaker:        breaker,
		Limiter:        limiter,
		AttemptTimeout: 10 * time.Second,
		Retry:          resilience.RetryPolicy{MaxAttempts: 5, BaseDelay: 10 * time.Millisecond},
		// Set, to show that they leave the upgraded connection alone: a
		// turn's first delta comes after the server's think time.
		StreamFirstByteTimeout: time.Millisecond,
		StreamIdleTimeout:      time.Millisecond,
	})
	if err != nil {
		return client, nil, nil, err
	}
	client = openai.NewClient(
		option.WithBaseURL(baseURL+"/v1/"),
		option.WithAPIKey("sk-demo"),
		option.WithHTTPClient(&http.Client{Transport: t}),
		option.WithMaxRetries(0),
	)
	return client, breaker, t.CloseIdleConnections, nil
}

// Result is what one conversation observed.
type Result struct {
	Texts   []string                 // the answer of each turn, from its deltas
	Events  int                      // server events received
	Breaker resilience.BreakerCounts // the breaker's counts at the end
}

// Converse connects openai-go's Responses WebSocket to the server at
// baseURL through an llmhttp transport with a breaker, a rate limiter and
// an attempt timeout, sends one response.create per turn, and collects
// each turn's text from its deltas until response.completed.
func Converse(ctx context.Context, baseURL string, turns []string) (res Result, err error) {
	client, breaker, closeIdle, err := NewClient(baseURL)
	if err != nil {
		return res, err
	}
	defer closeIdle()
	defer func() { res.Breaker = breaker.Counts() }() // once the connection is closed

	conn, err := client.Responses.Connect(ctx, responses.ResponseConnectionOptions{})
	if err != nil {
		return res, fmt.Errorf("websocket: connect: %w", err)
	}
	defer conn.Close()
	for _, prompt := range turns {
		err := conn.Create(ctx, responses.ResponsesClientEventResponseCreateParam{
			Model: Model,
			Input: responses.ResponsesClientEventResponseCreateInputUnionParam{OfString: openai.String(prompt)},
		})
		if err != nil {
			return res, fmt.Errorf("websocket: response.create: %w", err)
		}
		var text strings.Builder
	events:
		for {
			ev, err := conn.Recv(ctx)
			if err != nil {
				return res, fmt.Errorf("websocket: receiving: %w", err)
			}
			res.Events++
			switch ev.Type {
			case "response.output_text.delta":
				text.WriteString(ev.AsResponseOutputTextDelta().Delta)
			case "response.completed":
				break events
			case "error":
				return res, fmt.Errorf("websocket: the server sent an error event: %s", ev.RawJSON())
			}
		}
		res.Texts = append(res.Texts, text.String())
	}
	return res, nil
}
