package queue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/queue"
)

// httpAlert is one element of the "alerts" of GET /queues.
type httpAlert struct {
	TaskName    string    `json:"task_name"`
	Failures    int64     `json:"failures"`
	Threshold   int64     `json:"threshold"`
	Window      string    `json:"window"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	Alerted     bool      `json:"alerted"`
}

// getAlerts returns the "alerts" of GET /queues, nil when they are null.
func getAlerts(t *testing.T, h http.Handler) []httpAlert {
	t.Helper()
	rec := httpDo(h, http.MethodGet, "/queues", "")
	require.Equal(t, http.StatusOK, rec.Code, "GET /queues: body %s", rec.Body)
	var q struct {
		Alerts []httpAlert `json:"alerts"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &q))
	return q.Alerts
}

// TestHTTPQueuesShowAlertStatesOfTheWorker runs tasks that fail for good
// through a worker and sees its alert states in GET /queues: the name that
// reached the worker's threshold is alerted, the other is not.
func TestHTTPQueuesShowAlertStatesOfTheWorker(t *testing.T) {
	alerts := dlq.AlertConfig{Threshold: 3, Window: 24 * time.Hour}
	b := queue.NewMemoryBroker()
	t.Cleanup(func() { _ = b.Close() })
	w := newWorker(t, b, queue.WorkerConfig{Alerts: alerts})
	// No handler for either name: every task fails for good at once.
	c := queue.NewClient(b)
	h, err := queue.NewHTTPHandlerWith(c, queue.HTTPConfig{DeadLetters: w.DeadLetters(), Alerts: alerts})
	require.NoError(t, err)
	assert.Empty(t, getAlerts(t, h), "no failures yet")
	assert.NotNil(t, getAlerts(t, h), "a store that reports alert states: [], not null")

	stop := start(w)
	defer func() { require.NoError(t, stop()) }()
	before := time.Now()
	for i, name := range []string{"embed", "chat", "embed", "embed", "embed"} {
		task, err := c.Enqueue(context.Background(), name, nil, queue.WithTaskID(fmt.Sprintf("t%d", i)))
		require.NoError(t, err)
		assert.Equal(t, queue.StateFailure, wait(t, c, task.ID).State)
	}
	// The failure is counted just after the task ends FAILURE: wait for it.
	var got []httpAlert
	require.Eventually(t, func() bool {
		got = getAlerts(t, h)
		return len(got) == 2 && got[0].Failures == 4
	}, 30*time.Second, 5*time.Millisecond, "alerts: %+v", got)

	assert.Equal(t, "embed", got[0].TaskName)
	assert.True(t, got[0].Alerted, "4 failures with threshold 3")
	assert.Equal(t, "chat", got[1].TaskName)
	assert.Equal(t, int64(1), got[1].Failures)
	assert.False(t, got[1].Alerted, "1 failure with threshold 3")
	for _, a := range got {
		assert.Equal(t, int64(3), a.Threshold)
		assert.Equal(t, "24h0m0s", a.Window)
		assert.Equal(t, 24*time.Hour, a.WindowEnd.Sub(a.WindowStart))
		assert.False(t, a.WindowStart.After(before), "window %v–%v holds the failures after %v", a.WindowStart, a.WindowEnd, before)
		assert.True(t, a.WindowEnd.After(before))
	}
}

// countOnlyStore is a dead-letter store without the optional
// dlq.AlertReader.
type countOnlyStore struct{ dlq.Store }

func TestHTTPQueuesAlertsNullWithoutAReader(t *testing.T) {
	_, _, h := httpFixture(t, queue.HTTPConfig{})
	rec := httpDo(h, http.MethodGet, "/queues", "")
	assert.Contains(t, rec.Body.String(), `"alerts":null`, "no dead-letter store")

	_, _, h = httpFixture(t, queue.HTTPConfig{DeadLetters: countOnlyStore{dlq.NewMemoryStore()}})
	rec = httpDo(h, http.MethodGet, "/queues", "")
	require.Equal(t, http.StatusOK, rec.Code, "body %s", rec.Body)
	assert.Contains(t, rec.Body.String(), `"alerts":null`, "a store that cannot report alert states")
	assert.Contains(t, rec.Body.String(), `"dead_letters":0`)
}

// TestHTTPQueuesAlertsAreCapped fails more task names than the cap: the
// answer holds MaxAlertStates of them, those with most failures, and uses
// the default threshold for a zero HTTPConfig.Alerts.
func TestHTTPQueuesAlertsAreCapped(t *testing.T) {
	store := dlq.NewMemoryStore()
	rec, err := dlq.NewRecorder(store, dlq.AlertConfig{Logger: httpDiscard})
	require.NoError(t, err)
	ctx := context.Background()
	record := func(name string, n int) {
		for i := range n {
			require.NoError(t, rec.Record(ctx, dlq.Entry{TaskID: fmt.Sprintf("%s-%d", name, i), TaskName: name}))
		}
	}
	for i := range queue.MaxAlertStates + 20 {
		record(fmt.Sprintf("made-up-%03d", i), 1)
	}
	record("embed", dlq.DefaultAlertThreshold)

	_, _, h := httpFixture(t, queue.HTTPConfig{DeadLetters: store})
	got := getAlerts(t, h)
	require.Len(t, got, queue.MaxAlertStates)
	assert.Equal(t, httpAlert{TaskName: "embed", Failures: dlq.DefaultAlertThreshold, Threshold: dlq.DefaultAlertThreshold,
		Window: "1h0m0s", WindowStart: got[0].WindowStart, WindowEnd: got[0].WindowEnd, Alerted: true}, got[0])
	assert.Equal(t, "made-up-000", got[1].TaskName, "ties by name")
	assert.False(t, got[1].Alerted)
}

// httpCountsDown is a dead-letter store whose failure counts cannot be
// read.
type httpCountsDown struct{ *dlq.MemoryStore }

func (httpCountsDown) FailureCounts(context.Context, time.Duration, int) ([]dlq.FailureCount, error) {
	return nil, fmt.Errorf("redis: connection refused at 10.0.0.7:6379")
}

func TestHTTPQueuesAlertReadErrorIs500(t *testing.T) {
	_, _, h := httpFixture(t, queue.HTTPConfig{DeadLetters: httpCountsDown{dlq.NewMemoryStore()}, Logger: httpDiscard})
	rec := httpDo(h, http.MethodGet, "/queues", "")
	require.Equal(t, http.StatusInternalServerError, rec.Code, "body %s", rec.Body)
	assert.Equal(t, "queue: internal error", httpErrorOf(t, rec))
}
