package resilienceotel_test

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/resilience-go/resilience/queue"
	"github.com/resilience-go/resilience/resilienceotel"
)

// A handler that returns its context's error after the task was cancelled
// (Client.Cancel) ends a span whose error.type names the cause, "revoked",
// not the bare "canceled" of context.Canceled: the worker cancelled the
// context with cause queue.ErrRevoked.
func TestRevokedTaskSpanNamesTheCause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tel := newTelemetry(t)
		b := queue.NewMemoryBroker()
		defer b.Close()
		w, err := queue.NewWorker(b, queue.WorkerConfig{Concurrency: 1})
		require.NoError(t, err)
		started := make(chan struct{})
		w.Handle("wait", func(ctx context.Context, _ *queue.Task) (any, error) {
			close(started)
			<-ctx.Done()
			return nil, ctx.Err()
		})
		require.NoError(t, resilienceotel.InstrumentWorker(w, tel.cfg))
		c := queue.NewClient(b)
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()

		task, err := c.Enqueue(context.Background(), "wait", nil)
		require.NoError(t, err)
		<-started
		_, err = c.Cancel(context.Background(), task.ID)
		require.NoError(t, err)
		final, err := c.Wait(context.Background(), task.ID)
		require.NoError(t, err)
		require.Equal(t, queue.StateRevoked, final.State)
		stop()
		require.NoError(t, <-done)

		p := tel.span(t, "process default")
		assert.Equal(t, "revoked", attrs(p.Attributes())["error.type"])
		pts := tel.collect(t)["messaging.client.consumed.messages"].Data.(metricdata.Sum[int64]).DataPoints
		require.Len(t, pts, 1)
		assert.Equal(t, "revoked", setAttrs(pts[0].Attributes)["error.type"])
	})
}
