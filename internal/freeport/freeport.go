// Package freeport picks loopback TCP ports for test servers that a test
// kills and restarts on the same port.
//
// A port taken from the kernel (listening on port 0) comes from its
// ephemeral range, which every other test process draws from too: while a
// killed server is down, another test's server or client may be handed its
// port, and the restarted server cannot have it back, or, worse, the test's
// clients reach the other server. Pick draws below that range instead, so
// only another Pick can collide, and checks that the port is free.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
)

// The range Pick draws from: below Linux's default ephemeral range
// (32768-60999) and above the ports services commonly use.
const (
	lo = 20000
	hi = 32000
)

// Pick returns a loopback TCP port in [20000, 32000) that was free a
// moment ago. It tries up to 100 random ports.
func Pick() (int, error) {
	var last error
	for range 100 {
		port := lo + rand.IntN(hi-lo)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			last = err
			continue
		}
		_ = l.Close()
		return port, nil
	}
	return 0, fmt.Errorf("freeport: no free port in [%d, %d) after 100 tries: %w", lo, hi, last)
}
