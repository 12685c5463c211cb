package pgq

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/internal/pgtest"
	"github.com/resilience-go/resilience/queue"
)

// TestMigrateConcurrentAndIdempotent starts eight migrations of one schema
// at once, then one more: all succeed and each migration is applied once.
func TestMigrateConcurrentAndIdempotent(t *testing.T) {
	pool := pgtest.Pool(t, 16)
	opts := Options{Schema: pgtest.Schema(t, pool)}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() { errs <- Migrate(ctx, pool, opts) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Migrate: %v", err)
		}
	}
	if err := Migrate(ctx, pool, opts); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	var n, top int
	err := pool.QueryRow(ctx, `SELECT count(*), max(version) FROM "`+opts.Schema+`".migrations`).Scan(&n, &top)
	if err != nil || n != LatestVersion() || top != LatestVersion() {
		t.Fatalf("migrations table: got %d rows up to %d (%v), want %d rows up to %d", n, top, err, LatestVersion(), LatestVersion())
	}
}

// TestBadSchemaName: a schema that is not a plain identifier is refused by
// every entry point with the sentinel of its package, before any SQL runs.
func TestBadSchemaName(t *testing.T) {
	pool := pgtest.Pool(t, 2)
	ctx := context.Background()
	for _, bad := range []string{`x"; DROP TABLE y; --`, "Upper", "1abc", "with space", "a.b",
		"a123456789012345678901234567890123456789012345678"} {
		if err := Migrate(ctx, pool, Options{Schema: bad}); !errors.Is(err, queue.ErrInvalidArgument) {
			t.Errorf("Migrate(%q): got %v, want ErrInvalidArgument", bad, err)
		}
		if _, err := NewBroker(pool, Options{Schema: bad}).Get(ctx, "x"); !errors.Is(err, queue.ErrInvalidArgument) {
			t.Errorf("Broker with schema %q: got %v, want ErrInvalidArgument", bad, err)
		}
		if _, err := NewDeadLetterStore(pool, Options{Schema: bad}).Len(ctx); !errors.Is(err, dlq.ErrInvalidArgument) {
			t.Errorf("DeadLetterStore with schema %q: got %v, want dlq.ErrInvalidArgument", bad, err)
		}
	}
	if _, err := NewBroker(nil, Options{}).Get(ctx, "x"); !errors.Is(err, queue.ErrInvalidArgument) {
		t.Errorf("Broker with a nil pool: got %v, want ErrInvalidArgument", err)
	}
}

// TestMigrateRefusesNewerSchema: a binary must not run against a schema
// migrated by a newer one.
func TestMigrateRefusesNewerSchema(t *testing.T) {
	pool := pgtest.Pool(t, 2)
	opts := Options{Schema: pgtest.Schema(t, pool)}
	ctx := context.Background()
	if err := Migrate(ctx, pool, opts); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO "`+opts.Schema+`".migrations (version, name) VALUES (999, 'future')`); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(ctx, pool, opts); err == nil {
		t.Fatal("Migrate of a schema at version 999: got nil, want an error saying it is newer")
	}
}
