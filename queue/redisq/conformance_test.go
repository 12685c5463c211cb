package redisq

import (
	"testing"

	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/dlq/dlqtest"
	"github.com/resilience-go/resilience/internal/redistest"
	"github.com/resilience-go/resilience/queue"
	"github.com/resilience-go/resilience/queue/queuetest"
)

// TestBrokerConformance runs the queue conformance suite against a Broker
// on a real Redis, each subtest under its own prefix.
func TestBrokerConformance(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := newClient(t, srv)
	queuetest.Run(t, func(t *testing.T) queue.Broker {
		b, _ := newBroker(t, rdb)
		return b
	})
}

// TestDeadLetterStoreConformance runs the dlq conformance suite against a
// DeadLetterStore on a real Redis.
func TestDeadLetterStoreConformance(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := newClient(t, srv)
	dlqtest.Run(t, func(t *testing.T) dlq.Store {
		return NewDeadLetterStore(rdb, Options{Prefix: uniquePrefix(t)})
	})
}
