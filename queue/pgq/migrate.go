package pgq

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/resilience-go/resilience/queue"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migration is one numbered SQL file of the migrations folder.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order. File names
// are NNN_what.sql.
func migrations() ([]migration, error) {
	files, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, f := range files {
		base := strings.TrimPrefix(f, "migrations/")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("pgq: migration file %s is not named NNN_what.sql", base)
		}
		raw, err := migrationFS.ReadFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: base, sql: string(raw)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	return out, nil
}

// LatestVersion is the version of the newest migration this package
// holds: a schema migrated by this build reports it in its migrations
// table.
func LatestVersion() int {
	ms, err := migrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// Migrate creates the schema of opts (see [Options.Schema]) and applies
// every embedded migration it lacks, each recorded in the table
// <schema>.migrations, all in one transaction. It is idempotent, and safe
// when several processes call it at once: the transaction first takes a
// PostgreSQL advisory lock (pg_advisory_xact_lock) keyed by the schema
// name, so one process migrates and the others then find nothing to do.
//
// A [Broker] and a [DeadLetterStore] call Migrate themselves before their
// first statement, so calling it is optional; call it at start-up to fail
// fast, or to migrate with a role the workers do not have.
//
// A bad schema name is an error wrapping [queue.ErrInvalidArgument]; a
// database that already holds a newer version than this package knows is
// an error too (an older binary must not run against a newer schema).
// When ctx ends the transaction is rolled back and ctx's error returned.
func Migrate(ctx context.Context, pool *pgxpool.Pool, opts Options) error {
	n, err := newNames(opts.Schema)
	if err != nil {
		return fmt.Errorf("%w: pgq.Migrate: %w", queue.ErrInvalidArgument, err)
	}
	if pool == nil {
		return fmt.Errorf("%w: pgq.Migrate: pool is nil; want a *pgxpool.Pool", queue.ErrInvalidArgument)
	}
	return migrate(ctx, pool, n)
}

func migrate(ctx context.Context, pool *pgxpool.Pool, n names) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('resilience.pgq.migrate:' || $1, 0))`, n.schema); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+n.quoted); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+n.quoted+`.migrations (
			version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		var have int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+n.quoted+`.migrations`).Scan(&have); err != nil {
			return err
		}
		if latest := ms[len(ms)-1].version; have > latest {
			return fmt.Errorf("schema %s is at migration %d, newer than this build's latest (%d); upgrade the binary", n.schema, have, latest)
		}
		for _, m := range ms {
			if m.version <= have {
				continue
			}
			sql := strings.NewReplacer("{{schema}}", n.quoted, "{{channel}}", n.channel).Replace(m.sql)
			if _, err := tx.Exec(ctx, sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO `+n.quoted+`.migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			return fmt.Errorf("pgq: migrate schema %s: %w (%w)", n.schema, cerr, err)
		}
		return fmt.Errorf("pgq: migrate schema %s: %w", n.schema, err)
	}
	return nil
}
