package queue_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/resilience-go/resilience/queue"
	"github.com/stretchr/testify/require"
)

// runScheduler runs s until the returned stop is called; stop returns
// Run's error.
func runScheduler(s *queue.Scheduler) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return func() error {
		cancel()
		return <-done
	}
}

func newScheduler(t *testing.T, c *queue.Client, cfg queue.SchedulerConfig) *queue.Scheduler {
	t.Helper()
	cfg.Logger = discard
	s, err := queue.NewScheduler(c, cfg)
	require.NoError(t, err)
	return s
}

// tickIDs returns the ids of the tasks of entry name's ticks at the given
// instants.
func tickIDs(name string, at ...time.Time) []string {
	ids := make([]string, len(at))
	for i, a := range at {
		ids[i] = "sched:" + name + ":" + a.UTC().Format("20060102T150405Z")
	}
	return ids
}

// requireTasks checks that the broker holds exactly the tasks with ids,
// each enqueued at its tick.
func requireTasks(t *testing.T, b *queue.MemoryBroker, ids []string, at []time.Time) {
	t.Helper()
	require.Equal(t, len(ids), b.Len(), "tasks in the broker")
	for i, id := range ids {
		task, err := b.Get(context.Background(), id)
		require.NoError(t, err, "task %s", id)
		require.Equal(t, at[i], task.EnqueuedAt.UTC(), "task %s enqueued at its tick", id)
	}
}

// The fake clock of a synctest bubble starts at 2000-01-01 00:00:00 UTC.
var bubbleStart = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// "@every 10s" ticks at the multiples of 10 s on the clock, whenever Run
// started, and enqueues one task per tick, at the tick, with the entry's
// task name and payload.
func TestSchedulerEveryTicksOnTheClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		c := queue.NewClient(b)
		s := newScheduler(t, c, queue.SchedulerConfig{})
		require.NoError(t, s.Add("ping", "@every 10s", "health.ping", map[string]int{"n": 1}, queue.WithQueue(queue.QueueHigh)))
		time.Sleep(3 * time.Second)
		stop := runScheduler(s)
		time.Sleep(32 * time.Second) // to 00:00:35
		synctest.Wait()
		require.NoError(t, stop())
		at := []time.Time{bubbleStart.Add(10 * time.Second), bubbleStart.Add(20 * time.Second), bubbleStart.Add(30 * time.Second)}
		ids := tickIDs("ping", at...)
		requireTasks(t, b, ids, at)
		task, err := c.Get(context.Background(), ids[0])
		require.NoError(t, err)
		require.Equal(t, "health.ping", task.Name)
		require.Equal(t, queue.QueueHigh, task.Queue)
		require.JSONEq(t, `{"n":1}`, string(task.Payload))
	})
}

// A cron line is read in SchedulerConfig.Location: "0 3 * * *" at UTC+2
// ticks at 01:00 UTC each day.
func TestSchedulerCronLineInLocation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		s := newScheduler(t, queue.NewClient(b), queue.SchedulerConfig{Location: time.FixedZone("UTC+2", 2*3600)})
		require.NoError(t, s.Add("nightly", "0 3 * * *", "reembed", nil))
		require.NoError(t, s.Add("quarter", "*/15 * * * *", "sweep", nil))
		stop := runScheduler(s)
		time.Sleep(26 * time.Hour)
		synctest.Wait()
		require.NoError(t, stop())
		nightly := []time.Time{bubbleStart.Add(time.Hour), bubbleStart.Add(25 * time.Hour)}
		for _, id := range tickIDs("nightly", nightly...) {
			_, err := b.Get(context.Background(), id)
			require.NoError(t, err, "task %s", id)
		}
		require.Equal(t, 2+26*4, b.Len(), "2 nightly ticks and 4 quarter-hour ticks an hour")
	})
}

// Two schedulers with the same entry on one broker enqueue one task per
// tick; a scheduler that stopped does not replay the ticks it missed.
func TestSchedulersShareTicksAndSkipMissedOnes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		s1 := newScheduler(t, queue.NewClient(b), queue.SchedulerConfig{})
		s2 := newScheduler(t, queue.NewClient(b), queue.SchedulerConfig{})
		for _, s := range []*queue.Scheduler{s1, s2} {
			require.NoError(t, s.Add("tick", "@every 1m", "tick", nil))
		}
		stop1, stop2 := runScheduler(s1), runScheduler(s2)
		time.Sleep(150 * time.Second) // ticks at 1m and 2m
		require.NoError(t, stop1())
		require.NoError(t, stop2())
		time.Sleep(5 * time.Minute) // ticks at 3m to 7m: missed
		stop1 = runScheduler(s1)
		time.Sleep(2 * time.Minute) // to 9m30s: ticks at 8m and 9m
		require.NoError(t, stop1())
		var at []time.Time
		for _, m := range []time.Duration{1, 2, 8, 9} {
			at = append(at, bubbleStart.Add(m*time.Minute))
		}
		requireTasks(t, b, tickIDs("tick", at...), at)
	})
}

