package resilience

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var errConsume = errors.New("consumer failed")

// stEmitN returns a producer that emits 0..n-1, waiting gaps[i] (0 when
// missing) before item i, then waits tail and returns end. Its waits end
// early, with an error, when its context ends; it returns emit's errors.
func stEmitN(n int, gaps []time.Duration, tail time.Duration, end error) func(context.Context, func(int) error) error {
	return func(ctx context.Context, emit func(int) error) error {
		for i := range n {
			if i < len(gaps) {
				if err := stSleep(ctx, gaps[i]); err != nil {
					return err
				}
			}
			if err := emit(i); err != nil {
				return err
			}
		}
		if err := stSleep(ctx, tail); err != nil {
			return err
		}
		return end
	}
}

func stSleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func TestStreamDeliversEveryItemOnceInOrder(t *testing.T) {
	errProduce := errors.New("producer failed")
	for _, end := range []error{nil, errProduce} {
		t.Run(stName(end), func(t *testing.T) {
			var got []int
			err := Stream(context.Background(), StreamConfig{Buffer: 3}, stEmitN(1000, nil, 0, end),
				func(_ context.Context, v int) error { got = append(got, v); return nil })
			assert.Equal(t, end, err, "got %v, want produce's error %v", err, end)
			require.Len(t, got, 1000, "produce's error comes after every buffered item")
			for i, v := range got {
				if v != i {
					t.Fatalf("item %d: got %d, want %d", i, v, i)
				}
			}
		})
	}
}

func TestStreamConsumerErrorStopsTheProducer(t *testing.T) {
	var emitErr, cause error
	var consumed, accepted int
	err := Stream(context.Background(), StreamConfig{Buffer: 2},
		func(ctx context.Context, emit func(int) error) error {
			for i := 0; ; i++ {
				if emitErr = emit(i); emitErr != nil {
					cause = context.Cause(ctx)
					return emitErr
				}
				accepted++
			}
		},
		func(_ context.Context, v int) error {
			consumed++
			if v == 5 {
				return errConsume
			}
			return nil
		})
	assert.Equal(t, errConsume, err, "Stream returns consume's error as is")
	assert.ErrorIs(t, emitErr, errConsume, "emit's error after the consumer stopped")
	assert.ErrorIs(t, cause, errConsume, "cause of the producer's context")
	assert.Equal(t, 6, consumed)
	assert.LessOrEqual(t, accepted, consumed+2, "accepted items beyond the buffer")
}

func TestStreamCtxEndStopsBoth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(3500*time.Millisecond, cancel)
		var emitErr error
		var got []int
		start := time.Now()
		err := Stream(ctx, StreamConfig{},
			func(ctx context.Context, emit func(int) error) error {
				for i := 0; ; i++ {
					if err := stSleep(ctx, time.Second); err != nil {
						emitErr = emit(i) // a late emit is refused too
						return err
					}
					if err := emit(i); err != nil {
						return err
					}
				}
			},
			func(_ context.Context, v int) error { got = append(got, v); return nil })
		assert.Equal(t, context.Canceled, err)
		assert.Equal(t, 3500*time.Millisecond, time.Since(start), "returned at")
		assert.Equal(t, []int{0, 1, 2}, got)
		assert.ErrorIs(t, emitErr, context.Canceled, "emit after the end")
	})
}

func TestStreamTimeoutsAreMeasuredFromTheConsumerSide(t *testing.T) {
	s := time.Second
	tests := []struct {
		name    string
		cfg     StreamConfig
		gaps    []time.Duration // producer's wait before each item
		tail    time.Duration   // producer's wait before returning
		work    time.Duration   // consumer's time per item
		wantErr error
		wantN   int
		wantAt  time.Duration
	}{
		{
			name: "idle timeout exactly after the last item",
			cfg:  StreamConfig{IdleTimeout: 2 * s}, gaps: []time.Duration{0, 0, 0, 10 * s},
			wantErr: ErrIdleTimeout, wantN: 3, wantAt: 2 * s,
		},
		{
			name: "idle timeout counts from the end of a slow consume",
			cfg:  StreamConfig{IdleTimeout: 2 * s}, gaps: []time.Duration{0, 8 * s}, work: 5 * s,
			wantErr: ErrIdleTimeout, wantN: 1, wantAt: 7 * s,
		},
		{
			name: "a slow consumer never trips it",
			cfg:  StreamConfig{IdleTimeout: 2 * s}, gaps: []time.Duration{4 * s, 4 * s, 4 * s, 4 * s, 4 * s}, work: 5 * s,
			wantN: 5, wantAt: 29 * s,
		},
		{
			name: "a producer slower than the timeout hidden by a slower consumer",
			cfg:  StreamConfig{IdleTimeout: 2 * s}, gaps: []time.Duration{0, 3 * s, 3 * s}, work: 5 * s,
			wantN: 3, wantAt: 15 * s,
		},
		{
			name: "idle timeout while waiting for the producer to finish",
			cfg:  StreamConfig{IdleTimeout: 2 * s}, gaps: []time.Duration{0}, tail: 5 * s,
			wantErr: ErrIdleTimeout, wantN: 1, wantAt: 2 * s,
		},
		{
			name: "first item timeout",
			cfg:  StreamConfig{FirstItemTimeout: 3 * s, IdleTimeout: time.Hour}, gaps: []time.Duration{5 * s},
			wantErr: ErrFirstItemTimeout, wantN: 0, wantAt: 3 * s,
		},
		{
			name: "first item within its own timeout, longer than the idle one",
			cfg:  StreamConfig{FirstItemTimeout: 3 * s, IdleTimeout: s}, gaps: []time.Duration{2 * s},
			wantN: 1, wantAt: 2 * s,
		},
		{
			name: "first item timeout with nothing ever emitted",
			cfg:  StreamConfig{FirstItemTimeout: 3 * s}, tail: time.Hour,
			wantErr: ErrFirstItemTimeout, wantAt: 3 * s,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var n int
				var cause error
				produce := stEmitN(len(tt.gaps), tt.gaps, tt.tail, nil)
				start := time.Now()
				err := Stream(t.Context(), tt.cfg,
					func(ctx context.Context, emit func(int) error) error {
						defer func() { cause = context.Cause(ctx) }()
						return produce(ctx, emit)
					},
					func(_ context.Context, v int) error {
						assert.Equal(t, n, v, "item order")
						n++
						time.Sleep(tt.work)
						return nil
					})
				if tt.wantErr == nil {
					assert.NoError(t, err)
				} else {
					assert.ErrorIs(t, err, tt.wantErr)
					assert.ErrorIs(t, cause, tt.wantErr, "cause of the producer's context")
				}
				assert.Equal(t, tt.wantN, n, "items consumed")
				assert.Equal(t, tt.wantAt, time.Since(start), "returned at")
			})
		})
	}
}

