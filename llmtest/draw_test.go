package llmtest

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// TestRatesIgnoreArrivalOrder sends the same load twice, once in order
// and once from 8 goroutines in a shuffled order, and checks that every
// prompt met the same faults: the seeded draw depends on the request, not
// on how concurrent requests interleave. (With one generator shared in
// arrival order, the faults moved between prompts from run to run.)
func TestRatesIgnoreArrivalOrder(t *testing.T) {
	testDrawsIgnoreArrivalOrder(t, Config{Seed: 1, Rates: Rates{{P: 0.2, Fault: Error(429)}, {P: 0.1, Fault: Error(503)}}})
}

// TestRequestRandIgnoresArrivalOrder: a FaultFor that draws from
// Request.Rand gives every prompt the same faults in both orders too.
func TestRequestRandIgnoresArrivalOrder(t *testing.T) {
	testDrawsIgnoreArrivalOrder(t, Config{Seed: 1, FaultFor: func(req *Request) Fault {
		switch u := req.Rand.Float64(); {
		case u < 0.2:
			return Error(429)
		case u < 0.3:
			return Error(503)
		}
		return Fault{}
	}})
}

func testDrawsIgnoreArrivalOrder(t *testing.T, cfg Config) {
	t.Helper()
	const prompts, sends = 40, 4 // 4 sends of a prompt: the call and up to 3 retries
	var load []int
	for p := range prompts {
		for range sends {
			load = append(load, p)
		}
	}
	// run sends load with the given concurrency and returns each prompt's
	// statuses, sorted (identical requests in flight together may swap).
	run := func(load []int, workers int) map[int][]int {
		srv := Start(t, cfg)
		var mu sync.Mutex
		got := make(map[int][]int)
		next := make(chan int)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for p := range next {
					resp, err := post(t, srv, string(ChatCompletions), chatBody("gpt-test", fmt.Sprintf("prompt %d", p), false))
					status := -1
					if err == nil {
						status = resp.StatusCode
						resp.Body.Close()
					}
					mu.Lock()
					got[p] = append(got[p], status)
					mu.Unlock()
				}
			})
		}
		for _, p := range load {
			next <- p
		}
		close(next)
		wg.Wait()
		for _, s := range got {
			slices.Sort(s)
		}
		return got
	}
	inOrder := run(load, 1)
	shuffled := slices.Clone(load)
	rand.New(rand.NewPCG(2, 3)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	concurrent := run(shuffled, 8)

	faulted := 0
	for _, p := range slices.Sorted(maps.Keys(inOrder)) {
		if !slices.Equal(inOrder[p], concurrent[p]) {
			t.Errorf("prompt %d: got statuses %v in order but %v shuffled and concurrent; want the same", p, inOrder[p], concurrent[p])
		}
		for _, s := range inOrder[p] {
			if s != 200 {
				faulted++
			}
		}
	}
	// 160 requests at P=0.3: 48 expected; these bounds are > 4 standard deviations wide.
	if faulted < 24 || faulted > 72 {
		t.Errorf("got %d faults of %d requests at P=0.3, want about 48", faulted, len(load))
	}
}
