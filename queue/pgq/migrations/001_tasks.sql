-- Tasks, their queues and leases, in one table. {{schema}} is replaced by
-- the quoted schema name and {{channel}} by the LISTEN/NOTIFY channel.
--
-- payload and result are bytea, not jsonb: jsonb would rewrite the JSON
-- (spaces, key order), and the broker returns the bytes it was given.
-- state has no CHECK constraint on purpose: a row changed by hand to a
-- state that does not exist is dead-lettered by Recover instead of
-- breaking an update.

CREATE SEQUENCE {{schema}}.task_seq;

CREATE TABLE {{schema}}.tasks (
	id               text PRIMARY KEY,
	name             text NOT NULL,
	queue            text NOT NULL,
	payload          bytea,
	headers          jsonb,
	state            text NOT NULL,
	seq              bigint NOT NULL,      -- claim order within a queue; negative: handed back to the front
	max_retries      integer NOT NULL,
	attempt          integer NOT NULL DEFAULT 0,
	retries          integer NOT NULL DEFAULT 0,
	redeliveries     integer NOT NULL DEFAULT 0,
	progress_current bigint,               -- NULL: no progress reported
	progress_total   bigint,
	progress_status  text,
	result           bytea,
	error            text NOT NULL DEFAULT '',
	enqueued_at      timestamptz NOT NULL,
	not_before       timestamptz,          -- NULL: claimable at once
	started_at       timestamptz,
	finished_at      timestamptz,
	expires_at       timestamptz,          -- set on done tasks only
	lease_token      text,
	lease_until      timestamptz,
	cancel_requested boolean NOT NULL DEFAULT false,
	cancel_ttl_us    bigint
) WITH (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000);
-- Every claim and completion leaves a dead row version, and claims scan the
-- head of tasks_ready: vacuum after 1% of the rows changed, not 20%.

-- Claims: the oldest claimable task of one queue.
CREATE INDEX tasks_ready ON {{schema}}.tasks (queue, seq) WHERE state IN ('PENDING', 'RETRY');
-- The next delayed task of a queue (how long an idle claim may sleep).
CREATE INDEX tasks_delayed ON {{schema}}.tasks (queue, not_before)
	WHERE state IN ('PENDING', 'RETRY') AND not_before IS NOT NULL;
-- Expired leases.
CREATE INDEX tasks_leases ON {{schema}}.tasks (lease_until) WHERE state IN ('STARTED', 'PROCESSING');
-- Expired results.
CREATE INDEX tasks_expiry ON {{schema}}.tasks (expires_at) WHERE expires_at IS NOT NULL;
-- Rows whose state does not exist (changed by hand): dead-lettered by Recover.
CREATE INDEX tasks_bad_state ON {{schema}}.tasks (id)
	WHERE state NOT IN ('PENDING', 'STARTED', 'PROCESSING', 'RETRY', 'SUCCESS', 'FAILURE', 'REVOKED');
-- List, newest first, by queue and state.
CREATE INDEX tasks_list ON {{schema}}.tasks (queue, state, enqueued_at DESC, id DESC);

CREATE TABLE {{schema}}.paused (
	queue     text PRIMARY KEY,
	paused_at timestamptz NOT NULL DEFAULT now()
);

-- Every change of a task is announced on one channel: 'q' || queue when a
-- task may have become claimable (wakes idle claims), 't' || id for every
-- change (wakes Client.Wait). NOTIFY is delivered at commit, so a task
-- enqueued in a transaction wakes nobody before the commit.
CREATE FUNCTION {{schema}}.notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		PERFORM pg_notify('{{channel}}', 't' || OLD.id);
		RETURN NULL;
	END IF;
	IF NEW.state IN ('PENDING', 'RETRY') AND (TG_OP = 'INSERT' OR OLD.state IS DISTINCT FROM NEW.state
			OR OLD.not_before IS DISTINCT FROM NEW.not_before) THEN
		PERFORM pg_notify('{{channel}}', 'q' || NEW.queue);
	END IF;
	IF TG_OP = 'UPDATE' THEN
		PERFORM pg_notify('{{channel}}', 't' || NEW.id);
	END IF;
	RETURN NULL;
END $$;

CREATE TRIGGER tasks_notify AFTER INSERT OR UPDATE OR DELETE ON {{schema}}.tasks
	FOR EACH ROW EXECUTE FUNCTION {{schema}}.notify();

-- claim takes the oldest claimable task of the first queue in queues that
-- has one and is not paused, in one statement: SELECT ... FOR UPDATE SKIP
-- LOCKED, so concurrent claims never wait on each other's rows. When none
-- is claimable, task is NULL and next_at is the earliest time one may
-- become so by itself (a delay or a lease running out), or NULL.
--
-- The oldest row must come from an ordered scan of tasks_ready that stops
-- at the first row it can lock. With statistics that lag behind a table
-- that filled up fast (ANALYZE has not run yet) the planner prefers a
-- bitmap scan that sorts every waiting task of the queue, on every claim:
-- the SET clauses rule that plan out.
CREATE FUNCTION {{schema}}.claim(queues text[], lease_us bigint, token text,
		OUT task {{schema}}.tasks, OUT next_at timestamptz) LANGUAGE plpgsql
		SET enable_bitmapscan = off SET enable_sort = off SET enable_seqscan = off AS $$
