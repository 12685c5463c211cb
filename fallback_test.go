package resilience

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	errPrimary  = errors.New("primary failed")
	errFallback = errors.New("fallback failed")
)

// fbSlow returns a call that answers v after d, or fails with its
// context's error when the context ends first. It records when its context
// ended in *ended (measured from start), if it did.
func fbSlow(start time.Time, d time.Duration, v string, ended *time.Duration) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		select {
		case <-time.After(d):
			return v, nil
		case <-ctx.Done():
			if ended != nil {
				*ended = time.Since(start)
			}
			return "", ctx.Err()
		}
	}
}

func TestFallbackSwitchesExactlyAtTheTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var primaryCancelled, fallbackStarted time.Duration
		got, err := Fallback(t.Context(), 3*time.Second,
			fbSlow(start, time.Hour, "gpt-4", &primaryCancelled),
			func(ctx context.Context) (string, error) {
				fallbackStarted = time.Since(start)
				time.Sleep(time.Second)
				return "cheap", nil
			})
		require.NoError(t, err)
		assert.Equal(t, "cheap", got)
		assert.Equal(t, 3*time.Second, fallbackStarted, "fallback started at")
		assert.Equal(t, 3*time.Second, primaryCancelled, "primary's context cancelled at")
		assert.Equal(t, 4*time.Second, time.Since(start), "returned at")
	})
}

func TestFallbackDoesNotWaitForAPrimaryIgnoringItsContextToStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var primaryDone atomic.Bool
		var fallbackStarted time.Duration
		got, err := Fallback(t.Context(), time.Second,
			func(context.Context) (string, error) {
				time.Sleep(10 * time.Second) // deaf to its context
				primaryDone.Store(true)
				return "late", nil
			},
			func(context.Context) (string, error) {
				fallbackStarted = time.Since(start)
				return "cheap", nil
			})
		require.NoError(t, err)
		assert.Equal(t, "cheap", got, "an abandoned primary's late result is not used")
		assert.Equal(t, time.Second, fallbackStarted, "fallback started at")
		assert.True(t, primaryDone.Load(), "Fallback returned while the primary was still running")
		assert.Equal(t, 10*time.Second, time.Since(start), "returned once the primary had returned")
	})
}

func TestFallbackOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		primary    func(context.Context) (string, error)
		fallback   func(context.Context) (string, error)
		want       string
		wantErrs   []error // all must match
		notErrs    []error // none may match
		wantAt     time.Duration
		noFallback bool
	}{
		{
			name:       "primary succeeds",
			primary:    fbSlow(time.Time{}, time.Second, "gpt-4", nil),
			want:       "gpt-4",
			wantAt:     time.Second,
			noFallback: true,
		},
		{
			name:    "primary fails fast, fallback at once",
			primary: func(context.Context) (string, error) { time.Sleep(time.Second); return "", errPrimary },
			want:    "cheap",
			wantAt:  time.Second,
		},
		{
			name:     "primary times out, fallback fails",
			primary:  fbSlow(time.Time{}, time.Hour, "gpt-4", nil),
			fallback: func(context.Context) (string, error) { return "", errFallback },
			wantErrs: []error{errFallback, ErrTimeout, context.DeadlineExceeded},
			wantAt:   2 * time.Second,
		},
		{
			name:     "abandoned primary answers late, fallback fails",
			primary:  func(context.Context) (string, error) { time.Sleep(3 * time.Second); return "late", nil },
			fallback: func(context.Context) (string, error) { return "", errFallback },
			want:     "late",
			wantAt:   3 * time.Second,
		},
		{
			name:     "primary fails, fallback fails",
			primary:  func(context.Context) (string, error) { return "", errPrimary },
			fallback: func(context.Context) (string, error) { return "", errFallback },
			wantErrs: []error{errFallback, errPrimary},
			notErrs:  []error{ErrTimeout},
		},
		{
			name: "primary returns its own deadline error, fallback fails",
			primary: func(ctx context.Context) (string, error) {
				<-ctx.Done()
				return "", errors.Join(errPrimary, ctx.Err())
			},
			fallback: func(context.Context) (string, error) { return "", errFallback },
			wantErrs: []error{errFallback, errPrimary, ErrTimeout, context.DeadlineExceeded},
			wantAt:   2 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var fallbackRan bool
				fallback := func(ctx context.Context) (string, error) {
					fallbackRan = true
					if tt.fallback != nil {
						return tt.fallback(ctx)
					}
					return "cheap", nil
				}
				start := time.Now()
				got, err := Fallback(t.Context(), 2*time.Second, tt.primary, fallback)
				assert.Equal(t, tt.wantAt, time.Since(start), "returned at")
				assert.Equal(t, !tt.noFallback, fallbackRan, "fallback ran")
				if len(tt.wantErrs) == 0 {
					require.NoError(t, err)
					assert.Equal(t, tt.want, got)
					return
				}
				assert.Empty(t, got)
				for _, want := range tt.wantErrs {
					assert.ErrorIs(t, err, want)
				}
				for _, not := range tt.notErrs {
					assert.NotErrorIs(t, err, not)
				}
			})
		})
	}
}

