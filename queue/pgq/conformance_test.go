package pgq

import (
	"testing"

	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/dlq/dlqtest"
	"github.com/resilience-go/resilience/internal/pgtest"
	"github.com/resilience-go/resilience/queue"
	"github.com/resilience-go/resilience/queue/queuetest"
)

// TestBrokerConformance runs the queue conformance suite against a Broker
// on a real PostgreSQL, each subtest in a schema of its own.
func TestBrokerConformance(t *testing.T) {
	pool := pgtest.Pool(t, 64)
	queuetest.Run(t, func(t *testing.T) queue.Broker {
		b, _ := newBroker(t, pool)
		return b
	})
}

// TestDeadLetterStoreConformance runs the dlq conformance suite against a
// DeadLetterStore on a real PostgreSQL.
func TestDeadLetterStoreConformance(t *testing.T) {
	pool := pgtest.Pool(t, 32)
	dlqtest.Run(t, func(t *testing.T) dlq.Store {
		return NewDeadLetterStore(pool, Options{Schema: pgtest.Schema(t, pool)})
	})
}
