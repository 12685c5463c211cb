package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/queue"
)

// replayEnqueueFails is a broker whose Enqueue always fails.
type replayEnqueueFails struct{ *queue.MemoryBroker }

var errReplayBrokerDown = errors.New("broker down")

func (replayEnqueueFails) Enqueue(context.Context, *queue.Task) (*queue.Task, bool, error) {
	return nil, false, errReplayBrokerDown
}

// replayDeleteFails is a store whose Delete fails while failing is set.
type replayDeleteFails struct {
	*dlq.MemoryStore
	mu      sync.Mutex
	failing bool
}

var errReplayStoreDown = errors.New("store down")

func (s *replayDeleteFails) Delete(ctx context.Context, id string) error {
	s.mu.Lock()
	failing := s.failing
	s.mu.Unlock()
	if failing {
		return errReplayStoreDown
	}
	return s.MemoryStore.Delete(ctx, id)
}

func (s *replayDeleteFails) setFailing(v bool) {
	s.mu.Lock()
	s.failing = v
	s.mu.Unlock()
}

// replayFixture returns a broker, a client of it and a store holding e.
func replayFixture(t *testing.T, e dlq.Entry) (*queue.MemoryBroker, *queue.Client, *dlq.MemoryStore) {
	t.Helper()
	b := queue.NewMemoryBroker()
	t.Cleanup(func() { _ = b.Close() })
	store := dlq.NewMemoryStore()
	require.NoError(t, store.Push(context.Background(), e))
	return b, queue.NewClient(b), store
}

func deadEntry(id string) dlq.Entry {
	return dlq.Entry{
		TaskID: id, TaskName: "embed", Queue: queue.QueueHigh, Payload: json.RawMessage(`{"docs":["a","b"]}`),
		Error: "upstream 503", FailedAt: time.Now(), Retries: 3,
	}
}

func TestReplayEnqueuesFreshTaskAndDeletesEntry(t *testing.T) {
	tests := []struct {
		entryID, wantID string
	}{
		{"abc", "abc-replay-1"},
		{"abc-replay-1", "abc-replay-2"},
		{"abc-replay-41", "abc-replay-42"},
		{"abc-replay-", "abc-replay--replay-1"},     // no number: not a replay id
		{"abc-replay-01", "abc-replay-01-replay-1"}, // not canonical: not a replay id
		{"-replay-3", "-replay-3-replay-1"},         // no base
	}
	for _, tt := range tests {
		t.Run(tt.entryID, func(t *testing.T) {
			ctx := context.Background()
			b, c, store := replayFixture(t, deadEntry(tt.entryID))
			got, err := c.Replay(ctx, store, tt.entryID)
			require.NoError(t, err)
			assert.Equal(t, tt.wantID, got.ID, "replayed task id")
			assert.Equal(t, "embed", got.Name)
			assert.Equal(t, queue.QueueHigh, got.Queue)
			assert.JSONEq(t, `{"docs":["a","b"]}`, string(got.Payload))
			assert.Equal(t, queue.StatePending, got.State)
			assert.Zero(t, got.Attempt, "attempts are fresh")
			assert.Zero(t, got.Retries, "retries are fresh")
			assert.Equal(t, queue.DefaultRetries, got.MaxRetries)

			stored, err := b.Get(ctx, tt.wantID)
			require.NoError(t, err, "the broker holds the replay")
			assert.Equal(t, queue.StatePending, stored.State)
			_, err = store.Get(ctx, tt.entryID)
			assert.ErrorIs(t, err, dlq.ErrNotFound, "the entry is deleted")
		})
	}
}

