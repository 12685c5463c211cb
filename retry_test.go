package resilience

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var errFlaky = errors.New("flaky upstream")

// failing returns a function that fails n times, then returns "ok".
func failing(n int, err error, calls *int) func(context.Context) (string, error) {
	return func(context.Context) (string, error) {
		*calls++
		if *calls <= n {
			return "", err
		}
		return "ok", nil
	}
}

func TestRetryJitterNoneThreeAttemptsTakeExactlyThreeSeconds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		start := time.Now()
		_, err := Retry(t.Context(), RetryPolicy{Jitter: JitterNone}, failing(10, errFlaky, &calls))
		elapsed := time.Since(start)
		require.Error(t, err)
		var re *RetryError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, 3, re.Attempts)
		assert.Equal(t, 3, calls)
		assert.ErrorIs(t, err, errFlaky)
		// 1 s after the first failure, 2 s after the second, none after the last.
		assert.Equal(t, 3*time.Second, elapsed, "got %v, want exactly 3s", elapsed)
	})
}

func TestRetrySucceedsOnLaterAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		start := time.Now()
		v, err := Retry(t.Context(), RetryPolicy{Jitter: JitterNone, MaxAttempts: 5, BaseDelay: 100 * time.Millisecond}, failing(3, errFlaky, &calls))
		require.NoError(t, err)
		assert.Equal(t, "ok", v)
		assert.Equal(t, 4, calls)
		assert.Equal(t, 700*time.Millisecond, time.Since(start)) // 100+200+400
	})
}

func TestRetryScheduleIsCappedByMaxDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var delays []time.Duration
		p := RetryPolicy{Jitter: JitterNone, MaxAttempts: 6, BaseDelay: time.Second, MaxDelay: 3 * time.Second,
			OnRetry: func(e RetryEvent) { delays = append(delays, e.Delay) }}
		calls := 0
		_, err := Retry(t.Context(), p, failing(10, errFlaky, &calls))
		require.Error(t, err)
		want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second, 3 * time.Second}
		assert.Equal(t, want, delays)
	})
}

func TestRetryPermanentStopsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		start := time.Now()
		_, err := Retry(t.Context(), RetryPolicy{}, failing(10, Permanent(errFlaky), &calls))
		assert.Equal(t, 1, calls)
		assert.ErrorIs(t, err, errFlaky)
		assert.True(t, IsPermanent(err), "the RetryError still reports the permanent mark")
		assert.Zero(t, time.Since(start))
	})
}

func TestRetryHonoursBackoffPermanent(t *testing.T) {
	calls := 0
	_, err := Retry(context.Background(), RetryPolicy{}, failing(10, backoff.Permanent(errFlaky), &calls))
	assert.Equal(t, 1, calls)
	assert.ErrorIs(t, err, errFlaky)
}

func TestRetryIfRejects(t *testing.T) {
	calls := 0
	p := RetryPolicy{RetryIf: func(err error) bool { return !errors.Is(err, errFlaky) }}
	_, err := Retry(context.Background(), p, failing(10, errFlaky, &calls))
	assert.Equal(t, 1, calls)
	assert.ErrorIs(t, err, errFlaky)
}

func TestRetryAfterOverridesShorterDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		start := time.Now()
		var events []RetryEvent
		p := RetryPolicy{Jitter: JitterNone, OnRetry: func(e RetryEvent) { events = append(events, e) }}
		v, err := Retry(t.Context(), p, failing(1, RetryAfter(errFlaky, 5*time.Second), &calls))
		require.NoError(t, err)
		assert.Equal(t, "ok", v)
		assert.Equal(t, 5*time.Second, time.Since(start))
		require.Len(t, events, 1)
		assert.Equal(t, 1, events[0].Attempt)
		assert.Equal(t, 5*time.Second, events[0].Delay)
		assert.ErrorIs(t, events[0].Err, errFlaky)
	})
}

func TestRetryAfterShorterThanScheduleKeepsSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		start := time.Now()
		_, err := Retry(t.Context(), RetryPolicy{Jitter: JitterNone, BaseDelay: 2 * time.Second}, failing(1, RetryAfter(errFlaky, time.Second), &calls))
		require.NoError(t, err)
		assert.Equal(t, 2*time.Second, time.Since(start))
	})
}

// serverWait is a caller's own error type carrying a server wait.
type serverWait struct{ d time.Duration }

func (e serverWait) Error() string             { return "429 too many requests" }
func (e serverWait) RetryAfter() time.Duration { return e.d }

func TestRetryAfterFromAnyErrorWithMethod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		start := time.Now()
		wrapped := fmt.Errorf("call: %w", serverWait{d: 7 * time.Second})
		_, err := Retry(t.Context(), RetryPolicy{Jitter: JitterNone}, failing(1, wrapped, &calls))
		require.NoError(t, err)
		assert.Equal(t, 7*time.Second, time.Since(start))
	})
}

func TestRetryGivesUpAtOnceWhenWaitPassesDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		calls := 0
		start := time.Now()
		_, err := Retry(ctx, RetryPolicy{}, failing(5, RetryAfter(errFlaky, time.Minute), &calls))
		assert.Equal(t, 1, calls)
		assert.Zero(t, time.Since(start), "must not sleep in vain")
		assert.ErrorIs(t, err, errFlaky)
		assert.NotErrorIs(t, err, context.DeadlineExceeded)
	})
}

