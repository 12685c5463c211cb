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

func TestRetryBudgetFloorThenRatio(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, err := NewRetryBudget(RetryBudgetConfig{Ratio: 0.5, MinRetries: 2, Window: 10 * time.Second})
		require.NoError(t, err)
		p := RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond, Jitter: JitterNone, Budget: b}
		refused := 0
		for range 4 {
			calls := 0
			_, err := Retry(t.Context(), p, failing(10, errFlaky, &calls))
			if assert.Error(t, err) && errors.Is(err, ErrRetryBudgetExhausted) {
				refused++
				assert.Equal(t, 1, calls)
			}
		}
		// After 4 calls, max(2, 0.5*4) = 2 retries: the first two calls retry, the rest are refused.
		assert.Equal(t, 2, refused)
		calls, retries := b.Stats()
		assert.Equal(t, int64(4), calls)
		assert.Equal(t, int64(2), retries)
	})
}

func TestRetryBudgetWindowSlides(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, err := NewRetryBudget(RetryBudgetConfig{Ratio: 0.01, MinRetries: 1, Window: 10 * time.Second})
		require.NoError(t, err)
		b.recordCall()
		assert.True(t, b.allowRetry())
		assert.False(t, b.allowRetry(), "floor of 1 used up")
		time.Sleep(9 * time.Second)
		assert.False(t, b.allowRetry(), "still inside the window")
		time.Sleep(2 * time.Second)
		assert.True(t, b.allowRetry(), "the retry has left the window")
		time.Sleep(time.Hour)
		calls, retries := b.Stats()
		assert.Zero(t, calls)
		assert.Zero(t, retries)
	})
}

// The zero RetryBudget works with the defaults instead of dividing by a
// zero bucket width.
func TestRetryBudgetZeroValue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var b RetryBudget
		p := RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond, Jitter: JitterNone, Budget: &b}
		refused := 0
		for range DefaultBudgetMinRetries + 3 {
			calls := 0
			_, err := Retry(t.Context(), p, failing(10, errFlaky, &calls))
			if errors.Is(err, ErrRetryBudgetExhausted) {
				refused++
			}
		}
		// 13 calls: max(10, 0.1*13) = 10 retries allowed, 3 refused.
		assert.Equal(t, 3, refused)
		calls, retries := b.Stats()
		assert.Equal(t, int64(DefaultBudgetMinRetries+3), calls)
		assert.Equal(t, int64(DefaultBudgetMinRetries), retries)
		time.Sleep(DefaultBudgetWindow)
		calls, retries = b.Stats()
		assert.Zero(t, calls+retries, "the default window has passed")
	})
}

func TestRetryBudgetBadInput(t *testing.T) {
	for _, cfg := range []RetryBudgetConfig{
		{Ratio: -0.1}, {Ratio: 2e6}, {Window: -time.Second}, {Window: 5}, {MinRetries: -1},
	} {
		_, err := NewRetryBudget(cfg)
		assert.ErrorIs(t, err, ErrInvalidArgument, "%+v", cfg)
	}
	b, err := NewRetryBudget(RetryBudgetConfig{})
	require.NoError(t, err)
	assert.Equal(t, DefaultBudgetRatio, b.ratio)
	assert.Equal(t, int64(DefaultBudgetMinRetries), b.min)
	assert.Equal(t, DefaultBudgetWindow/budgetBuckets, b.bucket)
}

func TestRetryBudgetSharedConcurrently(t *testing.T) {
	b, err := NewRetryBudget(RetryBudgetConfig{Ratio: 0.1, MinRetries: 5, Window: time.Hour})
	require.NoError(t, err)
	p := RetryPolicy{MaxAttempts: 3, BaseDelay: time.Microsecond, MaxDelay: time.Microsecond, Budget: b}
	done := make(chan struct{})
	for range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 50 {
				_, _ = Retry(context.Background(), p, func(context.Context) (int, error) { return 0, errFlaky })
			}
		}()
	}
	for range 8 {
		<-done
	}
	calls, retries := b.Stats()
	assert.Equal(t, int64(400), calls)
	assert.LessOrEqual(t, retries, int64(40), "got %d retries, want at most 10%% of 400 calls", retries)
}
