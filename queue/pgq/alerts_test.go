package pgq

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/internal/pgtest"
)

// hourWindow is long enough that no test straddles the end of one.
const hourWindow = 1000 * time.Hour

// fillCounts counts one failure of "first" through s, then copies its
// row to names more names in the same window with counts 1 to 7, so the
// rows are keyed exactly as CountFailure keys them. It returns the counts
// by name.
func fillCounts(t testing.TB, s *DeadLetterStore, names int) map[string]int64 {
	t.Helper()
	ctx := t.Context()
	if _, err := s.CountFailure(ctx, "first", hourWindow); err != nil {
		t.Fatalf("CountFailure: got error %v, want nil", err)
	}
	tbl := s.n.quoted + ".failure_counts"
	if _, err := s.pool.Exec(ctx, `INSERT INTO `+tbl+` (name, window_us, window_no, count, expires_at)
		SELECT 'name-' || lpad(i::text, 6, '0'), f.window_us, f.window_no, i % 7 + 1, f.expires_at
		FROM `+tbl+` f, generate_series(1, $1) i WHERE f.name = 'first'`, names); err != nil {
		t.Fatalf("fill failure_counts: %v", err)
	}
	if _, err := s.pool.Exec(ctx, `ANALYZE `+tbl); err != nil {
		t.Fatalf("analyze: %v", err)
	}
	want := map[string]int64{"first": 1}
	for i := 1; i <= names; i++ {
		want[fmt.Sprintf("name-%06d", i)] = int64(i%7 + 1)
	}
	return want
}

// planNode is the part of EXPLAIN (ANALYZE, FORMAT JSON) output the tests
// look at.
type planNode struct {
	Type       string     `json:"Node Type"`
	Index      string     `json:"Index Name"`
	ActualRows float64    `json:"Actual Rows"`
	Plans      []planNode `json:"Plans"`
}

// walk calls f on n and every node under it.
func (n planNode) walk(f func(planNode)) {
	f(n)
	for _, c := range n.Plans {
		c.walk(f)
	}
}

// TestFailureCountsReadsOnlyTheRowsItReturns fills 20,000 names in the
// current window and checks, from the server's own plan, that a read of
// the top 10 walks the index in order (no sort) and fetches 10 rows, not
// 20,000; and that its answer is the first 10 of a plain sort of them all.
func TestFailureCountsReadsOnlyTheRowsItReturns(t *testing.T) {
	pool := pgtest.Pool(t, 4)
	s := NewDeadLetterStore(pool, Options{Schema: pgtest.Schema(t, pool)})
	counts := fillCounts(t, s, 20_000)
	const limit = 10

	var raw []byte
	err := pool.QueryRow(t.Context(), `EXPLAIN (ANALYZE, FORMAT JSON) `+s.failureCountsSQL(),
		windowUS(hourWindow), limit).Scan(&raw)
	if err != nil {
		t.Fatalf("EXPLAIN: %v", err)
	}
	var plans []struct {
		Plan planNode `json:"Plan"`
	}
	if err := json.Unmarshal(raw, &plans); err != nil || len(plans) != 1 {
		t.Fatalf("EXPLAIN output %s: %v", raw, err)
	}
	var scans, sorts int
	plans[0].Plan.walk(func(n planNode) {
		switch {
		case strings.Contains(n.Type, "Sort"):
			sorts++
		case n.Index == "failure_counts_top":
			scans++
			if n.ActualRows > limit {
				t.Errorf("index scan fetched %v rows, want at most %d (the limit)", n.ActualRows, limit)
			}
		case strings.Contains(n.Type, "Scan") && n.Type != "Result":
			if n.ActualRows > limit {
				t.Errorf("%s fetched %v rows, want at most %d (the limit)", n.Type, n.ActualRows, limit)
			}
		}
	})
	if scans != 1 || sorts != 0 {
		t.Errorf("plan: got %d scans of failure_counts_top and %d sorts, want 1 and 0:\n%s", scans, sorts, raw)
	}

	want := make([]dlq.FailureCount, 0, len(counts))
	for name, n := range counts {
		want = append(want, dlq.FailureCount{TaskName: name, Failures: n})
	}
	slices.SortFunc(want, func(a, b dlq.FailureCount) int {
		return cmp.Or(cmp.Compare(b.Failures, a.Failures), cmp.Compare(a.TaskName, b.TaskName))
	})
	for _, l := range []int{limit, len(want) + 5} {
		got, err := s.FailureCounts(t.Context(), hourWindow, l)
		if err != nil {
			t.Fatalf("FailureCounts(%d): got error %v, want nil", l, err)
		}
		w := want[:min(l, len(want))]
		if len(got) != len(w) {
			t.Fatalf("FailureCounts(%d): got %d counts, want %d", l, len(got), len(w))
		}
		for i := range w {
			if got[i].TaskName != w[i].TaskName || got[i].Failures != w[i].Failures {
				t.Fatalf("FailureCounts(%d)[%d]: got %s=%d, want %s=%d", l, i,
					got[i].TaskName, got[i].Failures, w[i].TaskName, w[i].Failures)
			}
		}
	}
}

