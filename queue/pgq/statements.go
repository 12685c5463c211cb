package pgq

import (
	"strings"
)

// statements are the SQL texts of one schema, built once per broker.
type statements struct {
	enqueue, enqueueDeferred, notify, get string
	enqueueMany                           string
	claim, completeAndClaim               string
	complete, renew, progress             string
	retry, fail, release                  string
	recover, cleanup, badState, poison    string
	cancel, pause, resume, stats, list    string
	queues, fold, cancelRead              string
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
// It also turns synchronous_commit off for the statement's transaction,
// as the claim functions do (see the package documentation).
const leased = `t.id = $1 AND t.lease_token = $2 AND t.state IN ('STARTED', 'PROCESSING') AND t.lease_until > now()
	AND set_config('synchronous_commit', 'off', true) = 'off'`

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
		// cancel changes a task that Cancel changes; when it changes
		// nothing, cancelRead reads the task's latest committed version (a
		// locking read, unlike a read of the statement's snapshot, sees a
		// completion that committed while the UPDATE waited for the row).
		cancel: `UPDATE ` + tasks + ` SET
		state = CASE WHEN t.state IN ('PENDING', 'RETRY') THEN 'REVOKED' ELSE t.state END,
		cancel_requested = t.state IN ('STARTED', 'PROCESSING'),
		cancel_ttl_us = CASE WHEN t.state IN ('STARTED', 'PROCESSING') THEN $2::bigint END,
		not_before = CASE WHEN t.state IN ('PENDING', 'RETRY') THEN NULL ELSE t.not_before END,
		finished_at = CASE WHEN t.state IN ('PENDING', 'RETRY') THEN now() ELSE t.finished_at END,
		expires_at = CASE WHEN t.state IN ('PENDING', 'RETRY') THEN now() + ` + us("$2") + ` ELSE t.expires_at END
	WHERE t.id = $1 AND ` + live + ` AND (t.state IN ('PENDING', 'RETRY')
		OR (t.state IN ('STARTED', 'PROCESSING') AND NOT t.cancel_requested))
	RETURNING ` + columns("t."),
		cancelRead: `SELECT ` + columns("t.") + ` FROM ` + tasks + ` WHERE t.id = $1 AND ` + live + ` FOR SHARE`,
		pause:      `INSERT INTO ` + s + `.paused (queue) VALUES ($1) ON CONFLICT (queue) DO NOTHING`,
		resume: `WITH d AS (DELETE FROM ` + s + `.paused WHERE queue = $1 RETURNING queue)
SELECT pg_notify('` + n.channel + `', 'q' || d.queue) FROM d`,
		// stats: per queue and state, the folded count plus the unfolded
		// deltas less the results that expired but are not yet removed, the
		// delayed (scheduled) part of PENDING, and the pause mark.
		stats: `WITH c AS (
	SELECT queue, state, sum(n)::bigint AS n FROM (
		SELECT queue, state, n FROM ` + s + `.counts
		UNION ALL SELECT queue, state, n FROM ` + s + `.count_deltas) x
	GROUP BY queue, state),
exp AS (SELECT t.queue, t.state, count(*) AS n FROM ` + tasks + `
	WHERE t.expires_at <= now() GROUP BY t.queue, t.state),
sch AS (SELECT t.queue, count(*) AS n FROM ` + tasks + `
	WHERE t.state = 'PENDING' AND t.not_before > now() GROUP BY t.queue),
p AS (SELECT queue FROM ` + s + `.paused)
SELECT coalesce(c.queue, p.queue), coalesce(c.state, ''), coalesce(c.n, 0) - coalesce(exp.n, 0),
	CASE WHEN c.state = 'PENDING' THEN coalesce(sch.n, 0) ELSE 0 END, p.queue IS NOT NULL
FROM c FULL JOIN p ON p.queue = c.queue LEFT JOIN sch ON sch.queue = c.queue
	LEFT JOIN exp ON exp.queue = c.queue AND exp.state = c.state`,
		queues: `SELECT queue FROM ` + s + `.counts UNION SELECT queue FROM ` + s + `.count_deltas`,
		// list: $1 queues, $2 states, $3 rows to read per (queue, state),
		// $4 offset, $5 limit.
		list: `SELECT x.* FROM unnest($1::text[]) q (name) CROSS JOIN unnest($2::text[]) st (state)
CROSS JOIN LATERAL (SELECT ` + columns("t.") + ` FROM ` + tasks + `
	WHERE t.queue = q.name AND t.state = st.state AND ` + live + `
	ORDER BY t.enqueued_at DESC, t.id DESC LIMIT $3) x
ORDER BY x.enqueued_at DESC, x.id DESC OFFSET $4 LIMIT $5`,
		fold:            `SELECT ` + s + `.fold_counts($1)`,
		enqueue:         enqueue(s, ""),
		enqueueDeferred: enqueue(s, `FROM (SELECT set_config('resilience.pgq_defer_notify', 'on', true)) cfg`),
		// enqueueMany inserts the rows of eight parallel arrays, in order.
		enqueueMany: `INSERT INTO ` + s + `.tasks AS t (id, name, queue, payload, headers, state, seq, max_retries, enqueued_at, not_before)
SELECT u.id, u.name, u.queue, u.payload, u.headers::jsonb, 'PENDING', nextval('` + s + `.task_seq'), u.max_retries,
	coalesce(u.enqueued_at, now()), u.not_before
FROM (SELECT set_config('resilience.pgq_defer_notify', 'on', true)) cfg,
	unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::text[], $6::integer[], $7::timestamptz[], $8::timestamptz[])
	AS u (id, name, queue, payload, headers, max_retries, enqueued_at, not_before)
` + replaceExpired,
		notify: `SELECT set_config('synchronous_commit', 'off', true), pg_notify('` + n.channel + `', 'q' || q)
FROM unnest($1::text[]) q`,

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
		AND set_config('synchronous_commit', 'off', true) = 'off'
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
		// error $4 kept for $5 µs, and pushes dead letter $6 for it; the
		// payload, headers and result are kept when $7, $8, $9 (they decode),
		// so the failed task can be read (the dead letter keeps the bytes).
		poison: `WITH u AS (UPDATE ` + tasks + ` SET state = 'FAILURE', error = $4, finished_at = now(),
		payload = CASE WHEN $7 THEN t.payload END, headers = CASE WHEN $8 THEN t.headers END,
		result = CASE WHEN $9 THEN t.result END,
		expires_at = now() + ` + us("$5") + `, lease_token = NULL, lease_until = NULL
	WHERE t.id = $1 AND t.state = $2 AND ($3::text IS NULL OR t.lease_token = $3) RETURNING t.id)
INSERT INTO ` + s + `.dead_letters (task_id, entry) SELECT u.id, $6 FROM u
ON CONFLICT (task_id) DO UPDATE SET entry = EXCLUDED.entry`,
	}
}

