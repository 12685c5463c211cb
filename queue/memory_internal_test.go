package queue

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestTimeHeapOrder checks the heap against a sorted slice under random
// pushes, removals and re-keys.
func TestTimeHeapOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h timeHeap
	var live []*entry
	for range 5000 {
		switch op := r.IntN(4); {
		case op < 2 || len(live) == 0:
			e := &entry{at: r.Int64N(1000), hi: -1}
			h.push(e)
			live = append(live, e)
		case op == 2:
			i := r.IntN(len(live))
			h.remove(live[i])
			if live[i].hi != -1 {
				t.Fatalf("removed entry has index %d, want -1", live[i].hi)
			}
			live = slices.Delete(live, i, i+1)
		default:
			e := live[r.IntN(len(live))]
			e.at = r.Int64N(1000)
			h.fix(e.hi)
		}
		for i, e := range h {
			if e.hi != i {
				t.Fatalf("entry at %d records index %d", i, e.hi)
			}
		}
		if len(live) > 0 {
			minAt := slices.MinFunc(live, func(a, b *entry) int { return int(a.at - b.at) }).at
			if got := h.top().at; got != minAt {
				t.Fatalf("top: got %d, want the minimum %d", got, minAt)
			}
		}
	}
}

func TestFIFOOrder(t *testing.T) {
	var q fifo
	var want []*entry
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 3000 {
		e := &entry{at: int64(i)}
		switch r.IntN(3) {
		case 0:
			q.pushBack(e)
			want = append(want, e)
		case 1:
			q.pushFront(e)
			want = append([]*entry{e}, want...)
		default:
			got := q.popFront()
			if len(want) == 0 {
				if got != nil {
					t.Fatalf("pop from empty: got %v, want nil", got)
				}
				continue
			}
			if got != want[0] {
				t.Fatalf("pop: got entry %d, want %d", got.at, want[0].at)
			}
			want = want[1:]
		}
		if q.size != len(want) {
			t.Fatalf("size: got %d, want %d", q.size, len(want))
		}
	}
}

// TestWeightedOrderShares checks that the first queue of a weighted draw
// follows the weights, and that every draw lists each queue once.
func TestWeightedOrderShares(t *testing.T) {
	w := &Worker{cfg: WorkerConfig{Queues: DefaultQueues()}, weights: []int{6, 3, 1}}
	const draws = 20000
	first := map[string]int{}
	for range draws {
		order := w.weightedOrder()
		sorted := slices.Sorted(slices.Values(order))
		if !slices.Equal(sorted, []string{"default", "high", "low"}) {
			t.Fatalf("draw %v does not list each queue once", order)
		}
		first[order[0]]++
	}
	for q, want := range map[string]float64{"high": 0.6, "default": 0.3, "low": 0.1} {
		got := float64(first[q]) / draws
		if got < want-0.02 || got > want+0.02 {
			t.Errorf("queue %s first in %.3f of draws, want %.2f ± 0.02", q, got, want)
		}
	}
}
