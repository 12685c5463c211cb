package resilienceotel

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/resilience-go/resilience/queue"
)

// A handler's context.Canceled is reported as the cause the worker gave
// its context, and a task's time limits are timeouts.
func TestErrorTypeOfAHandlersError(t *testing.T) {
	cancelled := func(cause error) context.Context {
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(cause)
		return ctx
	}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want string
	}{
		{"revoked", cancelled(queue.ErrRevoked), context.Canceled, "revoked"},
		{"hard time limit", cancelled(queue.ErrTimeLimit), context.Canceled, "timeout"},
		{"wrapped echo", cancelled(queue.ErrRevoked), fmt.Errorf("embed: %w", context.Canceled), "revoked"},
		{"plain cancel", cancelled(nil), context.Canceled, "canceled"},
		{"not cancelled", context.Background(), context.Canceled, "canceled"},
		{"own error kept", cancelled(queue.ErrRevoked), errors.New("bad input"), "_OTHER"},
		{"time limit outcome", context.Background(), fmt.Errorf("%w: attempt 1", queue.ErrTimeLimit), "timeout"},
		{"soft time limit", context.Background(), queue.ErrSoftTimeLimit, "timeout"},
	} {
		if got := errorType(causeOf(tc.ctx, tc.err)); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
