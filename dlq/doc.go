// Package dlq keeps dead letters: tasks that failed for good, kept for review,
// replay, and alerting on repeated failures.
//
// A [Store] holds [Entry] values in push order, idempotent per task id, and
// counts failures per task name in fixed windows. [MemoryStore] is the
// in-process store; a Redis store (package queue/redisq) lets several workers
// share entries and counts. A [Recorder] pushes entries and raises an alert,
// once per task name and window, when a name fails AlertConfig.Threshold
// times (by default 10 times within an hour):
//
//	store := dlq.NewMemoryStore()
//	rec, err := dlq.NewRecorder(store, dlq.AlertConfig{
//		OnAlert: func(a dlq.Alert) { page(a.TaskName, a.Count) },
//	})
//	if err != nil {
//		return err
//	}
//	// In a worker, when a task has failed for good:
//	_ = rec.Record(ctx, dlq.Entry{TaskID: id, TaskName: "embed", Error: taskErr.Error()})
//
//	// Later, a scheduled job drains the store in batches, oldest first:
//	batch, err := store.Pop(ctx, 10)
//
// Replaying an entry (enqueueing the task again) lives on the queue side,
// in queue.Client.Replay, so this package does not import queue.
//
// Package dlqtest holds the conformance suite every Store implementation
// passes.
package dlq
