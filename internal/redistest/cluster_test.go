package redistest

import (
	"net"
	"strconv"
	"testing"
	"time"
)

// TestClusterBusPortsInTheSafeRange: each node's cluster bus listens on a
// port picked like its client port (below the kernel's ephemeral range and
// checked free), not on port+10000, which may fall in that range or on
// another test's port and make the node exit at start.
func TestClusterBusPortsInTheSafeRange(t *testing.T) {
	c := StartCluster(t, 3, Options{})
	for _, n := range c.Nodes {
		if n.busPort < 20000 || n.busPort >= 32000 {
			t.Fatalf("node %s: bus port %d; want one in [20000, 32000)", n.Addr, n.busPort)
		}
		conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(n.busPort)), time.Second)
		if err != nil {
			t.Fatalf("node %s: its bus port %d does not answer: %v", n.Addr, n.busPort, err)
		}
		_ = conn.Close()
	}
}
