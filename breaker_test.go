package resilience

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var errUpstream = errors.New("test: upstream failed")

func succeed(context.Context) error { return nil }
func fail(context.Context) error    { return errUpstream }

// changeLog records OnStateChange calls.
type changeLog struct {
	mu  sync.Mutex
	got []string
}

func (l *changeLog) record(from, to State) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, from.String()+">"+to.String())
}

// take returns the changes recorded since the last take.
func (l *changeLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	got := l.got
	l.got = nil
	return got
}

func newTestBreaker(t *testing.T, cfg BreakerConfig) *Breaker {
	t.Helper()
	b, err := NewBreaker(cfg)
	require.NoError(t, err)
	return b
}

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{
		StateClosed: "CLOSED", StateOpen: "OPEN", StateHalfOpen: "HALF_OPEN", State(7): "State(7)",
	} {
		assert.Equal(t, want, s.String(), "State(%d).String()", int(s))
	}
}

func TestNewBreakerRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   BreakerConfig
		field string
	}{
		{"negative threshold", BreakerConfig{FailureThreshold: -1}, "FailureThreshold"},
		{"threshold too large", BreakerConfig{FailureThreshold: MaxFailureThreshold + 1}, "FailureThreshold"},
		{"negative recovery", BreakerConfig{RecoveryTimeout: -time.Second}, "RecoveryTimeout"},
		{"negative half-open calls", BreakerConfig{HalfOpenMaxCalls: -3}, "HalfOpenMaxCalls"},
		{"NaN rate", BreakerConfig{FailureRate: nanRate(), Window: time.Second}, "FailureRate"},
		{"negative rate", BreakerConfig{FailureRate: -0.5, Window: time.Second}, "FailureRate"},
		{"rate above 1", BreakerConfig{FailureRate: 1.5, Window: time.Second}, "FailureRate"},
		{"rate without window", BreakerConfig{FailureRate: 0.5}, "Window"},
		{"negative window", BreakerConfig{FailureRate: 0.5, Window: -time.Second}, "Window"},
		{"window without rate", BreakerConfig{Window: time.Second}, "Window"},
		{"negative min calls", BreakerConfig{FailureRate: 0.5, Window: time.Second, MinCalls: -1}, "MinCalls"},
		{"min calls without rate", BreakerConfig{MinCalls: 3}, "MinCalls"},
		{"negative slow call", BreakerConfig{SlowCall: -time.Millisecond}, "SlowCall"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := NewBreaker(tc.cfg)
			require.ErrorIs(t, err, ErrInvalidArgument)
			assert.Nil(t, b)
			assert.Contains(t, err.Error(), "BreakerConfig."+tc.field)
			assert.True(t, strings.HasPrefix(err.Error(), "resilience: "), "got %q, want the package prefix", err)
		})
	}
}

func nanRate() float64 {
	zero := 0.0
	return zero / zero
}

func TestBreakerDefaults(t *testing.T) {
	b := newTestBreaker(t, BreakerConfig{})
	assert.Equal(t, uint64(DefaultFailureThreshold), b.threshold)
	assert.Equal(t, DefaultRecoveryTimeout, b.recovery)
	assert.Equal(t, DefaultHalfOpenMaxCalls, b.halfOpenMax)
	assert.True(t, b.fast, "zero config must take the lock-free path")
	r := newTestBreaker(t, BreakerConfig{FailureRate: 1, Window: time.Second})
	assert.Equal(t, uint64(0), r.threshold, "rate mode with FailureThreshold 0: consecutive trigger off")
	assert.Equal(t, int64(DefaultMinCalls), r.minCalls)
}

// step is one action of a transition scenario and what it must produce.
type step struct {
	op      string // ok, fail, cancel, panic, sleep, trip, reset
	d       time.Duration
	wantErr error // for calls
	want    State
}

