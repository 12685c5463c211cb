package queue

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// A task that failed for good while the dead-letter store was down waits in
// RETRY with its Error set to deadLetterPending, the number of tries so
// far, ": " and the task's own error. A worker that claims it records the
// dead letter and fails the task without running its handler again, so a
// store outage re-runs no handler (handing the task back instead, as this
// package did before, re-ran the handler once per try, without limit).
const deadLetterPending = "queue: dead letter not recorded yet, tries "

// Bounds of the wait between tries to record a pending dead letter: it
// starts at minDeadLetterWait and doubles up to maxDeadLetterWait.
const (
	minDeadLetterWait = time.Second
	maxDeadLetterWait = 5 * time.Minute
)

// deferDeadLetter puts t, which failed for good with cause but whose dead
// letter could not be recorded (recErr), in RETRY until the next try, and
// logs it at error level with the try count. Its handler will not run
// again; the Retry call counts in [Task.Retries].
func (w *Worker) deferDeadLetter(ctx context.Context, t *Task, token string, cause, recErr error) {
	tries := pendingTries(t.Error) + 1
	delay := maxDeadLetterWait
	if tries <= 20 {
		delay = min(minDeadLetterWait<<(tries-1), maxDeadLetterWait)
	}
	w.log.LogAttrs(ctx, slog.LevelError,
		"queue: cannot record a dead letter; the task waits in RETRY, its handler will not run again, and its dead letter is tried again after the delay",
		taskAttrs(t, slog.Any("error", recErr), slog.String("task_error", cause.Error()),
			slog.Int("tries", tries), slog.Duration("delay", delay))...)
	msg := fmt.Sprintf("%s%d: %s", deadLetterPending, tries, cause.Error())
	w.settle(ctx, t, "retry", StateRetry, false, func(ctx context.Context) error {
		return w.b.Retry(ctx, t.ID, token, msg, time.Now().Add(delay))
	})
}

// isDeadLetterPending reports whether a task's Error says that it failed
// for good and waits only for its dead letter.
func isDeadLetterPending(msg string) bool {
	_, _, ok := parsePending(msg)
	return ok
}

// pendingTries returns the tries counted in a pending task's Error, or 0.
func pendingTries(msg string) int {
	n, _, _ := parsePending(msg)
	return n
}

// pendingCause returns the task's own error from a pending task's Error.
func pendingCause(msg string) string {
	_, cause, _ := parsePending(msg)
	return cause
}

func parsePending(msg string) (tries int, cause string, ok bool) {
	rest, found := strings.CutPrefix(msg, deadLetterPending)
	if !found {
		return 0, "", false
	}
	num, cause, found := strings.Cut(rest, ": ")
	n, err := strconv.Atoi(num)
	if !found || err != nil || n < 1 {
		return 0, "", false
	}
	return n, cause, true
}
