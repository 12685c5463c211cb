package pgq

import (
	"strings"
)

// statements are the SQL texts of one schema, built once per broker.
type statements struct {
	enqueue, get                          string
	claim, completeAndClaim               string
	complete, renew, progress             string
	retry, fail, release                  string
	recover, cleanup, badState, poison    string
	cancel, pause, resume, stats, listAll string
	listQueue                             string
}

// notNull gives each column that is NOT NULL in the table a value to stand
// for it in the NULL row a claim returns when it found no task.
var notNull = map[string]string{
	"id": "''", "name": "''", "queue": "''", "state": "''", "error": "''",
	"max_retries": "0", "attempt": "0", "retries": "0", "redeliveries": "0",
	"enqueued_at": "'epoch'::timestamptz", "cancel_requested": "false",
}

// compositeColumns selects taskColumns out of the composite expr, with
// NOT NULL columns coalesced (see notNull).
func compositeColumns(expr string) string {
	var b strings.Builder
	for i, c := range taskColumns {
		if i > 0 {
			b.WriteString(", ")
		}
		col := "(" + expr + ")." + c
		if d, ok := notNull[c]; ok {
			col = "coalesce(" + col + ", " + d + ")"
		}
		b.WriteString(col)
	}
	return b.String()
}

// leased is the condition of every call that needs the current lease:
// $1 the id, $2 the token.
const leased = `t.id = $1 AND t.lease_token = $2 AND t.state IN ('STARTED', 'PROCESSING') AND t.lease_until > now()`

// us turns a parameter in microseconds into an interval.
func us(param string) string { return "(" + param + "::bigint * interval '1 microsecond')" }

