package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/resilience-go/resilience/queue"
)

// defaultAddr is where the task API listens when Config.Addr is empty: a
// free port on the loopback interface, out of reach of other machines.
const defaultAddr = "127.0.0.1:0"

// apiShutdownTimeout bounds the wait for the task API's requests in flight
// when it stops; the ones still running after it are cut.
const apiShutdownTimeout = 5 * time.Second

// startAPI serves the task API, with the dead-letter routes and the
// dashboard, on cfg.Addr. Stopping it ends the requests that would not end
// by themselves (the dashboard's event streams) and waits for them.
func (e *env) startAPI() error {
	h, err := queue.NewHTTPHandlerWith(e.client, queue.HTTPConfig{DeadLetters: e.store, Alerts: e.alerts, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	addr := e.cfg.Addr
	if addr == "" {
		addr = defaultAddr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot serve the task API on %q (want host:port, such as %s for a free port): %w", addr, defaultAddr, err)
	}
	// Shutdown waits for requests to end, but an event stream of a task
	// that is not done never ends by itself: cancelling the requests'
	// base context when Shutdown starts ends them.
	base, cancelBase := context.WithCancel(context.Background())
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	srv.RegisterOnShutdown(cancelBase)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	tr := &http.Transport{}
	e.api = &apiClient{base: "http://" + ln.Addr().String(), http: &http.Client{Transport: tr}}
	e.stopAPI = func() {
		defer cancelBase()
		ctx, cancel := context.WithTimeout(context.Background(), apiShutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			e.p.event("error", "task API: %v; closing its connections", err)
			_ = srv.Close()
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			e.p.event("error", "task API: %v", err)
		}
		tr.CloseIdleConnections()
	}
	return nil
}

// dashboardURL is the address of the dashboard of the task API (GET /ui/).
func (e *env) dashboardURL() string {
	return e.api.base + "/ui/"
}

// dashboardNote says how long the dashboard stays up, for the header.
func (e *env) dashboardNote() string {
	if e.cfg.Serve {
		return "stays up after the run, until Ctrl-C"
	}
	return "up while the run lasts; -serve keeps it up after"
}

// serve keeps the task API, its dashboard and the workers up until ctx
// ends, with everything the run left (its tasks and alert states; its one
// dead letter was replayed); then it stops them: the workers first, which
// give the tasks in flight their shutdown grace, then the task API.
func (e *env) serve(ctx context.Context) {
	e.p.line(fmt.Sprintf("\nDashboard %s\n"+
		"  the task API (%s), the workers, the run's tasks and its alert states stay up; Ctrl-C stops them\n",
		e.dashboardURL(), e.api.base))
	<-ctx.Done()
	e.p.line(fmt.Sprintf("\nstopping: the workers finish the tasks in flight (up to %v), then the task API\n", queue.DefaultShutdownTimeout))
	e.close()
	e.p.line("stopped\n")
}
