package resilienceotel

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/resilience-go/resilience"
)

// InstrumentBreaker reports b under name: the observable gauge
// resilience.breaker.state ({state}: 0 closed, 1 open, 2 half-open) at each
// collection, and the counter resilience.breaker.transitions
// ({transition}) counting every state change from now on, with attribute
// resilience.breaker.state naming the state entered ("closed", "open",
// "half_open"). Both carry resilience.breaker.name = name. Reading the
// gauge calls [resilience.Breaker.State], which moves an open breaker
// whose recovery time has passed to half-open, as any call would.
//
// It returns an error wrapping resilience.ErrInvalidArgument when b is nil
// or name is empty, and the meter's error when an instrument cannot be
// created.
func InstrumentBreaker(name string, b *resilience.Breaker, cfg Config) error {
	if b == nil {
		return invalid("InstrumentBreaker: breaker %q is nil", name)
	}
	if name == "" {
		return invalid("InstrumentBreaker: name is empty; want the name dashboards show for the breaker")
	}
	meter := cfg.meter()
	nameAttr := keyBreakerName.String(name)
	state, err := meter.Int64ObservableGauge("resilience.breaker.state",
		metric.WithUnit("{state}"), metric.WithDescription("Circuit breaker state: 0 closed, 1 open, 2 half-open."))
	if err != nil {
		return err
	}
	transitions, err := meter.Int64Counter("resilience.breaker.transitions",
		metric.WithUnit("{transition}"), metric.WithDescription("Circuit breaker state changes, by the state entered."))
	if err != nil {
		return err
	}
	if _, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(state, stateValue(b.State()), metric.WithAttributes(nameAttr))
		return nil
	}, state); err != nil {
		return err
	}
	sets := map[resilience.State]metric.AddOption{}
	for _, s := range []resilience.State{resilience.StateClosed, resilience.StateOpen, resilience.StateHalfOpen} {
		sets[s] = metric.WithAttributeSet(attribute.NewSet(nameAttr, keyBreakerState.String(stateName(s))))
	}
	b.OnStateChange(func(_, to resilience.State) {
		transitions.Add(context.Background(), 1, sets[to])
	})
	return nil
}

// stateValue is the gauge's number for s.
func stateValue(s resilience.State) int64 {
	switch s {
	case resilience.StateOpen:
		return 1
	case resilience.StateHalfOpen:
		return 2
	}
	return 0
}

// stateName is "closed", "open" or "half_open".
func stateName(s resilience.State) string { return strings.ToLower(s.String()) }
