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
