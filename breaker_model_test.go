package resilience

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// This file checks the Breaker against breakerModel, a deliberately naive
// reference state machine: a list of events instead of buckets, integer
// percentages instead of floats, one goroutine, no atomics. A byte string
// decodes into a configuration and a sequence of operations (calls that
// succeed, fail, panic or are cancelled, slow calls, trial calls held open
// across other operations, clock advances, Trip and Reset); after every
// operation the breaker's state, counters, errors and OnStateChange calls
// must match the model's. Time is synctest's fake clock.

// breakerModel is the reference state machine.
type breakerModel struct {
	threshold   int // consecutive failures that open; 0: off
	recovery    time.Duration
	halfOpenMax int
	ratePct     int // failure rate in percent; 0: off
	width       time.Duration
	minCalls    int
	slowCall    time.Duration

	now       time.Duration
	state     State
	gen       int
	fails     int
	openUntil time.Duration
	trials    int
	events    []modelEvent // outcomes in the window, oldest first
	changes   []string
}

type modelEvent struct {
	at     time.Duration
	failed bool
}

// modelCall is a call the model admitted.
type modelCall struct {
	gen   int
	start time.Duration
}

func (m *breakerModel) set(to State, openFor time.Duration) {
	if to != m.state {
		m.changes = append(m.changes, m.state.String()+">"+to.String())
	}
	m.state = to
	m.gen++
	m.fails, m.trials, m.events = 0, 0, nil
	if to == StateOpen {
		m.openUntil = m.now + openFor
	}
}

func (m *breakerModel) current() State {
	if m.state == StateOpen && m.now >= m.openUntil {
		m.set(StateHalfOpen, 0)
	}
	return m.state
}

func (m *breakerModel) admit() (modelCall, error) {
	switch m.current() {
	case StateOpen:
		return modelCall{}, ErrOpen
	case StateHalfOpen:
		if m.trials >= m.halfOpenMax {
			return modelCall{}, ErrHalfOpenLimit
		}
		m.trials++
	}
	return modelCall{gen: m.gen, start: m.now}, nil
}

func (m *breakerModel) finish(c modelCall, o callOutcome) {
	if o == callSuccess && m.slowCall > 0 && m.now-c.start > m.slowCall {
		o = callFailure
	}
	if c.gen != m.gen {
		return
	}
	switch m.state {
	case StateClosed:
		if o == callIgnored {
			return
		}
		trip := false
		if m.ratePct > 0 {
			m.events = append(m.events, modelEvent{m.now, o == callFailure})
			calls, failed := m.window()
			trip = calls >= m.minCalls && failed*100 >= m.ratePct*calls
		}
		if m.threshold > 0 {
			if o == callFailure {
				m.fails++
				trip = trip || m.fails >= m.threshold
			} else {
				m.fails = 0
			}
		}
		if trip {
			m.set(StateOpen, m.recovery)
		}
	case StateHalfOpen:
		m.trials--
		switch o {
		case callSuccess:
			m.set(StateClosed, 0)
		case callFailure:
			m.set(StateOpen, m.recovery)
		}
	}
}

// window counts the events whose bucket is one of the 10 newest.
func (m *breakerModel) window() (calls, failed int) {
	for _, e := range m.events {
		if m.now/m.width-e.at/m.width < windowBuckets {
			calls++
			if e.failed {
				failed++
			}
		}
	}
	return calls, failed
}

// modelOps names the operations, indexed by opcode.
var modelOps = [...]string{"ok", "fail", "panic", "cancel", "sleep", "slow", "hold", "release", "trip", "reset", "donectx", "tick"}

var errModel = errors.New("model: upstream failed")

// heldCall is a call running in its own goroutine until released.
type heldCall struct {
	mc      modelCall
	release chan callOutcome
	result  chan any // the error Do returned, or the recovered panic
}

