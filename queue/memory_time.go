package queue

import (
	"math"
	"time"
)

// The saturating time arithmetic of [MemoryBroker], which keeps deadlines
// as Unix nanoseconds in an int64.

// earliestNano and latestNano are the earliest and latest instants whose
// Unix nanoseconds fit in an int64 (in the years 1677 and 2262).
var (
	earliestNano = time.Unix(0, math.MinInt64)
	latestNano   = time.Unix(0, math.MaxInt64)
)

// unixNano is t.UnixNano, saturated: a time past [latestNano] (a delay of
// centuries) stays the farthest future instead of wrapping into the past,
// which would make the task ready at once, and a time before [earliestNano]
// stays the farthest past instead of wrapping into the future, which would
// hold the task for centuries.
func unixNano(t time.Time) int64 {
	switch {
	case t.After(latestNano):
		return math.MaxInt64
	case t.Before(earliestNano):
		return math.MinInt64
	}
	return t.UnixNano()
}

// addNanos is now+d, saturated at math.MaxInt64: a huge lease or result
// TTL means "practically forever", never an instant in the past.
func addNanos(now int64, d time.Duration) int64 {
	if d > 0 && now > math.MaxInt64-int64(d) {
		return math.MaxInt64
	}
	return now + int64(d)
}
