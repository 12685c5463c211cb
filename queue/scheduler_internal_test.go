package queue

import (
	"strings"
	"testing"
	"time"
)

// FuzzTickID checks that every entry name Add accepts gives, for any tick,
// a valid task id, and that two different names never share an id base.
func FuzzTickID(f *testing.F) {
	for _, s := range []string{"nightly", "tenant/a", "a:b", ".", "..", strings.Repeat("x", 201), strings.Repeat("é", 128), "sched-sha256:x"} {
		f.Add(s, "other", int64(0))
	}
	f.Fuzz(func(t *testing.T, name, other string, sec int64) {
		if checkName("entry name", name, true) != nil {
			return
		}
		at := time.Unix(sec%(400*365*24*3600), 0) // years 1570 to 2370
		e := &schedEntry{idBase: tickIDBase(name)}
		if err := checkName("task id", e.tickID(at), false); err != nil {
			t.Fatalf("entry %q at %v: id %q is not a valid task id: %v", name, at, e.tickID(at), err)
		}
		if other != name && checkName("entry name", other, true) == nil && tickIDBase(other) == e.idBase {
			t.Fatalf("entries %q and %q share the id base %q", name, other, e.idBase)
		}
	})
}

// FuzzParseSpec checks that no spec makes parseSpec panic, and that a
// schedule it accepts moves forward: its next tick after t is zero (none
// left) or after t. An "@every" schedule, with or without a zone prefix,
// ticks on whole multiples of its interval.
func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"0 3 * * *", "@every 10s", "CRON_TZ=UTC @every 1m", "TZ=UTC", "CRON_TZ=",
		"TZ=Europe/Paris 0 3 * * *", "@hourly", "*/15 * * * *", "0 0 30 2 *", "@every 0s", ""} {
		f.Add(s, int64(0))
	}
	f.Fuzz(func(t *testing.T, spec string, sec int64) {
		sched, err := parseSpec(spec, time.UTC)
		if err != nil {
			return
		}
		at := time.Unix(sec%(100*365*24*3600), 0).UTC() // years 1870 to 2070
		next := sched.Next(at)
		if !next.IsZero() && !next.After(at) {
			t.Fatalf("spec %q: next tick after %v is %v, not after it", spec, at, next)
		}
		if e, ok := sched.(everySchedule); ok && !next.Truncate(time.Duration(e)).Equal(next) {
			t.Fatalf("spec %q: next tick %v is not a multiple of %v", spec, next, time.Duration(e))
		}
	})
}
