package pgq

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/queue"
)

// claimArgs checks the queues and lease of a claim made by method op.
func claimArgs(op string, queues []string, lease time.Duration) error {
	if len(queues) == 0 {
		return fmt.Errorf("%w: %s: no queues given", queue.ErrInvalidArgument, op)
	}
	if lease <= 0 {
		return fmt.Errorf("%w: %s: lease is %v; want > 0", queue.ErrInvalidArgument, op, lease)
	}
	for i, q := range queues {
		if q == "" {
			return fmt.Errorf("%w: %s: queue %d is empty", queue.ErrInvalidArgument, op, i)
		}
	}
	return nil
}

// Claim implements [queue.Broker.Claim]: one call of the schema's claim
// function, which locks the oldest claimable row of the first queue that
// has one (FOR UPDATE SKIP LOCKED) and leases it. When none is claimable
// it waits for a notification on one of queues, for the earliest delay or
// lease end (after which it recovers expired leases itself), or for
// [WakeTimeout], whichever comes first, and looks again. A claimed row
// that does not decode is failed into the dead letters and the claim goes
// on.
func (b *Broker) Claim(ctx context.Context, queues []string, lease time.Duration) (*queue.Task, string, error) {
	if err := claimArgs("Claim", queues, lease); err != nil {
		return nil, "", err
	}
	if err := b.check(ctx); err != nil {
		return nil, "", err
	}
	b.hub.start()
	for {
		w := b.hub.addWaiter(queues) // before looking, so no notification is missed
		t, token, next, err := b.claimOnce(ctx, queues, lease)
		if err != nil || t != nil {
			b.hub.removeWaiter(w, true)
			if t != nil {
				// Others may wait on the queue: more tasks may be ready
				// than notifications were sent (a batch in one commit).
				b.hub.signal(t.Queue)
			}
			return t, token, err
		}
		wait := WakeTimeout
		if next != nil {
			wait = min(wait, max(time.Until(*next)+time.Millisecond, time.Millisecond))
		}
		timer := time.NewTimer(wait)
		select {
		case <-w.wake:
			timer.Stop()
		case <-timer.C:
			b.hub.removeWaiter(w, true)
			// A delay or lease ended, or nothing was heard for a while:
			// recover expired leases (which notifies) and look again.
			if _, err := b.Recover(ctx); err != nil && ctx.Err() == nil && b.closing.Err() == nil {
				return nil, "", err
			}
		case <-ctx.Done():
			timer.Stop()
			b.hub.removeWaiter(w, true)
			return nil, "", ctx.Err()
		case <-b.closing.Done():
			timer.Stop()
			b.hub.removeWaiter(w, false)
			return nil, "", queue.ErrClosed
		}
		if err := b.check(ctx); err != nil {
			return nil, "", err
		}
	}
}

// claimTimeout bounds one claim statement, which runs on even when the
// caller's ctx ends (see claimOnce).
const claimTimeout = 30 * time.Second

// claimOnce runs the claim function until it returns a task that decodes
// or none. next is when a task may become claimable by itself when none
// was claimed (nil: not known).
//
// The statement does not stop when ctx ends: a claim cut off on the client
// side may still have committed on the server, leaving a task leased to
// nobody until its lease runs out. It runs to its end instead (bounded by
// claimTimeout and the broker's Close), and a task it claimed after ctx
// ended is handed back at once (Release: front of its queue, attempt not
// counted) before ctx's error is returned.
func (b *Broker) claimOnce(ctx context.Context, queues []string, lease time.Duration) (*queue.Task, string, *time.Time, error) {
	for {
		token := newToken()
		var r row
		var next *time.Time
		stmt, cancel := b.detached(ctx)
		err := b.pool.QueryRow(stmt, b.sql.claim, queues, micros(lease), token).Scan(r.dest(&next)...)
		cancel()
		if err != nil {
			return nil, "", nil, b.wrap(ctx, "claim", err)
		}
		if r.id == "" {
			return nil, "", next, ctx.Err()
		}
		b.changes.Add(1)
		if ctx.Err() != nil {
			b.handBack(r.id, token)
			return nil, "", nil, ctx.Err()
		}
		t, err := b.claimed(ctx, &r, token)
		if err != nil || t != nil {
			return t, token, nil, err
		}
	}
}

