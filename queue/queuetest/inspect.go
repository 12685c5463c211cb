package queuetest

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/resilience-go/resilience/queue"
)

// testHeaders checks that every broker stores Task.Headers and returns them
// unchanged from Enqueue, Get and Claim, and that Enqueue resets
// CancelRequested. It is not optional.
func testHeaders(t *testing.T, b queue.Broker) {
	h := map[string]string{
		"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"tenant":      "acme é",
		"empty":       "",
	}
	in := newTask("h1", "work", "default")
	in.Headers = maps.Clone(h)
	in.CancelRequested = true
	stored, _, err := b.Enqueue(ctxFor(t, waitFor), in)
	must(t, err, "Enqueue with headers")
	in.Headers["tenant"] = "changed after Enqueue"
	enqueue(t, b, "h2", "default")
	claimed, token := claim(t, b, longLease, "default")
	for what, got := range map[string]*queue.Task{"Enqueue": stored, "Get": get(t, b, "h1"), "Claim": claimed} {
		if !maps.Equal(got.Headers, h) {
			t.Fatalf("%s: got headers %v, want %v", what, got.Headers, h)
		}
		if got.CancelRequested {
			t.Fatalf("%s: got CancelRequested true, want it reset by Enqueue", what)
		}
	}
	must(t, b.Complete(ctxFor(t, waitFor), "h1", token, nil, time.Minute), "Complete")
	if got := get(t, b, "h1"); !maps.Equal(got.Headers, h) {
		t.Fatalf("after Complete: got headers %v, want %v", got.Headers, h)
	}
	if got := get(t, b, "h2"); len(got.Headers) != 0 {
		t.Fatalf("task enqueued without headers: got %v, want none", got.Headers)
	}
}

func inspector(t *testing.T, b queue.Broker) queue.Inspector {
	t.Helper()
	return optional[queue.Inspector](t, b, "queue.Inspector")
}