func TestStreamProducerNeverRunsMoreThanBufferAhead(t *testing.T) {
	for _, tt := range []struct{ buffer, want int }{{1, 1}, {4, 4}, {0, DefaultStreamBuffer}} {
		t.Run(fmt.Sprint("buffer=", tt.buffer), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var accepted, started atomic.Int64
				done := make(chan error)
				go func() {
					done <- Stream(t.Context(), StreamConfig{Buffer: tt.buffer},
						func(_ context.Context, emit func(int) error) error {
							for i := range 300 {
								if err := emit(i); err != nil {
									return err
								}
								accepted.Add(1)
							}
							return nil
						},
						func(context.Context, int) error {
							started.Add(1)
							time.Sleep(time.Second)
							return nil
						})
				}()
				for range 5 {
					synctest.Wait() // producer blocked in emit, consumer asleep
					ahead := accepted.Load() - started.Load()
					assert.Equal(t, int64(tt.want), ahead, "accepted %d, consume started %d", accepted.Load(), started.Load())
					time.Sleep(time.Second)
				}
				require.NoError(t, <-done)
			})
		})
	}
}

func TestStreamInvalidArguments(t *testing.T) {
	produce := func(context.Context, func(int) error) error { return nil }
	consume := func(context.Context, int) error { return nil }
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"negative buffer": func() error { return Stream(ctx, StreamConfig{Buffer: -1}, produce, consume) },
		"negative first":  func() error { return Stream(ctx, StreamConfig{FirstItemTimeout: -1}, produce, consume) },
		"negative idle":   func() error { return Stream(ctx, StreamConfig{IdleTimeout: -time.Second}, produce, consume) },
		"nil produce":     func() error { return Stream(ctx, StreamConfig{}, nil, consume) },
		"nil consume":     func() error { return Stream[int](ctx, StreamConfig{}, produce, nil) },
	} {
		t.Run(name, func(t *testing.T) {
			assert.ErrorIs(t, call(), ErrInvalidArgument)
		})
	}
}

func TestStreamRepanicsAfterCleanup(t *testing.T) {
	t.Run("producer panics", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var consumed int
			first := make(chan struct{})
			start := time.Now()
			r := panicOf(func() {
				_ = Stream(t.Context(), StreamConfig{Buffer: 10},
					func(_ context.Context, emit func(int) error) error {
						_ = emit(0)
						<-first // the consumer is busy with item 0
						for i := 1; i < 5; i++ {
							_ = emit(i)
						}
						panic("producer boom")
					},
					func(context.Context, int) error {
						if consumed++; consumed == 1 {
							close(first)
						}
						time.Sleep(time.Second)
						return nil
					})
			})
			require.IsType(t, &PanicError{}, r)
			assert.Equal(t, "producer boom", r.(*PanicError).Value)
			assert.Equal(t, 1, consumed, "items consumed after the producer panicked")
			assert.Equal(t, time.Second, time.Since(start), "re-panicked at")
		})
	})
	t.Run("consumer panics", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var producerDone atomic.Bool
			var emitErr error
			r := panicOf(func() {
				_ = Stream(t.Context(), StreamConfig{Buffer: 1},
					func(_ context.Context, emit func(int) error) error {
						defer producerDone.Store(true)
						for i := 0; ; i++ {
							if emitErr = emit(i); emitErr != nil {
								time.Sleep(time.Second) // slow cleanup is waited for
								return emitErr
							}
						}
					},
					func(context.Context, int) error { panic("consumer boom") })
			})
			assert.Equal(t, "consumer boom", r, "the consumer's own panic propagates as is")
			assert.True(t, producerDone.Load(), "producer still running when the panic left Stream")
			assert.Error(t, emitErr)
		})
	})
}

func stName(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}