func TestRetryGivesUpWhenWaitPassesMaxElapsed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		start := time.Now()
		p := RetryPolicy{Jitter: JitterNone, MaxAttempts: 10, MaxElapsed: 5 * time.Second}
		_, err := Retry(t.Context(), p, failing(10, errFlaky, &calls))
		// Waits 1 s and 2 s (3 s elapsed); the next 4 s wait would end at 7 s > 5 s.
		assert.Equal(t, 3, calls)
		assert.Equal(t, 3*time.Second, time.Since(start))
		assert.ErrorIs(t, err, errFlaky)
	})
}

// A server wait near the largest Duration must not wrap around in the
// MaxElapsed check and be slept (or be treated as fitting).
func TestRetryHugeRetryAfterGivesUpAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		start := time.Now()
		p := RetryPolicy{Jitter: JitterNone, MaxAttempts: 5, MaxElapsed: time.Hour}
		_, err := Retry(t.Context(), p, func(context.Context) (int, error) {
			calls++
			time.Sleep(time.Second) // elapsed > 0, so elapsed+wait would wrap
			return 0, RetryAfter(errFlaky, time.Duration(math.MaxInt64))
		})
		assert.Equal(t, 1, calls)
		assert.Equal(t, time.Second, time.Since(start), "must not sleep in vain")
		assert.ErrorIs(t, err, errFlaky)
	})
}

func TestRetryCancelDuringWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		calls := 0
		time.AfterFunc(1500*time.Millisecond, cancel)
		start := time.Now()
		_, err := Retry(ctx, RetryPolicy{Jitter: JitterNone}, failing(10, errFlaky, &calls))
		assert.Equal(t, 1500*time.Millisecond, time.Since(start))
		assert.Equal(t, 2, calls)
		assert.ErrorIs(t, err, context.Canceled)
		assert.ErrorIs(t, err, errFlaky)
		var re *RetryError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, 2, re.Attempts)
	})
}

func TestRetryDoneContextDoesNotCall(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := 0
	_, err := Retry(ctx, RetryPolicy{}, failing(0, nil, &calls))
	assert.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, calls)
}

func TestRetryCustomBackoffSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		start := time.Now()
		p := RetryPolicy{MaxAttempts: 4, Backoff: func() backoff.BackOff { return backoff.NewConstantBackOff(500 * time.Millisecond) }}
		_, err := Retry(t.Context(), p, failing(10, errFlaky, &calls))
		require.Error(t, err)
		assert.Equal(t, 4, calls)
		assert.Equal(t, 1500*time.Millisecond, time.Since(start))
	})
}

func TestRetryCustomBackoffStop(t *testing.T) {
	calls := 0
	p := RetryPolicy{MaxAttempts: 10, Backoff: func() backoff.BackOff { return &backoff.StopBackOff{} }}
	_, err := Retry(context.Background(), p, failing(10, errFlaky, &calls))
	assert.Equal(t, 1, calls)
	assert.ErrorIs(t, err, errFlaky)
}

func TestRetryPolicyIsAPolicy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		var p Policy = RetryPolicy{Jitter: JitterNone, BaseDelay: time.Second}
		err := p.Do(t.Context(), func(context.Context) error {
			calls++
			if calls < 3 {
				return errFlaky
			}
			return nil
		})
		require.NoError(t, err)
		assert.Equal(t, 3, calls)
	})
}

func TestRetryBadInput(t *testing.T) {
	nan := 0.0
	nan = nan / nan
	tests := []struct {
		name string
		p    RetryPolicy
		want string
	}{
		{"negative attempts", RetryPolicy{MaxAttempts: -1}, "MaxAttempts"},
		{"negative base", RetryPolicy{BaseDelay: -time.Second}, "BaseDelay"},
		{"negative cap", RetryPolicy{MaxDelay: -time.Second}, "MaxDelay"},
		{"cap below base", RetryPolicy{BaseDelay: 2 * time.Second, MaxDelay: time.Second}, "MaxDelay"},
		{"NaN multiplier", RetryPolicy{Multiplier: nan}, "Multiplier"},
		{"shrinking multiplier", RetryPolicy{Multiplier: 0.5}, "Multiplier"},
		{"unknown jitter", RetryPolicy{Jitter: Jitter(42)}, "Jitter"},
		{"negative elapsed", RetryPolicy{MaxElapsed: -1}, "MaxElapsed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			_, err := Retry(context.Background(), tt.p, failing(0, nil, &calls))
			require.ErrorIs(t, err, ErrInvalidArgument)
			assert.Contains(t, err.Error(), tt.want)
			assert.Zero(t, calls, "an invalid policy must not call fn")
		})
	}
	_, err := Retry[int](context.Background(), RetryPolicy{}, nil)
	assert.ErrorIs(t, err, ErrInvalidArgument)
	assert.ErrorIs(t, RetryPolicy{}.Do(context.Background(), nil), ErrInvalidArgument)
}

func TestPermanentAndRetryAfterNilSafe(t *testing.T) {
	assert.NoError(t, Permanent(nil))
	assert.NoError(t, RetryAfter(nil, time.Second))
	assert.False(t, IsPermanent(nil))
	_, ok := RetryAfterOf(nil)
	assert.False(t, ok)
	d, ok := RetryAfterOf(RetryAfter(errFlaky, -time.Second))
	assert.True(t, ok)
	assert.Zero(t, d, "a negative wait counts as 0")
	assert.Equal(t, errFlaky.Error(), Permanent(errFlaky).Error())
}

func TestRetryFirstAttemptSuccessAllocatesNothing(t *testing.T) {
	ctx := context.Background()
	fn := func(context.Context) (int, error) { return 1, nil }
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := Retry(ctx, RetryPolicy{}, fn); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs, "got %v allocs per call, want 0", allocs)
}