func runSteps(t *testing.T, b *Breaker, steps []step) {
	t.Helper()
	for i, s := range steps {
		var err error
		switch s.op {
		case "ok":
			err = b.Do(t.Context(), succeed)
		case "fail":
			err = b.Do(t.Context(), fail)
		case "cancel":
			err = b.Do(t.Context(), func(context.Context) error { return context.Canceled })
		case "sleep":
			time.Sleep(s.d)
		case "trip":
			b.Trip(s.d)
		case "reset":
			b.Reset()
		default:
			t.Fatalf("step %d: unknown op %q", i, s.op)
		}
		if s.wantErr != nil {
			assert.ErrorIs(t, err, s.wantErr, "step %d (%s)", i, s.op)
		} else {
			assert.NoError(t, err, "step %d (%s)", i, s.op)
		}
		assert.Equal(t, s.want, b.State(), "step %d (%s): state", i, s.op)
	}
}

func TestBreakerTransitions(t *testing.T) {
	failN := func(n int, final State) []step {
		s := make([]step, n)
		for i := range s {
			s[i] = step{op: "fail", wantErr: errUpstream, want: StateClosed}
		}
		s[n-1].want = final
		return s
	}
	cat := func(parts ...[]step) []step {
		var all []step
		for _, p := range parts {
			all = append(all, p...)
		}
		return all
	}
	for _, tc := range []struct {
		name    string
		cfg     BreakerConfig
		steps   []step
		changes []string
	}{
		{"closed stays closed below the threshold", BreakerConfig{},
			cat(failN(4, StateClosed), []step{{op: "ok", want: StateClosed}}, failN(4, StateClosed)), nil},
		{"threshold consecutive failures open", BreakerConfig{},
			cat(failN(5, StateOpen), []step{{op: "ok", wantErr: ErrOpen, want: StateOpen}}),
			[]string{"CLOSED>OPEN"}},
		{"open until exactly RecoveryTimeout", BreakerConfig{FailureThreshold: 1, RecoveryTimeout: 10 * time.Second},
			cat(failN(1, StateOpen), []step{
				{op: "sleep", d: 10*time.Second - time.Nanosecond, want: StateOpen},
				{op: "ok", wantErr: ErrOpen, want: StateOpen},
				{op: "sleep", d: time.Nanosecond, want: StateHalfOpen},
			}), []string{"CLOSED>OPEN", "OPEN>HALF_OPEN"}},
		{"half-open success closes", BreakerConfig{FailureThreshold: 2, RecoveryTimeout: time.Second},
			cat(failN(2, StateOpen), []step{
				{op: "sleep", d: time.Second, want: StateHalfOpen},
				{op: "ok", want: StateClosed},
			}, failN(1, StateClosed)), []string{"CLOSED>OPEN", "OPEN>HALF_OPEN", "HALF_OPEN>CLOSED"}},
		{"half-open failure reopens for a full timeout", BreakerConfig{FailureThreshold: 1, RecoveryTimeout: time.Second},
			cat(failN(1, StateOpen), []step{
				{op: "sleep", d: 3 * time.Second, want: StateHalfOpen},
				{op: "fail", wantErr: errUpstream, want: StateOpen},
				{op: "sleep", d: time.Second - 1, want: StateOpen},
				{op: "sleep", d: 1, want: StateHalfOpen},
			}), []string{"CLOSED>OPEN", "OPEN>HALF_OPEN", "HALF_OPEN>OPEN", "OPEN>HALF_OPEN"}},
		{"the lazy move happens on a call", BreakerConfig{FailureThreshold: 1, RecoveryTimeout: time.Second},
			cat(failN(1, StateOpen), []step{
				{op: "sleep", d: time.Hour, want: StateHalfOpen},
				{op: "ok", want: StateClosed},
			}), []string{"CLOSED>OPEN", "OPEN>HALF_OPEN", "HALF_OPEN>CLOSED"}},
		{"cancelled calls are not counted", BreakerConfig{FailureThreshold: 2, RecoveryTimeout: time.Second},
			cat(failN(1, StateClosed), []step{
				{op: "cancel", wantErr: context.Canceled, want: StateClosed},
				{op: "cancel", wantErr: context.Canceled, want: StateClosed},
			}, failN(1, StateOpen), []step{
				{op: "sleep", d: time.Second, want: StateHalfOpen},
				{op: "cancel", wantErr: context.Canceled, want: StateHalfOpen},
			}), []string{"CLOSED>OPEN", "OPEN>HALF_OPEN"}},
		{"trip and reset", BreakerConfig{RecoveryTimeout: 5 * time.Second}, []step{
			{op: "trip", d: 2 * time.Second, want: StateOpen},
			{op: "ok", wantErr: ErrOpen, want: StateOpen},
			{op: "sleep", d: 2 * time.Second, want: StateHalfOpen},
			{op: "trip", d: 0, want: StateOpen},
			{op: "sleep", d: 5*time.Second - 1, want: StateOpen},
			{op: "trip", d: -time.Second, want: StateOpen},
			{op: "sleep", d: 5*time.Second - 1, want: StateOpen},
			{op: "reset", want: StateClosed},
			{op: "reset", want: StateClosed},
			{op: "ok", want: StateClosed},
		}, []string{"CLOSED>OPEN", "OPEN>HALF_OPEN", "HALF_OPEN>OPEN", "OPEN>CLOSED"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var log changeLog
				tc.cfg.OnStateChange = log.record
				b := newTestBreaker(t, tc.cfg)
				runSteps(t, b, tc.steps)
				assert.Equal(t, tc.changes, log.take(), "state changes")
			})
		})
	}
}

