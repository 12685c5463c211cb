package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/internal/wait"
)

// Worker claims tasks from a broker and runs their handlers, with leases,
// retries, time limits and dead letters as configured by [WorkerConfig].
// Several workers (in one process or many) may share a broker; each task
// runs on one of them at a time. A task cancelled by [Client.Cancel] while
// it runs has its handler's ctx cancelled with cause [ErrRevoked] and ends
// REVOKED whatever the handler returns: at once on a [Watcher] broker (the
// worker watches each task that has run for 20 ms), at the next lease
// renewal otherwise. Handle and DeadLetters are safe for concurrent use,
// also while Run runs.
type Worker struct {
	b         Broker
	cfg       WorkerConfig
	weights   []int
	rec       *dlq.Recorder
	log       *slog.Logger
	mu        sync.RWMutex
	handlers  map[string]HandlerFunc
	wrapped   map[string]HandlerFunc // handlers wrapped in mws
	mws       []Middleware
	handleErr []error
	running   atomic.Bool
}

// NewWorker returns a worker of b configured by cfg. A nil b or a bad
// field returns an error wrapping [ErrInvalidArgument] that names it.
func NewWorker(b Broker, cfg WorkerConfig) (*Worker, error) {
	if b == nil {
		return nil, invalidArg("NewWorker: broker is nil")
	}
	cfg, weights, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	if cfg.DeadLetters == nil {
		cfg.DeadLetters = dlq.NewMemoryStore()
	}
	rec, err := dlq.NewRecorder(cfg.DeadLetters, cfg.Alerts)
	if err != nil {
		return nil, fmt.Errorf("%w: WorkerConfig.Alerts: %w", ErrInvalidArgument, err)
	}
	return &Worker{
		b: b, cfg: cfg, weights: weights, rec: rec, log: cfg.Logger,
		handlers: make(map[string]HandlerFunc), wrapped: make(map[string]HandlerFunc),
	}, nil
}

// DeadLetters returns the store that receives the tasks that failed for
// good: [WorkerConfig.DeadLetters], or the in-memory store made for it.
func (w *Worker) DeadLetters() dlq.Store { return w.cfg.DeadLetters }

// Handle registers h for tasks named name, replacing any earlier handler of
// that name. It may be called while Run runs. An empty name or a nil h is
// not registered: the mistake is kept and [Worker.Run] returns it (wrapping
// [ErrInvalidArgument]) without claiming anything.
//
// A task whose name has no handler on the worker that claims it fails at
// once into the dead letters ([ErrNoHandler]), so every worker serving a
// queue should handle every task name enqueued there.
func (w *Worker) Handle(name string, h HandlerFunc) {
	err := checkName("Handle: task name", name, true)
	if err == nil && h == nil {
		err = invalidArg("Handle(%q): handler is nil", name)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.handleErr = append(w.handleErr, err)
		return
	}
	w.handlers[name] = h
	w.wrapped[name] = w.wrapLocked(h)
}

func (w *Worker) handler(name string) HandlerFunc {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.wrapped[name]
}

