package resilience

import (
	"context"
	"sync"
	"sync/atomic"
)

// DefaultMaxKeys is how many keys a [BreakerGroup] keeps when
// BreakerGroupConfig.MaxKeys is 0.
const DefaultMaxKeys = 1024

// BreakerGroupConfig configures a [BreakerGroup]. The zero value is usable:
// default breakers, at most DefaultMaxKeys keys.
type BreakerGroupConfig struct {
	// Breaker configures every breaker of the group. Its OnStateChange must
	// be nil: set the group's OnStateChange, which also names the key.
	Breaker BreakerConfig

	// MaxKeys bounds how many keys the group keeps. 0 means DefaultMaxKeys
	// (1024). Allowed: >= 0.
	MaxKeys int

	// OnStateChange, when set, is called after a state change of the breaker
	// of key, under the same rules as BreakerConfig.OnStateChange (no lock
	// held, in the goroutine that caused it).
	OnStateChange func(key string, from, to State)
}

// BreakerGroup keeps one [Breaker] per key (per provider, model or API key),
// all configured alike, created on first use. It keeps at most MaxKeys
// breakers: adding a key to a full group evicts an idle breaker, chosen by
// the CLOCK (second-chance) approximation of least recently used, and a
// CLOSED one before any other; an OPEN or HALF_OPEN breaker is evicted only
// when every breaker of the group is open or half open, since forgetting it
// would let calls through to an upstream known to be failing. A key evicted
// and used again gets a new, closed breaker; callers still holding the old
// one can finish with it.
//
// A BreakerGroup is safe for concurrent use. Looking up an existing key takes
// no lock and writes nothing shared unless the key was idle.
type BreakerGroup struct {
	cfg      BreakerConfig
	maxKeys  int
	onChange func(key string, from, to State)

	byKey sync.Map // string -> *groupEntry; written under mu

	mu      sync.Mutex
	entries []*groupEntry // the CLOCK ring
	hand    int
}

type groupEntry struct {
	key  string
	b    *Breaker
	used atomic.Bool // set on use, cleared as the CLOCK hand passes
}

// NewBreakerGroup returns an empty group. An invalid cfg.Breaker (see
// [NewBreaker]), a negative MaxKeys or a non-nil cfg.Breaker.OnStateChange
// is an error wrapping [ErrInvalidArgument].
func NewBreakerGroup(cfg BreakerGroupConfig) (*BreakerGroup, error) {
	if err := cfg.Breaker.validate(); err != nil {
		return nil, err
	}
	if cfg.MaxKeys < 0 {
		return nil, invalidArg("BreakerGroupConfig.MaxKeys must be >= 0 (0 means %d), got %d", DefaultMaxKeys, cfg.MaxKeys)
	}
	if cfg.Breaker.OnStateChange != nil {
		return nil, invalidArg("BreakerGroupConfig.Breaker.OnStateChange must be nil; set BreakerGroupConfig.OnStateChange")
	}
	g := &BreakerGroup{
		cfg:      cfg.Breaker,
		maxKeys:  cfg.MaxKeys,
		onChange: cfg.OnStateChange,
	}
	if g.maxKeys == 0 {
		g.maxKeys = DefaultMaxKeys
	}
	return g, nil
}

// Get returns the breaker of key, creating a closed one when the group has
// none (possibly evicting another key's breaker, see [BreakerGroup]).
func (g *BreakerGroup) Get(key string) *Breaker {
	var e *groupEntry
	if v, ok := g.byKey.Load(key); ok {
		e = v.(*groupEntry)
	} else {
		e = g.add(key)
	}
	if !e.used.Load() {
		e.used.Store(true)
	}
	return e.b
}

// Do runs fn under the breaker of key: it is g.Get(key).Do(ctx, fn), with
// the same results and errors as [Breaker.Do].
func (g *BreakerGroup) Do(ctx context.Context, key string, fn func(context.Context) error) error {
	return g.Get(key).Do(ctx, fn)
}

// Len returns how many keys the group keeps now.
func (g *BreakerGroup) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.entries)
}

func (g *BreakerGroup) add(key string) *groupEntry {
	g.mu.Lock()
	defer g.mu.Unlock()
	if v, ok := g.byKey.Load(key); ok {
		return v.(*groupEntry)
	}
	cfg := g.cfg
	if g.onChange != nil {
		onChange := g.onChange
		cfg.OnStateChange = func(from, to State) { onChange(key, from, to) }
	}
	e := &groupEntry{key: key, b: newBreaker(cfg)} // cfg was validated by NewBreakerGroup
	if len(g.entries) < g.maxKeys {
		g.entries = append(g.entries, e)
	} else {
		i := g.victimLocked()
		g.byKey.Delete(g.entries[i].key)
		g.entries[i] = e
	}
	g.byKey.Store(key, e)
	return e
}

// victimLocked returns the index of the entry to evict: the first unused
// CLOSED entry the CLOCK hand reaches within two turns (the first turn
// clears the used marks), or else the first entry after the hand. It reads
// the state without moving it, so no callback runs under the lock.
func (g *BreakerGroup) victimLocked() int {
	n := len(g.entries)
	for range 2 * n {
		i := g.hand
		g.hand = (g.hand + 1) % n
		e := g.entries[i]
		if e.used.Load() {
			e.used.Store(false)
			continue
		}
		if wordState(e.b.word.Load()) == StateClosed {
			return i
		}
	}
	i := g.hand
	g.hand = (g.hand + 1) % n
	return i
}
