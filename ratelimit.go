package resilience

import (
	"context"
	"fmt"
	"math/bits"
	"sync"
	"time"

	"github.com/resilience-go/resilience/internal/wait"
)

// Bounds of [RateLimit] and [RateLimiter.Update].
const (
	// MaxPerMinute is the largest RequestsPerMinute or TokensPerMinute
	// accepted (about 1.1e12).
	MaxPerMinute = 1 << 40
	// MaxUpdateCooldown caps the cooldown that [RateLimiter.Update] derives
	// from a server's reset time, so a nonsense header never stalls callers
	// for long. It does not cap [RateLimiter.Cooldown].
	MaxUpdateCooldown = time.Minute
)

// RateLimit configures a [RateLimiter]: two token buckets that refill
// continuously, one counting requests and one counting tokens (an LLM
// provider's RPM and TPM limits). A bucket with a rate of 0 is unlimited.
// The zero value limits nothing, which only [RateLimiter.Cooldown] and
// [RateLimiter.Update] then restrict.
type RateLimit struct {
	// RequestsPerMinute is the request bucket's refill rate. 0 means
	// unlimited; allowed: 0 to MaxPerMinute.
	RequestsPerMinute int
	// TokensPerMinute is the token bucket's refill rate. 0 means unlimited;
	// allowed: 0 to MaxPerMinute.
	TokensPerMinute int
	// RequestBurst is the request bucket's capacity: how many requests may
	// start at once after a quiet spell. 0 means RequestsPerMinute: a
	// bucket that holds a minute's worth, as OpenAI and Anthropic describe
	// their limits. Set it lower (RequestsPerMinute/60 is one second's
	// share) when the provider enforces its limit over shorter windows.
	// Allowed: 0 to RequestsPerMinute, and only with a rate.
	RequestBurst int
	// TokenBurst is the token bucket's capacity, the largest reservation
	// [RateLimiter.Wait] accepts. 0 means TokensPerMinute. Allowed: 0 to
	// TokensPerMinute, and only with a rate.
	TokenBurst int
}

func (c *RateLimit) validate() error {
	check := func(name string, perMin, burst int, burstName string) error {
		switch {
		case perMin < 0 || perMin > MaxPerMinute:
			return invalidArg("RateLimit.%s must be in [0, %d] (0 means unlimited), got %d", name, MaxPerMinute, perMin)
		case burst < 0 || burst > perMin:
			return invalidArg("RateLimit.%s must be in [0, %s=%d] (0 means %s), got %d", burstName, name, perMin, name, burst)
		}
		return nil
	}
	if err := check("RequestsPerMinute", c.RequestsPerMinute, c.RequestBurst, "RequestBurst"); err != nil {
		return err
	}
	return check("TokensPerMinute", c.TokensPerMinute, c.TokenBurst, "TokenBurst")
}

// RateLimiter keeps calls within a requests-per-minute and a
// tokens-per-minute budget. Each call reserves one request and an estimate
// of its tokens ([RateLimiter.Wait], [RateLimiter.Reserve]), waiting until
// both buckets hold enough; the estimate can be corrected with the usage
// the provider reports afterwards ([Reservation.Settle]). A server's
// 429 can stop every caller for a while ([RateLimiter.Cooldown]), and the
// provider's rate-limit headers keep the buckets in line with the server's
// view ([RateLimiter.Update]).
//
// Reservations are served in the order they were made, per bucket. A
// RateLimiter is a [Policy]: Do reserves one request and no tokens, then
// runs fn. It is safe for concurrent use and starts no goroutine. The zero
// RateLimiter is not usable; create one with [NewRateLimiter].
//
// It does not use golang.org/x/time/rate: a call here must hold a request
// and tokens in two buckets at once and give both back when it is
// cancelled, even after one bucket's share was granted; the estimate must
// be refundable after the call; and the buckets must be lowered to a
// server's "remaining" count. rate.Limiter's reservations cannot be
// cancelled once their time has come and its level cannot be set, so the
// buckets below are a small GCRA (generic cell rate algorithm) in integer
// nanoseconds, which also keeps fake-time tests exact.
type RateLimiter struct {
	epoch time.Time
	mu    sync.Mutex
	req   bucket
	tok   bucket
	cool  int64 // nobody starts before this, ns since epoch
}

var _ Policy = (*RateLimiter)(nil)

// bucket is a token bucket kept as the time it is full again (tat, the
// "theoretical arrival time" of GCRA), in ns since the limiter's epoch. Its
// level at now is burst minus the units that refill in max(tat, now)-now.
type bucket struct {
	perMinute uint64 // refill rate; 0 means unlimited
	burst     int64  // capacity in units
	tau       int64  // time to refill burst units
	tat       int64
}

func newBucket(perMinute, burst int) bucket {
	if perMinute == 0 {
		return bucket{}
	}
	if burst == 0 {
		burst = perMinute
	}
	b := bucket{perMinute: uint64(perMinute), burst: int64(burst)}
	b.tau = b.cost(b.burst)
	return b
}

