package redistest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Cluster is a Redis Cluster of private servers for one test: masters
// only, no replicas, the 16,384 slots split evenly among them.
type Cluster struct {
	// Nodes are the cluster's servers; each can be killed and restarted.
	Nodes []*Server
	// Addrs are the nodes' host:port addresses, to seed a cluster client.
	Addrs []string
	tb    testing.TB
}

// StartCluster starts n private redis-servers in cluster mode, joins them
// with `redis-cli --cluster create` and waits until every node reports
// cluster_state:ok. The servers are stopped when tb ends. Without
// redis-server and redis-cli on PATH the test is skipped with an install
// hint, or fails when RESILIENCE_REQUIRE_REDIS=1. opts.Cluster is set.
func StartCluster(tb testing.TB, n int, opts Options) *Cluster {
	tb.Helper()
	if n < 3 {
		tb.Fatalf("redistest: StartCluster(%d): Redis Cluster needs at least 3 masters", n)
	}
	cli, err := exec.LookPath("redis-cli")
	if _, serr := exec.LookPath("redis-server"); err != nil || serr != nil {
		msg := "redis-server and redis-cli are needed for a Redis Cluster test; install Redis (apt-get install redis-server, brew install redis)"
		if os.Getenv("RESILIENCE_REQUIRE_REDIS") == "1" {
			tb.Fatal(msg + " (RESILIENCE_REQUIRE_REDIS=1 makes this a failure)")
		}
		tb.Skip(msg)
	}
	opts.Cluster = true
	c := &Cluster{tb: tb}
	for range n {
		s := Start(tb, opts)
		c.Nodes = append(c.Nodes, s)
		c.Addrs = append(c.Addrs, s.Addr)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.Command(cli, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	c.WaitOK(30 * time.Second)
	return c
}

// WaitOK waits until every node reports cluster_state:ok and knows every
// other node, and fails the test after d.
func (c *Cluster) WaitOK(d time.Duration) {
	c.tb.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		c.tb.Fatalf("redistest: %v", err)
	}
	deadline := time.Now().Add(d)
	var last string
	for {
		ok := true
		for _, s := range c.Nodes {
			host, port := splitAddr(s.Addr)
			out, err := exec.Command(cli, "-h", host, "-p", port, "cluster", "info").Output()
			info := string(out)
			if err != nil || !strings.Contains(info, "cluster_state:ok") ||
				!strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d", len(c.Nodes))) {
				ok, last = false, fmt.Sprintf("%s: %v %s", s.Addr, err, firstLine(info))
				break
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			c.tb.Fatalf("redistest: cluster not ok within %v: %s", d, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// NodeFor returns the node that serves the hash slot of key (a key with a
// {hash tag} maps to the tag's slot): the one node that answers a read of
// key itself instead of redirecting it with MOVED.
func (c *Cluster) NodeFor(key string) *Server {
	c.tb.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		c.tb.Fatalf("redistest: %v", err)
	}
	for _, s := range c.Nodes {
		h, p := splitAddr(s.Addr)
		out, err := exec.Command(cli, "-h", h, "-p", p, "exists", key).CombinedOutput()
		if err == nil && !strings.Contains(string(out), "MOVED") {
			return s
		}
	}
	c.tb.Fatalf("redistest: no node serves the slot of %q", key)
	return nil
}

func splitAddr(addr string) (host, port string) {
	i := strings.LastIndexByte(addr, ':')
	return addr[:i], addr[i+1:]
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[:i])
	}
	return s
}
