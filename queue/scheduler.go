package queue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/resilience-go/resilience/internal/wait"
)

// SchedulerConfig configures a [Scheduler]. Its zero value is ready to use.
type SchedulerConfig struct {
	// Location is the time zone in which cron specs are read: "0 3 * * *"
	// is 03:00 there. nil means UTC, not the machine's zone, so that
	// schedulers on machines set to different zones agree on every tick
	// (and so on every task id). A spec may name its own zone with a
	// CRON_TZ= prefix ("CRON_TZ=Europe/Paris 0 3 * * *"). @every entries
	// do not depend on it.
	Location *time.Location

	// Logger receives an error record for each tick whose task could not be
	// enqueued, and a debug record for each tick. nil means [slog.Default].
	Logger *slog.Logger
}

// Scheduler enqueues tasks on a cron schedule through a [Client]. Each tick
// of an entry enqueues one task whose id is derived from the entry's name
// and the tick's time (see [Scheduler.Add]), so any number of schedulers,
// in one process or many, can run the same entries against one broker and
// every tick still gives exactly one task: the broker's idempotent enqueue
// ([WithTaskID]) drops the copies. No scheduler leads, so losing any of
// them loses no tick while another one runs. A tick that passes while no
// scheduler runs is not enqueued later: missed ticks are not replayed.
//
// A Scheduler is safe for concurrent use: Add may be called while Run
// runs. Its zero value is not usable; call [NewScheduler].
type Scheduler struct {
	c       *Client
	loc     *time.Location
	log     *slog.Logger
	mu      sync.Mutex
	entries []*schedEntry
	added   chan struct{} // buffered 1: wakes Run after an Add
	running atomic.Bool
}

// schedEntry is one entry of a Scheduler.
type schedEntry struct {
	name, spec, task string
	sched            cron.Schedule
	payload          json.RawMessage
	opts             []EnqueueOption
	idBase           string    // the tick id without its time
	next             time.Time // Run's next tick; zero until Run sets it
}

// NewScheduler returns a scheduler that enqueues through c. A nil c (or a
// client without a broker) returns an error wrapping [ErrInvalidArgument].
func NewScheduler(c *Client, cfg SchedulerConfig) (*Scheduler, error) {
	if c.check() != nil {
		return nil, invalidArg("NewScheduler: the client is nil or has no broker; create it with NewClient(broker)")
	}
	s := &Scheduler{c: c, loc: cfg.Location, log: cfg.Logger, added: make(chan struct{}, 1)}
	if s.loc == nil {
		s.loc = time.UTC
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s, nil
}

// specParser reads standard 5-field cron lines and descriptors (@hourly,
// @daily, @weekly, @monthly, @yearly, @every <duration>), with an optional
// CRON_TZ= prefix.
var specParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Add adds the entry name: at each tick of spec, a task named taskName
// with payload (encoded as JSON now, once) and opts, as [Client.Enqueue]
// takes them. It may be called while [Scheduler.Run] runs; the entry's
// first tick is then the first one after the call.
//
// spec is a 5-field cron line (minute hour day-of-month month day-of-week,
// read in [SchedulerConfig.Location]) or a descriptor: @hourly, @daily (or
// @midnight), @weekly, @monthly, @yearly, or @every with a duration of
// whole seconds, at least 1s. "@every d" ticks at the instants that are
// whole multiples of d counted from the zero [time.Time] (for a d that
// divides a day, such as 30s, 5m or 1h: on the UTC clock, at :00 and :30
// of each minute for 30s), so every scheduler ticks at the same instants
// whenever it started; a zone prefix (CRON_TZ=, TZ=) changes nothing for
// it.
//
// The task of the tick at instant T gets the id "sched:" + name + ":" + T
// in UTC as 20060102T150405Z; a name that contains '/' or is longer than
// 200 bytes is replaced by "sched-sha256:" and the first 32 hex digits of
// its SHA-256. Name identifies the entry across processes: schedulers
// that must not enqueue a tick twice give it the same name.
//
// Add returns an error wrapping [ErrInvalidArgument] (or [ErrUnknownQueue]
// for [WithQueue] of a queue the client does not know), and adds nothing,
// for: a bad name or task name (see [Client.Enqueue]), a name already
// added, a spec that does not parse or never fires (the error quotes it
// and says why), a payload that does not marshal to JSON, a bad option, or
// [WithTaskID], since the scheduler sets the id of each task.
func (s *Scheduler) Add(name, spec, taskName string, payload any, opts ...EnqueueOption) error {
	if err := checkName("Scheduler.Add: entry name", name, true); err != nil {
		return err
	}
	if err := checkName("Scheduler.Add: task name", taskName, true); err != nil {
		return err
	}
	sched, err := parseSpec(spec, s.loc)
	if err != nil {
		return fmt.Errorf("%w: Scheduler.Add(%q): %w", ErrInvalidArgument, name, err)
	}
	if err := s.checkOptions(name, opts); err != nil {
		return err
	}
	raw, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("%w: Scheduler.Add(%q): payload does not marshal to JSON: %w", ErrInvalidArgument, name, err)
	}
	e := &schedEntry{name: name, spec: spec, task: taskName, sched: sched, payload: raw,
		opts: slices.Clone(opts), idBase: tickIDBase(name)}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.entries {
		if x.name == name {
			return invalidArg("Scheduler.Add: entry %q was already added (spec %q); want a new name", name, x.spec)
		}
	}
	s.entries = append(s.entries, e)
	select {
	case s.added <- struct{}{}:
	default:
	}
	return nil
}