// detached returns a context for one statement that must not be cut off
// by the end of ctx: it ends after claimTimeout or when the broker closes.
func (b *Broker) detached(ctx context.Context) (context.Context, context.CancelFunc) {
	stmt, cancel := context.WithTimeout(context.WithoutCancel(ctx), claimTimeout)
	stop := context.AfterFunc(b.closing, cancel)
	return stmt, func() { stop(); cancel() }
}

// handBack releases a task claimed for a caller who gave up meanwhile.
func (b *Broker) handBack(id, token string) {
	ctx, cancel := b.detached(context.Background())
	defer cancel()
	_ = b.Release(ctx, id, token) // on failure its lease runs out and it is redelivered
}

// claimed decodes a claimed row. A row that does not decode is failed into
// the dead letters (t and err nil: claim again).
func (b *Broker) claimed(ctx context.Context, r *row, token string) (*queue.Task, error) {
	t, err := r.task()
	if err == nil {
		return t, nil
	}
	if perr := b.poison(ctx, r, token, err); perr != nil {
		return nil, perr
	}
	return nil, nil
}

// poison fails the task of row r (held under token, or "" when it is not
// leased) with reason, kept for [queue.DefaultResultTTL], and pushes a dead
// letter for it into the schema's store, in one statement. The payload
// goes into the entry when it is JSON, else its bytes go into the trace;
// the fields that do not decode are cleared in the row, so that the
// failed task can be read.
func (b *Broker) poison(ctx context.Context, r *row, token string, reason error) error {
	e := dlq.Entry{
		TaskID: r.id, TaskName: r.name, Queue: r.queue, Error: reason.Error(),
		FailedAt: time.Now().UTC(), Retries: r.retries,
	}
	if json.Valid(r.payload) {
		e.Payload = json.RawMessage(r.payload)
	} else if len(r.payload) > 0 {
		e.Trace = fmt.Sprintf("stored payload (%d bytes): %q", len(r.payload), r.payload)
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("pgq: dead-letter task %s: %w", r.id, err)
	}
	var tok any
	if token != "" {
		tok = token
	}
	var h map[string]string
	keepPayload := len(r.payload) == 0 || json.Valid(r.payload)
	keepHeaders := len(r.headers) == 0 || json.Unmarshal(r.headers, &h) == nil
	keepResult := len(r.result) == 0 || json.Valid(r.result)
	if _, err := b.pool.Exec(ctx, b.sql.poison, r.id, r.state, tok, reason.Error(),
		micros(queue.DefaultResultTTL), raw, keepPayload, keepHeaders, keepResult); err != nil {
		return b.wrap(ctx, "dead-letter task "+r.id, err)
	}
	return nil
}

// CompleteAndClaim implements [queue.CompleteClaimer]: one call of the
// schema's complete_and_claim function completes task id as
// [Broker.Complete] does and, when that succeeded, claims the next task as
// Claim does, without waiting: next is nil when none is claimable.
func (b *Broker) CompleteAndClaim(ctx context.Context, id, token string, result json.RawMessage, ttl time.Duration,
	queues []string, lease time.Duration) (*queue.Task, string, error) {
	if err := resultArgs("CompleteAndClaim", result, ttl); err != nil {
		return nil, "", err
	}
	if err := claimArgs("CompleteAndClaim", queues, lease); err != nil {
		return nil, "", err
	}
	if err := b.check(ctx); err != nil {
		return nil, "", err
	}
	next := newToken()
	var status int
	var r row
	err := b.pool.QueryRow(ctx, b.sql.completeAndClaim, id, token, rawArg(result), micros(ttl),
		queues, micros(lease), next).Scan(append([]any{&status}, r.dest()...)...)
	if err != nil {
		return nil, "", b.wrap(ctx, "complete and claim "+id, err)
	}
	b.changes.Add(1)
	if err := settled(id, status); err != nil {
		return nil, "", err
	}
	if r.id == "" {
		return nil, "", nil
	}
	t, err := b.claimed(ctx, &r, next)
	if err != nil || t != nil {
		if t != nil {
			b.hub.signal(t.Queue)
		}
		return t, next, err
	}
	// The claimed row did not decode and went to the dead letters: claim
	// again without waiting.
	t, tok, _, err := b.claimOnce(ctx, queues, lease)
	return t, tok, err
}

// settled turns the status of a settling statement into an error.
func settled(id string, status int) error {
	switch status {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("pgq: task %s: %w", id, queue.ErrRevoked)
	case 2:
		return queue.ErrLeaseLost
	case 3:
		return queue.ErrTaskNotFound
	}
	return fmt.Errorf("pgq: task %s: unexpected status %d from the database", id, status)
}