func TestBreakerOpenErrorSaysUntilWhen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		b := newTestBreaker(t, BreakerConfig{FailureThreshold: 1, RecoveryTimeout: 30 * time.Second})
		time.Sleep(time.Second)
		require.ErrorIs(t, b.Do(t.Context(), fail), errUpstream)
		ran := false
		err := b.Do(t.Context(), func(context.Context) error { ran = true; return nil })
		assert.False(t, ran, "fn ran while the breaker was open")
		var oe *BreakerOpenError
		require.ErrorAs(t, err, &oe)
		require.ErrorIs(t, err, ErrOpen)
		want := start.Add(31 * time.Second)
		assert.True(t, oe.Until.Equal(want), "Until: got %v, want %v", oe.Until, want)
		assert.Equal(t, "resilience: circuit breaker is open until "+want.Format(time.RFC3339Nano), err.Error())
		assert.True(t, b.Counts().OpenUntil.Equal(want), "Counts().OpenUntil: got %v, want %v", b.Counts().OpenUntil, want)
	})
}

func TestBreakerDoneContextDoesNotRun(t *testing.T) {
	b := newTestBreaker(t, BreakerConfig{FailureThreshold: 1})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ran := false
	err := b.Do(ctx, func(context.Context) error { ran = true; return nil })
	assert.Equal(t, context.Canceled, err, "got %v, want ctx.Err() itself", err)
	assert.False(t, ran)
	_, err = Execute(ctx, Pipeline(b), func(context.Context) (int, error) { ran = true; return 1, nil })
	assert.ErrorIs(t, err, context.Canceled)
	assert.False(t, ran)
	assert.Equal(t, StateClosed, b.State())
	assert.ErrorIs(t, b.Do(t.Context(), nil), ErrInvalidArgument)
}

func TestBreakerPanicCountsAndRepanics(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  BreakerConfig
	}{
		{"fast path", BreakerConfig{FailureThreshold: 2}},
		{"slow-call path", BreakerConfig{FailureThreshold: 2, SlowCall: time.Second}},
		{"window path", BreakerConfig{FailureThreshold: 2, FailureRate: 1, Window: time.Minute, MinCalls: 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newTestBreaker(t, tc.cfg)
				boom := errors.New("boom")
				panicking := func(context.Context) error { panic(boom) }
				for i, want := range []State{StateClosed, StateOpen} {
					got := catchPanic(func() { _ = b.Do(t.Context(), panicking) })
					assert.Equal(t, boom, got, "call %d: got panic %v, want the original value", i)
					assert.Equal(t, want, b.State(), "after panic %d", i+1)
				}
				time.Sleep(DefaultRecoveryTimeout)
				got := catchPanic(func() { _, _ = Execute(t.Context(), Pipeline(b), func(context.Context) (int, error) { panic(boom) }) })
				assert.Equal(t, boom, got)
				assert.Equal(t, StateOpen, b.State(), "a panicking trial must reopen")
			})
		})
	}
}

func catchPanic(f func()) (v any) {
	defer func() { v = recover() }()
	f()
	return nil
}

