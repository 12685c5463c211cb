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

// Config.Adaptive bounds the attempts in flight with a limit that learns
// from each attempt: the provider's 503 halves it, once per burst.
func ExampleConfig_adaptive() {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, `{"choices":[{"message":{"content":"Hello!"}}]}`)
	}))
	defer srv.Close()

	adaptive, _ := resilience.NewAdaptiveLimiter(resilience.AdaptiveConfig{Min: 1, Max: 16, Initial: 16,
		OnLimitChange: func(from, to int) { fmt.Printf("limit %d -> %d\n", from, to) }})
	t, err := llmhttp.NewTransport(llmhttp.Config{
		Base:            srv.Client().Transport,
		Retry:           resilience.RetryPolicy{BaseDelay: 10 * time.Millisecond},
		Adaptive:        adaptive,
		AdaptiveLatency: 10 * time.Second, // a slower answer would count as overload too
	})
	if err != nil {
		panic(err)
	}
	resp, err := (&http.Client{Transport: t}).Post(srv.URL+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"gpt-4o-mini"}`))
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, "after", llmhttp.Attempts(resp), "attempts; limit now", adaptive.Limit())
	// Output:
	// limit 16 -> 8
	// 200 after 2 attempts; limit now 8
}