func (b *bucket) limited() bool { return b.perMinute != 0 }

// cost returns the time n units take to refill, rounded up. n is at most
// burst, so the result is at most a minute.
func (b *bucket) cost(n int64) int64 {
	hi, lo := bits.Mul64(uint64(n), uint64(time.Minute))
	q, r := bits.Div64(hi, lo, b.perMinute)
	if r != 0 {
		q++
	}
	return int64(q)
}

// earliest returns when n units can be taken: now, or the time enough units
// will have refilled after the reservations already made.
func (b *bucket) earliest(now, n int64) int64 {
	return max(now, b.tat+b.cost(n)-b.tau)
}

// take reserves n units at time at and returns tat before and after, so a
// cancellation can undo it.
func (b *bucket) take(at, n int64) (before, after int64) {
	before = b.tat
	b.tat = max(b.tat, at) + b.cost(n)
	return before, b.tat
}

// give returns n units taken by a reservation: exactly, when no other
// reservation moved the bucket since, and otherwise by moving tat back.
func (b *bucket) give(n, before, after int64) {
	if b.tat == after {
		b.tat = before
		return
	}
	b.tat -= b.cost(n)
}

// NewRateLimiter returns a limiter with full buckets. A negative rate, a
// rate above MaxPerMinute, or a burst outside [0, rate] is an error
// wrapping [ErrInvalidArgument].
func NewRateLimiter(cfg RateLimit) (*RateLimiter, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &RateLimiter{
		epoch: time.Now(),
		req:   newBucket(cfg.RequestsPerMinute, cfg.RequestBurst),
		tok:   newBucket(cfg.TokensPerMinute, cfg.TokenBurst),
	}, nil
}

// Capacity returns the capacity of the request and token buckets, 0 for an
// unlimited one. A reservation of more tokens than the token capacity is
// refused.
func (l *RateLimiter) Capacity() (requests, tokens int) {
	return int(l.req.burst), int(l.tok.burst)
}

// Reservation is a request and tokens held by a [RateLimiter], returned by
// [RateLimiter.Reserve]. The zero Reservation holds nothing.
type Reservation struct {
	l       *RateLimiter
	tokens  int64
	settled bool
}

// Tokens returns the tokens reserved: the estimate passed to Reserve, or 0
// when the limiter counts no tokens.
func (r *Reservation) Tokens() int { return int(r.tokens) }

// Settle corrects the reservation with the tokens the call actually used
// (negative counts as 0): unused tokens go back to the bucket at once, and
// extra ones are charged, at most one full bucket beyond the estimate, to
// the callers that come next. Only the first call of Settle counts; it is a
// no-op for a zero Reservation and for a limiter that counts no tokens.
func (r *Reservation) Settle(actual int) {
	if r.l == nil || r.settled || !r.l.tok.limited() {
		return
	}
	r.settled = true
	b := &r.l.tok
	delta := int64(max(actual, 0)) - r.tokens
	now := r.l.now()
	r.l.mu.Lock()
	defer r.l.mu.Unlock()
	switch {
	case delta > 0:
		b.tat = max(b.tat, now) + b.cost(min(delta, b.burst))
	case delta < 0:
		b.tat -= b.cost(-delta)
	}
}

// Wait reserves one request and tokens tokens (an estimate such as the
// prompt's tokens plus max_tokens), blocking until both buckets allow it
// and any cooldown has passed. Use [RateLimiter.Reserve] to correct the
// estimate afterwards.
//
// When ctx ends first, Wait gives the reservation back and returns
// ctx.Err(). When ctx has a deadline that the wait would pass, Wait returns
// at once, without reserving, an error wrapping [context.DeadlineExceeded].
// A negative tokens, or more tokens than the token bucket holds, is an
// error wrapping [ErrInvalidArgument]; tokens are ignored when
// TokensPerMinute is 0. Wait allocates nothing when it does not block.
func (l *RateLimiter) Wait(ctx context.Context, tokens int) error {
	_, err := l.Reserve(ctx, tokens)
	return err
}