// An entry added while Run runs ticks from its first tick after the Add.
func TestSchedulerAddWhileRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		s := newScheduler(t, queue.NewClient(b), queue.SchedulerConfig{})
		stop := runScheduler(s)
		synctest.Wait()
		err := s.Run(context.Background())
		require.ErrorIs(t, err, queue.ErrInvalidArgument, "a second Run of one scheduler")
		time.Sleep(90 * time.Second)
		require.NoError(t, s.Add("late", "@every 1m", "late", nil))
		time.Sleep(60 * time.Second) // to 2m30s
		synctest.Wait()
		require.NoError(t, stop())
		at := []time.Time{bubbleStart.Add(2 * time.Minute)}
		requireTasks(t, b, tickIDs("late", at...), at)
	})
}

// Entry names that cannot be part of a task id (a '/', more than 200
// bytes) still give valid, distinct ids.
func TestSchedulerHashesNamesThatCannotBeIDs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := queue.NewMemoryBroker()
		s := newScheduler(t, queue.NewClient(b), queue.SchedulerConfig{})
		long := strings.Repeat("n", 256)
		for _, name := range []string{"tenant/a", "tenant/b", long} {
			require.NoError(t, s.Add(name, "@every 1s", "t", nil))
		}
		stop := runScheduler(s)
		time.Sleep(1500 * time.Millisecond)
		synctest.Wait()
		require.NoError(t, stop())
		require.Equal(t, 3, b.Len(), "one task per entry")
	})
}

// Bad entries are refused by Add with an error that says what is wrong,
// and add nothing.
func TestSchedulerAddRefusesBadEntries(t *testing.T) {
	c := queue.NewClient(queue.NewMemoryBroker())
	s := newScheduler(t, c, queue.SchedulerConfig{})
	require.NoError(t, s.Add("taken", "@hourly", "t", nil))
	for _, tc := range []struct {
		name, entry, spec, task string
		payload                 any
		opts                    []queue.EnqueueOption
		want                    string
		sentinel                error
	}{
		{"four fields", "e", "* * * *", "t", nil, nil, `"* * * *"`, queue.ErrInvalidArgument},
		{"six fields", "e", "0 * * * * *", "t", nil, nil, `"0 * * * * *"`, queue.ErrInvalidArgument},
		{"minute 61", "e", "61 * * * *", "t", nil, nil, `"61 * * * *"`, queue.ErrInvalidArgument},
		{"unknown descriptor", "e", "@fortnightly", "t", nil, nil, `"@fortnightly"`, queue.ErrInvalidArgument},
		{"every garbage", "e", "@every soon", "t", nil, nil, `"@every soon"`, queue.ErrInvalidArgument},
		{"every sub-second", "e", "@every 500ms", "t", nil, nil, "whole seconds, at least 1s", queue.ErrInvalidArgument},
		{"every fraction", "e", "@every 1.5s", "t", nil, nil, "whole seconds", queue.ErrInvalidArgument},
		{"never fires", "e", "0 0 30 2 *", "t", nil, nil, "never fires", queue.ErrInvalidArgument},
		{"empty spec", "e", "", "t", nil, nil, `cron spec ""`, queue.ErrInvalidArgument},
		{"empty name", "", "@hourly", "t", nil, nil, "entry name is empty", queue.ErrInvalidArgument},
		{"invisible name", "e\u200B", "@hourly", "t", nil, nil, "invisible", queue.ErrInvalidArgument},
		{"empty task name", "e", "@hourly", "", nil, nil, "task name is empty", queue.ErrInvalidArgument},
		{"taken name", "taken", "@daily", "t", nil, nil, "already added", queue.ErrInvalidArgument},
		{"task id", "e", "@hourly", "t", nil, []queue.EnqueueOption{queue.WithTaskID("x")}, "WithTaskID", queue.ErrInvalidArgument},
		{"unknown queue", "e", "@hourly", "t", nil, []queue.EnqueueOption{queue.WithQueue("nope")}, `"nope"`, queue.ErrUnknownQueue},
		{"negative retries", "e", "@hourly", "t", nil, []queue.EnqueueOption{queue.WithMaxRetries(-1)}, "WithMaxRetries(-1)", queue.ErrInvalidArgument},
		{"negative delay", "e", "@hourly", "t", nil, []queue.EnqueueOption{queue.WithDelay(-time.Second)}, "WithDelay(-1s)", queue.ErrInvalidArgument},
		{"nil option", "e", "@hourly", "t", nil, []queue.EnqueueOption{nil}, "option 0 is nil", queue.ErrInvalidArgument},
		{"bad header", "e", "@hourly", "t", nil, []queue.EnqueueOption{queue.WithHeaders(map[string]string{"a b": "c"})}, "header name", queue.ErrInvalidArgument},
		{"payload", "e", "@hourly", "t", make(chan int), nil, "does not marshal", queue.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Add(tc.entry, tc.spec, tc.task, tc.payload, tc.opts...)
			require.ErrorIs(t, err, tc.sentinel)
			require.Contains(t, err.Error(), tc.want)
		})
	}
	// Nothing was added: the refused names are still free.
	require.NoError(t, s.Add("e", "@hourly", "t", nil))
	_, err := queue.NewScheduler(nil, queue.SchedulerConfig{})
	require.True(t, errors.Is(err, queue.ErrInvalidArgument), "NewScheduler(nil): %v", err)
}

