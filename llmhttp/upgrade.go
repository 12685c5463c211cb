package llmhttp

import (
	"net/http"
	"strings"
	"time"
)

// isUpgrade reports whether req asks the server to switch protocols, as a
// WebSocket handshake does: an Upgrade header and the token "upgrade" in
// its Connection header (RFC 9110, section 7.8; tokens are compared
// without regard to case, and the header may list several, comma
// separated, in one or more lines).
func isUpgrade(req *http.Request) bool {
	if strings.TrimSpace(req.Header.Get("Upgrade")) == "" {
		return false
	}
	for _, line := range req.Header.Values("Connection") {
		for tok := range strings.SplitSeq(line, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}

// switched hands a 101 Switching Protocols response over as the base
// transport returned it: its Body is the connection itself (net/http makes
// it an io.ReadWriteCloser), so it gets no body wrapper, no stream watchdog
// and no classification, and no retry follows. The limiter still learns
// from its headers; the breaker, when there is one, counts it a success.
func (c *call) switched(resp *http.Response) {
	if resp.Header == nil {
		resp.Header = http.Header{}
	}
	c.t.updateLimiter(resp.Header, time.Now())
	resp.Request = c.req
	c.resp = resp
	c.retry = false
}
