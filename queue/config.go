package queue

import (
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/dlq"
)

// Defaults used by [NewWorker] for zero [WorkerConfig] fields. They are
// the settings of a typical Celery deployment for LLM tasks:
// worker_concurrency=4, task_soft_time_limit=540, task_time_limit=600,
// result_expires=3600, max_retries=3 and retry_backoff_max=600 (the last
// two are also Celery's own defaults).
const (
	DefaultConcurrency     = 4
	DefaultSoftTimeLimit   = 540 * time.Second
	DefaultTimeLimit       = 600 * time.Second
	DefaultResultTTL       = time.Hour
	DefaultLease           = 30 * time.Second
	DefaultShutdownTimeout = 25 * time.Second
	DefaultMaxRetries      = 3
	DefaultRetryMaxDelay   = 600 * time.Second
	DefaultMaxRedeliveries = 5
)

// MinLease is the shortest [WorkerConfig.Lease] accepted.
const MinLease = time.Millisecond

// Priority selects how a worker chooses among its queues.
type Priority int

const (
	// PriorityStrict (the zero value) claims from the first queue in
	// [WorkerConfig.Queues] that has a ready task: a worker takes from high
	// while high has work, so low waits as long as high is busy.
	PriorityStrict Priority = iota
	// PriorityWeighted draws the queue order for each claim at random,
	// queue q first with probability Weights[q]/sum, so that every queue
	// keeps a share of the worker and low cannot starve. An empty drawn
	// queue falls through to the next one in the drawn order.
	PriorityWeighted
)