// runBreakerModel decodes data and checks the breaker against the model. It
// must run in a synctest bubble.
func runBreakerModel(t *testing.T, data []byte) {
	next := func() int {
		if len(data) == 0 {
			return 0
		}
		v := int(data[0])
		data = data[1:]
		return v
	}
	cfg := BreakerConfig{
		FailureThreshold: next() % 5,
		RecoveryTimeout:  time.Duration(next()%5+1) * time.Second,
		HalfOpenMaxCalls: next() % 4,
		SlowCall:         [...]time.Duration{0, time.Second, 2500 * time.Millisecond}[next()%3],
	}
	m := &breakerModel{threshold: cfg.FailureThreshold, recovery: cfg.RecoveryTimeout, halfOpenMax: cfg.HalfOpenMaxCalls, slowCall: cfg.SlowCall}
	if rate := next() % 5; rate > 0 {
		m.ratePct = rate * 25
		cfg.FailureRate = float64(m.ratePct) / 100
		cfg.Window = [...]time.Duration{10 * time.Second, 5 * time.Second, 3*time.Second + 7}[next()%3]
		cfg.MinCalls = next() % 4
		m.width = (cfg.Window + windowBuckets - 1) / windowBuckets
		m.minCalls = cfg.MinCalls
		if m.minCalls == 0 {
			m.minCalls = DefaultMinCalls
		}
	} else if m.threshold == 0 {
		m.threshold = DefaultFailureThreshold
	}
	if m.halfOpenMax == 0 {
		m.halfOpenMax = DefaultHalfOpenMaxCalls
	}

	var log changeLog
	cfg.OnStateChange = log.record
	origin := time.Now()
	b, err := NewBreaker(cfg)
	if err != nil {
		t.Fatalf("NewBreaker(%+v): %v", cfg, err)
	}
	trace := []string{fmt.Sprintf("config %+v", cfg)}
	fatalf := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s\nafter: %s", fmt.Sprintf(format, args...), strings.Join(trace, "; "))
	}
	var held []*heldCall
	t.Cleanup(func() { // also after a failure: the bubble must not end with blocked goroutines
		for _, h := range held {
			h.release <- callSuccess
			<-h.result
		}
	})

	// checkErr compares what Do returned with what the model expects.
	checkErr := func(got any, want error) {
		t.Helper()
		if want == ErrOpen {
			var oe *BreakerOpenError
			if err, _ := got.(error); !errors.As(err, &oe) || !errors.Is(err, ErrOpen) {
				fatalf("Do: got %v, want a *BreakerOpenError", got)
			} else if wantUntil := origin.Add(m.openUntil); !oe.Until.Equal(wantUntil) {
				fatalf("BreakerOpenError.Until: got %v, want %v", oe.Until, wantUntil)
			}
			return
		}
		if got != any(want) {
			fatalf("Do: got %v, want %v", got, want)
		}
	}
	outcomeResult := func(o callOutcome, boom any) any {
		switch o {
		case callFailure:
			return errModel
		case callIgnored:
			return context.Canceled
		case callOutcome(3):
			return boom
		}
		return nil
	}
	// call runs fn through the breaker synchronously, recovering a panic.
	call := func(fn func(context.Context) error) (got any) {
		defer func() {
			if v := recover(); v != nil {
				got = v
			}
		}()
		return b.Do(context.Background(), fn)
	}
	outcomeFn := func(o callOutcome, boom any) func(context.Context) error {
		return func(context.Context) error {
			if o == callOutcome(3) {
				panic(boom)
			}
			err, _ := outcomeResult(o, boom).(error)
			return err
		}
	}

	// release ends held call i with outcome o (3: a panic).
	release := func(i int, o callOutcome) {
		t.Helper()
		h := held[i]
		held = append(held[:i], held[i+1:]...)
		h.release <- o
		synctest.Wait()
		if o == 3 {
			m.finish(h.mc, callFailure)
		} else {
			m.finish(h.mc, o)
		}
		if got, want := <-h.result, outcomeResult(o, "held boom"); got != want {
			fatalf("held Do: got %v, want %v", got, want)
		}
	}

	for step := 0; len(data) > 0 && step < 400; step++ {
		op, arg := next()%len(modelOps), next()
		trace = append(trace, fmt.Sprintf("%s(%d)", modelOps[op], arg))
		switch modelOps[op] {
		case "ok", "fail", "cancel", "panic":
			o := map[string]callOutcome{"ok": callSuccess, "fail": callFailure, "cancel": callIgnored, "panic": 3}[modelOps[op]]
			boom := fmt.Sprintf("boom %d", step)
			mc, want := m.admit()
			got := call(outcomeFn(o, boom))
			if want != nil {
				checkErr(got, want)
				break
			}
			if o == 3 {
				m.finish(mc, callFailure)
			} else {
				m.finish(mc, o)
			}
			if exp := outcomeResult(o, boom); got != exp {
				fatalf("Do: got %v, want %v", got, exp)
			}
		case "slow":
			d := time.Duration(arg%40) * 100 * time.Millisecond
			mc, want := m.admit()
			got := call(func(context.Context) error { time.Sleep(d); return nil })
			if want != nil {
				checkErr(got, want)
				break
			}
			m.now += d
			m.finish(mc, callSuccess)
			checkErr(got, nil)
		case "sleep":
			d := time.Duration(arg) * 100 * time.Millisecond
			time.Sleep(d)
			m.now += d
		case "tick":
			time.Sleep(time.Duration(arg))
			m.now += time.Duration(arg)
		case "hold":
			mc, want := m.admit()
			h := &heldCall{mc: mc, release: make(chan callOutcome), result: make(chan any, 1)}
			var admitted atomic.Bool
			go func() {
				h.result <- call(func(context.Context) error {
					admitted.Store(true)
					o := <-h.release
					return outcomeFn(o, "held boom")(nil)
				})
			}()
			synctest.Wait()
			if admitted.Load() {
				held = append(held, h)
			}
			if want != nil {
				if admitted.Load() {
					fatalf("hold: the breaker admitted a call the model rejects with %v", want)
				}
				checkErr(<-h.result, want)
				break
			}
			if !admitted.Load() {
				fatalf("hold: the breaker rejected a call the model admits: %v", <-h.result)
			}
		case "release":
			if len(held) > 0 {
				release(arg%len(held), callOutcome(arg/8%4))
			}
		case "trip":
			d := time.Duration(arg%8-1) * time.Second
			b.Trip(d)
			if d <= 0 {
				d = m.recovery
			}
			m.set(StateOpen, d)
		case "reset":
			b.Reset()
			m.set(StateClosed, 0)
		case "donectx":
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := b.Do(ctx, succeed); err != context.Canceled {
				fatalf("Do with a done ctx: got %v, want context.Canceled", err)
			}
		}
		checkBreakerAgainstModel(t, b, m, &log, origin, fatalf)
	}
	for len(held) > 0 {
		release(0, callSuccess)
		checkBreakerAgainstModel(t, b, m, &log, origin, fatalf)
	}
	if got := time.Since(origin); got != m.now {
		t.Fatalf("fake clock: got %v elapsed, model has %v", got, m.now)
	}
}

