package bench

import (
	"fmt"
	"slices"
	"time"
)

// Median returns the median of v (the upper one for an even count); v is
// not changed. It panics on an empty v.
func Median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// Ratio returns a/b, with b taken as at least 1 µs so that a zero never
// divides.
func Ratio(a, b time.Duration) float64 { return float64(a) / float64(max(b, time.Microsecond)) }

// Ms renders d in milliseconds with two decimals.
func Ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// Count renders n with thousands separators.
func Count(n int) string {
	if n < 0 {
		return "-" + Count(-n)
	}
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
