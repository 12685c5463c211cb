package resilience

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newTestGroup(t *testing.T, cfg BreakerGroupConfig) *BreakerGroup {
	t.Helper()
	g, err := NewBreakerGroup(cfg)
	require.NoError(t, err)
	return g
}

// kept reports whether the group still holds key, without adding it.
func (g *BreakerGroup) kept(key string) (*Breaker, bool) {
	v, ok := g.byKey.Load(key)
	if !ok {
		return nil, false
	}
	return v.(*groupEntry).b, true
}

func TestNewBreakerGroupRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   BreakerGroupConfig
		field string
	}{
		{"negative MaxKeys", BreakerGroupConfig{MaxKeys: -1}, "MaxKeys"},
		{"bad breaker config", BreakerGroupConfig{Breaker: BreakerConfig{FailureRate: 2, Window: time.Second}}, "FailureRate"},
		{"breaker callback", BreakerGroupConfig{Breaker: BreakerConfig{OnStateChange: func(State, State) {}}}, "OnStateChange"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := NewBreakerGroup(tc.cfg)
			require.ErrorIs(t, err, ErrInvalidArgument)
			assert.Nil(t, g)
			assert.Contains(t, err.Error(), tc.field)
		})
	}
}

func TestBreakerGroupKeysAreIndependent(t *testing.T) {
	g := newTestGroup(t, BreakerGroupConfig{Breaker: BreakerConfig{FailureThreshold: 2}})
	a, b := g.Get("openai"), g.Get("anthropic")
	assert.Same(t, a, g.Get("openai"), "same key, same breaker")
	assert.NotSame(t, a, b)
	for range 2 {
		require.ErrorIs(t, g.Do(t.Context(), "openai", fail), errUpstream)
	}
	assert.Equal(t, StateOpen, a.State())
	assert.ErrorIs(t, g.Do(t.Context(), "openai", succeed), ErrOpen)
	assert.NoError(t, g.Do(t.Context(), "anthropic", succeed), "another key is unaffected")
	assert.Equal(t, 2, g.Len())
}

func TestBreakerGroupDefaultBound(t *testing.T) {
	g := newTestGroup(t, BreakerGroupConfig{})
	for i := range DefaultMaxKeys + 10 {
		g.Get(strconv.Itoa(i))
	}
	assert.Equal(t, DefaultMaxKeys, g.Len())
}

func TestBreakerGroupKeepsOpenBreakers(t *testing.T) {
	g := newTestGroup(t, BreakerGroupConfig{MaxKeys: 3})
	a, b := g.Get("a"), g.Get("b")
	g.Get("c")
	a.Trip(time.Hour)
	g.Get("d") // full: a is open, so b (closed, least recently used) goes
	assert.Equal(t, 3, g.Len())
	got, ok := g.kept("a")
	assert.True(t, ok && got == a, "an open breaker must be kept")
	_, ok = g.kept("b")
	assert.False(t, ok, "b should have been evicted")
	assert.NotSame(t, b, g.Get("b"), "an evicted key comes back as a new breaker")
	assert.Equal(t, StateClosed, g.Get("b").State())
	assert.Equal(t, 3, g.Len())
}

func TestBreakerGroupKeepsRecentlyUsed(t *testing.T) {
	g := newTestGroup(t, BreakerGroupConfig{MaxKeys: 4})
	k := make([]*Breaker, 5)
	for i := range 5 {
		k[i] = g.Get(strconv.Itoa(i)) // the fifth evicts "0", clearing every use mark
	}
	_, ok := g.kept("0")
	assert.False(t, ok, "0 should have been evicted")
	g.Get("1")
	g.Get("2")
	g.Get("5") // 1 and 2 were used since the last sweep, 3 was not
	_, ok = g.kept("3")
	assert.False(t, ok, "the idle key 3 should have been evicted")
	for _, i := range []int{1, 2, 4} {
		got, ok := g.kept(strconv.Itoa(i))
		assert.True(t, ok && got == k[i], "key %d must be kept", i)
	}
}

func TestBreakerGroupBoundHoldsWhenAllOpen(t *testing.T) {
	g := newTestGroup(t, BreakerGroupConfig{MaxKeys: 2})
	g.Get("a").Trip(time.Hour)
	g.Get("b").Trip(time.Hour)
	g.Get("c")
	assert.Equal(t, 2, g.Len(), "the bound is hard even when every breaker is open")
	_, ok := g.kept("c")
	assert.True(t, ok)
}

func TestBreakerGroupCallbackNamesTheKey(t *testing.T) {
	var g *BreakerGroup
	var mu sync.Mutex
	var seen []string
	g = newTestGroup(t, BreakerGroupConfig{
		Breaker: BreakerConfig{FailureThreshold: 1},
		OnStateChange: func(key string, from, to State) {
			// Calling back into the group must not deadlock.
			n := g.Len()
			st := g.Get(key).State()
			mu.Lock()
			seen = append(seen, fmt.Sprintf("%s %v>%v now=%v len=%d", key, from, to, st, n))
			mu.Unlock()
		},
	})
	_ = g.Do(t.Context(), "gpt-4o", fail)
	g.Get("claude").Trip(0)
	g.Get("gpt-4o").Reset()
	assert.Equal(t, []string{
		"gpt-4o CLOSED>OPEN now=OPEN len=1",
		"claude CLOSED>OPEN now=OPEN len=2",
		"gpt-4o OPEN>CLOSED now=CLOSED len=2",
	}, seen)
}

func TestBreakerGroupConcurrentUse(t *testing.T) {
	const maxKeys = 8
	g := newTestGroup(t, BreakerGroupConfig{MaxKeys: maxKeys, Breaker: BreakerConfig{FailureThreshold: 3}})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 500 {
				key := strconv.Itoa((i*7 + w) % 20)
				fn := succeed
				if i%3 == 0 {
					fn = fail
				}
				_ = g.Do(context.Background(), key, fn)
				if n := g.Len(); n > maxKeys {
					t.Errorf("Len: got %d, want at most %d", n, maxKeys)
					return
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, maxKeys, g.Len())
}
