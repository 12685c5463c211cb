package uitest

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/queue"
)

// Task names the fixture's worker handles.
const (
	taskSteps   = "report" // reports progress in steps, then succeeds
	taskBlock   = "block"  // runs until its context ends (or 10 s)
	taskGreet   = "greet"  // succeeds at once
	prefix      = "/admin/queue"
	roPrefix    = "/readonly"
	plainPrefix = "/plain" // over a broker without statistics or lists

	// alertThreshold is the failures of one task name, within the alert
	// window, that raise the alert: low, so a test reaches it quickly.
	alertThreshold = 2
)

// fixture is a queue served over a real port: the API (and dashboard)
// under prefix, the same in read-only mode under roPrefix, and a worker.
type fixture struct {
	handler http.Handler
	srv     *httptest.Server
	client  *queue.Client
	store   *dlq.MemoryStore
	revoked atomic.Int32 // block handlers whose context ended with ErrRevoked
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	broker := queue.NewMemoryBroker()
	f := &fixture{client: queue.NewClient(broker), store: dlq.NewMemoryStore()}
	quiet := slog.New(slog.DiscardHandler)
	alerts := dlq.AlertConfig{Threshold: alertThreshold, Logger: quiet}
	api, err := queue.NewHTTPHandlerWith(f.client, queue.HTTPConfig{DeadLetters: f.store, Alerts: alerts, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ro, err := queue.NewHTTPHandlerWith(f.client, queue.HTTPConfig{DeadLetters: f.store, Alerts: alerts, Logger: quiet, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := queue.NewHTTPHandlerWith(queue.NewClient(plainBroker{broker}), queue.HTTPConfig{DeadLetters: f.store, Alerts: alerts, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(plainPrefix+"/", http.StripPrefix(plainPrefix, plain))
	mux.Handle(prefix+"/", http.StripPrefix(prefix, api))
	mux.Handle(roPrefix+"/", http.StripPrefix(roPrefix, ro))
	f.handler = mux
	f.srv = httptest.NewServer(mux)

	w, err := queue.NewWorker(broker, queue.WorkerConfig{Concurrency: 4, DeadLetters: f.store, Alerts: alerts, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	w.Handle(taskSteps, func(ctx context.Context, task *queue.Task) (any, error) {
		const steps = 10
		for i := range steps {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(250 * time.Millisecond):
			}
			if err := queue.ReportProgress(ctx, queue.Progress{Current: int64(i + 1), Total: steps, Status: "embedding"}); err != nil {
				return nil, err
			}
		}
		return "done", nil
	})
	w.Handle(taskBlock, func(ctx context.Context, task *queue.Task) (any, error) {
		select {
		case <-ctx.Done():
			if context.Cause(ctx) == queue.ErrRevoked {
				f.revoked.Add(1)
			}
			return nil, ctx.Err()
		case <-time.After(10 * time.Second):
			return "not cancelled", nil
		}
	})
	w.Handle(taskGreet, func(ctx context.Context, task *queue.Task) (any, error) { return "hello", nil })

	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		f.stopServer()
		stop()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
		_ = broker.Close()
	})
	return f
}

// plainBroker is a broker with none of the optional interfaces (no
// queue.Inspector: GET /queues and GET /tasks answer 501).
type plainBroker struct{ queue.Broker }

// url returns the absolute URL of a path on the test server.
func (f *fixture) url(path string) string { return f.srv.URL + path }

// stopServer closes the server and every connection to it (the page's
// event streams among them).
func (f *fixture) stopServer() {
	f.srv.CloseClientConnections()
	f.srv.Close()
}

// restartServer starts the server again on the address it had, as a
// process restarted behind the same URL would.
func (f *fixture) restartServer(t *testing.T) {
	t.Helper()
	addr := f.srv.Listener.Addr().String()
	var l net.Listener
	var err error
	for range 100 { // the port may take a moment to be free again
		if l, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("listen on %s again: %v", addr, err)
	}
	srv := httptest.NewUnstartedServer(f.handler)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	f.srv = srv
}
