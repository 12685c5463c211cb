package bench

import (
	"context"
	"testing"

	"github.com/resilience-go/resilience"
)

// StreamBuffer is the buffer size of both stream workloads.
const StreamBuffer = 100

// StreamOurs: b.N items through Stream with a no-op consumer.
func StreamOurs(b *testing.B) {
	n := b.N
	b.ReportAllocs()
	b.ResetTimer()
	err := resilience.Stream(context.Background(), resilience.StreamConfig{Buffer: StreamBuffer},
		func(ctx context.Context, emit func(int) error) error {
			for i := range n {
				if err := emit(i); err != nil {
					return err
				}
			}
			return nil
		},
		func(context.Context, int) error { return nil })
	if err != nil {
		b.Fatal(err)
	}
}

// StreamRawChannel: b.N items through a buffered channel of the same size,
// one producer goroutine, the consumer in the caller.
func StreamRawChannel(b *testing.B) {
	n := b.N
	ch := make(chan int, StreamBuffer)
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		for i := range n {
			ch <- i
		}
		close(ch)
	}()
	for range ch {
	}
}
