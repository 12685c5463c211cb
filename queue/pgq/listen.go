package pgq

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// hub is the one listening connection of a [Broker] and the claims and
// watchers it wakes. It starts on the first Claim or Changed and runs until
// Close; when the connection drops it reconnects (with a backoff up to
// reconnectMax) and then wakes every claim and watcher, since
// notifications sent meanwhile were lost.
type hub struct {
	b        *Broker
	mu       sync.Mutex
	started  bool
	closed   bool
	waiters  []*waiter
	watchers map[string][]chan struct{}
	done     chan struct{} // closed when the listening goroutine has returned

	// The notifier: queues that got a task, announced by one goroutine.
	announced map[string]struct{}
	kick      chan struct{} // buffered, 1
	notifying bool          // the notifier goroutine runs
	notified  chan struct{} // closed when the notifier goroutine has returned
}

// waiter is a Claim waiting for a task in one of its queues.
type waiter struct {
	queues []string
	wake   chan struct{} // buffered, 1
}

// Backoff of the listening connection's reconnects.
const (
	reconnectMin = 50 * time.Millisecond
	reconnectMax = 2 * time.Second
)

func newHub(b *Broker) *hub {
	return &hub{b: b, watchers: make(map[string][]chan struct{}), done: make(chan struct{}),
		announced: make(map[string]struct{}), kick: make(chan struct{}, 1), notified: make(chan struct{})}
}

// start starts the listening goroutine once.
func (h *hub) start() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.started || h.closed || h.b.err != nil {
		return
	}
	h.started = true
	go h.run()
}

// shutdown stops the goroutine, waits for it, and wakes everyone.
func (h *hub) shutdown() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	started, notifying := h.started, h.notifying
	h.wakeAllLocked()
	h.mu.Unlock()
	if started {
		<-h.done
	}
	if notifying {
		<-h.notified
	}
}

// announce wakes one claim of this process waiting on queue, and has the
// notifier tell every other process.
func (h *hub) announce(queue string) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.signalLocked(queue)
	h.announced[queue] = struct{}{}
	if !h.notifying {
		h.notifying = true
		go h.notifier()
	}
	h.mu.Unlock()
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// notifier sends the notifications of announced queues, all queues
// announced while one statement runs going into the next. A statement
// that fails is retried once the next enqueue kicks it; claims that miss a
// notification meanwhile wake after WakeTimeout at the latest.
func (h *hub) notifier() {
	defer close(h.notified)
	ctx := h.b.closing
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.kick:
		}
		h.mu.Lock()
		queues := make([]string, 0, len(h.announced))
		for q := range h.announced {
			queues = append(queues, q)
		}
		clear(h.announced)
		h.mu.Unlock()
		if len(queues) == 0 {
			continue
		}
		if _, err := h.b.pool.Exec(ctx, h.b.sql.notify, queues); err != nil && ctx.Err() == nil {
			h.mu.Lock()
			for _, q := range queues {
				h.announced[q] = struct{}{}
			}
			h.mu.Unlock()
		}
	}
}

func (h *hub) run() {
	defer close(h.done)
	ctx := h.b.closing
	pause := reconnectMin
	for ctx.Err() == nil {
		if err := h.listen(ctx); err != nil && ctx.Err() == nil {
			timer := time.NewTimer(pause)
			select {
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
			}
			pause = min(2*pause, reconnectMax)
			continue
		}
		pause = reconnectMin
	}
}

// listen opens the listening connection, wakes everyone once LISTEN is in
// place, and dispatches notifications until the connection fails or ctx
// ends.
func (h *hub) listen(ctx context.Context) error {
	if err := h.b.mig.ensure(ctx); err != nil {
		return err
	}
	cfg := h.b.pool.Config().ConnConfig.Copy()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, `LISTEN "`+h.b.n.channel+`"`); err != nil {
		return err
	}
	h.mu.Lock()
	h.wakeAllLocked() // whatever was sent before LISTEN was missed
	h.mu.Unlock()
	for {
		note, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		h.dispatch(note.Payload)
	}
}

// dispatch handles one notification: "q<queue>" wakes a claim waiting on
// that queue, "t<id>" the watchers of that task.
func (h *hub) dispatch(payload string) {
	if payload == "" {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch payload[0] {
	case 'q':
		h.signalLocked(payload[1:])
	case 't':
		h.notifyLocked(payload[1:])
	}
}

// wakeAllLocked wakes every waiting claim and closes every watcher.
func (h *hub) wakeAllLocked() {
	for _, w := range h.waiters {
		w.wake <- struct{}{}
	}
	h.waiters = nil
	for id := range h.watchers {
		h.notifyLocked(id)
	}
}

// signalLocked wakes the longest-waiting claim that listens on queue.
func (h *hub) signalLocked(queue string) {
	for i, w := range h.waiters {
		for _, q := range w.queues {
			if q == queue {
				h.waiters = append(h.waiters[:i], h.waiters[i+1:]...)
				w.wake <- struct{}{}
				return
			}
		}
	}
}

// signal wakes one claim waiting on queue, if any.
func (h *hub) signal(queue string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.signalLocked(queue)
}

// notifyLocked closes the channels of everyone watching task id.
func (h *hub) notifyLocked(id string) {
	if chs, ok := h.watchers[id]; ok {
		for _, ch := range chs {
			close(ch)
		}
		delete(h.watchers, id)
	}
}

// addWaiter registers a claim on queues; it is woken (and removed) by a
// notification on one of them.
func (h *hub) addWaiter(queues []string) *waiter {
	w := &waiter{queues: queues, wake: make(chan struct{}, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		w.wake <- struct{}{}
		return w
	}
	h.waiters = append(h.waiters, w)
	return w
}

// removeWaiter unregisters w. When w had been woken already (so a
// notification meant for some claim on its queues went to it) and
// passOn is set, the wake-up goes to another claim on those queues.
func (h *hub) removeWaiter(w *waiter, passOn bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, x := range h.waiters {
		if x == w {
			h.waiters = append(h.waiters[:i], h.waiters[i+1:]...)
			return
		}
	}
	if passOn && !h.closed {
		for _, q := range w.queues {
			h.signalLocked(q)
		}
	}
}

// changed implements [Broker.Changed].
func (h *hub) changed(id string) (<-chan struct{}, func()) {
	h.start()
	ch := make(chan struct{})
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(ch)
		return ch, func() {}
	}
	h.watchers[id] = append(h.watchers[id], ch)
	stop := func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		chs := h.watchers[id]
		for i, c := range chs {
			if c == ch {
				chs = append(chs[:i], chs[i+1:]...)
				break
			}
		}
		if len(chs) == 0 {
			delete(h.watchers, id)
		} else {
			h.watchers[id] = chs
		}
	}
	return ch, stop
}
