package proctest

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/internal/proctest/faultjob"
	"github.com/resilience-go/resilience/queue"
)

func TestFleetStartKill(t *testing.T) {
	bin, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("needs the sleep command")
	}
	f := NewFleet(t, bin, "60")
	f.Start(0)
	f.Start(1)
	f.mu.Lock()
	waits := f.waits[0]
	f.mu.Unlock()
	f.Kill(0)
	select {
	case <-waits:
	default:
		t.Fatal("Kill returned before the process ended")
	}
	f.Kill(0) // a dead number is a no-op
	f.Start(0)
	f.mu.Lock()
	n, starts := len(f.procs), f.starts
	f.mu.Unlock()
	if n != 2 || starts != 3 {
		t.Fatalf("got %d running after %d starts, want 2 after 3", n, starts)
	}
	// The rest are killed when the test ends (goleak checks the waiters).
}

func TestEnqueueAndWaitDone(t *testing.T) {
	b := queue.NewMemoryBroker()
	defer b.Close()
	c := queue.NewClient(b)
	w, err := queue.NewWorker(b, queue.WorkerConfig{Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	w.Handle("double", func(_ context.Context, task *queue.Task) (any, error) {
		return string(task.Payload) + string(task.Payload), nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = w.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	payloads := make([]int, 50)
	for i := range payloads {
		payloads[i] = i
	}
	ids := Enqueue(t, c, "double", payloads, 8, time.Minute)
	done := WaitDone(t, c, ids, time.Minute)
	for i, task := range done {
		want := fmt.Sprintf(`"%d%d"`, i, i)
		if task.ID != ids[i] || task.State != queue.StateSuccess || string(task.Result) != want {
			t.Fatalf("task %d: got id %s state %s result %s, want id %s SUCCESS %s",
				i, task.ID, task.State, task.Result, ids[i], want)
		}
	}
}

func TestSoakJobs(t *testing.T) {
	jobs := SoakJobs(1000, 3)
	var transient, permanent int
	for i, j := range jobs {
		if j.N != i || j.SleepMS != 3 || j.Block {
			t.Fatalf("job %d: got %+v", i, j)
		}
		if j.Transient {
			transient++
		}
		if j.Permanent {
			permanent++
		}
	}
	if transient != 200 || permanent != 10 {
		t.Fatalf("got %d transient and %d permanent of 1000, want 200 and 10", transient, permanent)
	}
}

// fatalTB records the first Fatalf and stops the goroutine, as testing.T
// does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper()                   {}
func (f *fatalTB) Logf(string, ...any)       {}
func (f *fatalTB) Fatalf(s string, a ...any) { f.msg = fmt.Sprintf(s, a...); panic(f) }

// checkSoak runs CheckSoak and returns its failure message, "" if it
// passed.
func checkSoak(t *testing.T, r SoakRun) (msg string) {
	tb := &fatalTB{TB: t}
	defer func() {
		if p := recover(); p != nil && p != any(tb) {
			panic(p)
		}
		msg = tb.msg
	}()
	CheckSoak(tb, r)
	return ""
}

func TestCheckSoak(t *testing.T) {
	ctx := context.Background()
	build := func() SoakRun {
		jobs := SoakJobs(200, 0)
		store := dlq.NewMemoryStore()
		r := SoakRun{Jobs: jobs, Executions: map[string]int{}, Kills: 2, Concurrency: 3, DeadLetters: store}
		for i, j := range jobs {
			task := &queue.Task{ID: fmt.Sprint("t", i), State: queue.StateSuccess}
			r.Executions[task.ID] = 1
			if j.Transient {
				r.Executions[task.ID] = 2
			}
			if j.Permanent {
				task.State = queue.StateFailure
				if err := store.Push(ctx, dlq.Entry{TaskID: task.ID, Queue: "q", TaskName: faultjob.Name}); err != nil {
					t.Fatal(err)
				}
			}
			r.Done = append(r.Done, task)
		}
		return r
	}
	if msg := checkSoak(t, build()); msg != "" {
		t.Fatalf("a clean soak failed: %s", msg)
	}
	r := build()
	r.Executions["t3"] += 6 // the 2 kills x 3 slots explain this many
	if msg := checkSoak(t, r); msg != "" {
		t.Fatalf("6 duplicates after 2 kills of 3 slots failed: %s", msg)
	}

	cases := map[string]func(*SoakRun){
		"duplicate executions":         func(r *SoakRun) { r.Executions["t3"] += 7 },
		"without a dead letter":        func(r *SoakRun) { r.Done[5].State = queue.StateFailure },
		"want SUCCESS or FAILURE":      func(r *SoakRun) { r.Done[7].State = queue.StatePending },
		"want SUCCESS or":              func(r *SoakRun) { r.Done[0].State = queue.StateSuccess }, // a permanent job succeeded
		"duplicate executions: got -1": func(r *SoakRun) { r.Executions["t1"] = 1 },               // a transient ran once
	}
	for want, mutate := range cases {
		r := build()
		mutate(&r)
		if msg := checkSoak(t, r); !strings.Contains(msg, want) {
			t.Errorf("got failure %q, want one mentioning %q", msg, want)
		}
	}
}
