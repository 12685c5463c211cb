package queue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/resilience-go/resilience/queue"
	"github.com/stretchr/testify/require"
)

// Regression tests for deadline arithmetic that wrapped around int64: a
// lease, result TTL or delay near the largest time.Duration (or a NotBefore
// outside the years 1677 to 2262) used to land in the past or in the far
// future, and weights summing past the largest int stopped a worker.

// forever is the largest Duration; century is a hundred years of fake time.
const (
	forever = time.Duration(math.MaxInt64)
	century = 100 * 365 * 24 * time.Hour
)

// latest is the instant the memory broker holds later deadlines at.
var latest = time.Unix(0, math.MaxInt64)

// ovfEnqueue stores a task id in queue "default" of b, due at notBefore
// (zero: at once).
func ovfEnqueue(t *testing.T, b queue.Broker, id string, notBefore time.Time) {
	t.Helper()
	_, created, err := b.Enqueue(context.Background(), &queue.Task{ID: id, Name: "work", Queue: "default", NotBefore: notBefore})
	require.NoError(t, err)
	require.True(t, created)
}

// ovfClaim claims from queue "default" for lease, failing the test when no
// task is claimable within a minute.
func ovfClaim(t *testing.T, b queue.Broker, lease time.Duration) (*queue.Task, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	task, token, err := b.Claim(ctx, []string{"default"}, lease)
	require.NoError(t, err)
	return task, token
}

// ovfNothingClaimable checks that a Claim on queue "default" blocks for the
// whole of wait (a century of fake time) and gets no task.
func ovfNothingClaimable(t *testing.T, b queue.Broker, wait time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	begin := time.Now()
	task, _, err := b.Claim(ctx, []string{"default"}, time.Hour)
	if task != nil {
		t.Fatalf("Claim: got task %q (NotBefore %v), want none", task.ID, task.NotBefore)
	}
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, wait, time.Since(begin), "Claim must block until its ctx ends")
}

// A lease of the largest Duration, given to Claim, Renew or Progress,
// never runs out: Recover finds nothing, the task is not redelivered, and
// the token still settles it a century later.
func TestMemoryBrokerHugeLeaseNeverRunsOut(t *testing.T) {
	for _, by := range []string{"Claim", "Renew", "Progress"} {
		t.Run(by, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := queue.NewMemoryBroker()
				ctx := context.Background()
				ovfEnqueue(t, b, "held", time.Time{})
				lease := time.Minute
				if by == "Claim" {
					lease = forever
				}
				_, token := ovfClaim(t, b, lease)
				want := queue.StateStarted
				switch by {
				case "Renew":
					require.NoError(t, b.Renew(ctx, "held", token, forever))
				case "Progress":
					require.NoError(t, b.Progress(ctx, "held", token, queue.Progress{Current: 1, Total: 2}, forever))
					want = queue.StateProcessing
				}
				time.Sleep(century)
				n, err := b.Recover(ctx)
				require.NoError(t, err)
				require.Zero(t, n, "Recover: a lease of the largest Duration ran out")
				got, err := b.Get(ctx, "held")
				require.NoError(t, err)
				require.Equal(t, want, got.State)
				require.Zero(t, got.Redeliveries)
				require.NoError(t, b.Complete(ctx, "held", token, nil, time.Hour), "the lease token must still hold")
			})
		})
	}
}

// A result TTL of the largest Duration, given to Complete or Fail, keeps
// the task readable: ExpiresAt is the latest instant the broker counts,
// and the task is still there a century later.
func TestMemoryBrokerHugeResultTTLKeepsTask(t *testing.T) {
	for _, by := range []string{"Complete", "Fail"} {
		t.Run(by, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := queue.NewMemoryBroker()
				ctx := context.Background()
				ovfEnqueue(t, b, "kept", time.Time{})
				_, token := ovfClaim(t, b, time.Minute)
				want := queue.StateSuccess
				if by == "Complete" {
					require.NoError(t, b.Complete(ctx, "kept", token, json.RawMessage(`1`), forever))
				} else {
					require.NoError(t, b.Fail(ctx, "kept", token, "boom", forever))
					want = queue.StateFailure
				}
				time.Sleep(century)
				got, err := b.Get(ctx, "kept")
				require.NoError(t, err, "a result kept for the largest Duration expired")
				require.Equal(t, want, got.State)
				require.True(t, got.ExpiresAt.Equal(latest), "ExpiresAt: got %v, want %v", got.ExpiresAt, latest)
				require.Equal(t, 1, b.Len())
			})
		})
	}
}

