package queue

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

// TestMemoryIndexesMatchAScan drives a memory broker through random
// operations of every kind (enqueue with and without delay, claim, progress,
// complete, fail, retry, release, cancel, lease and result expiry, pause)
// and after each one compares Stats and List with what a scan of every task
// gives, and the fifo's live count with the tasks waiting in it.
func TestMemoryIndexesMatchAScan(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 13))
		m := NewMemoryBroker()
		ctx := context.Background()
		queues := []string{"a", "b", "c"}
		held := map[string]string{} // id -> lease token
		base := time.Now()
		for i := range 3000 {
			q := queues[r.IntN(len(queues))]
			switch op := r.IntN(12); op {
			case 0, 1, 2:
				task := &Task{ID: fmt.Sprintf("t%d", r.IntN(400)), Name: "n", Queue: q,
					EnqueuedAt: base.Add(time.Duration(r.IntN(50)) * time.Millisecond)}
				if r.IntN(3) == 0 {
					task.NotBefore = time.Now().Add(time.Duration(r.IntN(3000)) * time.Millisecond)
				}
				_, _, err := m.Enqueue(ctx, task)
				must(t, err)
			case 3, 4:
				c, cancel := context.WithTimeout(ctx, time.Millisecond)
				task, token, err := m.Claim(c, []string{q}, time.Duration(1+r.IntN(3))*time.Second)
				cancel()
				if err == nil {
					held[task.ID] = token
				}
			case 5, 6, 7, 8:
				for id, token := range held {
					var err error
					switch op {
					case 5:
						err = m.Complete(ctx, id, token, nil, time.Duration(1+r.IntN(3))*time.Second)
					case 6:
						err = m.Fail(ctx, id, token, "x", time.Second)
					case 7:
						err = m.Retry(ctx, id, token, "x", time.Now().Add(time.Duration(r.IntN(2000))*time.Millisecond))
					default:
						if r.IntN(2) == 0 {
							err = m.Progress(ctx, id, token, Progress{Current: 1}, time.Second)
						} else {
							err = m.Release(ctx, id, token)
						}
					}
					if err == nil || op != 8 {
						delete(held, id)
					}
					break
				}
			case 9:
				if _, err := m.Cancel(ctx, fmt.Sprintf("t%d", r.IntN(400)), time.Duration(1+r.IntN(2))*time.Second); err != nil && err != ErrTaskNotFound {
					t.Fatal(err)
				}
			case 10:
				must(t, m.SetPaused(ctx, q, r.IntN(2) == 0))
			default:
				time.Sleep(time.Duration(r.IntN(700)) * time.Millisecond)
			}
			checkAgainstScan(t, m, i)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// checkAgainstScan compares Stats and List of m with a scan of its tasks.
func checkAgainstScan(t *testing.T, m *MemoryBroker, step int) {
	t.Helper()
	ctx := context.Background()
	got, err := m.Stats(ctx)
	must(t, err)
	m.mu.Lock()
	want := map[string]*QueueStats{}
	var all []*entry
	now := time.Now()
	for _, e := range m.tasks {
		all = append(all, e)
		s := want[e.t.Queue]
		if s == nil {
			s = &QueueStats{Queue: e.t.Queue}
			want[e.t.Queue] = s
		}
		switch e.t.State {
		case StatePending:
			if e.t.NotBefore.After(now) {
				s.Scheduled++
			} else {
				s.Pending++
			}
		case StateStarted, StateProcessing:
			s.Active++
		case StateRetry:
			s.Retry++
		case StateSuccess:
			s.Succeeded++
		case StateFailure:
			s.Failed++
		case StateRevoked:
			s.Revoked++
		}
	}
	for name, qi := range m.queues {
		if qi.paused {
			if want[name] == nil {
				want[name] = &QueueStats{Queue: name}
			}
			want[name].Paused = true
		}
	}
	for name, q := range m.ready {
		live := 0
		for _, e := range all {
			if e.t.Queue == name && (e.t.State == StatePending || e.t.State == StateRetry) && e.hi < 0 {
				live++
			}
		}
		if q.size != live {
			t.Fatalf("step %d: fifo %s counts %d live tasks, want %d", step, name, q.size, live)
		}
	}
	m.mu.Unlock()
	if len(got) != len(want) {
		t.Fatalf("step %d: Stats lists %d queues, want %d: %+v", step, len(got), len(want), got)
	}
	for _, s := range got {
		if w := want[s.Queue]; w == nil || *w != s {
			t.Fatalf("step %d: Stats %+v, want %+v", step, s, w)
		}
	}
	slices.SortFunc(all, func(a, b *entry) int {
		return cmp.Or(cmp.Compare(b.enq, a.enq), cmp.Compare(b.t.ID, a.t.ID))
	})
	opts := ListOptions{Offset: step % 7, Limit: 1 + step%40}
	if step%3 == 0 {
		opts.Queue = "b"
	}
	if step%2 == 0 {
		opts.State = States()[step%len(States())]
	}
	var wantIDs []string
	for _, e := range all {
		if (opts.Queue == "" || e.t.Queue == opts.Queue) && (opts.State == "" || e.t.State == opts.State) {
			wantIDs = append(wantIDs, e.t.ID)
		}
	}
	wantIDs = wantIDs[min(opts.Offset, len(wantIDs)):]
	wantIDs = wantIDs[:min(opts.Limit, len(wantIDs))]
	list, err := m.List(ctx, opts)
	must(t, err)
	gotIDs := make([]string, len(list))
	for i, task := range list {
		gotIDs[i] = task.ID
	}
	if !slices.Equal(gotIDs, wantIDs) {
		t.Fatalf("step %d: List(%+v) = %v, want %v", step, opts, gotIDs, wantIDs)
	}
}
