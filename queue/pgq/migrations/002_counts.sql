-- Per-queue counts by state for Stats, kept in step with every change of a
-- task by the same statement (the row trigger below), without a hot row:
-- each change appends (queue, state, +1/-1) rows to count_deltas, an
-- append-only heap without indexes, which inserts never contend on. Recover
-- folds the deltas into counts in bounded batches. Stats reads counts plus
-- the deltas not yet folded: its cost grows with the number of queues and
-- of changes since the last fold, not with the number of tasks held.

CREATE TABLE {{schema}}.counts (
	queue text NOT NULL,
	state text NOT NULL,
	n     bigint NOT NULL,
	PRIMARY KEY (queue, state)
);

CREATE TABLE {{schema}}.count_deltas (
	queue text NOT NULL,
	state text NOT NULL,
	n     integer NOT NULL
) WITH (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000);

-- Tasks that exist before this migration are counted once.
INSERT INTO {{schema}}.counts (queue, state, n)
	SELECT queue, state, count(*) FROM {{schema}}.tasks GROUP BY queue, state;

CREATE OR REPLACE FUNCTION {{schema}}.notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		PERFORM pg_notify('{{channel}}', 't' || OLD.id);
		INSERT INTO {{schema}}.count_deltas VALUES (OLD.queue, OLD.state, -1);
		RETURN NULL;
	END IF;
	IF TG_OP = 'INSERT' THEN
		INSERT INTO {{schema}}.count_deltas VALUES (NEW.queue, NEW.state, 1);
	ELSIF OLD.state IS DISTINCT FROM NEW.state OR OLD.queue IS DISTINCT FROM NEW.queue THEN
		INSERT INTO {{schema}}.count_deltas VALUES (OLD.queue, OLD.state, -1), (NEW.queue, NEW.state, 1);
	END IF;
	-- An enqueue through the pool sets resilience.pgq_defer_notify for its
	-- transaction: the broker then sends the queue's notification itself,
	-- after the commit, from a transaction that does not wait for a disk
	-- flush while it holds the NOTIFY lock (see Broker.Enqueue). An insert
	-- in the caller's own transaction (EnqueueTx) notifies here, at commit.
	IF NEW.state IN ('PENDING', 'RETRY') AND (TG_OP = 'INSERT' OR OLD.state IS DISTINCT FROM NEW.state
			OR OLD.not_before IS DISTINCT FROM NEW.not_before)
			AND (TG_OP <> 'INSERT' OR current_setting('resilience.pgq_defer_notify', true) IS DISTINCT FROM 'on') THEN
		PERFORM pg_notify('{{channel}}', 'q' || NEW.queue);
	END IF;
	IF TG_OP = 'UPDATE' THEN
		PERFORM pg_notify('{{channel}}', 't' || NEW.id);
	END IF;
	RETURN NULL;
END $$;

-- fold_counts moves up to batch deltas into counts and returns how many
-- it moved. Concurrent folds skip each other's rows.
CREATE FUNCTION {{schema}}.fold_counts(batch integer) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	moved integer;
BEGIN
	WITH d AS (
		DELETE FROM {{schema}}.count_deltas WHERE ctid = ANY (ARRAY(
			SELECT ctid FROM {{schema}}.count_deltas LIMIT batch FOR UPDATE SKIP LOCKED))
		RETURNING queue, state, n),
	s AS (SELECT queue, state, sum(n) AS n, count(*) AS rows FROM d GROUP BY queue, state),
	up AS (INSERT INTO {{schema}}.counts AS c (queue, state, n) SELECT queue, state, n FROM s
		ON CONFLICT (queue, state) DO UPDATE SET n = c.n + EXCLUDED.n)
	SELECT coalesce(sum(rows), 0) INTO moved FROM s;
	DELETE FROM {{schema}}.counts WHERE n = 0;
	RETURN moved;
END $$;
