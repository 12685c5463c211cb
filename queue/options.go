package queue

import (
	"maps"
	"time"
)

// Queue names known to a new [Client] and served by a [Worker] whose
// [WorkerConfig.Queues] is nil, in priority order.
const (
	QueueHigh    = "high"
	QueueDefault = "default"
	QueueLow     = "low"
)

// DefaultQueue is the queue of a task enqueued without [WithQueue].
const DefaultQueue = QueueDefault

// DefaultQueues returns the queues of a new [Client] and of a worker whose
// [WorkerConfig.Queues] is nil: high, default, low, in that priority order.
func DefaultQueues() []string { return []string{QueueHigh, QueueDefault, QueueLow} }

// EnqueueOption sets a per-task knob of [Client.Enqueue]. Options are
// applied in order; a later option for the same knob wins. An option given
// a bad value makes Enqueue fail with an error wrapping
// [ErrInvalidArgument], and nothing is enqueued.
type EnqueueOption func(*enqueueOptions)

type enqueueOptions struct {
	queue      string
	maxRetries int
	maxSet     bool
	delay      time.Duration
	id         string
	idSet      bool
	headers    map[string]string
}

// WithQueue puts the task in the named queue instead of [DefaultQueue]. The
// queue must be known to the client ([Client.AddQueues]); an unknown name
// fails with [ErrUnknownQueue] listing the known ones.
func WithQueue(name string) EnqueueOption {
	return func(o *enqueueOptions) { o.queue = name }
}

// WithMaxRetries caps the retries of the task after handler failures: n = 0
// means one attempt only. Without it the worker's retry policy decides
// ([DefaultRetries]). A negative n is an error.
func WithMaxRetries(n int) EnqueueOption {
	return func(o *enqueueOptions) { o.maxRetries, o.maxSet = n, true }
}

// WithDelay makes the task claimable only after d has passed (it waits in
// PENDING meanwhile). Zero means at once; a negative d is an error.
func WithDelay(d time.Duration) EnqueueOption {
	return func(o *enqueueOptions) { o.delay = d }
}

// WithTaskID gives the task the id instead of a random UUID, which makes
// enqueueing idempotent: while a task with this id exists (until its result
// expires), Enqueue returns that task and enqueues nothing. The id must be 1
// to 256 printable bytes without spaces or '/'.
func WithTaskID(id string) EnqueueOption {
	return func(o *enqueueOptions) { o.id, o.idSet = id, true }
}

// WithHeaders attaches headers to the task ([Task.Headers]): string pairs
// that every broker stores and returns unchanged, for metadata that is not
// the handler's input, such as a trace context. The map is copied; a later
// WithHeaders replaces an earlier one. Keys must be 1 to 256 printable
// bytes without spaces; all keys and values together at most
// [MaxHeaderBytes] bytes.
func WithHeaders(h map[string]string) EnqueueOption {
	return func(o *enqueueOptions) { o.headers = maps.Clone(h) }
}
