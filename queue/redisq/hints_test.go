package redisq

import (
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
