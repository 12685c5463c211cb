// Package wait holds the one helper the library's packages share for
// waiting on a timer or a context, whichever ends first.
package wait

import (
	"context"
	"time"
)

// Sleep waits for d or until ctx ends, and returns ctx.Err() in that case
// (also when ctx has already ended and d <= 0). It returns nil after d, at
// once for d <= 0. It stops its timer before returning, so it leaves
// nothing behind.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