func TestReplayErrorsKeepTheEntry(t *testing.T) {
	unknownQueue := deadEntry("q1")
	unknownQueue.Queue = "gpu"
	noName := deadEntry("n1")
	noName.TaskName = ""
	tests := []struct {
		name    string
		entry   dlq.Entry
		broker  func(*queue.MemoryBroker) queue.Broker
		id      string
		nilStor bool
		want    error
	}{
		{name: "unknown id", entry: deadEntry("t1"), id: "nope", want: dlq.ErrNotFound},
		{name: "nil store", entry: deadEntry("t1"), id: "t1", nilStor: true, want: queue.ErrInvalidArgument},
		{name: "empty id", entry: deadEntry("t1"), id: "", want: queue.ErrInvalidArgument},
		{name: "broker enqueue fails", entry: deadEntry("t1"), id: "t1", want: errReplayBrokerDown,
			broker: func(m *queue.MemoryBroker) queue.Broker { return replayEnqueueFails{m} }},
		{name: "unknown queue", entry: unknownQueue, id: "q1", want: queue.ErrUnknownQueue},
		{name: "entry without name", entry: noName, id: "n1", want: queue.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			m, c, store := replayFixture(t, tt.entry)
			if tt.broker != nil {
				c = queue.NewClient(tt.broker(m))
			}
			var s dlq.Store = store
			if tt.nilStor {
				s = nil
			}
			got, err := c.Replay(ctx, s, tt.id)
			require.ErrorIs(t, err, tt.want)
			assert.Nil(t, got)
			n, _ := store.Len(ctx)
			assert.Equal(t, 1, n, "entries in the store")
			assert.Zero(t, m.Len(), "tasks in the broker")
		})
	}
}

func TestReplayAfterFailedDeleteReturnsSameTask(t *testing.T) {
	ctx := context.Background()
	b := queue.NewMemoryBroker()
	defer b.Close()
	c := queue.NewClient(b)
	store := &replayDeleteFails{MemoryStore: dlq.NewMemoryStore(), failing: true}
	require.NoError(t, store.Push(ctx, deadEntry("t1")))

	first, err := c.Replay(ctx, store, "t1")
	require.ErrorIs(t, err, errReplayStoreDown)
	require.NotNil(t, first, "the task was enqueued and is returned with the error")
	n, _ := store.Len(ctx)
	require.Equal(t, 1, n, "the entry stays when it cannot be deleted")

	store.setFailing(false)
	second, err := c.Replay(ctx, store, "t1")
	require.NoError(t, err)
	assert.Equal(t, first.ID, second.ID, "a second replay returns the task of the first")
	assert.Equal(t, 1, b.Len(), "tasks in the broker: the replay was not duplicated")
	n, _ = store.Len(ctx)
	assert.Zero(t, n, "entries after the second replay")
}

