package queue_test

import (
	"context"
	"encoding/json"
	"testing"
	"testing/synctest"
	"time"

	"github.com/resilience-go/resilience/queue"
	"github.com/stretchr/testify/require"
)

func TestReportProgressOutsideHandler(t *testing.T) {
	err := queue.ReportProgress(context.Background(), queue.Progress{Current: 1})
	require.ErrorIs(t, err, queue.ErrInvalidArgument)
	require.Contains(t, err.Error(), "outside a task handler")
}

func TestReportProgressVisibleAndValidated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		w := newWorker(t, b, queue.WorkerConfig{})
		reported := make(chan error, 1)
		proceed := make(chan struct{})
		var badErr error
		w.Handle("embed", func(ctx context.Context, _ *queue.Task) (any, error) {
			badErr = queue.ReportProgress(ctx, queue.Progress{Current: -1, Total: 10})
			reported <- queue.ReportProgress(ctx, queue.Progress{Current: 3, Total: 10, Status: "Processing batch 1"})
			<-proceed
			return nil, nil
		})
		stop := start(w)
		c := queue.NewClient(b)
		task, err := c.Enqueue(context.Background(), "embed", nil)
		require.NoError(t, err)
		require.NoError(t, <-reported)
		require.ErrorIs(t, badErr, queue.ErrInvalidArgument)
		got, err := c.Get(context.Background(), task.ID)
		require.NoError(t, err)
		require.Equal(t, queue.StateProcessing, got.State)
		require.Equal(t, &queue.Progress{Current: 3, Total: 10, Status: "Processing batch 1"}, got.Progress)
		close(proceed)
		require.Equal(t, queue.StateSuccess, wait(t, c, task.ID).State)
		require.NoError(t, stop())
	})
}

// TestProgressRenewsLease drops the worker's periodic renewals: progress
// reports alone must keep the lease.
func TestProgressRenewsLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &flakyBroker{Broker: queue.NewMemoryBroker()}
		b.dropRenew.Store(true)
		w := newWorker(t, b, queue.WorkerConfig{Lease: 3 * time.Second})
		w.Handle("steps", func(ctx context.Context, _ *queue.Task) (any, error) {
			for i := range 10 {
				time.Sleep(2 * time.Second)
				if err := queue.ReportProgress(ctx, queue.Progress{Current: int64(i + 1), Total: 10}); err != nil {
					return nil, err
				}
			}
			return nil, nil
		})
		stop := start(w)
		c := queue.NewClient(b)
		task, err := c.Enqueue(context.Background(), "steps", nil)
		require.NoError(t, err)
		done := wait(t, c, task.ID)
		require.NoError(t, stop())
		require.Equal(t, queue.StateSuccess, done.State)
		require.Zero(t, done.Redeliveries, "a 20 s task with a 3 s lease kept it by progress reports")
	})
}

type chatRequest struct {
	Messages []string `json:"messages"`
	Model    string   `json:"model"`
}

type chatResponse struct {
	Content string `json:"content"`
	Tokens  int    `json:"tokens"`
}

func TestTypedHandler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		w := newWorker(t, b, queue.WorkerConfig{})
		calls := 0
		w.Handle("chat", queue.Typed(func(_ context.Context, req chatRequest) (chatResponse, error) {
			calls++
			return chatResponse{Content: req.Model + ": " + req.Messages[0], Tokens: 7}, nil
		}))
		stop := start(w)
		c := queue.NewClient(b)
		ok, err := c.Enqueue(context.Background(), "chat", chatRequest{Messages: []string{"hi"}, Model: "m"})
		require.NoError(t, err)
		bad, err := c.Enqueue(context.Background(), "chat", "not an object")
		require.NoError(t, err)

		done := wait(t, c, ok.ID)
		require.Equal(t, queue.StateSuccess, done.State)
		var resp chatResponse
		require.NoError(t, json.Unmarshal(done.Result, &resp))
		require.Equal(t, chatResponse{Content: "m: hi", Tokens: 7}, resp)

		failed := wait(t, c, bad.ID)
		require.NoError(t, stop())
		require.Equal(t, queue.StateFailure, failed.State)
		require.Equal(t, 1, failed.Attempt, "a payload that does not decode is not retried")
		require.Contains(t, failed.Error, "decode payload")
		require.Contains(t, failed.Error, "queue_test.chatRequest")
		require.Equal(t, 1, calls, "fn is not called with an undecodable payload")
	})
}

