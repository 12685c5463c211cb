package redisq

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resilience-go/resilience/internal/redistest"
	"github.com/resilience-go/resilience/queue"
)

// The environment that makes TestSchedulerChildProcess run a scheduler.
const (
	schedChildAddr   = "RESILIENCE_TEST_SCHEDULER_ADDR"
	schedChildPrefix = "RESILIENCE_TEST_SCHEDULER_PREFIX"
)

// TestSchedulerChildProcess is one scheduler process of
// TestSchedulersInThreeProcesses, which runs this test binary again with
// the environment set; it runs until killed. Without that environment it
// skips.
func TestSchedulerChildProcess(t *testing.T) {
	addr, prefix := os.Getenv(schedChildAddr), os.Getenv(schedChildPrefix)
	if addr == "" {
		t.Skip("runs only as a child process of TestSchedulersInThreeProcesses")
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	b := NewBroker(rdb, Options{Prefix: prefix})
	defer b.Close()
	s, err := queue.NewScheduler(queue.NewClient(b), queue.SchedulerConfig{Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add("tick", "@every 1s", "tick", nil); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready")
	_ = s.Run(context.Background()) // until SIGKILL
}

// Three scheduler processes run one entry "@every 1s" against one Redis
// for about 6.5 s; one of them is killed with SIGKILL half-way. Every tick
// while any scheduler ran gives exactly one task, run once: no duplicate,
// no gap, and no task with another id.
func TestSchedulersInThreeProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three scheduler processes for about 8 s")
	}
	srv := redistest.Start(t, redistest.Options{})
	rdb := newClient(t, srv)
	b, opts := newBroker(t, rdb)

	w, err := queue.NewWorker(b, queue.WorkerConfig{Concurrency: 4, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	runs := map[string]int{}
	w.Handle("tick", func(_ context.Context, task *queue.Task) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		runs[task.ID]++
		return nil, nil
	})
	wctx, stopWorker := context.WithCancel(context.Background())
	workerDone := make(chan error, 1)
	go func() { workerDone <- w.Run(wctx) }()
	defer func() {
		stopWorker()
		<-workerDone
	}()

	var procs []*exec.Cmd
	var exited []chan struct{}
	logs := make([]*lockedWriter, 3)
	for i := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSchedulerChildProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), schedChildAddr+"="+srv.Addr, schedChildPrefix+"="+opts.Prefix)
		logs[i] = &lockedWriter{}
		cmd.Stderr = logs[i]
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start scheduler %d: %v", i, err)
		}
		ready := make(chan bool, 1)
		done := make(chan struct{})
		go func() {
			sc := bufio.NewScanner(out)
			ok := false
			for sc.Scan() {
				if !ok && sc.Text() == "ready" {
					ok = true
					ready <- true
				}
			}
			if !ok {
				ready <- false
			}
			_ = cmd.Wait()
			close(done)
		}()
		procs, exited = append(procs, cmd), append(exited, done)
		select {
		case ok := <-ready:
			if !ok {
				t.Fatalf("scheduler %d exited before it was ready:\n%s", i, logs[i])
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("scheduler %d not ready after 30 s", i)
		}
	}
	kill := func(i int) {
		_ = procs[i].Process.Kill()
		<-exited[i]
	}
	defer func() {
		for i := range procs {
			kill(i)
		}
		if t.Failed() {
			for i, l := range logs {
				t.Logf("scheduler %d:\n%s", i, l)
			}
		}
	}()

	began := time.Now()
	time.Sleep(3200 * time.Millisecond)
	kill(0)
	killed := time.Now()
	time.Sleep(3300 * time.Millisecond)
	end := time.Now()
	kill(1)
	kill(2)

	// Wait until the worker has run every tick's task.
	want := 0
	for s := began.Truncate(time.Second).Add(time.Second); s.Before(end.Add(-300 * time.Millisecond)); s = s.Add(time.Second) {
		want++
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(runs)
		mu.Unlock()
		if n >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // a duplicate run would show by now
	mu.Lock()
	defer mu.Unlock()

	var ticks []time.Time
	for id, n := range runs {
		at, err := time.Parse("20060102T150405Z", strings.TrimPrefix(id, "sched:tick:"))
		if !strings.HasPrefix(id, "sched:tick:") || err != nil {
			t.Errorf("task %q is not a tick's task", id)
			continue
		}
		if n != 1 {
			t.Errorf("the task of tick %v ran %d times, want 1", at, n)
		}
		ticks = append(ticks, at)
	}
	slices.SortFunc(ticks, func(a, b time.Time) int { return a.Compare(b) })
	t.Logf("began %v, scheduler 0 killed at +%v, all killed at +%v; %d ticks: %v",
		began.Format("15:04:05.000"), killed.Sub(began).Round(time.Millisecond), end.Sub(began).Round(time.Millisecond), len(ticks), ticks)
	if len(ticks) < want {
		t.Fatalf("%d ticks, want at least %d (one per second from %v to %v)", len(ticks), want, began, end)
	}
	for i := 1; i < len(ticks); i++ {
		if d := ticks[i].Sub(ticks[i-1]); d != time.Second {
			t.Errorf("ticks %v and %v are %v apart, want 1s: a gap", ticks[i-1], ticks[i], d)
		}
	}
	if first := ticks[0]; first.After(began.Add(time.Second)) || first.Before(began) {
		t.Errorf("first tick %v, want the first whole second after %v", first, began)
	}
	if last := ticks[len(ticks)-1]; last.Before(end.Add(-1300*time.Millisecond)) || last.After(end) {
		t.Errorf("last tick %v, want within a second before the end %v", last, end)
	}
	for _, tick := range ticks {
		if tick.After(killed) && tick.Before(end.Add(-300*time.Millisecond)) {
			return // ticks went on after scheduler 0 died
		}
	}
	t.Errorf("no tick after scheduler 0 was killed at %v", killed)
}

// lockedWriter keeps a child's stderr, which the test may read while the
// child writes it.
type lockedWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