// checkOptions applies opts as Client.Enqueue would and refuses what it
// would refuse, and WithTaskID.
func (s *Scheduler) checkOptions(name string, opts []EnqueueOption) error {
	o := enqueueOptions{queue: DefaultQueue, maxRetries: DefaultRetries}
	for i, opt := range opts {
		if opt == nil {
			return invalidArg("Scheduler.Add(%q): option %d is nil", name, i)
		}
		opt(&o)
	}
	switch {
	case o.idSet:
		return invalidArg("Scheduler.Add(%q): WithTaskID(%q) is not allowed; the scheduler derives each task's id from the entry name and the tick", name, o.id)
	case o.maxSet && o.maxRetries < 0:
		return invalidArg("Scheduler.Add(%q): WithMaxRetries(%d): want 0 or more", name, o.maxRetries)
	case o.delay < 0:
		return invalidArg("Scheduler.Add(%q): WithDelay(%v): want 0 or more", name, o.delay)
	case !s.c.knows(o.queue):
		return wrapOp(fmt.Sprintf("Scheduler.Add(%q)", name), s.c.unknownQueue(o.queue))
	}
	if err := checkHeaders(o.headers); err != nil {
		return wrapOp(fmt.Sprintf("Scheduler.Add(%q): WithHeaders", name), err)
	}
	return nil
}

// specHelp says what a spec may be, for errors.
const specHelp = "want 5 fields (minute hour day-of-month month day-of-week, such as \"30 3 * * *\") or a descriptor (@hourly, @daily, @weekly, @monthly, @yearly, @every 30s)"

// parseSpec parses spec with the cron parser, replacing its @every
// schedule (which counts from the time it is asked, so two schedulers
// would tick at different instants) by one aligned on multiples of the
// duration, with or without a zone prefix (which changes nothing for it).
func parseSpec(spec string, loc *time.Location) (cron.Schedule, error) {
	every, zone := strings.TrimSpace(spec), ""
	if z, rest, ok := cutZone(every); ok {
		if rest == "" {
			// The cron parser would panic: it cuts the zone at a space.
			return nil, fmt.Errorf("cron spec %q: no schedule after the zone; %s, after CRON_TZ=<zone> and a space", spec, specHelp)
		}
		every, zone = rest, z
	}
	if rest, ok := strings.CutPrefix(every, "@every "); ok {
		if zone != "" {
			if _, err := time.LoadLocation(zone); err != nil {
				return nil, fmt.Errorf("cron spec %q: unknown time zone %q: %w", spec, zone, err)
			}
		}
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		if err != nil {
			return nil, fmt.Errorf("cron spec %q: %w; %s", spec, err, specHelp)
		}
		if d < time.Second || d%time.Second != 0 {
			return nil, fmt.Errorf("cron spec %q: @every %v; want whole seconds, at least 1s", spec, d)
		}
		return everySchedule(d), nil
	}
	sched, err := specParser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("cron spec %q: %w; %s", spec, err, specHelp)
	}
	if sched.Next(time.Now().In(loc)).IsZero() {
		return nil, fmt.Errorf("cron spec %q never fires: no date in the next 5 years matches it (such as the 30th of February)", spec)
	}
	return sched, nil
}

// cutZone splits a spec that starts with a zone prefix, as the cron parser
// reads one ("CRON_TZ=Europe/Paris 0 3 * * *" or "TZ=..."), into the zone
// and the rest, which is "" when nothing follows the zone. ok is false
// when spec has no zone prefix.
func cutZone(spec string) (zone, rest string, ok bool) {
	for _, p := range []string{"CRON_TZ=", "TZ="} {
		if after, found := strings.CutPrefix(spec, p); found {
			zone, rest, _ = strings.Cut(after, " ")
			return zone, strings.TrimSpace(rest), true
		}
	}
	return "", "", false
}

