package queue

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers branch on them with [errors.Is]; every error the
// package (and a conforming [Broker]) returns for one of these conditions
// wraps the matching sentinel.
var (
	// ErrTaskNotFound is returned for a task id the broker does not hold:
	// never enqueued, or its result expired.
	ErrTaskNotFound = errors.New("queue: task not found")

	// ErrLeaseLost is returned by every [Broker] call that takes a lease
	// token when the token is no longer the task's current one: the lease
	// expired (and the task may have been claimed again), or the attempt was
	// already settled. A worker that sees it must stop working on the task.
	ErrLeaseLost = errors.New("queue: lease lost")

	// ErrUnknownQueue is wrapped by the error of [Client.Enqueue] for a queue
	// name the client does not know; the message lists the known queues.
	ErrUnknownQueue = errors.New("queue: unknown queue")

	// ErrInvalidArgument is wrapped by every error that reports bad input:
	// an empty task name, a negative retry count, a payload that does not
	// marshal, a nil handler, a Concurrency below 1. The wrapping message
	// names the field and what is allowed.
	ErrInvalidArgument = errors.New("queue: invalid argument")

	// ErrClosed is returned by a [Broker] after it was closed; [Worker.Run]
	// returns an error wrapping it when its broker closes under it.
	ErrClosed = errors.New("queue: broker closed")

	// ErrNoHandler is the cause recorded for a task whose name has no
	// handler on the worker that claimed it. Such a task fails at once into
	// the dead letters, so it can be replayed once a handler exists.
	ErrNoHandler = errors.New("queue: no handler registered for task")

	// ErrSoftTimeLimit is the [context.Cause] of a handler's context when
	// [WorkerConfig.SoftTimeLimit] has passed: the handler should save what
	// it can and return.
	ErrSoftTimeLimit = errors.New("queue: soft time limit exceeded")

	// ErrTimeLimit is the error of an attempt that ran past
	// [WorkerConfig.TimeLimit], and the cause of the handler's context then.
	ErrTimeLimit = errors.New("queue: time limit exceeded")

	// ErrShutdown is the [context.Cause] of a handler's context when the
	// worker gave up waiting for it at shutdown and handed the task back.
	ErrShutdown = errors.New("queue: worker shut down before the task finished")

	// ErrRedeliveryLimit is the cause recorded for a task whose lease was
	// lost more often than [WorkerConfig.MaxRedeliveries] allows (a task that
	// kills or stalls its worker every time).
	ErrRedeliveryLimit = errors.New("queue: redelivery limit exceeded")

	// ErrRevoked is the [context.Cause] of a handler's context when its task
	// was cancelled ([Client.Cancel]), and is wrapped by the error of a
	// [Canceler] broker's lease call on a task whose cancellation was
	// requested: the task ends REVOKED.
	ErrRevoked = errors.New("queue: task revoked")

	// ErrUnsupported is wrapped by the error of a [Client] method that needs
	// an optional broker interface ([Canceler], [Pauser], [Inspector]) the
	// broker does not implement.
	ErrUnsupported = errors.New("queue: not supported by this broker")
)

// invalidArg returns an error wrapping [ErrInvalidArgument] whose message
// says what was wrong and what is allowed.
func invalidArg(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidArgument}, args...)...)
}
