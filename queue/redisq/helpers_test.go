package redisq

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/resilience-go/resilience/internal/redistest"
)

var prefixSeq atomic.Int64

// uniquePrefix returns a key prefix that no other test uses, even on a
// shared REDIS_ADDR server.
func uniquePrefix(t testing.TB) string {
	name := strings.NewReplacer("/", ".", " ", "_", "{", "(", "}", ")").Replace(t.Name())
	return fmt.Sprintf("test.%s.%d.%s", name, prefixSeq.Add(1), newToken()[:6])
}

// newClient returns a go-redis client of srv, closed when t ends.
func newClient(t testing.TB, srv *redistest.Server) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 64})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// newBroker returns a broker with a unique prefix on rdb, closed when t
// ends.
func newBroker(t testing.TB, rdb redis.UniversalClient) (*Broker, Options) {
	t.Helper()
	opts := Options{Prefix: uniquePrefix(t)}
	b := NewBroker(rdb, opts)
	t.Cleanup(func() { _ = b.Close() })
	return b, opts
}
