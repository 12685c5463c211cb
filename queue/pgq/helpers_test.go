package pgq

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/resilience-go/resilience/internal/pgtest"
)

// newBroker returns a broker on a schema of its own, closed (and the
// schema dropped) when t ends.
func newBroker(t testing.TB, pool *pgxpool.Pool) (*Broker, Options) {
	t.Helper()
	opts := Options{Schema: pgtest.Schema(t, pool)}
	b := NewBroker(pool, opts)
	t.Cleanup(func() { _ = b.Close() })
	return b, opts
}