func TestHandlerResults(t *testing.T) {
	tests := []struct {
		name      string
		result    any
		wantState queue.State
		want      string // the result JSON, or a piece of the error
	}{
		{"struct", chatResponse{Content: "x"}, queue.StateSuccess, `{"content":"x","tokens":0}`},
		{"raw JSON kept as is", json.RawMessage(`{"a":[1,2]}`), queue.StateSuccess, `{"a":[1,2]}`},
		{"nil", nil, queue.StateSuccess, ""},
		{"invalid raw JSON", json.RawMessage(`{`), queue.StateFailure, "does not marshal to JSON"},
		{"a channel", make(chan int), queue.StateFailure, "does not marshal to JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := queue.NewMemoryBroker()
				w := newWorker(t, b, queue.WorkerConfig{})
				w.Handle("r", func(context.Context, *queue.Task) (any, error) { return tt.result, nil })
				stop := start(w)
				c := queue.NewClient(b)
				task, err := c.Enqueue(context.Background(), "r", nil)
				require.NoError(t, err)
				done := wait(t, c, task.ID)
				require.NoError(t, stop())
				require.Equal(t, tt.wantState, done.State)
				switch {
				case tt.wantState == queue.StateFailure:
					require.Contains(t, done.Error, tt.want)
					require.Equal(t, 1, done.Attempt, "a result that cannot be stored is not retried")
				case tt.want == "":
					require.Empty(t, done.Result)
				default:
					require.JSONEq(t, tt.want, string(done.Result))
				}
			})
		})
	}
}

func TestHandlerGetsItsOwnCopy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		w := newWorker(t, b, queue.WorkerConfig{})
		w.Handle("mutate", func(_ context.Context, task *queue.Task) (any, error) {
			task.Payload[0] = 'X'
			task.State = queue.StateFailure
			return nil, nil
		})
		stop := start(w)
		c := queue.NewClient(b)
		task, err := c.Enqueue(context.Background(), "mutate", []int{1})
		require.NoError(t, err)
		done := wait(t, c, task.ID)
		require.NoError(t, stop())
		require.Equal(t, queue.StateSuccess, done.State)
		require.JSONEq(t, `[1]`, string(done.Payload))
	})
}

type ctxKey struct{}

func TestHandlerCtxCarriesRunValues(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		w := newWorker(t, b, queue.WorkerConfig{})
		w.Handle("v", func(ctx context.Context, _ *queue.Task) (any, error) {
			return ctx.Value(ctxKey{}), nil
		})
		ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "request-7"))
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		c := queue.NewClient(b)
		task, err := c.Enqueue(context.Background(), "v", nil)
		require.NoError(t, err)
		require.JSONEq(t, `"request-7"`, string(wait(t, c, task.ID).Result))
		cancel()
		require.NoError(t, <-done)
	})
}

// progressHangingBroker is a broker whose Progress calls never answer: they
// wait until their context ends (or until giveUp is closed, so that a test
// of a worker that never bounds the call can still stop it).
type progressHangingBroker struct {
	*queue.MemoryBroker
	giveUp chan struct{}
}

func (b *progressHangingBroker) Progress(ctx context.Context, _, _ string, _ queue.Progress, _ time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-b.giveUp:
		return errGaveUp
	}
}

// A broker that hangs on a Progress call does not stall the handler that
// reports it: ReportProgress returns a clear error after one lease, while
// the lease keeper keeps the task, and the handler finishes its task.
func TestReportProgressToAHungBrokerReturnsAfterOneLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const lease = 3 * time.Second
		b := &progressHangingBroker{MemoryBroker: queue.NewMemoryBroker(), giveUp: make(chan struct{})}
		w := newWorker(t, b, queue.WorkerConfig{Concurrency: 1, Lease: lease})
		var (
			progressErr error
			took        time.Duration
		)
		w.Handle("job", func(ctx context.Context, _ *queue.Task) (any, error) {
			begin := time.Now()
			progressErr = queue.ReportProgress(ctx, queue.Progress{Current: 1, Total: 2})
			took = time.Since(begin)
			return "ok", nil
		})
		c := queue.NewClient(b)
		task, err := c.Enqueue(context.Background(), "job", nil)
		require.NoError(t, err)
		stop := start(w)
		ctx, cancel := context.WithTimeout(context.Background(), 2*lease)
		got, err := c.Wait(ctx, task.ID)
		cancel()
		close(b.giveUp) // lets a worker that never bounds the call stop
		synctest.Wait()
		require.NoError(t, stop())
		require.NoError(t, err, "the handler finished within two leases")
		require.Equal(t, queue.StateSuccess, got.State)
		require.Zero(t, got.Redeliveries, "the lease keeper kept the task meanwhile")
		require.Equal(t, lease, took, "ReportProgress returned after one lease")
		require.ErrorIs(t, progressErr, context.DeadlineExceeded)
		require.EqualError(t, progressErr, "queue: report progress of task "+task.ID+
			": the broker did not answer within one lease (3s); the progress may not be recorded: context deadline exceeded")
	})
}