func newStatements(n names) statements {
	s := n.quoted
	tasks := s + ".tasks t"
	live := `(t.expires_at IS NULL OR t.expires_at > now())`
	// settle wraps an UPDATE of the leased task in a statement whose one
	// column is 0 (done), 1 (done as REVOKED: its cancellation was
	// requested), 2 (lease lost) or 3 (no such task).
	settle := func(set string) string {
		return `WITH u AS (UPDATE ` + tasks + ` SET ` + set + ` WHERE ` + leased + ` RETURNING t.cancel_requested)
SELECT CASE WHEN EXISTS (SELECT 1 FROM u WHERE cancel_requested) THEN 1
	WHEN EXISTS (SELECT 1 FROM u) THEN 0
	WHEN EXISTS (SELECT 1 FROM ` + tasks + ` WHERE t.id = $1 AND ` + live + `) THEN 2
	ELSE 3 END`
	}
	// revokedAt sets the end of a task revoked by a settling call that has
	// no TTL of its own: the TTL given to Cancel, or $def.
	revoked := func(def string) string {
		return `finished_at = CASE WHEN t.cancel_requested THEN now() END,
		expires_at = CASE WHEN t.cancel_requested THEN now() + ` + us("coalesce(t.cancel_ttl_us, "+def+")") + ` END`
	}
	return statements{
		enqueue: `INSERT INTO ` + s + `.tasks AS t (id, name, queue, payload, headers, state, seq, max_retries, enqueued_at, not_before)
VALUES ($1, $2, $3, $4, $5, 'PENDING', nextval('` + s + `.task_seq'), $6, coalesce($7, now()), $8)
ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, queue = EXCLUDED.queue, payload = EXCLUDED.payload,
	headers = EXCLUDED.headers, state = 'PENDING', seq = EXCLUDED.seq, max_retries = EXCLUDED.max_retries,
	attempt = 0, retries = 0, redeliveries = 0, progress_current = NULL, progress_total = NULL, progress_status = NULL,
	result = NULL, error = '', enqueued_at = EXCLUDED.enqueued_at, not_before = EXCLUDED.not_before,
	started_at = NULL, finished_at = NULL, expires_at = NULL, lease_token = NULL, lease_until = NULL,
	cancel_requested = false, cancel_ttl_us = NULL
	WHERE t.expires_at <= now()
RETURNING ` + columns("t."),
		get:   `SELECT ` + columns("t.") + ` FROM ` + tasks + ` WHERE t.id = $1 AND ` + live,
		claim: `SELECT ` + compositeColumns("c.task") + `, c.next_at FROM ` + s + `.claim($1, $2, $3) c`,
		completeAndClaim: `SELECT c.status, ` + compositeColumns("c.task") + ` FROM ` + s +
			`.complete_and_claim($1, $2, $3, $4, $5, $6, $7) c`,
		complete: `SELECT ` + s + `.complete($1, $2, $3, $4)`,
		renew:    settle(`lease_until = now() + ` + us("$3")),
		progress: settle(`state = 'PROCESSING', progress_current = $3, progress_total = $4, progress_status = $5,
		lease_until = now() + ` + us("$6")),
		fail: settle(`state = CASE WHEN t.cancel_requested THEN 'REVOKED' ELSE 'FAILURE' END,
		error = CASE WHEN t.cancel_requested THEN t.error ELSE $3 END,
		finished_at = now(), expires_at = now() + ` + us("$4") + `, lease_token = NULL, lease_until = NULL`),
		retry: settle(`state = CASE WHEN t.cancel_requested THEN 'REVOKED' ELSE 'RETRY' END,
		retries = t.retries + CASE WHEN t.cancel_requested THEN 0 ELSE 1 END,
		error = CASE WHEN t.cancel_requested THEN t.error ELSE $3 END,
		not_before = CASE WHEN t.cancel_requested OR $4::timestamptz <= now() THEN NULL ELSE $4::timestamptz END,
		seq = nextval('` + s + `.task_seq'), lease_token = NULL, lease_until = NULL, ` + revoked("$5")),
		release: settle(`state = CASE WHEN t.cancel_requested THEN 'REVOKED' ELSE 'PENDING' END,
		attempt = CASE WHEN t.cancel_requested THEN t.attempt ELSE greatest(t.attempt - 1, 0) END,
		progress_current = NULL, progress_total = NULL, progress_status = NULL,
		seq = -nextval('` + s + `.task_seq'), lease_token = NULL, lease_until = NULL, ` + revoked("$3")),
		// recover makes up to $1 tasks whose lease ran out claimable again
		// (at the front of their queue), or REVOKED when their cancellation
		// was requested ($2: the TTL when Cancel gave none).
		recover: `WITH x AS (SELECT id FROM ` + s + `.tasks
	WHERE state IN ('STARTED', 'PROCESSING') AND lease_until <= now()
	ORDER BY lease_until LIMIT $1 FOR UPDATE SKIP LOCKED)
UPDATE ` + tasks + ` SET state = CASE WHEN t.cancel_requested THEN 'REVOKED' ELSE 'PENDING' END,
	redeliveries = t.redeliveries + CASE WHEN t.cancel_requested THEN 0 ELSE 1 END,
	progress_current = NULL, progress_total = NULL, progress_status = NULL,
	seq = -nextval('` + s + `.task_seq'), lease_token = NULL, lease_until = NULL, ` + revoked("$2") + `
FROM x WHERE t.id = x.id`,
		// cleanup removes up to $1 tasks whose result expired.
		cleanup: `DELETE FROM ` + s + `.tasks WHERE id IN (SELECT id FROM ` + s + `.tasks
	WHERE expires_at <= now() ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)`,
		badState: `SELECT ` + columns("t.") + ` FROM ` + tasks + `
	WHERE t.state NOT IN ('PENDING', 'STARTED', 'PROCESSING', 'RETRY', 'SUCCESS', 'FAILURE', 'REVOKED') LIMIT $1`,
		// poison fails task $1 (in state $2, under lease token $3, or any
		// when $3 is NULL) with
		// error $4 kept for $5 µs, and pushes dead letter $6 for it.
		poison: `WITH u AS (UPDATE ` + tasks + ` SET state = 'FAILURE', error = $4, finished_at = now(),
		expires_at = now() + ` + us("$5") + `, lease_token = NULL, lease_until = NULL
	WHERE t.id = $1 AND t.state = $2 AND ($3::text IS NULL OR t.lease_token = $3) RETURNING t.id)
INSERT INTO ` + s + `.dead_letters (task_id, entry) SELECT u.id, $6 FROM u
ON CONFLICT (task_id) DO UPDATE SET entry = EXCLUDED.entry`,
	}
}