func checkBreakerAgainstModel(t *testing.T, b *Breaker, m *breakerModel, log *changeLog, origin time.Time, fatalf func(string, ...any)) {
	t.Helper()
	if got, want := b.State(), m.current(); got != want {
		fatalf("State: got %v, want %v", got, want)
	}
	c := b.Counts()
	want := BreakerCounts{State: m.state, ConsecutiveFailures: m.fails}
	switch m.state {
	case StateOpen:
		want.OpenUntil = origin.Add(m.openUntil)
	case StateHalfOpen:
		want.TrialCalls = m.trials
	case StateClosed:
		if m.ratePct > 0 {
			want.WindowCalls, want.WindowFailures = m.window()
		}
	}
	if !c.OpenUntil.Equal(want.OpenUntil) {
		fatalf("Counts().OpenUntil: got %v, want %v", c.OpenUntil, want.OpenUntil)
	}
	c.OpenUntil, want.OpenUntil = time.Time{}, time.Time{}
	if c != want {
		fatalf("Counts: got %+v, want %+v", c, want)
	}
	got := log.take()
	if strings.Join(got, ",") != strings.Join(m.changes, ",") {
		fatalf("OnStateChange calls: got %v, want %v", got, m.changes)
	}
	m.changes = nil
}

// modelSeeds are hand-written starts for the fuzzer: config bytes, then
// (opcode, argument) pairs. Opcodes: 0 ok, 1 fail, 2 panic, 3 cancel,
// 4 sleep, 5 slow, 6 hold, 7 release, 8 trip, 9 reset, 10 done ctx, 11 tick.
var modelSeeds = [][]byte{
	{2, 0, 1, 0, 0, 1, 0, 1, 0, 0, 0, 4, 10, 0, 0},                          // open, recover, close
	{1, 1, 2, 0, 0, 1, 0, 4, 20, 6, 0, 6, 0, 6, 0, 7, 8, 7, 0, 0, 0},        // half-open limit with held trials
	{3, 2, 1, 1, 0, 6, 0, 1, 0, 1, 0, 1, 0, 4, 30, 0, 0, 7, 8},              // stale failure after recovery
	{0, 0, 0, 0, 2, 0, 3, 1, 0, 1, 0, 0, 0, 4, 95, 1, 0, 1, 0, 0, 0},        // failure rate, expiry
	{0, 4, 3, 2, 0, 5, 11, 5, 30, 0, 0, 8, 3, 9, 0, 8, 0, 4, 50, 2, 0},      // slow calls, trip, reset
	{1, 2, 0, 0, 4, 1, 2, 2, 0, 11, 255, 4, 10, 11, 1, 10, 0, 3, 0, 2, 0},   // rate with threshold, ticks
	{4, 3, 3, 1, 3, 2, 1, 6, 0, 1, 0, 7, 16, 6, 0, 1, 0, 1, 0, 4, 9, 7, 25}, // held calls across generations
}

func FuzzBreakerModel(f *testing.F) {
	for _, s := range modelSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		synctest.Test(t, func(t *testing.T) { runBreakerModel(t, data) })
	})
}

// TestBreakerModel runs the model check on the seeds and on random
// sequences from fixed seeds, so plain go test explores it too.
func TestBreakerModel(t *testing.T) {
	for i, s := range modelSeeds {
		synctest.Test(t, func(t *testing.T) {
			t.Logf("seed %d", i)
			runBreakerModel(t, s)
		})
	}
	n := 300
	if testing.Short() {
		n = 30
	}
	for seed := range uint64(n) {
		r := rand.New(rand.NewPCG(seed, 0x6272656b))
		data := make([]byte, 8+r.IntN(300))
		for i := range data {
			data[i] = byte(r.UintN(256))
		}
		synctest.Test(t, func(t *testing.T) { runBreakerModel(t, data) })
		if t.Failed() {
			t.Fatalf("random sequence %d failed: %v", seed, data)
		}
	}
}