// NotBefore times outside what int64 nanoseconds can count: one past 2262
// (by Enqueue or by Retry) keeps the task unclaimable, one before 1677
// means at once.
func TestMemoryBrokerNotBeforeOutOfRange(t *testing.T) {
	cases := []struct {
		name      string
		notBefore func(now time.Time) time.Time
		ready     bool
	}{
		{"largest delay", func(now time.Time) time.Time { return now.Add(forever) }, false},
		{"year 3000", func(time.Time) time.Time { return time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC) }, false},
		{"year 9999", func(time.Time) time.Time { return time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC) }, false},
		{"year 1000", func(time.Time) time.Time { return time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC) }, true},
		{"year 1", func(time.Time) time.Time { return time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC) }, true},
	}
	for _, tc := range cases {
		for _, by := range []string{"Enqueue", "Retry"} {
			t.Run(fmt.Sprintf("%s/%s", tc.name, by), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					b := queue.NewMemoryBroker()
					ctx := context.Background()
					nb := tc.notBefore(time.Now())
					if by == "Enqueue" {
						ovfEnqueue(t, b, "t1", nb)
					} else {
						ovfEnqueue(t, b, "t1", time.Time{})
						_, token := ovfClaim(t, b, time.Minute)
						require.NoError(t, b.Retry(ctx, "t1", token, "again", nb))
					}
					if tc.ready {
						got, _ := ovfClaim(t, b, time.Minute)
						require.Equal(t, "t1", got.ID)
						return
					}
					ovfNothingClaimable(t, b, century)
					got, err := b.Get(ctx, "t1")
					require.NoError(t, err)
					require.True(t, got.NotBefore.Equal(nb), "NotBefore: got %v, want %v as given", got.NotBefore, nb)
				})
			})
		}
	}
}

// WithDelay of the largest Duration holds the task in PENDING (it used to
// wrap into the past and run at once); a negative delay is refused.
func TestClientWithHugeDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		c := queue.NewClient(b)
		ctx := context.Background()
		now := time.Now()
		task, err := c.Enqueue(ctx, "work", nil, queue.WithDelay(forever))
		require.NoError(t, err)
		require.Equal(t, queue.StatePending, task.State)
		require.True(t, task.NotBefore.Equal(now.Add(forever)), "NotBefore: got %v, want %v", task.NotBefore, now.Add(forever))
		ovfNothingClaimable(t, b, century)
		got, err := c.Get(ctx, task.ID)
		require.NoError(t, err)
		require.Equal(t, queue.StatePending, got.State)

		_, err = c.Enqueue(ctx, "work", nil, queue.WithDelay(-time.Nanosecond))
		require.ErrorIs(t, err, queue.ErrInvalidArgument)
		require.ErrorContains(t, err, "WithDelay")
		require.Equal(t, 1, b.Len(), "a refused task must not be enqueued")
	})
}

// A worker with the largest lease and result TTL runs a task once: the
// lease does not run out under it (no redelivery, no lost lease), and the
// result stays readable a century later.
func TestWorkerHugeLeaseAndResultTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		w := newWorker(t, b, queue.WorkerConfig{Concurrency: 1, Lease: forever, ResultTTL: forever})
		runs := 0
		w.Handle("slow", func(context.Context, *queue.Task) (any, error) {
			runs++
			time.Sleep(time.Second)
			return "done", nil
		})
		stop := start(w)
		c := queue.NewClient(b)
		task, err := c.Enqueue(context.Background(), "slow", nil)
		require.NoError(t, err)
		done := wait(t, c, task.ID)
		require.Equal(t, queue.StateSuccess, done.State)
		require.Equal(t, 1, runs)
		require.Zero(t, done.Redeliveries)
		require.True(t, done.ExpiresAt.Equal(latest), "ExpiresAt: got %v, want %v", done.ExpiresAt, latest)
		time.Sleep(century)
		got, err := c.Get(context.Background(), task.ID)
		require.NoError(t, err, "a result kept for the largest TTL expired")
		require.Equal(t, queue.StateSuccess, got.State)
		require.NoError(t, stop())
	})
}

// Weights above MaxWeight are refused by NewWorker: summed, two weights of
// the largest int used to wrap negative, leaving the worker no queue to
// claim from, so Run stopped with an error.
func TestNewWorkerRejectsWeightAboveMax(t *testing.T) {
	for _, weights := range []map[string]int{
		{"high": math.MaxInt, "low": math.MaxInt},
		{"high": queue.MaxWeight + 1},
	} {
		_, err := queue.NewWorker(queue.NewMemoryBroker(), quiet(queue.WorkerConfig{Priority: queue.PriorityWeighted, Weights: weights}))
		require.ErrorIs(t, err, queue.ErrInvalidArgument, "weights %v", weights)
		require.ErrorContains(t, err, fmt.Sprintf("want 1 to %d", queue.MaxWeight), "weights %v", weights)
	}
}

// Weights of MaxWeight on every queue are accepted, and the worker serves
// all of them.
func TestWorkerMaxWeightsServeEveryQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		w := newWorker(t, b, queue.WorkerConfig{
			Priority: queue.PriorityWeighted,
			Weights:  map[string]int{"high": queue.MaxWeight, "default": queue.MaxWeight, "low": queue.MaxWeight},
		})
		w.Handle("work", func(context.Context, *queue.Task) (any, error) { return nil, nil })
		stop := start(w)
		c := queue.NewClient(b)
		for _, q := range queue.DefaultQueues() {
			task, err := c.Enqueue(context.Background(), "work", nil, queue.WithQueue(q))
			require.NoError(t, err)
			require.Equal(t, queue.StateSuccess, wait(t, c, task.ID).State, "task in queue %s", q)
		}
		require.NoError(t, stop())
	})
}
