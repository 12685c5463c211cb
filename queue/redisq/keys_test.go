package redisq

import (
	"fmt"
	"testing"
)

// TestQueueKeysCached: the keys of a queue are the same whether built or
// taken from the cache, past the cache's bound too.
func TestQueueKeysCached(t *testing.T) {
	k, err := newKeys("p")
	if err != nil {
		t.Fatal(err)
	}
	for i := range maxCachedQueues + 10 {
		name := fmt.Sprint("q", i)
		first, again := k.q(name), k.q(name)
		if first != again || first.ready != "{p}:queue:"+name+":ready" || first.idx[7] != "{p}:queue:"+name+":idx:REVOKED" {
			t.Fatalf("queue %s: got %+v then %+v", name, first, again)
		}
	}
	if n := k.qc.n.Load(); n != maxCachedQueues {
		t.Fatalf("cached %d queues, want the bound %d", n, maxCachedQueues)
	}
	var zero keys // the keys of a broker whose prefix was refused
	if got := zero.q("x").ready; got != "x:ready" {
		t.Fatalf("zero keys: got %q", got)
	}
}