// Run claims and runs tasks until ctx ends. Then it stops claiming, waits
// up to ShutdownTimeout for the tasks in flight, and hands the rest back to
// the broker (lease released, attempt not counted), cancelling their
// handlers with cause [ErrShutdown]. It returns nil after such a shutdown,
// once all its goroutines have exited, except the goroutines of handlers
// that ignore their ctx past TimeLimit or past the shutdown: those are
// abandoned (see [WorkerConfig.TimeLimit]).
//
// Run returns at once an error wrapping [ErrInvalidArgument] when Handle
// was given a bad name or handler, or when Run is already running. When the
// broker is closed it shuts down as above and returns an error wrapping
// [ErrClosed]. Other broker errors are logged and retried with a backoff
// (up to 5 s between claims), so a worker rides out an outage.
func (w *Worker) Run(ctx context.Context) error {
	w.mu.RLock()
	herr := errors.Join(w.handleErr...)
	w.mu.RUnlock()
	if herr != nil {
		return fmt.Errorf("queue: Worker.Run: %w", herr)
	}
	if !w.running.CompareAndSwap(false, true) {
		return invalidArg("Worker.Run called while the worker is already running")
	}
	defer w.running.Store(false)

	// work outlives ctx: tasks in flight finish during the shutdown grace,
	// and the end of the grace cancels it with cause ErrShutdown.
	work, forceStop := context.WithCancelCause(context.WithoutCancel(ctx))
	defer forceStop(nil)
	claims, stopClaims := context.WithCancelCause(ctx)
	defer stopClaims(nil)

	var wg sync.WaitGroup
	for range w.cfg.Concurrency {
		wg.Go(func() { w.slot(claims, stopClaims, work) })
	}
	wg.Go(func() { w.recoverLoop(claims) })
	<-claims.Done()

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	grace := time.NewTimer(w.cfg.ShutdownTimeout)
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
		forceStop(ErrShutdown)
		<-done
	}
	if cause := context.Cause(claims); ctx.Err() == nil && cause != nil {
		return fmt.Errorf("queue: Worker.Run: %w", cause)
	}
	return nil
}

// slot is one Concurrency slot: it claims a task only when it is free, so
// a worker never holds more tasks than it runs (prefetch of one).
func (w *Worker) slot(claims context.Context, stop context.CancelCauseFunc, work context.Context) {
	var order []string
	if w.weights == nil {
		order = w.cfg.Queues
	}
	settle := context.WithoutCancel(work)
	backoff := time.Duration(0)
	var t *Task // claimed with the completion of the previous task
	var token string
	for {
		if w.weights != nil {
			order = w.weightedOrder()
		}
		if t == nil {
			var err error
			t, token, err = w.b.Claim(claims, order, w.cfg.Lease)
			if err != nil {
				if claims.Err() != nil {
					return
				}
				if errors.Is(err, ErrClosed) || errors.Is(err, ErrInvalidArgument) {
					stop(err)
					return
				}
				backoff = min(max(2*backoff, 10*time.Millisecond), 5*time.Second)
				w.log.LogAttrs(claims, slog.LevelError, "queue: claim failed; backing off",
					slog.Any("error", err), slog.Duration("backoff", backoff))
				if wait.Sleep(claims, backoff) != nil {
					return
				}
				continue
			}
			backoff = 0
		}
		if claims.Err() != nil {
			// Claimed as the worker began to shut down: hand it back at once.
			w.release(work, t, token)
			return
		}
		t, token = w.process(work, settle, claims, t, token, order)
	}
}

// weightedOrder draws a queue order: each next queue is picked among the
// remaining ones with probability proportional to its weight.
func (w *Worker) weightedOrder() []string {
	ws := slices.Clone(w.weights)
	total := 0
	for _, wt := range ws {
		total += wt
	}
	order := make([]string, 0, len(ws))
	for total > 0 {
		r := rand.IntN(total)
		for i, wt := range ws {
			if r < wt {
				order = append(order, w.cfg.Queues[i])
				total -= wt
				ws[i] = 0 // drawn: never again
				break
			}
			r -= wt
		}
	}
	return order
}

// recoverLoop asks the broker every half lease to make tasks whose lease
// ran out (a lost worker) claimable again.
func (w *Worker) recoverLoop(ctx context.Context) {
	tick := time.NewTicker(w.cfg.Lease / 2)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			n, err := w.b.Recover(ctx)
			if err != nil && ctx.Err() == nil {
				w.log.LogAttrs(ctx, slog.LevelWarn, "queue: recovering expired leases failed", slog.Any("error", err))
			} else if n > 0 {
				w.log.LogAttrs(ctx, slog.LevelWarn, "queue: recovered tasks whose lease ran out", slog.Int("tasks", n))
			}
		}
	}
}

// maxRetries returns the retry cap of t: its own, or the policy's.
func (w *Worker) maxRetries(t *Task) int {
	if t.MaxRetries >= 0 {
		return t.MaxRetries
	}
	return w.cfg.Retry.MaxAttempts - 1
}
