package resilience

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// The model test runs Stream on random schedules under fake time and checks
// it against a reference computed independently here: which items are
// consumed (in order, exactly once), which error ends the stream, at which
// instant, and that the producer never runs more than Buffer items ahead.
//
// Times are counted in quarters of a second. Producer and consumer steps
// take whole seconds (multiples of 4 quarters), timeouts end on half
// seconds (2 mod 4) and the cancellation on 1 mod 4, so no two events that
// could race ever share an instant and the outcome is deterministic.

const quarter = 250 * time.Millisecond

var (
	errModelProduce = errors.New("model: producer failed")
	errModelConsume = errors.New("model: consumer failed")
)

type streamScenario struct {
	buffer      int
	gaps        []int // producer's wait before item i, in quarters
	tail        int   // producer's wait before returning, in quarters
	work        []int // consumer's time on item i, in quarters
	first, idle int   // timeouts in quarters; 0 means none
	cancelAt    int   // in quarters; -1 means never
	failAt      int   // the consumer fails on this item; -1 means never
	produceErr  error
}

type streamOutcome struct {
	consumed int
	err      error // a sentinel for errors.Is
	at       int   // quarters
}

// scenarioFrom decodes a scenario from arbitrary bytes (missing bytes read
// as zero), so the fuzzer can explore every field.
func scenarioFrom(data []byte) streamScenario {
	next := func(mod int) int {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return int(b) % mod
	}
	var s streamScenario
	s.buffer = 1 + next(5)
	n := next(25)
	for range n {
		s.gaps = append(s.gaps, 4*next(4))
		s.work = append(s.work, 4*next(4))
	}
	s.tail = 4 * next(4)
	if next(3) != 0 {
		s.first = 4*next(6) + 2
	}
	if next(3) != 0 {
		s.idle = 4*next(6) + 2
	}
	s.cancelAt = -1
	if next(3) == 0 {
		s.cancelAt = 4*next(60) + 1
	}
	s.failAt = -1
	if next(3) == 0 {
		s.failAt = next(n + 1) // n: never reached
	}
	if next(2) == 0 {
		s.produceErr = errModelProduce
	}
	return s
}

// expect is the reference model: a discrete-event simulation of a producer
// and a consumer joined by a queue of capacity buffer.
func (s streamScenario) expect() streamOutcome {
	n := len(s.gaps)
	received := make([]int, n) // when the consumer took item i
	tp, free := 0, 0           // producer's clock; when the consumer is next free
	// wait ends the consumer's wait [free, until) early on a timeout or the
	// cancellation, whichever comes first.
	wait := func(until int, first bool) (streamOutcome, bool) {
		limit, sentinel := s.idle, ErrIdleTimeout
		if first {
			limit, sentinel = s.first, ErrFirstItemTimeout
		}
		stop := streamOutcome{at: -1}
		if limit > 0 && until-free > limit {
			stop = streamOutcome{err: sentinel, at: free + limit}
		}
		if s.cancelAt >= free && s.cancelAt < until && (stop.at < 0 || s.cancelAt < stop.at) {
			stop = streamOutcome{err: context.Canceled, at: s.cancelAt}
		}
		return stop, stop.at >= 0
	}
	for i := range n {
		tp += s.gaps[i]
		if i >= s.buffer { // wait for a free slot
			tp = max(tp, received[i-s.buffer])
		}
		if out, stopped := wait(tp, i == 0); stopped {
			out.consumed = i
			return out
		}
		received[i] = max(free, tp)
		free = received[i] + s.work[i]
		if s.cancelAt > received[i] && s.cancelAt < free {
			return streamOutcome{consumed: i + 1, err: context.Canceled, at: s.cancelAt}
		}
		if i == s.failAt {
			return streamOutcome{consumed: i + 1, err: errModelConsume, at: free}
		}
	}
	end := tp + s.tail
	if out, stopped := wait(end, n == 0); stopped {
		out.consumed = n
		return out
	}
	return streamOutcome{consumed: n, err: s.produceErr, at: max(free, end)}
}

func runStreamModel(t *testing.T, s streamScenario) {
	t.Helper()
	want := s.expect()
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		if s.cancelAt >= 0 {
			time.AfterFunc(time.Duration(s.cancelAt)*quarter, cancel)
		}
		var (
			mu        sync.Mutex
			got       []int
			accepted  atomic.Int64
			started   atomic.Int64
			lateEmits atomic.Int64 // emits accepted after the stop
		)
		cfg := StreamConfig{Buffer: s.buffer, FirstItemTimeout: time.Duration(s.first) * quarter, IdleTimeout: time.Duration(s.idle) * quarter}
		start := time.Now()
		var err error
		var at time.Duration
		done := make(chan struct{})
		go func() {
			defer close(done)
			err = Stream(ctx, cfg,
				func(ctx context.Context, emit func(int) error) error {
					for i, gap := range s.gaps {
						if err := stSleep(ctx, time.Duration(gap)*quarter); err != nil {
							if emit(-1) == nil {
								lateEmits.Add(1)
							}
							return err
						}
						if err := emit(i); err != nil {
							return err
						}
						accepted.Add(1)
					}
					if err := stSleep(ctx, time.Duration(s.tail)*quarter); err != nil {
						return err
					}
					return s.produceErr
				},
				func(ctx context.Context, v int) error {
					started.Add(1)
					mu.Lock()
					got = append(got, v)
					mu.Unlock()
					if err := stSleep(ctx, time.Duration(s.work[v])*quarter); err != nil {
						return err
					}
					if v == s.failAt {
						return errModelConsume
					}
					return nil
				})
			at = time.Since(start)
		}()
		for finished := false; !finished; {
			synctest.Wait() // a quiescent instant: the counters are consistent
			if ahead := accepted.Load() - started.Load(); ahead > int64(s.buffer) {
				t.Fatalf("producer ran %d items ahead of the consumer, want at most Buffer=%d (scenario %+v)", ahead, s.buffer, s)
			}
			select {
			case <-done:
				finished = true
			default:
				time.Sleep(quarter)
			}
		}

		if want.err == nil && err != nil || want.err != nil && !errors.Is(err, want.err) {
			t.Errorf("error: got %v, want %v (scenario %+v)", err, want.err, s)
		}
		if at != time.Duration(want.at)*quarter {
			t.Errorf("returned at %v, want %v (scenario %+v)", at, time.Duration(want.at)*quarter, s)
		}
		if len(got) != want.consumed {
			t.Errorf("consumed %d items, want %d (scenario %+v)", len(got), want.consumed, s)
		}
		for i, v := range got {
			if v != i {
				t.Fatalf("consumed %v: item %d is %d, want each item once, in order", got, i, v)
			}
		}
		if n := lateEmits.Load(); n != 0 {
			t.Errorf("%d emits accepted after the stream stopped, want 0", n)
		}
	})
}

func TestStreamModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(2024, 7))
	for i := range 300 {
		data := make([]byte, 64)
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		s := scenarioFrom(data)
		t.Run(fmt.Sprint(i), func(t *testing.T) { runStreamModel(t, s) })
	}
}

func FuzzStreamModel(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 10, 1, 1, 2, 3, 0, 0, 3, 3, 1, 2, 0, 1, 1, 2, 1, 0, 0})
	f.Add([]byte{4, 24, 3, 0, 0, 3, 1, 1, 2, 2, 0, 0, 3, 3, 1, 2, 2, 1, 0, 2, 5, 1, 3, 0, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		runStreamModel(t, scenarioFrom(data))
	})
}