func TestBreakerIsFailureOverride(t *testing.T) {
	errClient := errors.New("400 bad request")
	b := newTestBreaker(t, BreakerConfig{
		FailureThreshold: 2,
		IsFailure:        func(err error) bool { return !errors.Is(err, errClient) },
	})
	client := func(context.Context) error { return errClient }
	canceled := func(context.Context) error { return context.Canceled }
	require.ErrorIs(t, b.Do(t.Context(), fail), errUpstream)
	for range 5 {
		require.ErrorIs(t, b.Do(t.Context(), client), errClient)
	}
	assert.Equal(t, 1, b.Counts().ConsecutiveFailures, "ignored errors neither count nor reset")
	require.ErrorIs(t, b.Do(t.Context(), canceled), context.Canceled)
	assert.Equal(t, StateOpen, b.State(), "this IsFailure counts context.Canceled")
}

func TestBreakerSlowCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log changeLog
		b := newTestBreaker(t, BreakerConfig{FailureThreshold: 2, SlowCall: 2 * time.Second, RecoveryTimeout: time.Minute, OnStateChange: log.record})
		sleepOK := func(d time.Duration) func(context.Context) error {
			return func(context.Context) error { time.Sleep(d); return nil }
		}
		require.NoError(t, b.Do(t.Context(), sleepOK(2*time.Second)), "a slow call still returns its nil")
		assert.Equal(t, 0, b.Counts().ConsecutiveFailures, "exactly SlowCall is not slow")
		require.NoError(t, b.Do(t.Context(), sleepOK(2*time.Second+1)))
		assert.Equal(t, 1, b.Counts().ConsecutiveFailures, "longer than SlowCall counts as a failure")
		require.NoError(t, b.Do(t.Context(), sleepOK(time.Second)))
		assert.Equal(t, 0, b.Counts().ConsecutiveFailures, "a quick success resets")
		require.NoError(t, b.Do(t.Context(), sleepOK(3*time.Second)))
		require.NoError(t, b.Do(t.Context(), sleepOK(3*time.Second)))
		assert.Equal(t, StateOpen, b.State())
		time.Sleep(time.Minute)
		require.NoError(t, b.Do(t.Context(), sleepOK(5*time.Second)))
		assert.Equal(t, StateOpen, b.State(), "a slow trial reopens")
		assert.Equal(t, []string{"CLOSED>OPEN", "OPEN>HALF_OPEN", "HALF_OPEN>OPEN"}, log.take())
	})
}

func TestBreakerCallbackRunsOutsideTheLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var b *Breaker
		var seen []string
		b = newTestBreaker(t, BreakerConfig{
			FailureThreshold: 1, RecoveryTimeout: time.Second,
			OnStateChange: func(from, to State) {
				// Each of these would deadlock if the callback ran under the lock.
				c := b.Counts()
				seen = append(seen, from.String()+">"+to.String()+" state="+b.State().String()+" counts="+c.State.String())
				if to == StateOpen {
					err := b.Do(context.Background(), succeed)
					assert.ErrorIs(t, err, ErrOpen, "a call from the callback after opening")
				}
			},
		})
		_ = b.Do(t.Context(), fail)
		time.Sleep(time.Second)
		require.NoError(t, b.Do(t.Context(), succeed))
		assert.Equal(t, []string{
			"CLOSED>OPEN state=OPEN counts=OPEN",
			"OPEN>HALF_OPEN state=HALF_OPEN counts=HALF_OPEN",
			"HALF_OPEN>CLOSED state=CLOSED counts=CLOSED",
		}, seen)
	})
}

func TestBreakerHalfOpenLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBreaker(t, BreakerConfig{FailureThreshold: 1, RecoveryTimeout: time.Second, HalfOpenMaxCalls: 3})
		_ = b.Do(t.Context(), fail)
		time.Sleep(time.Second)

		var mu sync.Mutex
		running, peak, admitted := 0, 0, 0
		release := make(chan error)
		errs := make(chan error, 10)
		for range 10 {
			go func() {
				errs <- b.Do(t.Context(), func(context.Context) error {
					mu.Lock()
					running++
					admitted++
					peak = max(peak, running)
					mu.Unlock()
					err := <-release
					mu.Lock()
					running--
					mu.Unlock()
					return err
				})
			}()
		}
		synctest.Wait()
		for range 7 {
			require.ErrorIs(t, <-errs, ErrHalfOpenLimit)
		}
		assert.Equal(t, 3, admitted, "trial calls admitted")
		assert.Equal(t, 3, b.Counts().TrialCalls)

		release <- context.Canceled // ignored: frees a slot, stays half open
		require.ErrorIs(t, <-errs, context.Canceled)
		assert.Equal(t, StateHalfOpen, b.State())
		assert.Equal(t, 2, b.Counts().TrialCalls)
		go func() { errs <- b.Do(t.Context(), func(context.Context) error { return <-release }) }()
		synctest.Wait()
		assert.Equal(t, 3, b.Counts().TrialCalls, "the freed slot was taken")
		require.ErrorIs(t, b.Do(t.Context(), succeed), ErrHalfOpenLimit)

		release <- nil // a trial success closes
		require.NoError(t, <-errs)
		assert.Equal(t, StateClosed, b.State())
		release <- errUpstream // older trials are from a past generation: discarded
		release <- errUpstream
		require.ErrorIs(t, <-errs, errUpstream)
		require.ErrorIs(t, <-errs, errUpstream)
		assert.Equal(t, StateClosed, b.State())
		assert.Equal(t, 0, b.Counts().ConsecutiveFailures)
		assert.Equal(t, 3, peak, "never more trials at once than HalfOpenMaxCalls")
	})
}

func TestBreakerDiscardsStaleResults(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  BreakerConfig
	}{
		{"fast path", BreakerConfig{FailureThreshold: 3, RecoveryTimeout: time.Second}},
		{"window path", BreakerConfig{FailureThreshold: 3, RecoveryTimeout: time.Second, FailureRate: 1, Window: time.Minute, MinCalls: 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newTestBreaker(t, tc.cfg)
				release := make(chan error)
				done := make(chan error, 3)
				hold := func() {
					go func() { done <- b.Do(t.Context(), func(context.Context) error { return <-release }) }()
					synctest.Wait() // the call is admitted and blocked in fn
				}
				hold() // started in the first closed generation
				for range 3 {
					_ = b.Do(t.Context(), fail)
				}
				require.Equal(t, StateOpen, b.State())
				until := b.Counts().OpenUntil
				release <- errUpstream
				<-done
				assert.True(t, b.Counts().OpenUntil.Equal(until), "a stale failure must not reopen or extend")

				time.Sleep(time.Second)
				require.NoError(t, b.Do(t.Context(), succeed))
				require.Equal(t, StateClosed, b.State())
				hold()
				b.Reset() // a new generation, same state
				_ = b.Do(t.Context(), fail)
				release <- nil
				<-done
				assert.Equal(t, 1, b.Counts().ConsecutiveFailures, "a stale success must not reset the count")
				if b.win != nil {
					assert.Equal(t, 1, b.Counts().WindowCalls, "a stale success must not enter the window")
				}
			})
		})
	}
}

func TestBreakerAllocations(t *testing.T) {
	ctx := context.Background()
	b := newTestBreaker(t, BreakerConfig{})
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = b.Do(ctx, succeed) }), "closed success")
	p := Pipeline(b)
	typed := func(context.Context) (int, error) { return 1, nil }
	assert.LessOrEqual(t, testing.AllocsPerRun(100, func() { _, _ = Execute(ctx, p, typed) }), 1.0, "Execute through a pipeline")
	b.Trip(time.Hour)
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = b.Do(ctx, succeed) }), "open rejection")
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = p.Do(ctx, succeed) }), "open rejection in a pipeline")
}

func TestBreakerClosedSuccessWritesNothing(t *testing.T) {
	b := newTestBreaker(t, BreakerConfig{})
	before := b.word.Load()
	for range 10 {
		require.NoError(t, b.Do(t.Context(), succeed))
	}
	assert.Equal(t, before, b.word.Load(), "a success with no failures must leave the state word alone")
	require.ErrorIs(t, b.Do(t.Context(), fail), errUpstream)
	require.NoError(t, b.Do(t.Context(), succeed))
	assert.Equal(t, before, b.word.Load(), "a success clears the failures and nothing else")
}