// statsOf returns the Stats entry of queue q, or a zero entry named q
// with ok false when Stats lists no such queue.
func statsOf(t *testing.T, in queue.Inspector, q string) (st queue.QueueStats, ok bool) {
	t.Helper()
	all, err := in.Stats(ctxFor(t, waitFor))
	must(t, err, "Stats")
	if !slices.IsSortedFunc(all, func(a, b queue.QueueStats) int { return cmpString(a.Queue, b.Queue) }) {
		t.Fatalf("Stats: got queues in the order %v, want sorted by name", all)
	}
	for _, s := range all {
		if s.Queue == q {
			return s, true
		}
	}
	return queue.QueueStats{Queue: q}, false
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// testStats puts tasks of one queue in every state and checks the counts
// after each kind of transition, and after results expire.
func testStats(t *testing.T, b queue.Broker) {
	in := inspector(t, b)
	ctx := ctxFor(t, waitFor)
	const q = "s"
	for _, id := range []string{"started", "processing", "retry", "success", "failure", "expired"} {
		enqueue(t, b, id, q)
	}
	tokens := map[string]string{}
	for range 5 {
		got, token := claim(t, b, longLease, q)
		tokens[got.ID] = token
	}
	claim(t, b, shortLease, q) // "expired": its lease runs out
	recoverUntil(t, b, "expired", 1)
	must(t, b.Progress(ctx, "processing", tokens["processing"], queue.Progress{Current: 1}, longLease), "Progress")
	must(t, b.Retry(ctx, "retry", tokens["retry"], "x", time.Now().Add(time.Hour)), "Retry")
	const kept = time.Second // results expire after the first check
	must(t, b.Complete(ctx, "success", tokens["success"], nil, kept), "Complete")
	must(t, b.Fail(ctx, "failure", tokens["failure"], "x", kept), "Fail")
	enqueue(t, b, "pending", q)
	for id, d := range map[string]time.Duration{"delayed": time.Hour, "due-soon": kept} {
		d1 := newTask(id, "work", q)
		d1.NotBefore = time.Now().Add(d)
		_, _, err := b.Enqueue(ctx, d1)
		must(t, err, "Enqueue("+id+")")
	}
	enqueue(t, b, "other", "s2")
	if c, ok := b.(queue.Canceler); ok {
		enqueue(t, b, "revoked", q)
		_, err := c.Cancel(ctx, "revoked", kept)
		must(t, err, "Cancel")
	}
	want := queue.QueueStats{Queue: q, Pending: 2, Scheduled: 2, Active: 2, Retry: 1, Succeeded: 1, Failed: 1}
	if _, ok := b.(queue.Canceler); ok {
		want.Revoked = 1
	}
	if got, _ := statsOf(t, in, q); got != want {
		t.Fatalf("Stats(%s): got %+v, want %+v", q, got, want)
	}
	if got, _ := statsOf(t, in, "s2"); got != (queue.QueueStats{Queue: "s2", Pending: 1}) {
		t.Fatalf("Stats(s2): got %+v, want one pending", got)
	}
	if _, ok := statsOf(t, in, "never-used"); ok {
		t.Fatal("Stats lists a queue that never held a task")
	}
	must(t, b.Complete(ctx, "started", tokens["started"], nil, time.Minute), "Complete(started)")
	want = queue.QueueStats{Queue: q, Pending: 3, Scheduled: 1, Active: 1, Retry: 1, Succeeded: 1}
	eventually(t, "results to expire and the delay of due-soon to pass", func() bool {
		got, _ := statsOf(t, in, q)
		return got == want
	})
}

// testList checks List's newest-first order across and within queues, its
// queue and state filters, and offset and limit paging.
func testList(t *testing.T, b queue.Broker) {
	in := inspector(t, b)
	base := time.Now().Truncate(time.Millisecond).Add(-time.Minute)
	put := func(id, q string, ms int) {
		task := newTask(id, "work", q)
		task.EnqueuedAt = base.Add(time.Duration(ms) * time.Millisecond)
		_, _, err := b.Enqueue(ctxFor(t, waitFor), task)
		must(t, err, "Enqueue("+id+")")
	}
	var l1, all []string // newest first
	for i := range 10 {
		put(fmt.Sprintf("a%d", i), "l1", 2*i)
		put(fmt.Sprintf("b%d", i), "l2", 2*i+1)
		l1 = append([]string{fmt.Sprintf("a%d", i)}, l1...)
		all = append([]string{fmt.Sprintf("b%d", i), fmt.Sprintf("a%d", i)}, all...)
	}
	put("tie-a", "l1", 100) // the same EnqueuedAt: the greater id first
	put("tie-b", "l1", 100)
	l1 = append([]string{"tie-b", "tie-a"}, l1...)
	all = append([]string{"tie-b", "tie-a"}, all...)
	if got, _ := claim(t, b, longLease, "l1"); got.ID != "a0" {
		t.Fatalf("Claim(l1): got %q, want a0", got.ID)
	}
	cases := []struct {
		opts queue.ListOptions
		want []string
	}{
		{queue.ListOptions{Queue: "l1", Limit: 100}, l1},
		{queue.ListOptions{Limit: 100}, all},
		{queue.ListOptions{Limit: 3}, all[:3]},
		{queue.ListOptions{Offset: 5, Limit: 4}, all[5:9]},
		{queue.ListOptions{Queue: "l1", Offset: 2, Limit: 3}, l1[2:5]},
		{queue.ListOptions{Queue: "l1", State: queue.StateStarted, Limit: 100}, []string{"a0"}},
		{queue.ListOptions{Queue: "l1", State: queue.StatePending, Offset: 10, Limit: 5}, []string{"a1"}},
		{queue.ListOptions{State: queue.StatePending, Limit: 100}, slices.DeleteFunc(slices.Clone(all), func(s string) bool { return s == "a0" })},
		{queue.ListOptions{State: queue.StateSuccess, Limit: 100}, nil},
		{queue.ListOptions{Queue: "no-such-queue", Limit: 100}, nil},
		{queue.ListOptions{Queue: "l2", Offset: 10, Limit: 100}, nil},
	}
	for _, tc := range cases {
		got, err := in.List(ctxFor(t, waitFor), tc.opts)
		must(t, err, fmt.Sprintf("List(%+v)", tc.opts))
		ids := make([]string, len(got))
		for i, task := range got {
			ids[i] = task.ID
		}
		if !slices.Equal(ids, tc.want) {
			t.Fatalf("List(%+v): got %v, want %v", tc.opts, ids, tc.want)
		}
	}
	got, err := in.List(ctxFor(t, waitFor), queue.ListOptions{Queue: "l1", State: queue.StateStarted, Limit: 1})
	must(t, err, "List(started)")
	if len(got) != 1 || got[0].Attempt != 1 || got[0].State != queue.StateStarted {
		t.Fatalf("List returns the tasks as they are: got %+v, want a0 STARTED at attempt 1", got)
	}
}
