package redisq

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Every script that changes a task publishes its id on the prefix's
// "{prefix}:changed" channel (plain pub/sub, no keyspace notifications).
// The broker subscribes once, on the first Changed, and fans the ids out
// to the watchers of each task.

const (
	// subscribeWait bounds how long Changed waits for the subscription to
	// be confirmed before it returns anyway (the channel is then closed
	// when the subscription comes up, so no change can be missed).
	subscribeWait = time.Second
	// pingEvery is how long the subscription may be silent before it is
	// pinged; a second silence of that length ends the connection.
	pingEvery = 30 * time.Second
	// maxResubscribe caps the backoff between subscription attempts.
	maxResubscribe = time.Second
)

// hub is the broker's subscription to the changed channel.
type hub struct {
	b       *Broker
	mu      sync.Mutex
	subs    map[string][]chan struct{}
	live    bool          // the subscription is confirmed
	liveCh  chan struct{} // closed when live becomes true
	started bool
	closed  bool
	ps      *redis.PubSub
	done    chan struct{}
}

func newHub(b *Broker) *hub {
	return &hub{b: b, subs: make(map[string][]chan struct{}), liveCh: make(chan struct{}), done: make(chan struct{})}
}

// Changed implements [queue.Watcher]: the channel is closed at the next
// change of task id (state, attempt, progress, error), when the
// subscription to Redis is lost or (re)established (a spurious wake-up:
// the caller reads the task again), or when the broker closes. Removal
// when a result expires is not announced (a Redis TTL fires no script).
// The first call starts one subscription goroutine, which Close stops.
// Changed waits up to a second for the subscription to be confirmed.
func (b *Broker) Changed(id string) (<-chan struct{}, func()) {
	return b.hub.add(id)
}

func (h *hub) add(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	h.mu.Lock()
	if h.closed || h.b.err != nil || h.b.closing.Err() != nil {
		h.mu.Unlock()
		close(ch)
		return ch, func() {}
	}
	if !h.started {
		h.started = true
		go h.run()
	}
	live, isLive := h.liveCh, h.live
	h.mu.Unlock()
	if !isLive {
		t := time.NewTimer(subscribeWait)
		select {
		case <-live:
		case <-t.C:
		case <-h.b.closing.Done():
		}
		t.Stop()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(ch)
		return ch, func() {}
	}
	h.subs[id] = append(h.subs[id], ch)
	return ch, func() { h.remove(id, ch) }
}

func (h *hub) remove(id string, ch chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	chs := h.subs[id]
	if i := slices.Index(chs, ch); i >= 0 {
		chs = slices.Delete(chs, i, i+1)
	}
	if len(chs) == 0 {
		delete(h.subs, id)
	} else {
		h.subs[id] = chs
	}
}

func (h *hub) notify(id string) {
	h.mu.Lock()
	chs := h.subs[id]
	delete(h.subs, id)
	h.mu.Unlock()
	for _, ch := range chs {
		close(ch)
	}
}

// wakeAllLocked closes every watcher's channel: after a subscription was
// lost or (re)established, changes may have been missed.
func (h *hub) wakeAllLocked() {
	for id, chs := range h.subs {
		for _, ch := range chs {
			close(ch)
		}
		delete(h.subs, id)
	}
}

func (h *hub) setLive(live bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.wakeAllLocked()
	if live == h.live {
		return
	}
	h.live = live
	if live {
		close(h.liveCh)
	} else {
		h.liveCh = make(chan struct{})
	}
}

// run keeps the subscription up until the broker closes.
func (h *hub) run() {
	defer close(h.done)
	ctx := h.b.closing
	backoff := 10 * time.Millisecond
	for ctx.Err() == nil {
		ps := h.b.rdb.Subscribe(ctx, h.b.k.changed)
		h.mu.Lock()
		h.ps = ps
		closed := h.closed
		h.mu.Unlock()
		if closed {
			_ = ps.Close()
			return
		}
		if h.serve(ctx, ps) {
			backoff = 10 * time.Millisecond
		}
		_ = ps.Close()
		h.setLive(false)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		backoff = min(2*backoff, maxResubscribe)
	}
}

// serve reads messages until the subscription fails; it reports whether
// the subscription was ever confirmed.
func (h *hub) serve(ctx context.Context, ps *redis.PubSub) (confirmed bool) {
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, pingEvery)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !pinged && ctx.Err() == nil {
				pinged = true
				if ps.Ping(ctx) == nil {
					continue
				}
			}
			return confirmed
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				confirmed = true
				h.setLive(true)
			}
		case *redis.Message:
			h.notify(m.Payload)
		}
	}
}

// shutdown closes every watcher's channel and stops the subscription.
func (h *hub) shutdown() {
	h.mu.Lock()
	h.closed = true
	h.wakeAllLocked()
	ps, started := h.ps, h.started
	h.mu.Unlock()
	if ps != nil {
		_ = ps.Close()
	}
	if started {
		<-h.done
	}
}