DECLARE
	q text;
	tid text;
BEGIN
	-- Worker statements commit without waiting for the WAL flush (see the
	-- package documentation): the NOTIFY lock is then held for microseconds
	-- instead of a disk flush, so workers do not queue behind each other.
	PERFORM set_config('synchronous_commit', 'off', true);
	FOREACH q IN ARRAY queues LOOP
		CONTINUE WHEN EXISTS (SELECT 1 FROM {{schema}}.paused p WHERE p.queue = q);
		SELECT t.id INTO tid FROM {{schema}}.tasks t
			WHERE t.queue = q AND t.state IN ('PENDING', 'RETRY')
				AND (t.not_before IS NULL OR t.not_before <= now())
			ORDER BY t.seq LIMIT 1 FOR UPDATE SKIP LOCKED;
		IF tid IS NOT NULL THEN
			UPDATE {{schema}}.tasks t SET state = 'STARTED', attempt = t.attempt + 1, started_at = now(),
				progress_current = NULL, progress_total = NULL, progress_status = NULL, not_before = NULL,
				lease_token = token, lease_until = now() + lease_us * interval '1 microsecond'
				WHERE t.id = tid RETURNING t.* INTO task;
			RETURN;
		END IF;
	END LOOP;
	SELECT min(t.not_before) INTO next_at FROM {{schema}}.tasks t
		WHERE t.queue = ANY (queues) AND t.state IN ('PENDING', 'RETRY') AND t.not_before > now();
	next_at := least(next_at, (SELECT min(t.lease_until) FROM {{schema}}.tasks t
		WHERE t.state IN ('STARTED', 'PROCESSING')));
END $$;

-- Dead letters: the entry as JSON, in push order.
CREATE SEQUENCE {{schema}}.dead_letter_seq;

CREATE TABLE {{schema}}.dead_letters (
	task_id text PRIMARY KEY,
	seq     bigint NOT NULL DEFAULT nextval('{{schema}}.dead_letter_seq'),
	entry   bytea NOT NULL
);

CREATE INDEX dead_letters_order ON {{schema}}.dead_letters (seq);

-- Failure counts of dead-letter alerts, per task name and fixed window.
CREATE TABLE {{schema}}.failure_counts (
	name       text NOT NULL,
	window_us  bigint NOT NULL,
	window_no  bigint NOT NULL,
	count      bigint NOT NULL,
	expires_at timestamptz NOT NULL,
	PRIMARY KEY (name, window_us, window_no)
);

CREATE INDEX failure_counts_expiry ON {{schema}}.failure_counts (expires_at);

-- complete settles a leased task as SUCCESS with result, kept for ttl_us,
-- or as REVOKED when its cancellation was requested. It returns 0 (done),
-- 1 (revoked), 2 (the token is not the current lease: lease lost) or
-- 3 (no such task).
CREATE FUNCTION {{schema}}.complete(tid text, token text, res bytea, ttl_us bigint) RETURNS integer
		LANGUAGE plpgsql AS $$
DECLARE
	cancelled boolean;
BEGIN
	PERFORM set_config('synchronous_commit', 'off', true);
	UPDATE {{schema}}.tasks t SET
		state = CASE WHEN t.cancel_requested THEN 'REVOKED' ELSE 'SUCCESS' END,
		result = CASE WHEN t.cancel_requested THEN NULL ELSE res END,
		error = CASE WHEN t.cancel_requested THEN t.error ELSE '' END,
		finished_at = now(), expires_at = now() + ttl_us * interval '1 microsecond',
		lease_token = NULL, lease_until = NULL
		WHERE t.id = tid AND t.lease_token = token AND t.state IN ('STARTED', 'PROCESSING') AND t.lease_until > now()
		RETURNING t.cancel_requested INTO cancelled;
	IF FOUND THEN
		RETURN CASE WHEN cancelled THEN 1 ELSE 0 END;
	END IF;
	IF EXISTS (SELECT 1 FROM {{schema}}.tasks t WHERE t.id = tid
			AND (t.expires_at IS NULL OR t.expires_at > now())) THEN
		RETURN 2;
	END IF;
	RETURN 3;
END $$;

-- complete_and_claim completes as complete does and, when that succeeded
-- (status 0), claims the next task as claim does, in one statement.
CREATE FUNCTION {{schema}}.complete_and_claim(tid text, token text, res bytea, ttl_us bigint,
		queues text[], lease_us bigint, new_token text,
		OUT status integer, OUT task {{schema}}.tasks) LANGUAGE plpgsql AS $$
BEGIN
	status := {{schema}}.complete(tid, token, res, ttl_us);
	IF status = 0 THEN
		SELECT (c.task).* INTO task FROM {{schema}}.claim(queues, lease_us, new_token) c;
	END IF;
END $$;
