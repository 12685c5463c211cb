package queue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/queue"
	"github.com/stretchr/testify/require"
)

// A settling call whose reply is lost after the broker made the change is
// retried; the retry finds the lease gone. These tests check that the
// worker then reads the task and does not report a lost lease for a change
// it made itself, and still reports one when the lease was really lost.

// logRecorder is a slog.Handler that keeps every record's level and
// message.
type logRecorder struct {
	mu   sync.Mutex
	recs []string // "LEVEL message"
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Level.String()+" "+rec.Message)
	return nil
}

// at returns the messages logged at level or above.
func (r *logRecorder) at(level slog.Level) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.recs {
		var l slog.Level
		name, msg, _ := strings.Cut(s, " ")
		if l.UnmarshalText([]byte(name)) == nil && l >= level {
			out = append(out, msg)
		}
	}
	return out
}

// lostReplyBroker is a broker whose next Complete, when lost is set, runs
// instead (by default the completion itself) and then fails as if the
// connection dropped before the reply came back.
type lostReplyBroker struct {
	*flakyBroker
	lost    atomic.Bool
	instead func(ctx context.Context, id, token string) error
}

func newLostReplyBroker() *lostReplyBroker {
	return &lostReplyBroker{flakyBroker: &flakyBroker{Broker: queue.NewMemoryBroker()}}
}

func (l *lostReplyBroker) Complete(ctx context.Context, id, token string, result json.RawMessage, ttl time.Duration) error {
	if !l.lost.Swap(false) {
		return l.flakyBroker.Complete(ctx, id, token, result, ttl)
	}
	l.completes.Add(1)
	var err error
	if l.instead != nil {
		err = l.instead(ctx, id, token)
	} else {
		err = l.Broker.Complete(ctx, id, token, result, ttl)
	}
	if err != nil {
		return err
	}
	return errFlaky
}

// steal hands task id back and claims it for another worker, as happens
// when its lease runs out; with finish that worker's first attempt fails
// and its second completes the task.
func (l *lostReplyBroker) steal(finish bool) func(ctx context.Context, id, token string) error {
	return func(ctx context.Context, id, token string) error {
		if err := l.Broker.Release(ctx, id, token); err != nil {
			return err
		}
		claimed := func() (string, error) {
			task, token, err := l.Broker.Claim(ctx, []string{queue.QueueDefault}, time.Hour)
			if err == nil && task.ID != id {
				err = fmt.Errorf("claimed %s, want %s", task.ID, id)
			}
			return token, err
		}
		token, err := claimed()
		if err != nil || !finish {
			return err
		}
		if err := l.Broker.Retry(ctx, id, token, "boom", time.Time{}); err != nil {
			return err
		}
		if token, err = claimed(); err != nil {
			return err
		}
		return l.Broker.Complete(ctx, id, token, nil, time.Hour)
	}
}

// lostReplyClaimer is a lostReplyBroker that is a queue.CompleteClaimer
// whose CompleteAndClaim completes the task, claims nothing and fails as
// if its reply was lost.
type lostReplyClaimer struct {
	*lostReplyBroker
	cacCalls atomic.Int64
}

func (l *lostReplyClaimer) CompleteAndClaim(ctx context.Context, id, token string, result json.RawMessage, ttl time.Duration,
	_ []string, _ time.Duration) (*queue.Task, string, error) {
	l.cacCalls.Add(1)
	if err := l.Broker.Complete(ctx, id, token, result, ttl); err != nil {
		return nil, "", err
	}
	return nil, "", errFlaky
}

// runOne runs a worker of b on one enqueued task until settled reports
// true and every goroutine is idle, stops it, and returns the task and the
// log.
func runOne(t *testing.T, b queue.Broker, settled func() bool) (*queue.Task, *logRecorder) {
	t.Helper()
	rec := &logRecorder{}
	c := queue.NewClient(b)
	task, err := c.Enqueue(context.Background(), "noop", nil)
	require.NoError(t, err)
	w, err := queue.NewWorker(b, queue.WorkerConfig{Concurrency: 1, Logger: slog.New(rec), Alerts: dlq.AlertConfig{Logger: discard}})
	require.NoError(t, err)
	w.Handle("noop", func(context.Context, *queue.Task) (any, error) { return "ok", nil })
	stop := start(w)
	for !settled() {
		time.Sleep(time.Millisecond)
	}
	synctest.Wait() // the settling call has logged and returned
	require.NoError(t, stop())
	got, err := c.Get(context.Background(), task.ID)
	require.NoError(t, err)
	return got, rec
}

func TestWorkerCompleteWhoseReplyWasLostIsNoLostLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newLostReplyBroker()
		b.lost.Store(true)
		got, rec := runOne(t, b, func() bool { return b.completes.Load() == 2 })
		require.Equal(t, queue.StateSuccess, got.State)
		require.Equal(t, 1, got.Attempt)
		require.Empty(t, rec.at(slog.LevelWarn), "the retry's lost lease is the first call's doing: nothing to warn of")
		require.Contains(t, rec.at(slog.LevelDebug), "queue: an earlier complete call whose reply was lost had settled the task")
	})
}

func TestWorkerCompleteAndClaimWhoseReplyWasLostIsNoLostLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &lostReplyClaimer{lostReplyBroker: newLostReplyBroker()}
		got, rec := runOne(t, b, func() bool { return b.completes.Load() == 1 })
		require.Equal(t, queue.StateSuccess, got.State)
		require.Equal(t, 1, got.Attempt)
		require.EqualValues(t, 1, b.cacCalls.Load())
		require.Empty(t, rec.at(slog.LevelWarn), "the Complete's lost lease is the first call's doing: nothing to warn of")
		require.Contains(t, rec.at(slog.LevelDebug), "queue: an earlier complete call whose reply was lost had settled the task")
	})
}

func TestWorkerCompleteAfterAnUnknownOutcomeStillReportsALostLease(t *testing.T) {
	for _, tt := range []struct {
		name   string
		finish bool
		state  queue.State
	}{
		{"another worker holds the task", false, queue.StateStarted},
		{"another worker completed the task at a later attempt", true, queue.StateSuccess},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newLostReplyBroker()
				b.instead = b.steal(tt.finish)
				b.lost.Store(true)
				got, rec := runOne(t, b, func() bool { return b.completes.Load() == 2 })
				require.Equal(t, tt.state, got.State)
				require.Equal(t, []string{"queue: lease lost; cannot complete the task"}, rec.at(slog.LevelWarn))
			})
		})
	}
}
