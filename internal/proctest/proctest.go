// Package proctest builds a helper program and runs numbered copies of it
// that a test can kill with SIGKILL and start again: the worker processes
// of fault tests and soaks.
package proctest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Build builds the main package pkg (an import path) into t's temp dir and
// returns the binary's path. Without a go command on PATH t is skipped.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("this test builds a helper program and needs the go command on PATH")
	}
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command(goBin, "build", "-o", bin, pkg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// Fleet runs numbered processes of one binary with the same arguments.
// Every process still running when the test ends is killed; when the test
// failed, the tail of every process's output is logged.
type Fleet struct {
	t      testing.TB
	bin    string
	args   []string
	logDir string
	mu     sync.Mutex
	procs  map[int]*exec.Cmd
	waits  map[int]chan struct{}
	starts int
}

// NewFleet returns a fleet of bin run with args.
func NewFleet(t testing.TB, bin string, args ...string) *Fleet {
	f := &Fleet{t: t, bin: bin, args: args, logDir: t.TempDir(),
		procs: map[int]*exec.Cmd{}, waits: map[int]chan struct{}{}}
	t.Cleanup(f.stopAll)
	return f
}

// Start starts process number i (replacing a dead one of that number).
func (f *Fleet) Start(i int) {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.starts++
	logf, err := os.Create(filepath.Join(f.logDir, fmt.Sprintf("proc%d.%d.log", i, f.starts)))
	if err != nil {
		f.t.Fatalf("process log: %v", err)
	}
	cmd := exec.Command(f.bin, f.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		f.t.Fatalf("start process %d: %v", i, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logf.Close()
		close(done)
	}()
	f.procs[i], f.waits[i] = cmd, done
}

// Kill stops process i with SIGKILL, as a crash would, and waits for it.
func (f *Fleet) Kill(i int) {
	f.mu.Lock()
	cmd, done := f.procs[i], f.waits[i]
	delete(f.procs, i)
	f.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

func (f *Fleet) stopAll() {
	f.mu.Lock()
	ids := make([]int, 0, len(f.procs))
	for i := range f.procs {
		ids = append(ids, i)
	}
	f.mu.Unlock()
	for _, i := range ids {
		f.Kill(i)
	}
	if f.t.Failed() {
		logs, _ := filepath.Glob(filepath.Join(f.logDir, "*.log"))
		for _, l := range logs {
			if b, _ := os.ReadFile(l); len(b) > 0 {
				if len(b) > 2000 {
					b = b[len(b)-2000:]
				}
				f.t.Logf("%s:\n%s", filepath.Base(l), b)
			}
		}
	}
}