// WorkerConfig configures a [Worker]. The zero value is usable: every zero
// field means the documented default.
type WorkerConfig struct {
	// Concurrency is the number of tasks run at once. A worker claims a
	// task only when one of its slots is free (prefetch of one). 0 means
	// DefaultConcurrency (4); negative is an error.
	Concurrency int

	// Queues are the queues served, in priority order. nil (or empty)
	// means high, default, low. Names must be unique.
	Queues []string

	// Priority chooses between strict order (the zero value) and weighted
	// draws; see [Priority].
	Priority Priority

	// Weights are the relative shares of the queues under PriorityWeighted;
	// a queue missing from the map weighs 1, and nil means high 6, default
	// 3, low 1 (others 1). Every weight must be 1 to [MaxWeight] and name a
	// queue in Queues; a weight out of that range makes [NewWorker] fail
	// with an error wrapping [ErrInvalidArgument] (it is not clamped).
	// Setting Weights with PriorityStrict is an error.
	Weights map[string]int

	// SoftTimeLimit is how long an attempt runs before the handler's ctx is
	// cancelled with cause [ErrSoftTimeLimit] (and the ctx's Deadline), so
	// that it can save partial work and return. 0 means DefaultSoftTimeLimit (540 s); negative is an
	// error.
	SoftTimeLimit time.Duration

	// TimeLimit is how long an attempt may run at all: then it fails with
	// [ErrTimeLimit] (retried like any error), its ctx is cancelled, and its
	// slot is freed even if the handler ignores ctx. Such a handler's
	// goroutine is abandoned: it runs on until it returns by itself, and
	// whatever it returns is discarded. 0 means DefaultTimeLimit (600 s); it
	// must not be shorter than SoftTimeLimit.
	TimeLimit time.Duration

	// Retry schedules the retries after handler errors. Its delays (and
	// RetryAfter waits), RetryIf, OnRetry and MaxElapsed (counted from
	// EnqueuedAt) apply between attempts. MaxAttempts is the default cap
	// for tasks enqueued without [WithMaxRetries]; the queue's own defaults
	// fill two zero fields: MaxAttempts 0 means DefaultMaxRetries+1 (4
	// attempts) and MaxDelay 0 means DefaultRetryMaxDelay (600 s); other
	// zero fields mean [resilience.RetryPolicy]'s defaults (1 s base, x2,
	// full jitter). Budget is not supported and must be nil. OnRetry runs
	// once the broker has scheduled the retry: not for a task cancelled
	// meanwhile ([ErrRevoked]) or one whose lease was lost. It runs on the
	// slot of the attempt that failed, which it holds until it returns; the
	// retry does not wait for it and may start on another slot.
	Retry resilience.RetryPolicy

	// MaxRedeliveries caps how often a task's lease may run out (its worker
	// died or stalled): a task redelivered more often fails with
	// [ErrRedeliveryLimit] into the dead letters. 0 means
	// DefaultMaxRedeliveries (5); negative is an error.
	MaxRedeliveries int

	// ResultTTL is how long a done task and its result stay readable. 0
	// means DefaultResultTTL (1 h); negative is an error. Any positive
	// Duration is accepted: a TTL that reaches past the latest instant the
	// broker can count (the year 2262 for [MemoryBroker]) keeps the result
	// for good.
	ResultTTL time.Duration

	// Lease is how long a claimed task stays with this worker without news.
	// The worker renews it every Lease/3 for as long as it holds the task
	// (while the handler runs, and while it records a dead letter; the
	// OnRetry and alert hooks run once the task is settled), sooner after
	// a renewal that failed, and on
	// each [ReportProgress]. Each renewal is bounded by the lease's
	// remaining time and never delays the time limits. 0 means DefaultLease (30 s); otherwise at least
	// MinLease. There is no upper bound: a lease that reaches past the
	// latest instant the broker can count (the year 2262 for
	// [MemoryBroker]) never runs out, so a task whose worker dies is not
	// redelivered.
	Lease time.Duration

	// ShutdownTimeout is how long Run waits, once its ctx ended, for the
	// tasks in flight before it hands them back to the broker (attempt not
	// counted) and cancels their handlers with cause [ErrShutdown]. 0 means
	// DefaultShutdownTimeout (25 s, inside Kubernetes' default 30 s grace
	// period); negative is an error.
	ShutdownTimeout time.Duration

	// DeadLetters receives the tasks that fail for good. nil means a new
	// [dlq.MemoryStore], reachable as [Worker.DeadLetters]. A task is never
	// FAILURE without its entry: while the store refuses it (three tries),
	// the task waits in RETRY, with an Error that starts "queue: dead
	// letter not recorded yet", and is tried again after 1 s, then 2 s,
	// 4 s, ... up to 5 minutes, each time logged at error level; its
	// handler does not run again. Each such wait counts in [Task.Retries].
	// Every call the worker makes to the store is bounded by one Lease: a
	// store that does not answer within it counts as refusing the entry
	// (the slot is freed), and a count or a removal it does not answer is
	// logged and given up.
	DeadLetters dlq.Store

	// Alerts configures the alert on repeated failures of one task name
	// (see [dlq.NewRecorder]); the zero value alerts by a log record after
	// 10 failures within an hour.
	Alerts dlq.AlertConfig

	// Logger receives the worker's records (failed attempts, lost leases,
	// broker errors). nil means [slog.Default], which unless the program
	// changed it writes to standard error through the log package, mixed
	// into whatever a command-line program prints: such a program should
	// pass its own, say slog.New(slog.NewTextHandler(logFile, nil)), or
	// slog.New(slog.DiscardHandler) to drop the records. Alerts have their
	// own logger, in Alerts.Logger.
	Logger *slog.Logger
}

