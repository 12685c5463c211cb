package redisq

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resilience-go/resilience/internal/redistest"
	"github.com/resilience-go/resilience/queue"
)

// job mirrors the payload of internal/faultworker.
type job struct {
	N         int  `json:"n"`
	SleepMS   int  `json:"sleep_ms,omitempty"`
	Transient bool `json:"transient,omitempty"`
	Permanent bool `json:"permanent,omitempty"`
	Block     bool `json:"block,omitempty"`
}

// buildWorker builds internal/faultworker into t's temp dir and returns
// the binary's path. Tests that need it skip without a go command.
func buildWorker(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the fault tests build a worker program and need the go command on PATH")
	}
	bin := filepath.Join(t.TempDir(), "faultworker")
	cmd := exec.Command(goBin, "build", "-o", bin, "github.com/resilience-go/resilience/queue/redisq/internal/faultworker")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build faultworker: %v\n%s", err, out)
	}
	return bin
}

// fleet runs worker processes against one Redis and prefix.
type fleet struct {
	t      *testing.T
	bin    string
	args   []string
	logDir string
	mu     sync.Mutex
	procs  map[int]*exec.Cmd
	waits  map[int]chan struct{}
	starts int
}

func newFleet(t *testing.T, srv *redistest.Server, prefix string, concurrency int, lease time.Duration) *fleet {
	f := &fleet{
		t: t, bin: buildWorker(t), logDir: t.TempDir(),
		args: []string{"-addr", srv.Addr, "-prefix", prefix,
			"-concurrency", strconv.Itoa(concurrency), "-lease", lease.String()},
		procs: map[int]*exec.Cmd{}, waits: map[int]chan struct{}{},
	}
	t.Cleanup(f.stopAll)
	return f
}

// start starts worker number i (replacing a dead one of that number).
func (f *fleet) start(i int) {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.starts++
	logf, err := os.Create(filepath.Join(f.logDir, fmt.Sprintf("worker%d.%d.log", i, f.starts)))
	if err != nil {
		f.t.Fatalf("worker log: %v", err)
	}
	cmd := exec.Command(f.bin, f.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		f.t.Fatalf("start worker %d: %v", i, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logf.Close()
		close(done)
	}()
	f.procs[i], f.waits[i] = cmd, done
}

// kill stops worker i with SIGKILL, as a crash would, and waits for it.
func (f *fleet) kill(i int) {
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

func (f *fleet) stopAll() {
	f.mu.Lock()
	ids := make([]int, 0, len(f.procs))
	for i := range f.procs {
		ids = append(ids, i)
	}
	f.mu.Unlock()
	for _, i := range ids {
		f.kill(i)
	}
	if f.t.Failed() {
		logs, _ := filepath.Glob(filepath.Join(f.logDir, "*.log"))
		for _, l := range logs {
			if b, _ := os.ReadFile(l); len(b) > 0 {
				f.t.Logf("%s:\n%s", filepath.Base(l), tail(b, 2000))
			}
		}
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// enqueueJobs enqueues jobs and returns their ids.
func enqueueJobs(t *testing.T, c *queue.Client, jobs []job) []string {
	t.Helper()
	ctx := ctxFor(t, time.Minute)
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		task, err := c.Enqueue(ctx, "job", j)
		if err != nil {
			t.Fatalf("Enqueue job %d: %v", i, err)
		}
		ids[i] = task.ID
	}
	return ids
}

// waitDone waits for every task to be done, retrying through Redis
// outages, and returns them in order.
func waitDone(t *testing.T, c *queue.Client, ids []string, within time.Duration) []*queue.Task {
	t.Helper()
	ctx := ctxFor(t, within)
	out := make([]*queue.Task, len(ids))
	for i, id := range ids {
		for {
			task, err := c.Wait(ctx, id)
			if err == nil {
				out[i] = task
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("task %d (%s) not done within %v: last error %v", i, id, within, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return out
}

// executions returns how often each task's handler ran, across processes.
func executions(t *testing.T, rdb redis.UniversalClient, prefix string) map[string]int {
	t.Helper()
	m, err := rdb.HGetAll(ctxFor(t, 10*time.Second), "{"+prefix+"}:test:execs").Result()
	if err != nil {
		t.Fatalf("read executions: %v", err)
	}
	out := make(map[string]int, len(m))
	for id, v := range m {
		n, _ := strconv.Atoi(v)
		out[id] = n
	}
	return out
}
