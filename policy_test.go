package resilience

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorder is a foreign Policy (not a chainer) that logs entry and exit.
type recorder struct {
	name string
	log  *[]string
}

func (r recorder) Do(ctx context.Context, fn func(context.Context) error) error {
	*r.log = append(*r.log, r.name+">")
	err := fn(ctx)
	*r.log = append(*r.log, "<"+r.name)
	return err
}

func TestPipelineFirstIsOutermost(t *testing.T) {
	var log []string
	p := Pipeline(recorder{"a", &log}, nil, Pipeline(recorder{"b", &log}, recorder{"c", &log}))
	v, err := Execute(context.Background(), p, func(context.Context) (string, error) {
		log = append(log, "fn")
		return "v", nil
	})
	require.NoError(t, err)
	assert.Equal(t, "v", v)
	assert.Equal(t, []string{"a>", "b>", "c>", "fn", "<c", "<b", "<a"}, log)
}

func TestPipelineRetriesInnerPolicies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log []string
		calls := 0
		p := Pipeline(recorder{"outer", &log}, RetryPolicy{Jitter: JitterNone}, recorder{"inner", &log})
		v, err := Execute(t.Context(), p, func(context.Context) (int, error) {
			calls++
			if calls < 2 {
				return 0, errFlaky
			}
			return calls, nil
		})
		require.NoError(t, err)
		assert.Equal(t, 2, v)
		assert.Equal(t, []string{"outer>", "inner>", "<inner", "inner>", "<inner", "<outer"}, log)
	})
}

func TestEmptyPipelineAndNilPolicy(t *testing.T) {
	v, err := Execute(context.Background(), Pipeline(), func(context.Context) (int, error) { return 7, nil })
	require.NoError(t, err)
	assert.Equal(t, 7, v)
	v, err = Execute(context.Background(), nil, func(context.Context) (int, error) { return 8, nil })
	require.NoError(t, err)
	assert.Equal(t, 8, v)
}

// A nil pointer to a policy (an optional breaker left unset) is "no
// policy", as a nil interface is, instead of a nil dereference.
func TestTypedNilPoliciesAreSkipped(t *testing.T) {
	var (
		br  *Breaker
		sem *Semaphore
		rl  *RateLimiter
		al  *AdaptiveLimiter
		rp  *RetryPolicy
	)
	for _, p := range []Policy{br, sem, rl, al, rp, Pipeline(br, sem, rl, al, rp), Pipeline(br, Pipeline(sem), rp)} {
		v, err := Execute(context.Background(), p, func(context.Context) (int, error) { return 5, nil })
		require.NoError(t, err, "%T", p)
		assert.Equal(t, 5, v, "%T", p)
	}
	calls := 0
	p := Pipeline(br, RetryPolicy{MaxAttempts: 3, BaseDelay: time.Nanosecond, Jitter: JitterNone}, sem)
	_, err := Execute(context.Background(), p, failing(2, errFlaky, &calls))
	require.NoError(t, err)
	assert.Equal(t, 3, calls, "the non-nil retry policy still applies")
	assert.Len(t, p.(*pipeline).policies, 1)
}

func TestExecuteReturnsZeroValueOnError(t *testing.T) {
	v, err := Execute(context.Background(), Pipeline(), func(context.Context) (int, error) { return 9, errFlaky })
	assert.ErrorIs(t, err, errFlaky)
	assert.Zero(t, v)
}

func TestExecuteAndPipelineBadInput(t *testing.T) {
	_, err := Execute[int](context.Background(), Pipeline(), nil)
	assert.ErrorIs(t, err, ErrInvalidArgument)
	assert.ErrorIs(t, Pipeline().Do(context.Background(), nil), ErrInvalidArgument)
	assert.ErrorIs(t, Timeout(time.Second).Do(context.Background(), nil), ErrInvalidArgument)
	err = Timeout(0).Do(context.Background(), func(context.Context) error { t.Fatal("must not run"); return nil })
	assert.ErrorIs(t, err, ErrInvalidArgument)
	err = Timeout(-time.Second).Do(context.Background(), func(context.Context) error { t.Fatal("must not run"); return nil })
	assert.ErrorIs(t, err, ErrInvalidArgument)
}

func TestTimeoutExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		err := Timeout(2*time.Second).Do(t.Context(), func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		})
		assert.Equal(t, 2*time.Second, time.Since(start))
		assert.ErrorIs(t, err, ErrTimeout)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Contains(t, err.Error(), "resilience: timeout after 2s")
	})
}

func TestTimeoutCauseIsVisibleToFn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var cause error
		_ = Timeout(time.Second).Do(t.Context(), func(ctx context.Context) error {
			<-ctx.Done()
			cause = context.Cause(ctx)
			return ctx.Err()
		})
		assert.ErrorIs(t, cause, ErrTimeout)
	})
}

func TestTimeoutFastCallIsUntouched(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		err := Timeout(time.Second).Do(t.Context(), func(ctx context.Context) error {
			time.Sleep(500 * time.Millisecond)
			return errFlaky
		})
		assert.ErrorIs(t, err, errFlaky)
		assert.NotErrorIs(t, err, ErrTimeout)
	})
}

func TestTimeoutCallerDeadlineIsTheCallersError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		err := Timeout(time.Minute).Do(ctx, func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		})
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.NotErrorIs(t, err, ErrTimeout, "the caller's own deadline is not the policy's timeout")
	})
}

func TestTimeoutPerAttemptInsideRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		start := time.Now()
		p := Pipeline(RetryPolicy{Jitter: JitterNone, BaseDelay: time.Second}, Timeout(5*time.Second))
		err := p.Do(t.Context(), func(ctx context.Context) error {
			calls++
			if calls < 3 {
				<-ctx.Done() // hangs until the attempt's timeout
				return ctx.Err()
			}
			return nil
		})
		require.NoError(t, err)
		assert.Equal(t, 3, calls)
		assert.Equal(t, 5*time.Second+time.Second+5*time.Second+2*time.Second, time.Since(start))
	})
}

func TestTimeoutErrorUnwrapsCallError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		inner := errors.New("socket closed")
		err := Timeout(time.Second).Do(t.Context(), func(ctx context.Context) error {
			<-ctx.Done()
			return inner
		})
		assert.ErrorIs(t, err, inner)
		assert.ErrorIs(t, err, ErrTimeout)
	})
}

func TestExecutePipelineOfOwnPoliciesAllocatesAtMostOnce(t *testing.T) {
	br, err := NewBreaker(BreakerConfig{})
	require.NoError(t, err)
	p := Pipeline(NewSemaphore(4), br, RetryPolicy{})
	ctx := context.Background()
	fn := func(context.Context) (int, error) { return 1, nil }
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := Execute(ctx, p, fn); err != nil {
			t.Fatal(err)
		}
	})
	assert.LessOrEqual(t, allocs, 1.0, "got %v allocs per call, want at most 1", allocs)
}

func TestPipelineBreakerSeesRetriedFailuresOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		br, err := NewBreaker(BreakerConfig{FailureThreshold: 2, RecoveryTimeout: time.Minute})
		require.NoError(t, err)
		// The breaker is outside the retry: a call that fails all 3 attempts
		// counts as one failure.
		p := Pipeline(br, RetryPolicy{Jitter: JitterNone})
		_, err = Execute(t.Context(), p, func(context.Context) (int, error) { return 0, errFlaky })
		require.ErrorIs(t, err, errFlaky)
		assert.Equal(t, StateClosed, br.State())
		_, err = Execute(t.Context(), p, func(context.Context) (int, error) { return 0, errFlaky })
		require.ErrorIs(t, err, errFlaky)
		assert.Equal(t, StateOpen, br.State())
		_, err = Execute(t.Context(), p, func(context.Context) (int, error) { return 1, nil })
		assert.ErrorIs(t, err, ErrOpen)
	})
}
