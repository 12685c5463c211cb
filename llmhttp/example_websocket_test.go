package llmhttp_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/llmhttp"
)

// A WebSocket library (openai-go dials with github.com/coder/websocket)
// needs the 101 response's Body to be the connection itself, readable and
// writable. The transport hands it back untouched. Here a server switches
// to a line-echo protocol, as a WebSocket server would switch to frames.
func ExampleTransport_webSocket() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		rw.Flush()
		line, _ := rw.ReadString('\n')
		rw.WriteString(strings.ToUpper(line))
		rw.Flush()
	}))
	defer srv.Close()

	t, err := llmhttp.NewTransport(llmhttp.Config{
		Base:  srv.Client().Transport,
		Retry: resilience.RetryPolicy{MaxAttempts: 5}, // an upgrade gets one attempt whatever this says
	})
	if err != nil {
		panic(err)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/responses", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "echo")
	resp, err := t.RoundTrip(req)
	if err != nil {
		panic(err)
	}
	conn, ok := resp.Body.(io.ReadWriteCloser)
	fmt.Println(resp.StatusCode, "read-write body:", ok)
	defer conn.Close()
	io.WriteString(conn, "hello over the upgraded connection\n")
	echo, _ := bufio.NewReader(conn).ReadString('\n')
	fmt.Print(echo)
	// Output:
	// 101 read-write body: true
	// HELLO OVER THE UPGRADED CONNECTION
}
