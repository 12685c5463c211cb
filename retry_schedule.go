package resilience

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// NewBackOff returns the policy's delay schedule as a cenkalti/backoff/v4
// BackOff: the user's Backoff when set, otherwise the jittered exponential
// schedule described at [Jitter]. Its NextBackOff never returns
// backoff.Stop (the attempt count is the policy's business). The schedule
// keeps state and is not safe for concurrent use; call NewBackOff per call.
func (p RetryPolicy) NewBackOff() backoff.BackOff {
	if p.Backoff != nil {
		if b := p.Backoff(); b != nil {
			return b
		}
	}
	return &jitterBackOff{p: p.resolved()}
}

// Delay returns the wait after the attempt-th attempt (from 1) failed with
// err, for callers that keep the attempt count themselves, such as a task
// queue between deliveries: the schedule's delay for that retry, and at
// least the server wait err carries ([RetryAfterOf]). For JitterDecorrelated
// the previous delay is taken as the un-jittered one. An attempt below 1
// counts as 1.
func (p RetryPolicy) Delay(attempt int, err error) time.Duration {
	attempt = max(attempt, 1)
	var d time.Duration
	if p.Backoff != nil {
		b := p.NewBackOff()
		for range attempt {
			d = b.NextBackOff()
		}
		d = max(d, 0) // backoff.Stop (-1) means no schedule delay left
	} else {
		r := p.resolved()
		n := attempt - 1
		prev := r.base
		if n > 0 {
			prev = r.capped(n - 1)
		}
		d = r.jittered(n, prev, rand.Float64())
	}
	if wait, ok := RetryAfterOf(err); ok && wait > d {
		d = wait
	}
	return d
}

// schedule is a RetryPolicy's delay parameters with defaults applied.
type schedule struct {
	base, cap time.Duration
	mult      float64
	jitter    Jitter
}

func (p *RetryPolicy) resolved() schedule {
	s := schedule{base: p.BaseDelay, cap: p.MaxDelay, mult: p.Multiplier, jitter: p.Jitter}
	if s.base == 0 {
		s.base = DefaultBaseDelay
	}
	if s.cap == 0 {
		s.cap = DefaultMaxDelay
	}
	if s.cap < s.base {
		s.cap = s.base
	}
	if s.mult == 0 {
		s.mult = DefaultMultiplier
	}
	return s
}

// capped returns min(cap, base*mult^n) without overflowing.
func (s schedule) capped(n int) time.Duration {
	d := float64(s.base) * math.Pow(s.mult, float64(n))
	if d >= float64(s.cap) || math.IsInf(d, 0) || math.IsNaN(d) {
		return s.cap
	}
	return time.Duration(d)
}

// jittered is the delay before retry n (from 0) given the previous delay
// and a uniform random value u in [0, 1). It is a pure function so tests can
// pin u.
func (s schedule) jittered(n int, prev time.Duration, u float64) time.Duration {
	switch s.jitter {
	case JitterNone:
		return s.capped(n)
	case JitterEqual:
		d := s.capped(n)
		return d/2 + time.Duration(u*float64(d-d/2))
	case JitterDecorrelated:
		hi := 3 * float64(prev)
		d := float64(s.base) + u*(hi-float64(s.base))
		if d >= float64(s.cap) {
			return s.cap
		}
		return time.Duration(max(d, float64(s.base)))
	default: // JitterFull
		return time.Duration(u * float64(s.capped(n)))
	}
}

// jitterBackOff is the built-in schedule as a backoff.BackOff.
type jitterBackOff struct {
	p    schedule
	n    int
	prev time.Duration
}

func (b *jitterBackOff) NextBackOff() time.Duration {
	if b.n == 0 {
		b.prev = b.p.base
	}
	d := b.p.jittered(b.n, b.prev, rand.Float64())
	b.n++
	b.prev = d
	return d
}

func (b *jitterBackOff) Reset() { b.n = 0 }
