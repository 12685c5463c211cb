package llmhttp_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/llmhttp"
)

// A flaky provider answers 503, then 429 with retry-after-ms, then the
// completion. The SDK (here a plain http.Client) sees one successful
// response; the transport made three attempts.
func ExampleNewTransport() {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			w.Header().Set("retry-after-ms", "20")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"error":{"type":"requests","code":"rate_limit_exceeded","message":"slow down"}}`)
		default:
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"choices":[{"message":{"content":"Hello!"}}]}`)
		}
	}))
	defer srv.Close()

	breaker, _ := resilience.NewBreaker(resilience.BreakerConfig{})
	t, err := llmhttp.NewTransport(llmhttp.Config{
		Base:           srv.Client().Transport, // nil means http.DefaultTransport
		Retry:          resilience.RetryPolicy{MaxAttempts: 4, BaseDelay: 10 * time.Millisecond},
		Breaker:        breaker,
		AttemptTimeout: 30 * time.Second,
	})
	if err != nil {
		panic(err)
	}
	client := &http.Client{Transport: t} // give this client to the SDK, with its retries off

	resp, err := client.Post(srv.URL+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}`))
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	fmt.Println("attempts:", llmhttp.Attempts(resp), "breaker:", breaker.State())
	// Output:
	// 200 {"choices":[{"message":{"content":"Hello!"}}]}
	// attempts: 3 breaker: CLOSED
}

// Classify can change one row of the default table: here a provider's 404
// for a model that is still being deployed is retried.
func ExampleDefaultClassify() {
	classify := func(a llmhttp.Attempt) llmhttp.Decision {
		if a.Response != nil && a.Response.StatusCode == http.StatusNotFound &&
			strings.Contains(string(a.Body), "model_not_found") {
			return llmhttp.Decision{Retry: true}
		}
		return llmhttp.DefaultClassify(a)
	}
	notFound := &http.Response{StatusCode: 404, Header: http.Header{}}
	fmt.Printf("%+v\n", classify(llmhttp.Attempt{Response: notFound, Body: []byte(`{"error":{"code":"model_not_found"}}`)}))
	fmt.Printf("%+v\n", classify(llmhttp.Attempt{Response: &http.Response{StatusCode: 503, Header: http.Header{}}}))
	// Output:
	// {Retry:true Failure:false Quota:false}
	// {Retry:true Failure:true Quota:false}
}
