// Package redistest starts a private redis-server for tests, so tests that
// need Redis can also kill and restart it to test faults.
//
// Start looks for redis-server on PATH and runs it on a free loopback port
// in a temporary directory. Without the binary it falls back to the server
// at REDIS_ADDR (which cannot be killed: fault tests skip), and without that
// it skips the test with a message saying how to install Redis, unless
// RESILIENCE_REQUIRE_REDIS=1, which turns the skip into a failure.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resilience-go/resilience/internal/freeport"
)

// Options configure a private server.
type Options struct {
	// AppendOnly turns on the append-only file with appendfsync always, so a
	// SIGKILLed server restarts with every acknowledged write.
	AppendOnly bool
	// Cluster starts the server with cluster mode on (its node
	// configuration kept in its directory across restarts); see
	// [StartCluster], which joins such servers into a cluster.
	Cluster bool
	// Debug enables the DEBUG command (off by default since Redis 7), so a
	// test can stall the server with DEBUG SLEEP.
	Debug bool
}

// Server is a Redis server for one test.
type Server struct {
	// Addr is host:port.
	Addr string

	tb      testing.TB
	private bool
	opts    Options
	dir     string
	busPort int // the cluster bus port of a cluster node
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
}

// Start returns a Redis server for tb, stopped when tb ends.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if addr := os.Getenv("REDIS_ADDR"); addr != "" {
			return &Server{Addr: addr, tb: tb}
		}
		msg := "redis-server is not on PATH and REDIS_ADDR is not set; install Redis (apt-get install redis-server, brew install redis) or set REDIS_ADDR=host:port"
		if os.Getenv("RESILIENCE_REQUIRE_REDIS") == "1" {
			tb.Fatal(msg + " (RESILIENCE_REQUIRE_REDIS=1 makes this a failure)")
		}
		tb.Skip(msg)
	}
	s := &Server{tb: tb, private: true, opts: opts, dir: tb.TempDir()}
	port, err := freePort()
	if err != nil {
		tb.Fatalf("redistest: no free port: %v", err)
	}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if opts.Cluster {
		// A cluster node also listens on a bus port, port+10000 unless
		// set: that may be above the range freePort keeps clear (in the
		// kernel's ephemeral range, or another test's port), so pick it too.
		for s.busPort == 0 || s.busPort == port {
			if s.busPort, err = freePort(); err != nil {
				tb.Fatalf("redistest: no free port: %v", err)
			}
		}
	}
	if err := s.start(bin); err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	tb.Cleanup(s.stop)
	return s
}

// Private reports whether the server was started by Start (and so can be
// killed and restarted).
func (s *Server) Private() bool { return s.private }

func (s *Server) start(bin string) error {
	_, port, _ := net.SplitHostPort(s.Addr)
	args := []string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--dir", s.dir, "--daemonize", "no", "--loglevel", "warning"}
	if s.opts.AppendOnly {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	if s.opts.Cluster {
		args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000", "--cluster-port", strconv.Itoa(s.busPort))
	}
	if s.opts.Debug {
		args = append(args, "--enable-debug-command", "yes")
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = s.dir
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := ping(s.Addr); err == nil {
			return nil
		}
		select {
		case <-exited:
			return errors.New("redis-server exited at start")
		default:
		}
		if time.Now().After(deadline) {
			return errors.New("redis-server did not answer PING within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Kill stops the server with SIGKILL, as a crash would, and waits for it to
// exit. Tests on a shared REDIS_ADDR server are skipped.
func (s *Server) Kill() {
	s.tb.Helper()
	if !s.private {
		s.tb.Skip("redistest: cannot kill the shared server at REDIS_ADDR")
	}
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// Restart starts the server again on the same port and directory after
// Kill (with the append-only file, the data survives).
func (s *Server) Restart() {
	s.tb.Helper()
	s.Kill()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		s.tb.Fatalf("redistest: %v", err)
	}
	var last error
	for range 50 { // the port can take a moment to free up
		if last = s.start(bin); last == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.tb.Fatalf("redistest: restart: %v", last)
}

func (s *Server) stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Kill()
		<-exited
	}
}

// freePort returns a free loopback port outside the kernel's ephemeral
// range (see package freeport), so that no other test is handed the port
// of a server this one killed and will restart.
func freePort() (int, error) { return freeport.Pick() }

func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("unexpected reply %q", line)
	}
	return nil
}

// StartForExample starts a private redis-server for an Example function,
// which has no testing.TB: it returns the server's address and a function
// that stops it and removes its directory. It falls back to REDIS_ADDR
// (whose stop function does nothing) and returns an error when neither a
// redis-server binary nor REDIS_ADDR is there.
func StartForExample() (addr string, stop func(), err error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if addr := os.Getenv("REDIS_ADDR"); addr != "" {
			return addr, func() {}, nil
		}
		return "", nil, errors.New("redistest: redis-server is not on PATH and REDIS_ADDR is not set")
	}
	dir, err := os.MkdirTemp("", "redistest")
	if err != nil {
		return "", nil, err
	}
	port, err := freePort()
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", nil, err
	}
	s := &Server{private: true, dir: dir, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	if err := s.start(bin); err != nil {
		_ = os.RemoveAll(dir)
		return "", nil, err
	}
	return s.Addr, func() { s.stop(); _ = os.RemoveAll(dir) }, nil
}