// everySchedule ticks at the whole multiples of its duration counted from
// the zero time, the same instants in every process.
type everySchedule time.Duration

func (d everySchedule) Next(t time.Time) time.Time {
	return t.Truncate(time.Duration(d)).Add(time.Duration(d))
}

// tickIDBase returns the part of a tick's task id derived from the entry
// name: "sched:" + name, or a hash for a name that cannot be part of an id.
func tickIDBase(name string) string {
	if len(name) <= 200 && !strings.Contains(name, "/") {
		return "sched:" + name
	}
	sum := sha256.Sum256([]byte(name))
	return "sched-sha256:" + hex.EncodeToString(sum[:16])
}

// tickID returns the task id of entry e's tick at instant at.
func (e *schedEntry) tickID(at time.Time) string {
	return e.idBase + ":" + at.UTC().Format("20060102T150405Z")
}

// Run enqueues the task of each entry at each of its ticks until ctx ends,
// and then returns nil. The first tick of each entry is the first one after
// Run starts: ticks from before are not replayed. A tick that fell due
// while Run was busy (a slow broker) is enqueued once, late; the ones
// after it that also passed are skipped.
//
// A failed enqueue is tried twice more (0.1 s, then 0.2 s later, each try
// bounded by 10 s) and then logged at error level; Run goes on with the
// next tick. Run starts no goroutine that outlives it. It returns at once
// an error wrapping [ErrInvalidArgument] when the scheduler is already
// running.
func (s *Scheduler) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return invalidArg("Scheduler.Run: already running; run one Run per Scheduler (several schedulers may share a broker)")
	}
	defer s.running.Store(false)
	s.mu.Lock()
	for _, e := range s.entries {
		e.next = time.Time{}
	}
	s.mu.Unlock()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		for _, tick := range s.due(time.Now()) {
			s.enqueue(ctx, tick.e, tick.at)
		}
		if ctx.Err() != nil {
			return nil
		}
		wake := s.earliest()
		if wake.IsZero() {
			timer.Stop()
		} else {
			timer.Reset(time.Until(wake))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-s.added:
		}
	}
}

type tick struct {
	e  *schedEntry
	at time.Time
}

// due returns the ticks that fell due by now, and moves each entry to its
// first tick after now (an entry without one yet gets it, and no tick).
func (s *Scheduler) due(now time.Time) []tick {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ticks []tick
	for _, e := range s.entries {
		if !e.next.IsZero() && !now.Before(e.next) {
			ticks = append(ticks, tick{e, e.next})
		}
		if e.next.IsZero() || !now.Before(e.next) {
			e.next = e.sched.Next(now.In(s.loc))
		}
	}
	return ticks
}

// earliest returns the next tick of any entry, or zero when there is none.
func (s *Scheduler) earliest() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var at time.Time
	for _, e := range s.entries {
		if !e.next.IsZero() && (at.IsZero() || e.next.Before(at)) {
			at = e.next
		}
	}
	return at
}

// enqueue enqueues entry e's task for the tick at.
func (s *Scheduler) enqueue(ctx context.Context, e *schedEntry, at time.Time) {
	id := e.tickID(at)
	opts := append(slices.Clip(e.opts), WithTaskID(id))
	var err error
	for i := range 3 {
		if i > 0 && wait.Sleep(ctx, time.Duration(50<<i)*time.Millisecond) != nil {
			break
		}
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = s.c.Enqueue(tctx, e.task, e.payload, opts...)
		cancel()
		if err == nil || ctx.Err() != nil || errors.Is(err, ErrInvalidArgument) || errors.Is(err, ErrUnknownQueue) {
			break
		}
	}
	attrs := []slog.Attr{slog.String("entry", e.name), slog.String("spec", e.spec),
		slog.String("task", e.task), slog.String("task_id", id), slog.Time("tick", at)}
	if err != nil {
		if ctx.Err() == nil {
			s.log.LogAttrs(ctx, slog.LevelError, "queue: scheduler could not enqueue a tick's task; the tick is lost unless another scheduler enqueued it",
				append(attrs, slog.Any("error", err))...)
		}
		return
	}
	s.log.LogAttrs(ctx, slog.LevelDebug, "queue: scheduler enqueued a tick's task", attrs...)
}
