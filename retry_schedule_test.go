package resilience

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestJitterIsAPureFunctionOfU(t *testing.T) {
	s := (&RetryPolicy{BaseDelay: time.Second, MaxDelay: 10 * time.Second}).resolved()
	tests := []struct {
		jitter Jitter
		n      int
		prev   time.Duration
		u      float64
		want   time.Duration
	}{
		{JitterNone, 0, 0, 0.7, time.Second},
		{JitterNone, 2, 0, 0.7, 4 * time.Second},
		{JitterNone, 5, 0, 0.7, 10 * time.Second}, // 32 s capped
		{JitterFull, 2, 0, 0, 0},
		{JitterFull, 2, 0, 0.5, 2 * time.Second},
		{JitterFull, 10, 0, 0.5, 5 * time.Second},
		{JitterEqual, 2, 0, 0, 2 * time.Second},
		{JitterEqual, 2, 0, 0.5, 3 * time.Second},
		{JitterDecorrelated, 0, time.Second, 0, time.Second},
		{JitterDecorrelated, 0, time.Second, 0.5, 2 * time.Second},             // 1 + 0.5*(3-1)
		{JitterDecorrelated, 3, 2 * time.Second, 0.5, 3500 * time.Millisecond}, // 1 + 0.5*(6-1)
		{JitterDecorrelated, 3, 8 * time.Second, 0.9, 10 * time.Second},        // capped
	}
	for _, tt := range tests {
		t.Run(tt.jitter.String(), func(t *testing.T) {
			s.jitter = tt.jitter
			got := s.jittered(tt.n, tt.prev, tt.u)
			assert.Equal(t, tt.want, got, "n=%d prev=%v u=%v: got %v, want %v", tt.n, tt.prev, tt.u, got, tt.want)
		})
	}
}

func TestJitterStaysInBounds(t *testing.T) {
	for _, j := range []Jitter{JitterFull, JitterEqual, JitterDecorrelated, JitterNone} {
		t.Run(j.String(), func(t *testing.T) {
			p := RetryPolicy{BaseDelay: 100 * time.Millisecond, MaxDelay: 5 * time.Second, Jitter: j}
			b := p.NewBackOff()
			for i := range 2000 {
				if i%20 == 0 {
					b.Reset()
				}
				n := i % 20
				d := b.NextBackOff()
				hi := min(5*time.Second, 100*time.Millisecond<<n)
				lo := time.Duration(0)
				switch j {
				case JitterEqual:
					lo = hi / 2
				case JitterDecorrelated:
					lo, hi = 100*time.Millisecond, 5*time.Second
				case JitterNone:
					lo = hi
				}
				if d < lo || d > hi {
					t.Fatalf("retry %d: got %v, want in [%v, %v]", n, d, lo, hi)
				}
			}
		})
	}
}

func TestScheduleDoesNotOverflow(t *testing.T) {
	s := (&RetryPolicy{Multiplier: 10, MaxDelay: time.Hour}).resolved()
	assert.Equal(t, time.Hour, s.capped(1000))
	s.jitter = JitterNone
	assert.Equal(t, time.Hour, s.jittered(1<<20, 0, 0.5))
}

func TestDelayForQueueRetries(t *testing.T) {
	p := RetryPolicy{Jitter: JitterNone, BaseDelay: time.Second, MaxDelay: 600 * time.Second}
	assert.Equal(t, time.Second, p.Delay(1, errFlaky))
	assert.Equal(t, 2*time.Second, p.Delay(2, errFlaky))
	assert.Equal(t, 8*time.Second, p.Delay(4, errFlaky))
	assert.Equal(t, 600*time.Second, p.Delay(30, errFlaky))
	assert.Equal(t, time.Second, p.Delay(0, nil), "attempt below 1 counts as 1")
	assert.Equal(t, 90*time.Second, p.Delay(1, RetryAfter(errFlaky, 90*time.Second)), "server wait wins")
	assert.Equal(t, 8*time.Second, p.Delay(4, RetryAfter(errFlaky, time.Second)), "shorter server wait loses")

	full := RetryPolicy{BaseDelay: time.Second}
	for range 100 {
		d := full.Delay(3, nil)
		assert.True(t, d >= 0 && d <= 4*time.Second, "got %v, want in [0, 4s]", d)
	}
}

func TestRetryableClassification(t *testing.T) {
	p := RetryPolicy{}
	assert.False(t, p.Retryable(nil))
	assert.True(t, p.Retryable(errFlaky))
	assert.False(t, p.Retryable(Permanent(errFlaky)))
	p.RetryIf = func(error) bool { return false }
	assert.False(t, p.Retryable(errFlaky))
}

func TestJitterString(t *testing.T) {
	assert.Equal(t, "Jitter(9)", Jitter(9).String())
	assert.Equal(t, "full", Jitter(0).String())
}
