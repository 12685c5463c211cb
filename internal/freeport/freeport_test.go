package freeport

import (
	"net"
	"strconv"
	"testing"
)

// TestPickIsFreeAndOutsideTheEphemeralRange: the port can be listened on,
// and it is below the kernel's ephemeral range, so a listener on port 0
// elsewhere is never handed it.
func TestPickIsFreeAndOutsideTheEphemeralRange(t *testing.T) {
	for range 20 {
		port, err := Pick()
		if err != nil {
			t.Fatal(err)
		}
		if port < lo || port >= hi {
			t.Fatalf("Pick() = %d; want a port in [%d, %d)", port, lo, hi)
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			t.Fatalf("port %d from Pick is not free: %v", port, err)
		}
		_ = l.Close()
	}
}
