package dlq

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// LevelCritical is the slog level of the record a [Recorder] writes when a
// task name reaches its alert threshold: four above [slog.LevelError], the
// gap slog leaves between its named levels. Text and JSON handlers print it
// as "ERROR+4".
const LevelCritical slog.Level = slog.LevelError + 4

// Defaults used by [NewRecorder] for zero [AlertConfig] fields: alert when
// one task name fails 10 times within the same hour.
const (
	DefaultAlertThreshold = 10
	DefaultAlertWindow    = time.Hour
)

// AlertConfig configures a [Recorder]. The zero value alerts, by a log record
// only, after [DefaultAlertThreshold] failures of one task name within
// [DefaultAlertWindow].
type AlertConfig struct {
	// Threshold is the failure count of one task name, within one window,
	// that raises the alert. 0 means DefaultAlertThreshold; negative is an
	// error.
	Threshold int

	// Window is the length of the fixed counting windows (see
	// [Store.CountFailure]). 0 means DefaultAlertWindow; negative is an
	// error.
	Window time.Duration

	// OnAlert, if not nil, is called once per task name and window, from the
	// goroutine whose Record reached the threshold, outside any lock, before
	// Record returns. It may call the store and the Recorder. A panic in it
	// propagates to the caller of Record. nil means no hook (the log record
	// is still written).
	OnAlert func(Alert)

	// Logger receives the LevelCritical record of each alert. nil means
	// slog.Default() at the time of the alert.
	Logger *slog.Logger
}

// Alert describes one task name reaching its failure threshold. It is passed
// to AlertConfig.OnAlert by value.
type Alert struct {
	// TaskName is the name that failed Count times.
	TaskName string
	// Count is the failure count in the current window; it equals the
	// threshold.
	Count int64
	// Window is the length of the counting window.
	Window time.Duration
	// At is when the alert was raised (the time of the Record call).
	At time.Time
	// Last is the entry whose failure reached the threshold.
	Last Entry
}

// Recorder puts failed tasks into a [Store] and raises an alert when one task
// name fails AlertConfig.Threshold times within one window. Because the count
// is kept by the store, workers that share a store (Redis) share the count,
// and the alert is raised exactly once per task name and window across all of
// them. A Recorder is safe for concurrent use; it holds no lock and starts no
// goroutine.
type Recorder struct {
	store     Store
	threshold int64
	window    time.Duration
	onAlert   func(Alert)
	logger    *slog.Logger
}

// NewRecorder returns a Recorder writing to store with cfg's alerting. It
// returns an error wrapping [ErrInvalidArgument] when store is nil or
// cfg.Threshold or cfg.Window is negative.
func NewRecorder(store Store, cfg AlertConfig) (*Recorder, error) {
	if store == nil {
		return nil, invalid("NewRecorder store must not be nil")
	}
	if cfg.Threshold < 0 {
		return nil, invalid("AlertConfig.Threshold must be >= 0 (0 means %d), got %d",
			DefaultAlertThreshold, cfg.Threshold)
	}
	if cfg.Window < 0 {
		return nil, invalid("AlertConfig.Window must be >= 0 (0 means %v), got %v",
			DefaultAlertWindow, cfg.Window)
	}
	r := &Recorder{
		store:     store,
		threshold: int64(cfg.Threshold),
		window:    cfg.Window,
		onAlert:   cfg.OnAlert,
		logger:    cfg.Logger,
	}
	if r.threshold == 0 {
		r.threshold = DefaultAlertThreshold
	}
	if r.window == 0 {
		r.window = DefaultAlertWindow
	}
	return r, nil
}

// Store returns the store the Recorder writes to.
func (r *Recorder) Store() Store { return r.store }

// Record pushes e into the store (setting e.FailedAt to the current time when
// it is zero), then counts the failure of e.TaskName in the current window.
// When the count equals the threshold it writes a [LevelCritical] record to
// the logger and calls OnAlert, in that order, before returning.
//
// If the push fails (a done ctx, an empty e.TaskID, a store error), Record
// returns that error wrapped and counts nothing. If counting fails, the entry
// stays stored, no alert is raised, and the error is returned wrapped.
func (r *Recorder) Record(ctx context.Context, e Entry) error {
	if e.FailedAt.IsZero() {
		e.FailedAt = time.Now()
	}
	if err := r.store.Push(ctx, e); err != nil {
		return fmt.Errorf("dlq: record %q: push: %w", e.TaskID, err)
	}
	n, err := r.store.CountFailure(ctx, e.TaskName, r.window)
	if err != nil {
		return fmt.Errorf("dlq: record %q: count failure of %q: %w", e.TaskID, e.TaskName, err)
	}
	if n != r.threshold {
		return nil
	}

	a := Alert{TaskName: e.TaskName, Count: n, Window: r.window, At: time.Now(), Last: e}
	logger := r.logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.LogAttrs(ctx, LevelCritical, "dlq: task failure threshold reached",
		slog.String("task_name", a.TaskName),
		slog.Int64("failures", a.Count),
		slog.Duration("window", a.Window),
		slog.String("task_id", e.TaskID),
		slog.String("queue", e.Queue),
		slog.String("error", e.Error),
	)
	if r.onAlert != nil {
		r.onAlert(a)
	}
	return nil
}
