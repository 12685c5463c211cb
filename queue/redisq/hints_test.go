package redisq

import (
	"fmt"
	"testing"
	"time"

	"github.com/resilience-go/resilience/internal/redistest"
)

// TestClaimWithRightGuessIsOneScript: the first claim of a queue takes an
// id and starts its task (two scripts) and learns the ids now at the head;
// the next claim passes the head's task key along, and the take script
// starts that task itself: one script. A guess made wrong by another
// claimer costs the second script and nothing else.
func TestClaimWithRightGuessIsOneScript(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := newClient(t, srv)
	b, _ := newBroker(t, rdb)
	other, _ := newBroker(t, rdb)
	other.k = b.k // the same prefix, with hints of its own
	ctx := ctxFor(t, 10*time.Second)
	for _, id := range []string{"a", "b", "c", "d"} {
		mustEnqueue(t, b, id, "default", time.Time{})
	}
	claim := func(br *Broker, want string, scripts int) {
		t.Helper()
		before := scriptRuns(t, rdb)
		got, token, err := br.Claim(ctx, []string{"default"}, time.Minute)
		if err != nil || got.ID != want {
			t.Fatalf("Claim: got %v, %v; want task %s", got, err, want)
		}
		if runs := scriptRuns(t, rdb) - before; runs != scripts {
			t.Fatalf("Claim of %s ran %d scripts, want %d", want, runs, scripts)
		}
		if err := br.Complete(ctx, got.ID, token, nil, time.Minute); err != nil {
			t.Fatalf("Complete: %v", err)
		}
	}
	claim(b, "a", 2)     // no guess yet
	claim(b, "b", 1)     // guessed b
	claim(other, "c", 2) // takes c, which b's broker guesses next
	claim(b, "d", 2)     // its guess (c) was wrong: take d, then start it
}

// TestHintsSkipIDsHandedOut: set leaves out the ids handed out among the
// last 64 guesses (claims in flight guess them already), and takes an id
// back once 64 later guesses pushed it out.
func TestHintsSkipIDsHandedOut(t *testing.T) {
	var h hints
	h.set("q", []any{"a", "b"})
	if got := h.next("q"); got != "a" {
		t.Fatalf("next: got %q, want a", got)
	}
	h.set("q", []any{"a", "b", "c"})
	if got := h.next("q"); got != "b" {
		t.Fatalf("next after set: got %q, want b (a was handed out)", got)
	}
	for i := range 62 { // fill the window of the last 64 guesses
		h.set("x", []any{fmt.Sprint("x", i)})
		h.next("x")
	}
	h.set("q", []any{"a", "c"})
	if got := h.next("q"); got != "c" {
		t.Fatalf("next: got %q, want c (a is still among the last 64 guesses)", got)
	}
	// c took a's place in the window: a may be guessed again.
	h.set("q", []any{"a"})
	if got := h.next("q"); got != "a" {
		t.Fatalf("next: got %q, want a (pushed out of the window)", got)
	}
}
