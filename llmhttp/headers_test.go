package llmhttp

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/resilience-go/resilience"
)

var headerNow = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

func TestParseRetryAfter(t *testing.T) {
	tests := []struct {
		ms, ra string
		want   time.Duration
		ok     bool
	}{
		{"", "", 0, false},
		{"250", "", 250 * time.Millisecond, true},
		{"0.5", "", 500 * time.Microsecond, true},
		{" 40 ", "", 40 * time.Millisecond, true},
		{"", "3", 3 * time.Second, true},
		{"", "1.5", 1500 * time.Millisecond, true},
		{"", "0", 0, true},
		{"100", "9", 100 * time.Millisecond, true},
		{"soon", "9", 9 * time.Second, true},
		{"-1", "", 0, false},
		{"", "-5", 0, false},
		{"NaN", "Inf", 0, false},
		{"1e400", "", 0, false},
		{"", "86401", 0, false},
		{"", "86400", 24 * time.Hour, true},
		{"", "Tue, 04 Mar 2025 05:06:17 GMT", 10 * time.Second, true},
		{"", "Tue, 04 Mar 2025 05:00:00 GMT", 0, true},                 // already passed
		{"", "Tue, 04 Mar 2125 05:00:00 GMT", 0, false},                // a century away
		{"", "Tuesday, 04-Mar-25 05:06:10 GMT", 3 * time.Second, true}, // RFC 850
		{"", "tomorrow", 0, false},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.ms != "" {
			h.Set("retry-after-ms", tt.ms)
		}
		if tt.ra != "" {
			h.Set("Retry-After", tt.ra)
		}
		got, ok := ParseRetryAfter(h, headerNow)
		assert.Equal(t, tt.ok, ok, "ms=%q ra=%q: got ok %v, want %v", tt.ms, tt.ra, ok, tt.ok)
		assert.Equal(t, tt.want, got, "ms=%q ra=%q: got %v, want %v", tt.ms, tt.ra, got, tt.want)
	}
}

func TestParseReset(t *testing.T) {
	tests := []struct {
		v    string
		want time.Duration // from headerNow
		ok   bool
	}{
		{"6m0s", 6 * time.Minute, true},
		{"1.5s", 1500 * time.Millisecond, true},
		{"20ms", 20 * time.Millisecond, true},
		{"1h2m3s", time.Hour + 2*time.Minute + 3*time.Second, true},
		{"0s", 0, true},
		{"12", 12 * time.Second, true},
		{"2025-03-04T05:06:37Z", 30 * time.Second, true},
		{"2025-03-04T06:06:37+01:00", 30 * time.Second, true},
		{"2025-03-04T05:00:00Z", 0, true}, // passed: full now
		{"", 0, false},
		{"-3s", 0, false},
		{"25h", 0, false},
		{"9999999999h", 0, false},
		{"2999-01-01T00:00:00Z", 0, false},
		{"soon", 0, false},
		{"1s2", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseReset(tt.v, headerNow)
		assert.Equal(t, tt.ok, ok, "%q: got ok %v, want %v", tt.v, ok, tt.ok)
		if tt.ok {
			assert.Equal(t, headerNow.Add(tt.want), got, "%q", tt.v)
		}
	}
}

func TestParseLimitStatus(t *testing.T) {
	h := http.Header{}
	h.Set("x-ratelimit-limit-requests", "500")
	h.Set("x-ratelimit-remaining-requests", "499")
	h.Set("x-ratelimit-reset-requests", "120ms")
	h.Set("x-ratelimit-limit-tokens", "30000")
	h.Set("x-ratelimit-remaining-tokens", "29000")
	h.Set("x-ratelimit-reset-tokens", "2s")
	got, ok := ParseLimitStatus(h, headerNow)
	assert.True(t, ok)
	assert.Equal(t, resilience.LimitStatus{
		Requests: resilience.BucketStatus{Known: true, Remaining: 499, Limit: 500, Reset: headerNow.Add(120 * time.Millisecond)},
		Tokens:   resilience.BucketStatus{Known: true, Remaining: 29000, Limit: 30000, Reset: headerNow.Add(2 * time.Second)},
	}, got)

	a := http.Header{}
	a.Set("anthropic-ratelimit-requests-limit", "50")
	a.Set("anthropic-ratelimit-requests-remaining", "0")
	a.Set("anthropic-ratelimit-requests-reset", "2025-03-04T05:06:08Z")
	a.Set("anthropic-ratelimit-tokens-remaining", "-4") // nonsense: unknown
	got, ok = ParseLimitStatus(a, headerNow)
	assert.True(t, ok)
	assert.Equal(t, resilience.LimitStatus{
		Requests: resilience.BucketStatus{Known: true, Remaining: 0, Limit: 50, Reset: headerNow.Add(time.Second)},
	}, got)

	bad := http.Header{}
	bad.Set("x-ratelimit-remaining-requests", "99999999999999999999999")
	bad.Set("x-ratelimit-remaining-tokens", "1.5")
	_, ok = ParseLimitStatus(bad, headerNow)
	assert.False(t, ok)
	_, ok = ParseLimitStatus(http.Header{}, headerNow)
	assert.False(t, ok)
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range [][2]string{{"250", ""}, {"", "3"}, {"-1", "-5"}, {"NaN", "Inf"}, {"1e400", "1e30"},
		{"", "Tue, 04 Mar 2025 05:06:17 GMT"}, {"0x1p-2", "+5"}, {"", "Mon, 01 Jan 0001 00:00:00 GMT"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, ms, ra string) {
		h := http.Header{}
		h.Set("retry-after-ms", ms)
		h.Set("Retry-After", ra)
		d, ok := ParseRetryAfter(h, headerNow)
		if !ok && d != 0 {
			t.Fatalf("ms=%q ra=%q: got %v with ok false, want 0", ms, ra, d)
		}
		if d < 0 || d > MaxHeaderWait {
			t.Fatalf("ms=%q ra=%q: got %v, want within [0, %v]", ms, ra, d, MaxHeaderWait)
		}
	})
}

func FuzzParseReset(f *testing.F) {
	for _, s := range []string{"6m0s", "1.5s", "20ms", "12", "2025-03-04T05:06:37Z", "-3s", "9999999999h",
		"2999-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "1e9", "NaN"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		reset, ok := ParseReset(v, headerNow)
		if ok && (reset.Before(headerNow) || reset.After(headerNow.Add(MaxHeaderWait))) {
			t.Fatalf("%q: got reset %v, want within [now, now+%v]", v, reset, MaxHeaderWait)
		}
		h := http.Header{}
		h.Set("x-ratelimit-remaining-requests", v)
		h.Set("x-ratelimit-reset-requests", v)
		h.Set("anthropic-ratelimit-tokens-remaining", "0")
		h.Set("anthropic-ratelimit-tokens-limit", v)
		h.Set("anthropic-ratelimit-tokens-reset", v)
		s, _ := ParseLimitStatus(h, headerNow)
		for _, b := range []resilience.BucketStatus{s.Requests, s.Tokens} {
			if b.Remaining < 0 || b.Limit < 0 {
				t.Fatalf("%q: got negative counts %+v", v, b)
			}
			if !b.Reset.IsZero() && (b.Reset.Before(headerNow) || b.Reset.After(headerNow.Add(MaxHeaderWait))) {
				t.Fatalf("%q: got reset %v out of range", v, b.Reset)
			}
		}
		// The limiter must take any parsed status without panicking.
		lim, err := resilience.NewRateLimiter(resilience.RateLimit{RequestsPerMinute: 60})
		if err != nil {
			t.Fatal(err)
		}
		lim.Update(s)
	})
}
