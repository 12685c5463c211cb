package redisq

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resilience-go/resilience/internal/redistest"
)

// A note stands for one take, while fresh, and carries the time left
// until the earliest delay or lease runs out.
func TestIdleNotes(t *testing.T) {
	var d idle
	now := time.Unix(1000, 0)
	qs := []string{"a", "b"}
	if _, ok := d.take(qs, now); ok {
		t.Fatal("take without a note: got one")
	}
	d.note(qs, now, -1)
	d.note(qs, now, 3000) // 3 ms
	if w, ok := d.take(qs, now.Add(time.Millisecond)); !ok || w != 2*time.Millisecond {
		t.Fatalf("newest note: got %v, %v; want 2ms, true", w, ok)
	}
	if w, ok := d.take(qs, now.Add(time.Millisecond)); !ok || w != -1 {
		t.Fatalf("older note: got %v, %v; want -1 (no deadline), true", w, ok)
	}
	if _, ok := d.take(qs, now.Add(time.Millisecond)); ok {
		t.Fatal("a note was used twice")
	}
	d.note(qs, now, -1)
	if _, ok := d.take([]string{"a"}, now); ok {
		t.Fatal("a note of queues a,b stood for queue a alone")
	}
	if _, ok := d.take(qs, now.Add(idleFresh+time.Microsecond)); ok {
		t.Fatal("a stale note was used")
	}
	d.note(qs, now, 0) // something is due: a claim must look
	if _, ok := d.take(qs, now); ok {
		t.Fatal("a note with something due was kept")
	}
	d.note(qs, now, 1000)
	if _, ok := d.take(qs, now.Add(2*time.Millisecond)); ok {
		t.Fatal("a note whose deadline passed was used")
	}
	for i := range 2 * maxIdleNotes {
		d.note([]string{strconv.Itoa(i)}, now, -1)
		d.note(qs, now, -1)
	}
	if len(d.notes) > maxIdleNotes || len(d.notes[strings.Join(qs, "\x00")]) > maxIdleNotes {
		t.Fatalf("notes grew past %d: %d queue sets", maxIdleNotes, len(d.notes))
	}
}

// waitBlocked waits until n clients are blocked in BLPOP.
func waitBlocked(t *testing.T, rdb *redis.Client, n int) {
	t.Helper()
	for start := time.Now(); strings.Count(rdb.ClientList(context.Background()).Val(), "cmd=blpop") < n; time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%d claims did not block within 10s", n)
		}
	}
}

// A claim woken by an Enqueue takes and starts the task in one script: the
// wake token names the task, so the claim declares its key.
func TestWokenClaimStartsInOneScript(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := newClient(t, srv)
	b, _ := newBroker(t, rdb)
	// Load the scripts, so that no NOSCRIPT retry counts twice.
	mustEnqueue(t, b, "warm", "default", time.Time{})
	if _, _, err := b.Claim(ctxFor(t, 5*time.Second), []string{"default"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		tk, _, err := b.Claim(ctxFor(t, 10*time.Second), []string{"default"}, time.Minute)
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		got <- tk.ID
	}()
	waitBlocked(t, rdb, 1)
	before := scriptRuns(t, rdb)
	mustEnqueue(t, b, "t1", "default", time.Time{})
	if id := <-got; id != "t1" {
		t.Fatalf("claim got %q; want t1", id)
	}
	if n := scriptRuns(t, rdb) - before; n != 2 {
		t.Fatalf("enqueue and woken claim ran %d scripts; want 2 (enqueue, take that starts)", n)
	}
}

// A CompleteAndClaim that finds its queues empty lets the Claim after it
// block at once, without a take of its own; a task enqueued then is
// picked up all the same.
func TestClaimAfterEmptyCompleteAndClaimBlocksAtOnce(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := newClient(t, srv)
	b, _ := newBroker(t, rdb)
	qs := []string{"default"}
	if err := completeTakeScript.Load(context.Background(), rdb).Err(); err != nil {
		t.Fatalf("SCRIPT LOAD: %v", err) // else NOSCRIPT counts as a run
	}
	mustEnqueue(t, b, "t1", "default", time.Time{})
	tk, token, err := b.Claim(ctxFor(t, 5*time.Second), qs, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	before := scriptRuns(t, rdb)
	next, _, err := b.CompleteAndClaim(ctxFor(t, 5*time.Second), tk.ID, token, nil, time.Minute, qs, time.Minute)
	if err != nil || next != nil {
		t.Fatalf("CompleteAndClaim on an empty queue: %v, %v", next, err)
	}
	got := make(chan string, 1)
	go func() {
		tk, _, err := b.Claim(ctxFor(t, 10*time.Second), qs, time.Minute)
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		got <- tk.ID
	}()
	waitBlocked(t, rdb, 1)
	if n := scriptRuns(t, rdb) - before; n != 1 {
		t.Fatalf("CompleteAndClaim and the Claim before blocking ran %d scripts; want 1", n)
	}
	mustEnqueue(t, b, "t2", "default", time.Time{})
	if id := <-got; id != "t2" {
		t.Fatalf("claim got %q; want t2", id)
	}
}