// "@every" behind a zone prefix (CRON_TZ= or TZ=) ticks on the clock too,
// like a bare "@every": the zone changes nothing for it. Two schedulers
// started 3 s apart then still give one task per tick.
func TestSchedulerEveryWithZonePrefixTicksOnTheClock(t *testing.T) {
	for _, spec := range []string{"CRON_TZ=Europe/Paris @every 10s", "TZ=UTC @every 10s"} {
		t.Run(spec, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := queue.NewMemoryBroker()
				s1 := newScheduler(t, queue.NewClient(b), queue.SchedulerConfig{})
				s2 := newScheduler(t, queue.NewClient(b), queue.SchedulerConfig{})
				for _, s := range []*queue.Scheduler{s1, s2} {
					require.NoError(t, s.Add("ping", spec, "ping", nil))
				}
				stop1 := runScheduler(s1)
				time.Sleep(3 * time.Second)
				stop2 := runScheduler(s2)
				time.Sleep(32 * time.Second) // to 00:00:35
				synctest.Wait()
				require.NoError(t, stop1())
				require.NoError(t, stop2())
				at := []time.Time{bubbleStart.Add(10 * time.Second), bubbleStart.Add(20 * time.Second), bubbleStart.Add(30 * time.Second)}
				requireTasks(t, b, tickIDs("ping", at...), at)
			})
		})
	}
}

// The checks of a bare "@every" apply behind a zone prefix too, and an
// unknown zone is refused.
func TestSchedulerAddRefusesBadZonePrefixedEvery(t *testing.T) {
	s := newScheduler(t, queue.NewClient(queue.NewMemoryBroker()), queue.SchedulerConfig{})
	for spec, want := range map[string]string{
		"CRON_TZ=UTC @every 500ms":           "whole seconds, at least 1s",
		"TZ=UTC @every 1.5s":                 "whole seconds",
		"CRON_TZ=Nowhere/Atlantis @every 1m": "Nowhere/Atlantis",
	} {
		err := s.Add("e", spec, "t", nil)
		require.ErrorIs(t, err, queue.ErrInvalidArgument, spec)
		require.Contains(t, err.Error(), want, spec)
	}
}

// A zone prefix with nothing after it is refused with an error, not a
// panic (the cron parser slices the spec at its first space, and panics
// when there is none).
func TestSchedulerAddRefusesZoneWithoutSchedule(t *testing.T) {
	s := newScheduler(t, queue.NewClient(queue.NewMemoryBroker()), queue.SchedulerConfig{})
	for _, spec := range []string{"CRON_TZ=UTC", "TZ=Europe/Paris", "TZ=", " CRON_TZ=UTC "} {
		err := s.Add("e", spec, "t", nil)
		require.ErrorIs(t, err, queue.ErrInvalidArgument, spec)
		require.Contains(t, err.Error(), "no schedule after the zone", spec)
	}
}