// enqueue is the INSERT of a task; from, when set, is a FROM clause whose
// side effect the insert needs (see enqueueDeferred).
func enqueue(s, from string) string {
	return `INSERT INTO ` + s + `.tasks AS t (id, name, queue, payload, headers, state, seq, max_retries, enqueued_at, not_before)
SELECT $1, $2, $3, $4::bytea, $5::jsonb, 'PENDING', nextval('` + s + `.task_seq'), $6::integer, coalesce($7::timestamptz, now()),
	$8::timestamptz ` + from + `
` + replaceExpired + `
RETURNING ` + columns("t.")
}

// replaceExpired ends an INSERT of tasks: a row of the same id whose result
// expired (not yet removed) is replaced as a fresh PENDING task; a live one
// is left alone.
const replaceExpired = `ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, queue = EXCLUDED.queue, payload = EXCLUDED.payload,
	headers = EXCLUDED.headers, state = 'PENDING', seq = EXCLUDED.seq, max_retries = EXCLUDED.max_retries,
	attempt = 0, retries = 0, redeliveries = 0, progress_current = NULL, progress_total = NULL, progress_status = NULL,
	result = NULL, error = '', enqueued_at = EXCLUDED.enqueued_at, not_before = EXCLUDED.not_before,
	started_at = NULL, finished_at = NULL, expires_at = NULL, lease_token = NULL, lease_until = NULL,
	cancel_requested = false, cancel_ttl_us = NULL
	WHERE t.expires_at <= now()`