func TestFallbackCallerCancellationNeverTriggersTheFallback(t *testing.T) {
	tests := []struct {
		name    string
		ctx     func(context.Context) (context.Context, context.CancelFunc)
		wantErr error
		wantAt  time.Duration
	}{
		{
			name: "cancelled while primary runs",
			ctx: func(parent context.Context) (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(parent)
				time.AfterFunc(time.Second, cancel)
				return ctx, cancel
			},
			wantErr: context.Canceled,
			wantAt:  time.Second,
		},
		{
			name: "caller deadline before the timeout",
			ctx: func(parent context.Context) (context.Context, context.CancelFunc) {
				return context.WithTimeout(parent, 2*time.Second)
			},
			wantErr: context.DeadlineExceeded,
			wantAt:  2 * time.Second,
		},
		{
			name: "already cancelled",
			ctx: func(parent context.Context) (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(parent)
				cancel()
				return ctx, cancel
			},
			wantErr: context.Canceled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := tt.ctx(t.Context())
				defer cancel()
				start := time.Now()
				var fallbackRan bool
				_, err := Fallback(ctx, 3*time.Second,
					fbSlow(start, time.Hour, "gpt-4", nil),
					func(context.Context) (string, error) { fallbackRan = true; return "cheap", nil })
				assert.Equal(t, ctx.Err(), err, "got %v, want the caller's ctx.Err()", err)
				assert.ErrorIs(t, err, tt.wantErr)
				assert.NotErrorIs(t, err, ErrTimeout)
				assert.False(t, fallbackRan, "fallback ran after the caller's cancellation")
				assert.Equal(t, tt.wantAt, time.Since(start), "returned at")
			})
		})
	}
}

func TestFallbackInvalidArguments(t *testing.T) {
	ok := func(context.Context) (int, error) { return 1, nil }
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"timeout 0":      func() error { _, err := Fallback(ctx, 0, ok, ok); return err },
		"timeout -1s":    func() error { _, err := Fallback(ctx, -time.Second, ok, ok); return err },
		"nil primary":    func() error { _, err := Fallback(ctx, time.Second, nil, ok); return err },
		"nil fallback":   func() error { _, err := Fallback(ctx, time.Second, ok, nil); return err },
		"no fns":         func() error { _, err := Hedge[int](ctx, time.Second); return err },
		"nil hedge fn":   func() error { _, err := Hedge(ctx, time.Second, ok, nil); return err },
		"negative delay": func() error { _, err := Hedge(ctx, -time.Second, ok); return err },
	} {
		t.Run(name, func(t *testing.T) {
			assert.ErrorIs(t, call(), ErrInvalidArgument)
		})
	}
}

func TestFallbackRepanicsInTheCaller(t *testing.T) {
	t.Run("primary panics before the timeout", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := panicOf(func() {
				_, _ = Fallback(t.Context(), time.Second,
					func(context.Context) (int, error) { panic("primary boom") },
					func(context.Context) (int, error) { t.Error("fallback ran after a panic"); return 0, nil })
			})
			require.IsType(t, &PanicError{}, r)
			assert.Equal(t, "primary boom", r.(*PanicError).Value)
		})
	})
	t.Run("abandoned primary panics while the fallback succeeds", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			r := panicOf(func() {
				_, _ = Fallback(t.Context(), time.Second,
					func(context.Context) (int, error) { time.Sleep(2 * time.Second); panic("late boom") },
					func(context.Context) (int, error) { return 2, nil })
			})
			require.IsType(t, &PanicError{}, r, "a panic is never swallowed")
			assert.Equal(t, "late boom", r.(*PanicError).Value)
			assert.Equal(t, 2*time.Second, time.Since(start))
		})
	})
	t.Run("fallback panics after the primary is joined", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			var primaryDone atomic.Bool
			r := panicOf(func() {
				_, _ = Fallback(t.Context(), time.Second,
					func(context.Context) (int, error) {
						time.Sleep(3 * time.Second)
						primaryDone.Store(true)
						return 1, nil
					},
					func(context.Context) (int, error) { panic("fallback boom") })
			})
			assert.Equal(t, "fallback boom", r, "the fallback's own panic propagates as is")
			assert.True(t, primaryDone.Load(), "primary still running when the panic left Fallback")
			assert.Equal(t, 3*time.Second, time.Since(start))
		})
	})
}

// panicOf runs f and returns what it panicked with, or nil.
func panicOf(f func()) (r any) {
	defer func() { r = recover() }()
	f()
	return nil
}
