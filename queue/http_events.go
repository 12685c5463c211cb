package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// events streams the task's snapshots as Server-Sent Events. Watch runs in
// a goroutine so that keep-alives can be sent while it waits; the goroutine
// is cancelled and awaited before events returns.
func (a *httpAPI) events(w http.ResponseWriter, r *http.Request) {
	type snapshot struct {
		t   *Task
		err error
	}
	ctx, cancel := context.WithCancel(r.Context())
	snaps := make(chan snapshot)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	wg.Go(func() {
		defer close(snaps)
		for t, err := range a.c.Watch(ctx, r.PathValue("id")) {
			select {
			case snaps <- snapshot{t, err}:
			case <-ctx.Done():
				return
			}
		}
	})

	rc := http.NewResponseController(w)
	var keepAlive <-chan time.Time
	started := false
	send := func(event string, v any) bool {
		b, _ := json.Marshal(v) // views and error bodies always marshal
		_, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
		return err == nil && rc.Flush() == nil
	}
	for {
		select {
		case s, ok := <-snaps:
			switch {
			case !ok:
				return
			case s.err != nil && !started:
				a.fail(w, r, s.err)
				return
			case s.err != nil:
				if ctx.Err() == nil {
					send("error", map[string]string{"error": s.err.Error()})
				}
				return
			}
			if !started {
				started = true
				_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives a server's WriteTimeout
				h := w.Header()
				h.Set("Content-Type", "text/event-stream")
				h.Set("Cache-Control", "no-cache")
				h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
				w.WriteHeader(http.StatusOK)
				if r.Method == http.MethodHead {
					return
				}
				tick := time.NewTicker(a.cfg.SSEKeepAlive)
				defer tick.Stop()
				keepAlive = tick.C
			}
			if !send("state", viewOf(s.t)) || s.t.State.Done() {
				return
			}
		case <-keepAlive:
			if _, err := io.WriteString(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}