// TestFailureCountsTiesInByteOrder: names with equal counts come in byte
// order ("B" < "a" < "b" < "É"), whatever the database's collation; a
// linguistic collation would put "a" before "B" and "É" before "b".
func TestFailureCountsTiesInByteOrder(t *testing.T) {
	pool := pgtest.Pool(t, 4)
	s := NewDeadLetterStore(pool, Options{Schema: pgtest.Schema(t, pool)})
	if err := Migrate(t.Context(), pool, Options{Schema: s.n.schema}); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	// Give the names a linguistic collation, as a database created with
	// one (en_US.UTF-8, say) would, when the server has ICU.
	var icu bool
	if err := pool.QueryRow(t.Context(), `SELECT EXISTS (SELECT FROM pg_collation WHERE collname = 'und-x-icu')`).Scan(&icu); err != nil {
		t.Fatalf("look for ICU: %v", err)
	}
	if icu {
		if _, err := pool.Exec(t.Context(), `ALTER TABLE `+s.n.quoted+`.failure_counts
			ALTER COLUMN name TYPE text COLLATE "und-x-icu"`); err != nil {
			t.Fatalf("collate names: %v", err)
		}
	} else {
		t.Log("no ICU collation on this server: the names keep the database's collation")
	}
	for _, name := range []string{"É", "b", "a", "B"} {
		if _, err := s.CountFailure(t.Context(), name, hourWindow); err != nil {
			t.Fatalf("CountFailure(%s): got error %v, want nil", name, err)
		}
	}
	got, err := s.FailureCounts(t.Context(), hourWindow, 10)
	if err != nil {
		t.Fatalf("FailureCounts: got error %v, want nil", err)
	}
	var names []string
	for _, fc := range got {
		names = append(names, fc.TaskName)
	}
	if want := []string{"B", "a", "b", "É"}; !slices.Equal(names, want) {
		t.Errorf("FailureCounts ties: got %q, want %q", names, want)
	}
}

// TestFailureCountsArgumentsBeforeTheDatabase: bad arguments and limit 0
// are answered without a statement, so even a store whose database cannot
// be reached gives ErrInvalidArgument or an empty slice; a real read then
// gives an error naming pgq and the operation.
func TestFailureCountsArgumentsBeforeTheDatabase(t *testing.T) {
	srv := pgtest.Start(t)
	pool := pgtest.PoolURL(t, srv.URL, 4)
	s := NewDeadLetterStore(pool, Options{Schema: "alerts"})
	if _, err := s.CountFailure(t.Context(), "embed", hourWindow); err != nil {
		t.Fatalf("CountFailure: got error %v, want nil", err)
	}
	srv.Kill()
	// A backend of the killed server can still answer on a pooled
	// connection for a moment before it notices: dial afresh.
	pool.Reset()
	// fresh has never reached the database: its schema is not migrated.
	fresh := NewDeadLetterStore(pool, Options{Schema: "alerts2"})
	for _, c := range []struct {
		window time.Duration
		limit  int
	}{{0, 10}, {-time.Second, 10}, {hourWindow, -1}} {
		if _, err := fresh.FailureCounts(t.Context(), c.window, c.limit); !errors.Is(err, dlq.ErrInvalidArgument) {
			t.Errorf("FailureCounts(%v, %d) with the server down: got error %v, want one wrapping %v",
				c.window, c.limit, err, dlq.ErrInvalidArgument)
		}
	}
	if got, err := fresh.FailureCounts(t.Context(), hourWindow, 0); err != nil || got == nil || len(got) != 0 {
		t.Errorf("FailureCounts(limit 0) with the server down: got %v, %v; want an empty slice and nil", got, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err := s.FailureCounts(ctx, hourWindow, 10)
	t.Logf("FailureCounts with the server down: %v", err)
	if err == nil || !strings.HasPrefix(err.Error(), "pgq: dead letters: failure counts") {
		t.Errorf("FailureCounts with the server down: got error %v, want one starting %q", err, "pgq: dead letters: failure counts")
	}
}

// TestMigrationIndexesCountsOfAnOlderSchema takes a schema back to
// migration 2 (before the index FailureCounts reads through), counts
// failures in it, and migrates it again: the index is built over the
// counts already there and they are read back.
func TestMigrationIndexesCountsOfAnOlderSchema(t *testing.T) {
	pool := pgtest.Pool(t, 4)
	opts := Options{Schema: pgtest.Schema(t, pool)}
	// old has migrated the schema already (its first call did), so it
	// counts on in the schema taken back below, as a process of the
	// previous build would.
	old := NewDeadLetterStore(pool, opts)
	count := func(name string) {
		t.Helper()
		if _, err := old.CountFailure(t.Context(), name, hourWindow); err != nil {
			t.Fatalf("CountFailure(%s): got error %v, want nil", name, err)
		}
	}
	count("embed")
	q := `"` + opts.Schema + `"`
	if _, err := pool.Exec(t.Context(), `DROP INDEX `+q+`.failure_counts_top;
		DELETE FROM `+q+`.migrations WHERE version >= 3`); err != nil {
		t.Fatalf("take the schema back to migration 2: %v", err)
	}
	count("embed")
	count("chat")
	s := NewDeadLetterStore(pool, opts)
	got, err := s.FailureCounts(t.Context(), hourWindow, 10)
	if err != nil {
		t.Fatalf("FailureCounts: got error %v, want nil", err)
	}
	if len(got) != 2 || got[0].TaskName != "embed" || got[0].Failures != 2 || got[1].TaskName != "chat" || got[1].Failures != 1 {
		t.Errorf("FailureCounts after the upgrade: got %+v, want embed=2 chat=1", got)
	}
	var indexed bool
	var version int
	err = pool.QueryRow(t.Context(), `SELECT EXISTS (SELECT FROM pg_indexes WHERE schemaname = $1 AND indexname = 'failure_counts_top'),
		(SELECT max(version) FROM `+q+`.migrations)`, opts.Schema).Scan(&indexed, &version)
	if err != nil || !indexed || version != LatestVersion() {
		t.Errorf("after the upgrade: index present %v, version %d (%v); want true, %d", indexed, version, err, LatestVersion())
	}
}