func TestReplayConcurrentCallsEnqueueOnce(t *testing.T) {
	ctx := context.Background()
	b, c, store := replayFixture(t, deadEntry("t1"))
	const callers = 8
	ids := make([]string, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			got, err := c.Replay(ctx, store, "t1")
			if err == nil {
				ids[i] = got.ID
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 1, b.Len(), "tasks in the broker after %d concurrent replays", callers)
	replayed := 0
	for i, id := range ids {
		// A caller that came after the entry was deleted gets ErrNotFound.
		if id != "" {
			replayed++
			assert.Equal(t, "t1-replay-1", id, "caller %d", i)
		}
	}
	assert.Positive(t, replayed, "callers that replayed")
}

func TestReplaySkipsOlderTaskUnderDerivedID(t *testing.T) {
	ctx := context.Background()
	b := queue.NewMemoryBroker()
	defer b.Close()
	c := queue.NewClient(b)
	// A task of an earlier generation holds the first derived id.
	_, err := c.Enqueue(ctx, "embed", nil, queue.WithTaskID("t1-replay-1"))
	require.NoError(t, err)
	e := deadEntry("t1")
	e.FailedAt = time.Now().Add(time.Hour) // the entry failed after it was enqueued
	store := dlq.NewMemoryStore()
	require.NoError(t, store.Push(ctx, e))

	got, err := c.Replay(ctx, store, "t1")
	require.NoError(t, err)
	assert.Equal(t, "t1-replay-2", got.ID)
	assert.Equal(t, 2, b.Len(), "tasks in the broker")
}

func TestReplayFallsBackToRandomIDWhenDerivedIDIsTooLong(t *testing.T) {
	ctx := context.Background()
	long := strings.Repeat("x", 256)
	b, c, store := replayFixture(t, deadEntry(long))
	got, err := c.Replay(ctx, store, long)
	require.NoError(t, err)
	assert.Len(t, got.ID, 36, "a random UUID, got %q", got.ID)
	assert.Equal(t, 1, b.Len())
}

func TestReplayEmptyPayloadIsNull(t *testing.T) {
	e := deadEntry("t1")
	e.Payload = json.RawMessage{}
	_, c, store := replayFixture(t, e)
	got, err := c.Replay(context.Background(), store, "t1")
	require.NoError(t, err)
	assert.Equal(t, "null", string(got.Payload))
}

// A task that failed for good is replayed while its FAILURE is still in the
// broker, and the replay runs to SUCCESS once the handler works.
func TestReplayOfFailedTaskRunsAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		b := queue.NewMemoryBroker()
		defer b.Close()
		c := queue.NewClient(b)
		w, err := queue.NewWorker(b, queue.WorkerConfig{Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		var mu sync.Mutex
		fixed := false
		w.Handle("embed", func(ctx context.Context, t *queue.Task) (any, error) {
			mu.Lock()
			defer mu.Unlock()
			if !fixed {
				return nil, resilience.Permanent(errors.New("model not deployed"))
			}
			return "ok", nil
		})
		done := make(chan error)
		go func() { done <- w.Run(ctx) }()
		defer func() { cancel(); <-done }()

		dead, err := c.Enqueue(ctx, "embed", []string{"a"}, queue.WithTaskID("job-7"))
		require.NoError(t, err)
		dead, err = c.Wait(ctx, dead.ID)
		require.NoError(t, err)
		require.Equal(t, queue.StateFailure, dead.State)

		mu.Lock()
		fixed = true
		mu.Unlock()
		replay, err := c.Replay(ctx, w.DeadLetters(), "job-7")
		require.NoError(t, err)
		assert.NotEqual(t, "job-7", replay.ID, "the replay must not reuse the dead task's id")
		got, err := c.Wait(ctx, replay.ID)
		require.NoError(t, err)
		assert.Equal(t, queue.StateSuccess, got.State, "replay state (error %q)", got.Error)
		assert.JSONEq(t, `"ok"`, string(got.Result))
		assert.Equal(t, 1, got.Attempt, "attempts of the replay")

		old, err := c.Get(ctx, "job-7")
		require.NoError(t, err)
		assert.Equal(t, queue.StateFailure, old.State, "the dead task is untouched")
		n, _ := w.DeadLetters().Len(ctx)
		assert.Zero(t, n, "dead letters after the replay")
	})
}

// A dead letter goes back into the queue with fresh attempts; the entry is
// removed from the store.
func ExampleClient_Replay() {
	ctx := context.Background()
	broker := queue.NewMemoryBroker()
	defer broker.Close()
	client := queue.NewClient(broker)

	store := dlq.NewMemoryStore() // usually (*Worker).DeadLetters()
	_ = store.Push(ctx, dlq.Entry{
		TaskID: "job-7", TaskName: "embed", Queue: "high",
		Payload: json.RawMessage(`["doc one","doc two"]`), Error: "upstream 503", Retries: 3,
		FailedAt: time.Now(),
	})

	t, err := client.Replay(ctx, store, "job-7")
	if err != nil {
		fmt.Println("replay failed:", err)
		return
	}
	left, _ := store.Len(ctx)
	fmt.Println(t.ID, t.Name, t.Queue, t.State, string(t.Payload))
	fmt.Println("entries left:", left)

	_, err = client.Replay(ctx, store, "job-7")
	fmt.Println(errors.Is(err, dlq.ErrNotFound))
	// Output:
	// job-7-replay-1 embed high PENDING ["doc one","doc two"]
	// entries left: 0
	// true
}

// Regression: a worker clock ahead of the client's (FailedAt in the
// client's future) must not make Replay take its own new task for a
// leftover and enqueue more copies.
func TestReplayWithWorkerClockAheadEnqueuesOnce(t *testing.T) {
	e := deadEntry("t1")
	e.FailedAt = time.Now().Add(time.Hour)
	b, c, store := replayFixture(t, e)
	got, err := c.Replay(context.Background(), store, "t1")
	require.NoError(t, err)
	assert.Equal(t, "t1-replay-1", got.ID)
	assert.Equal(t, 1, b.Len(), "tasks in the broker")
}
