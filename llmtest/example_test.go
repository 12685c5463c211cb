package llmtest_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/resilience-go/resilience/llmtest"
)

const chat = `{"model":"gpt-test","messages":[{"role":"user","content":"hello from llmtest"}]}`

func ExampleNewServer() {
	srv, err := llmtest.NewServer(llmtest.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(chat))
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Choices []struct {
			Message struct{ Content string }
		}
		Usage struct {
			PromptTokens     int `json:"prompt_tokens"`
			CompletionTokens int `json:"completion_tokens"`
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Status)
	fmt.Println(out.Choices[0].Message.Content)
	fmt.Println(out.Usage.PromptTokens, out.Usage.CompletionTokens)
	// Output:
	// 200 OK
	// hello from llmtest
	// 3 3
}

func ExampleServer_Script() {
	srv, err := llmtest.NewServer(llmtest.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	// The first request is rate limited, the second overloaded, then all is well.
	if err := srv.Script(llmtest.RateLimited(2*time.Second), llmtest.Error(503)); err != nil {
		log.Fatal(err)
	}
	for range 3 {
		resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(chat))
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct{ Error struct{ Type string } }
		_ = json.Unmarshal(body, &e)
		fmt.Printf("%d retry-after=%q type=%q\n", resp.StatusCode, resp.Header.Get("Retry-After"), e.Error.Type)
	}
	// Output:
	// 429 retry-after="2" type="requests"
	// 503 retry-after="" type="server_error"
	// 200 retry-after="" type=""
}

func ExampleCutStream() {
	srv, err := llmtest.NewServer(llmtest.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	// Cut the connection after two words of the reply.
	if err := srv.Script(llmtest.CutStream(2)); err != nil {
		log.Fatal(err)
	}
	body := `{"model":"claude-test","max_tokens":50,"stream":true,` +
		`"messages":[{"role":"user","content":"one two three four"}]}`
	resp, err := http.Post(srv.URL+"/v1/messages", "application/json", strings.NewReader(body))
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var ev struct {
			Type  string
			Delta struct{ Text string }
		}
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			fmt.Println("(half an event)")
			continue
		}
		fmt.Printf("%s %q\n", ev.Type, ev.Delta.Text)
	}
	fmt.Println("error:", sc.Err())
	// Output:
	// message_start ""
	// content_block_start ""
	// ping ""
	// content_block_delta "one"
	// content_block_delta " two"
	// (half an event)
	// error: unexpected EOF
}

func ExampleServer_Stats() {
	srv, err := llmtest.NewServer(llmtest.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	// The OpenAI and Anthropic SDKs number their own retries in this header.
	for _, retry := range []string{"0", "1"} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader(chat))
		req.Header.Set("X-Stainless-Retry-Count", retry)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
	}
	st := srv.Stats()
	fmt.Println("requests:", st.Requests)
	fmt.Println("made by the SDK's own retries:", st.SDKRetries)
	fmt.Println("statuses:", st.ByStatus)
	// Output:
	// requests: 2
	// made by the SDK's own retries: 1
	// statuses: map[200:2]
}

func ExampleLimits() {
	srv, err := llmtest.NewServer(llmtest.Config{Limits: llmtest.Limits{RequestsPerMinute: 2}})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	for range 3 {
		resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(chat))
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode, "remaining:", resp.Header.Get("x-ratelimit-remaining-requests"))
	}
	fmt.Println("429s from the limit:", srv.Stats().LimitRejected)
	// Output:
	// 200 remaining: 1
	// 200 remaining: 0
	// 429 remaining: 0
	// 429s from the limit: 1
}

func ExampleConfig_faultFor() {
	// Every call to the primary model fails; the fallback model answers.
	srv, err := llmtest.NewServer(llmtest.Config{
		FaultFor: func(req *llmtest.Request) llmtest.Fault {
			if req.Model == "primary" {
				return llmtest.Error(503)
			}
			return llmtest.Fault{}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	for _, model := range []string{"primary", "fallback"} {
		body := fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"hi"}]}`, model)
		resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(model, resp.StatusCode)
	}
	// Output:
	// primary 503
	// fallback 200
}

// A FaultFor that draws from Request.Rand fails the same requests on every
// run, whatever order they arrive in: here each prompt gets a 503 with
// probability 1/2, and sending the prompts in the opposite order to a new
// server with the same seed fails the same ones.
func ExampleRequest_rand() {
	faults := func(order []string) map[string]int {
		srv, err := llmtest.NewServer(llmtest.Config{Seed: 42, FaultFor: func(req *llmtest.Request) llmtest.Fault {
			if req.Rand.Float64() < 0.5 {
				return llmtest.Error(http.StatusServiceUnavailable)
			}
			return llmtest.Fault{}
		}})
		if err != nil {
			log.Fatal(err)
		}
		defer srv.Close()
		status := map[string]int{}
		for _, p := range order {
			body := `{"model":"gpt-test","messages":[{"role":"user","content":"` + p + `"}]}`
			resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
			if err != nil {
				log.Fatal(err)
			}
			resp.Body.Close()
			status[p] = resp.StatusCode
		}
		return status
	}
	forward := faults([]string{"alpha", "beta", "gamma", "delta"})
	backward := faults([]string{"delta", "gamma", "beta", "alpha"})
	for _, p := range []string{"alpha", "beta", "gamma", "delta"} {
		fmt.Println(p, forward[p], backward[p])
	}
	// Output:
	// alpha 503 503
	// beta 503 503
	// gamma 200 200
	// delta 503 503
}
