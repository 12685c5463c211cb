package resilience

import (
	"math"
	"sync"
	"time"
)

// Defaults used by a zero [RetryBudgetConfig].
const (
	DefaultBudgetRatio      = 0.1
	DefaultBudgetWindow     = 10 * time.Second
	DefaultBudgetMinRetries = 10
)

// budgetBuckets is the number of slices the budget's window is cut into.
const budgetBuckets = 10

// RetryBudgetConfig configures a [RetryBudget]. The zero value allows
// retries up to 10% of calls over a 10 s window, and at least 10 retries
// per window.
type RetryBudgetConfig struct {
	// Ratio is the share of calls that may be retried, in (0, 1e6].
	// 0 means DefaultBudgetRatio (0.1).
	Ratio float64
	// Window is the sliding window calls and retries are counted over.
	// 0 means DefaultBudgetWindow (10 s).
	Window time.Duration
	// MinRetries is the floor: this many retries per window are always
	// allowed, so a quiet service can still retry. 0 means
	// DefaultBudgetMinRetries (10); negative is invalid.
	MinRetries int
}

// RetryBudget caps the retries of many calls sharing it, so a dead upstream
// is not hammered by every caller retrying at once. Over the sliding window
// it allows a retry while
//
//	retries < max(MinRetries, Ratio * calls)
//
// where calls counts [Retry] calls (not attempts) and retries counts the
// retries it allowed, both over the last Window (counted in 10 buckets, so
// the window slides in steps of Window/10). A refused retry ends the call
// with a [*RetryError] wrapping [ErrRetryBudgetExhausted]. It is safe for
// concurrent use; share one per upstream. The zero value is a budget with
// the defaults of a zero [RetryBudgetConfig]; it must not be copied after
// first use.
type RetryBudget struct {
	mu      sync.Mutex
	ratio   float64
	min     int64
	bucket  time.Duration // 0 until the zero value is first used
	origin  time.Time     // monotonic origin the buckets are counted from
	epoch   int64         // index of the newest bucket since origin
	calls   [budgetBuckets]int64
	retries [budgetBuckets]int64
}

// NewRetryBudget returns a budget for cfg, or an error wrapping
// [ErrInvalidArgument] when a field is out of range.
func NewRetryBudget(cfg RetryBudgetConfig) (*RetryBudget, error) {
	switch {
	case cfg.Ratio != 0 && !(cfg.Ratio > 0 && cfg.Ratio <= 1e6):
		return nil, invalidArg("RetryBudgetConfig.Ratio must be in (0, 1e6] (0 means %v), got %v", DefaultBudgetRatio, cfg.Ratio)
	case cfg.Window < 0:
		return nil, invalidArg("RetryBudgetConfig.Window must be >= 0, got %v", cfg.Window)
	case cfg.Window > 0 && cfg.Window < budgetBuckets:
		return nil, invalidArg("RetryBudgetConfig.Window must be at least %dns, got %v", budgetBuckets, cfg.Window)
	case cfg.MinRetries < 0:
		return nil, invalidArg("RetryBudgetConfig.MinRetries must be >= 0 (0 means %d), got %d", DefaultBudgetMinRetries, cfg.MinRetries)
	}
	b := &RetryBudget{}
	b.init(cfg)
	return b, nil
}

// init applies cfg's defaults and starts the window at now.
func (b *RetryBudget) init(cfg RetryBudgetConfig) {
	b.ratio, b.min, b.bucket = cfg.Ratio, int64(cfg.MinRetries), cfg.Window/budgetBuckets
	if b.ratio == 0 {
		b.ratio = DefaultBudgetRatio
	}
	if cfg.Window == 0 {
		b.bucket = DefaultBudgetWindow / budgetBuckets
	}
	if b.min == 0 {
		b.min = DefaultBudgetMinRetries
	}
	b.origin = time.Now()
}

// advance rotates buckets to now. It must be called with mu held.
func (b *RetryBudget) advance() int {
	if b.bucket == 0 {
		b.init(RetryBudgetConfig{})
	}
	// time.Since reads the monotonic clock: a wall-clock step neither
	// empties nor freezes the window.
	now := int64(time.Since(b.origin) / b.bucket)
	if gap := now - b.epoch; gap > 0 {
		for i := int64(1); i <= min(gap, budgetBuckets); i++ {
			j := (b.epoch + i) % budgetBuckets
			b.calls[j], b.retries[j] = 0, 0
		}
		b.epoch = now
	}
	return int(b.epoch % budgetBuckets)
}

func (b *RetryBudget) recordCall() {
	b.mu.Lock()
	b.calls[b.advance()]++
	b.mu.Unlock()
}

// allowRetry takes one retry from the budget when there is one left.
func (b *RetryBudget) allowRetry() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := b.advance()
	var calls, retries int64
	for j := range budgetBuckets {
		calls += b.calls[j]
		retries += b.retries[j]
	}
	allowed := max(b.min, int64(math.Floor(b.ratio*float64(calls))))
	if retries >= allowed {
		return false
	}
	b.retries[i]++
	return true
}

// Stats returns the calls and retries counted in the current window.
func (b *RetryBudget) Stats() (calls, retries int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance()
	for j := range budgetBuckets {
		calls += b.calls[j]
		retries += b.retries[j]
	}
	return calls, retries
}
