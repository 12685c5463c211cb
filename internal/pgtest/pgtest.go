// Package pgtest gives tests a PostgreSQL database: the shared server for
// tests that only need a database ([Pool] with a schema of their own), and
// a private server ([Start]) for fault tests that kill and restart it.
//
// The shared server is PGTEST_URL, or postgres://postgres@127.0.0.1:5432/test
// when it is unset. When it cannot be reached the test is skipped with a
// message saying how to install PostgreSQL, unless
// RESILIENCE_REQUIRE_POSTGRES=1, which turns the skip into a failure.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultURL is the shared server used when PGTEST_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

const installHint = "install PostgreSQL (apt-get install postgresql; createdb -U postgres test) " +
	"or set PGTEST_URL=postgres://user@host:port/db"

// URL returns the shared server's connection string.
func URL() string {
	if u := os.Getenv("PGTEST_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// skip skips tb with msg, or fails it when RESILIENCE_REQUIRE_POSTGRES=1.
func skip(tb testing.TB, msg string) {
	tb.Helper()
	if os.Getenv("RESILIENCE_REQUIRE_POSTGRES") == "1" {
		tb.Fatal(msg + " (RESILIENCE_REQUIRE_POSTGRES=1 makes this a failure)")
	}
	tb.Skip(msg)
}

// Pool returns a pool on the shared server, closed when tb ends, or skips
// tb when the server cannot be reached. maxConns 0 means the pgx default.
func Pool(tb testing.TB, maxConns int32) *pgxpool.Pool {
	tb.Helper()
	return PoolURL(tb, URL(), maxConns)
}

// PoolURL is [Pool] on the server at url.
func PoolURL(tb testing.TB, url string, maxConns int32) *pgxpool.Pool {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		tb.Fatalf("pgtest: bad url %q: %v", url, err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		if pool != nil {
			pool.Close()
		}
		skip(tb, fmt.Sprintf("PostgreSQL at %s is not reachable (%v); %s", redact(url), err, installHint))
	}
	tb.Cleanup(pool.Close)
	return pool
}

// Schema returns a schema name no other test uses ("t_" and random hex),
// and drops that schema with everything in it when tb ends.
func Schema(tb testing.TB, pool *pgxpool.Pool) string {
	tb.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := pool.Exec(ctx, `DROP SCHEMA IF EXISTS "`+name+`" CASCADE`); err != nil {
			tb.Logf("pgtest: drop schema %s: %v", name, err)
		}
	})
	return name
}

// redact hides a password in a connection string.
func redact(url string) string {
	if at := strings.LastIndex(url, "@"); at > 0 {
		if i := strings.Index(url, "://"); i > 0 && i+3 < at {
			if c := strings.Index(url[i+3:at], ":"); c >= 0 {
				return url[:i+3+c] + ":***" + url[at:]
			}
		}
	}
	return url
}
