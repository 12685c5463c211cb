package pgtest

import (
	"context"
	"testing"
	"time"
)

// TestServerKillRestart keeps a committed row across a SIGKILL of the
// whole server and a restart, and refuses connections while it is down.
func TestServerKillRestart(t *testing.T) {
	s := Start(t)
	pool := PoolURL(t, s.URL, 4)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)`); err != nil {
		t.Fatal(err)
	}
	s.Kill()
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	// (A table of this server: while it is down its free port may be taken
	// by the private server of a test running in parallel.)
	if _, err := pool.Exec(short, `SELECT n FROM kept`); err == nil {
		t.Fatal("a statement on a killed server: got nil error, want a connection error")
	}
	s.Restart()
	var n int
	if err := pool.QueryRow(ctx, `SELECT n FROM kept`).Scan(&n); err != nil || n != 42 {
		t.Fatalf("after restart: got %d, %v; want the committed 42", n, err)
	}
}

// TestKillLeavesNoBackend: every backend, not only the postmaster, is gone
// once Kill returns. PostgreSQL puts each backend in a process group of its
// own, so a backend left alive could still answer its client's next query
// after the server was "killed".
func TestKillLeavesNoBackend(t *testing.T) {
	s := Start(t)
	pool := PoolURL(t, s.URL, 4)
	ctx := context.Background()
	var backends []int
	for range 3 {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Release()
		var pid int
		if err := conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
			t.Fatal(err)
		}
		backends = append(backends, pid)
	}
	s.Kill()
	for _, pid := range backends {
		if anyAlive([]int{pid}) {
			t.Errorf("backend %d still runs after Kill returned", pid)
		}
	}
	s.Restart()
}
