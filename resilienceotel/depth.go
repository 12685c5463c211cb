package resilienceotel

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/metric"

	"github.com/resilience-go/resilience/queue"
)

// InstrumentQueues reports, at each collection, the observable gauge
// resilience.queue.depth ({task}): the tasks of each queue by state, from
// one [queue.Client.Stats] call, with attributes messaging.destination.name
// and state, one of "pending" (claimable now), "scheduled" (delayed),
// "active" (held by a worker), "retry" (waiting for the next attempt), and
// "succeeded", "failed", "revoked" (finished, results still kept). A
// Stats error (an unreachable broker) fails that collection's callback,
// which the SDK reports to otel's error handler; the next collection tries
// again.
//
// It returns an error wrapping [queue.ErrUnsupported] when c's broker
// cannot count its tasks (it is not a [queue.Inspector]), an error
// wrapping resilience.ErrInvalidArgument when c is nil, and the meter's
// error when the gauge cannot be registered.
func InstrumentQueues(c *queue.Client, cfg Config) error {
	if c == nil {
		return invalid("InstrumentQueues: client is nil")
	}
	if _, ok := c.Broker().(queue.Inspector); !ok {
		return fmt.Errorf("resilienceotel: InstrumentQueues: %w: broker %T does not count its tasks (it is not a queue.Inspector)",
			queue.ErrUnsupported, c.Broker())
	}
	meter := cfg.meter()
	depth, err := meter.Int64ObservableGauge("resilience.queue.depth",
		metric.WithUnit("{task}"), metric.WithDescription("Tasks in each queue, by state."))
	if err != nil {
		return err
	}
	_, err = meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		stats, err := c.Stats(ctx)
		if err != nil {
			return fmt.Errorf("resilienceotel: resilience.queue.depth: %w", err)
		}
		for _, s := range stats {
			q := keyDestination.String(s.Queue)
			for _, v := range []struct {
				state string
				n     int64
			}{
				{"pending", s.Pending}, {"scheduled", s.Scheduled}, {"active", s.Active}, {"retry", s.Retry},
				{"succeeded", s.Succeeded}, {"failed", s.Failed}, {"revoked", s.Revoked},
			} {
				o.ObserveInt64(depth, v.n, metric.WithAttributes(q, keyState.String(v.state)))
			}
		}
		return nil
	}, depth)
	return err
}