// resolve validates cfg and returns it with defaults applied, plus the
// per-queue weights aligned with Queues.
func (cfg WorkerConfig) resolve() (WorkerConfig, []int, error) {
	if cfg.Concurrency < 0 {
		return cfg, nil, invalidArg("WorkerConfig.Concurrency is %d; want >= 1 (0 means %d)", cfg.Concurrency, DefaultConcurrency)
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if len(cfg.Queues) == 0 {
		cfg.Queues = DefaultQueues()
	} else {
		cfg.Queues = slices.Clone(cfg.Queues)
	}
	for i, q := range cfg.Queues {
		if err := checkName(fmt.Sprintf("WorkerConfig.Queues[%d]", i), q, false); err != nil {
			return cfg, nil, err
		}
		if slices.Index(cfg.Queues, q) != i {
			return cfg, nil, invalidArg("WorkerConfig.Queues lists %q twice; want unique names", q)
		}
	}
	weights, err := cfg.resolveWeights()
	if err != nil {
		return cfg, nil, err
	}
	durations := []struct {
		name string
		d    *time.Duration
		def  time.Duration
	}{
		{"SoftTimeLimit", &cfg.SoftTimeLimit, DefaultSoftTimeLimit},
		{"TimeLimit", &cfg.TimeLimit, DefaultTimeLimit},
		{"ResultTTL", &cfg.ResultTTL, DefaultResultTTL},
		{"Lease", &cfg.Lease, DefaultLease},
		{"ShutdownTimeout", &cfg.ShutdownTimeout, DefaultShutdownTimeout},
	}
	for _, f := range durations {
		if *f.d < 0 {
			return cfg, nil, invalidArg("WorkerConfig.%s is %v; want > 0 (0 means %v)", f.name, *f.d, f.def)
		}
		if *f.d == 0 {
			*f.d = f.def
		}
	}
	if cfg.TimeLimit < cfg.SoftTimeLimit {
		return cfg, nil, invalidArg("WorkerConfig.TimeLimit (%v) is shorter than SoftTimeLimit (%v); want TimeLimit >= SoftTimeLimit",
			cfg.TimeLimit, cfg.SoftTimeLimit)
	}
	if cfg.Lease < MinLease {
		return cfg, nil, invalidArg("WorkerConfig.Lease is %v; want >= %v (0 means %v)", cfg.Lease, MinLease, DefaultLease)
	}
	if cfg.MaxRedeliveries < 0 {
		return cfg, nil, invalidArg("WorkerConfig.MaxRedeliveries is %d; want >= 1 (0 means %d)", cfg.MaxRedeliveries, DefaultMaxRedeliveries)
	}
	if cfg.MaxRedeliveries == 0 {
		cfg.MaxRedeliveries = DefaultMaxRedeliveries
	}
	if err := cfg.Retry.Validate(); err != nil {
		return cfg, nil, fmt.Errorf("%w: WorkerConfig.Retry: %w", ErrInvalidArgument, err)
	}
	if cfg.Retry.Budget != nil {
		return cfg, nil, invalidArg("WorkerConfig.Retry.Budget is set; a worker does not support retry budgets, want nil")
	}
	if cfg.Retry.MaxAttempts == 0 {
		cfg.Retry.MaxAttempts = DefaultMaxRetries + 1
	}
	if cfg.Retry.MaxDelay == 0 {
		cfg.Retry.MaxDelay = max(DefaultRetryMaxDelay, cfg.Retry.BaseDelay)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg, weights, nil
}

// MaxWeight is the largest weight [WorkerConfig.Weights] accepts. It keeps
// the sum of the weights far from integer overflow (which would leave a
// worker no queue to claim from); a share finer than one in a million is
// not a priority anyone can observe.
const MaxWeight = 1_000_000

// resolveWeights checks Priority and Weights and returns one weight per
// queue (nil under PriorityStrict).
func (cfg *WorkerConfig) resolveWeights() ([]int, error) {
	switch cfg.Priority {
	case PriorityStrict:
		if cfg.Weights != nil {
			return nil, invalidArg("WorkerConfig.Weights is set but Priority is PriorityStrict; want Priority: PriorityWeighted, or no Weights")
		}
		return nil, nil
	case PriorityWeighted:
	default:
		return nil, invalidArg("WorkerConfig.Priority is %d; want PriorityStrict or PriorityWeighted", int(cfg.Priority))
	}
	given := cfg.Weights
	if given == nil {
		given = map[string]int{QueueHigh: 6, QueueDefault: 3, QueueLow: 1}
	}
	for q, wt := range cfg.Weights {
		if !slices.Contains(cfg.Queues, q) {
			return nil, invalidArg("WorkerConfig.Weights names queue %q, which is not in Queues %v", q, cfg.Queues)
		}
		if wt < 1 || wt > MaxWeight {
			return nil, invalidArg("WorkerConfig.Weights[%q] is %d; want 1 to %d", q, wt, MaxWeight)
		}
	}
	weights := make([]int, len(cfg.Queues))
	for i, q := range cfg.Queues {
		weights[i] = 1
		if wt, ok := given[q]; ok {
			weights[i] = wt
		}
	}
	return weights, nil
}