// Reserve is [RateLimiter.Wait] returning the reservation, whose Settle
// corrects the token estimate with the actual usage. On error nothing stays
// reserved.
func (l *RateLimiter) Reserve(ctx context.Context, tokens int) (Reservation, error) {
	if tokens < 0 {
		return Reservation{}, invalidArg("RateLimiter: tokens must be >= 0, got %d", tokens)
	}
	n := int64(0)
	if l.tok.limited() {
		if int64(tokens) > l.tok.burst {
			return Reservation{}, invalidArg("RateLimiter: tokens must be at most the token bucket's capacity %d, got %d", l.tok.burst, tokens)
		}
		n = int64(tokens)
	}
	if err := ctx.Err(); err != nil {
		return Reservation{}, err
	}
	now := l.now()
	l.mu.Lock()
	at := max(now, l.cool)
	if l.req.limited() {
		at = max(at, l.req.earliest(now, 1))
	}
	if n > 0 {
		at = max(at, l.tok.earliest(now, n))
	}
	if at > now {
		if deadline, ok := ctx.Deadline(); ok && deadline.Sub(l.epoch) <= time.Duration(at) {
			l.mu.Unlock()
			return Reservation{}, fmt.Errorf("resilience: rate limit wait of %v would pass the context deadline: %w",
				time.Duration(at-now), context.DeadlineExceeded)
		}
	}
	var g grant
	if l.req.limited() {
		g.reqBefore, g.reqAfter = l.req.take(at, 1)
	}
	if n > 0 {
		g.tokBefore, g.tokAfter = l.tok.take(at, n)
	}
	l.mu.Unlock()
	if at > now {
		if err := l.sleepUntil(ctx, at); err != nil {
			l.mu.Lock()
			if l.req.limited() {
				l.req.give(1, g.reqBefore, g.reqAfter)
			}
			if n > 0 {
				l.tok.give(n, g.tokBefore, g.tokAfter)
			}
			l.mu.Unlock()
			return Reservation{}, err
		}
	}
	return Reservation{l: l, tokens: n}, nil
}

// grant records the buckets' times around one reservation.
type grant struct {
	reqBefore, reqAfter, tokBefore, tokAfter int64
}

// sleepUntil waits until at, and then as long as a cooldown set meanwhile
// lasts, or until ctx ends.
func (l *RateLimiter) sleepUntil(ctx context.Context, at int64) error {
	for {
		if err := wait.Sleep(ctx, time.Duration(at-l.now())); err != nil {
			return err
		}
		l.mu.Lock()
		cool := l.cool
		l.mu.Unlock()
		if cool <= l.now() {
			return nil
		}
		at = cool
	}
}

// Cooldown makes every caller wait until until: calls that have not started
// yet, including those already waiting, start no sooner. A server's 429
// with Retry-After is the typical cause. An until earlier than the current
// cooldown is ignored. The buckets keep refilling meanwhile.
func (l *RateLimiter) Cooldown(until time.Time) {
	t := int64(until.Sub(l.epoch))
	l.mu.Lock()
	l.cool = max(l.cool, t)
	l.mu.Unlock()
}

// LimitStatus is a server's report of its rate limits, such as an LLM
// provider sends in response headers (package llmhttp parses them). The
// zero value reports nothing.
type LimitStatus struct {
	Requests BucketStatus // the requests-per-minute bucket
	Tokens   BucketStatus // the tokens-per-minute bucket
}

// BucketStatus is a server's view of one rate-limit bucket.
type BucketStatus struct {
	// Known reports that Remaining was reported; when false the bucket's
	// status is ignored.
	Known bool
	// Remaining is what the server has left now.
	Remaining int
	// Limit is the server's capacity; 0 when not reported.
	Limit int
	// Reset is when the server's bucket is full again; zero when not
	// reported.
	Reset time.Time
}

// Update brings the limiter in line with the server's view. For a bucket
// the limiter counts, a server that has fewer units left than the bucket
// lowers the bucket to that level (never raises it: the server has not yet
// seen the calls in flight). For any bucket the server reports empty with a
// reset time, every caller waits until one unit should have refilled: until
// Reset spread over Limit units, or until Reset when Limit is unknown, at
// most MaxUpdateCooldown from now. A negative Remaining or Limit is ignored.
func (l *RateLimiter) Update(s LimitStatus) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.syncLocked(&l.req, s.Requests, now)
	l.syncLocked(&l.tok, s.Tokens, now)
}

func (l *RateLimiter) syncLocked(b *bucket, s BucketStatus, now int64) {
	if !s.Known || s.Remaining < 0 || s.Limit < 0 {
		return
	}
	if b.limited() && int64(s.Remaining) < b.burst {
		b.tat = max(b.tat, now+b.cost(b.burst-int64(s.Remaining)))
	}
	if s.Remaining > 0 || s.Reset.IsZero() {
		return
	}
	wait := s.Reset.Sub(l.epoch) - time.Duration(now)
	if wait <= 0 {
		return
	}
	if lim := time.Duration(s.Limit); lim > 0 {
		q := wait / lim
		if wait%lim != 0 {
			q++
		}
		wait = q
	}
	l.cool = max(l.cool, now+int64(min(wait, MaxUpdateCooldown)))
}

// Do waits for one request (no tokens) as [RateLimiter.Wait] does, then
// runs fn and returns its error. A nil fn is an error wrapping
// [ErrInvalidArgument].
func (l *RateLimiter) Do(ctx context.Context, fn func(context.Context) error) error {
	if fn == nil {
		return invalidArg("RateLimiter.Do: fn is nil")
	}
	return l.doChain(ctx, nil, funcRunner(fn))
}

func (l *RateLimiter) doChain(ctx context.Context, next *node, leaf runner) error {
	if err := l.Wait(ctx, 0); err != nil {
		return err
	}
	return next.run(ctx, leaf)
}

// now returns the time since the limiter's epoch.
func (l *RateLimiter) now() int64 { return int64(time.Since(l.epoch)) }
