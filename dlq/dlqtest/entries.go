package dlqtest

import (
	"context"
	"math"
	"sync"
	"testing"

	"github.com/resilience-go/resilience/dlq"
)

func testPushSameIDConcurrently(t *testing.T, s dlq.Store) {
	const goroutines = 16
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for range goroutines {
		wg.Go(func() { errs <- s.Push(t.Context(), entry("same")) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Push: got error %v, want nil", err)
		}
	}
	checkLen(t, s, 1)
}

func testPopBatches(t *testing.T, s dlq.Store) {
	all := seq("t", 25)
	pushAll(t, s, all...)
	for i, want := range [][]string{all[:10], all[10:20], all[20:], {}} {
		got, err := s.Pop(t.Context(), 10)
		if err != nil {
			t.Fatalf("Pop(10) #%d: got error %v, want nil", i+1, err)
		}
		checkIDs(t, "Pop(10)", got, want)
	}
	checkLen(t, s, 0)
}

func testPopInvalid(t *testing.T, s dlq.Store) {
	pushAll(t, s, "a")
	for _, n := range []int{0, -1} {
		got, err := s.Pop(t.Context(), n)
		checkIs(t, "Pop with n < 1", err, dlq.ErrInvalidArgument)
		if len(got) != 0 {
			t.Errorf("Pop(%d): got %d entries, want 0", n, len(got))
		}
	}
	checkLen(t, s, 1)
}

func testPoppedEntriesAreGone(t *testing.T, s dlq.Store) {
	pushAll(t, s, "a", "b")
	if _, err := s.Pop(t.Context(), 1); err != nil {
		t.Fatalf("Pop(1): got error %v, want nil", err)
	}
	_, err := s.Get(t.Context(), "a")
	checkIs(t, "Get of a popped id", err, dlq.ErrNotFound)
	checkIs(t, "Delete of a popped id", s.Delete(t.Context(), "a"), dlq.ErrNotFound)
	// Pushed again, a popped id is a new entry and goes to the end.
	pushAll(t, s, "a")
	got, err := s.List(t.Context(), 0, 10)
	if err != nil {
		t.Fatalf("List: got error %v, want nil", err)
	}
	checkIDs(t, "List after re-pushing a popped id", got, []string{"b", "a"})
}

func testListPages(t *testing.T, s dlq.Store) {
	all := seq("t", 7)
	pushAll(t, s, all...)
	tests := []struct {
		name          string
		offset, limit int
		want          []string
	}{
		{"first page", 0, 3, all[:3]},
		{"second page", 3, 3, all[3:6]},
		{"short last page", 6, 3, all[6:]},
		{"offset at end", 7, 3, nil},
		{"offset past end", 100, 3, nil},
		{"limit zero", 0, 0, nil},
		{"limit past end", 2, 100, all[2:]},
		{"largest offset", math.MaxInt, 3, nil},
		{"largest limit", 2, math.MaxInt, all[2:]},
		{"both largest", math.MaxInt, math.MaxInt, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.List(t.Context(), tc.offset, tc.limit)
			if err != nil {
				t.Fatalf("List(%d, %d): got error %v, want nil", tc.offset, tc.limit, err)
			}
			want := tc.want
			if want == nil {
				want = []string{}
			}
			checkIDs(t, "List", got, want)
		})
	}
	checkLen(t, s, len(all))
}

func testListInvalid(t *testing.T, s dlq.Store) {
	pushAll(t, s, "a")
	for _, tc := range []struct{ offset, limit int }{{-1, 1}, {0, -1}, {-5, -5}} {
		_, err := s.List(t.Context(), tc.offset, tc.limit)
		checkIs(t, "List with a negative argument", err, dlq.ErrInvalidArgument)
	}
}

func testNotFound(t *testing.T, s dlq.Store) {
	pushAll(t, s, "a")
	_, err := s.Get(t.Context(), "missing")
	checkIs(t, "Get of an unknown id", err, dlq.ErrNotFound)
	checkIs(t, "Delete of an unknown id", s.Delete(t.Context(), "missing"), dlq.ErrNotFound)
	checkLen(t, s, 1)
}

func testDeleteKeepsOrder(t *testing.T, s dlq.Store) {
	pushAll(t, s, "a", "b", "c", "d")
	for _, id := range []string{"b", "d"} {
		if err := s.Delete(t.Context(), id); err != nil {
			t.Fatalf("Delete(%q): got error %v, want nil", id, err)
		}
	}
	checkIs(t, "second Delete(b)", s.Delete(t.Context(), "b"), dlq.ErrNotFound)
	_, err := s.Get(t.Context(), "b")
	checkIs(t, "Get of a deleted id", err, dlq.ErrNotFound)
	checkLen(t, s, 2)
	pushAll(t, s, "b")
	got, err := s.Pop(t.Context(), 10)
	if err != nil {
		t.Fatalf("Pop(10): got error %v, want nil", err)
	}
	checkIDs(t, "Pop after deleting b and d and re-pushing b", got, []string{"a", "c", "b"})
}

func testEntriesAreCopied(t *testing.T, s dlq.Store) {
	e := entry("a")
	want := entry("a")
	if err := s.Push(t.Context(), e); err != nil {
		t.Fatalf("Push: got error %v, want nil", err)
	}
	e.Payload[0] = 'X' // the caller reuses its buffer after Push
	got, err := s.Get(t.Context(), "a")
	if err != nil {
		t.Fatalf("Get: got error %v, want nil", err)
	}
	checkSame(t, got, want)
	got.Payload[0] = 'Y' // and modifies what Get returned
	listed, err := s.List(t.Context(), 0, 1)
	if err != nil || len(listed) != 1 {
		t.Fatalf("List(0, 1): got %d entries and error %v, want 1 and nil", len(listed), err)
	}
	checkSame(t, listed[0], want)
	listed[0].Payload[0] = 'Z'
	again, err := s.Get(t.Context(), "a")
	if err != nil {
		t.Fatalf("second Get: got error %v, want nil", err)
	}
	checkSame(t, again, want)
}

func testConcurrentPop(t *testing.T, s dlq.Store) {
	const pushers, perPusher, poppers, batch = 4, 50, 4, 7
	var wg sync.WaitGroup
	for p := range pushers {
		wg.Go(func() {
			for _, id := range seq(string(rune('a'+p)), perPusher) {
				if err := s.Push(t.Context(), entry(id)); err != nil {
					t.Errorf("Push(%q): got error %v, want nil", id, err)
				}
			}
		})
	}
	wg.Wait()
	checkLen(t, s, pushers*perPusher)

	got := make([][]string, poppers)
	for p := range poppers {
		wg.Go(func() {
			for {
				es, err := s.Pop(t.Context(), batch)
				if err != nil {
					t.Errorf("Pop(%d): got error %v, want nil", batch, err)
					return
				}
				if len(es) > batch {
					t.Errorf("Pop(%d): got %d entries, want at most %d", batch, len(es), batch)
				}
				if len(es) == 0 {
					return
				}
				got[p] = append(got[p], ids(es)...)
			}
		})
	}
	wg.Wait()
	seen := make(map[string]int)
	for _, g := range got {
		for _, id := range g {
			seen[id]++
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("entry %q: popped %d times, want 1", id, n)
		}
	}
	if len(seen) != pushers*perPusher {
		t.Errorf("popped %d distinct entries, want %d", len(seen), pushers*perPusher)
	}
	checkLen(t, s, 0)
}

func testDoneContext(t *testing.T, s dlq.Store) {
	pushAll(t, s, "a")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	checkIs(t, "Push with a done ctx", s.Push(ctx, entry("b")), context.Canceled)
	_, err := s.Pop(ctx, 1)
	checkIs(t, "Pop with a done ctx", err, context.Canceled)
	_, err = s.List(ctx, 0, 1)
	checkIs(t, "List with a done ctx", err, context.Canceled)
	_, err = s.Get(ctx, "a")
	checkIs(t, "Get with a done ctx", err, context.Canceled)
	_, err = s.Len(ctx)
	checkIs(t, "Len with a done ctx", err, context.Canceled)
	checkIs(t, "Delete with a done ctx", s.Delete(ctx, "a"), context.Canceled)
	name := uniqueName(t)
	_, err = s.CountFailure(ctx, name, longWindow)
	checkIs(t, "CountFailure with a done ctx", err, context.Canceled)

	// Nothing above changed the store.
	if n, err := s.CountFailure(t.Context(), name, longWindow); err != nil || n != 1 {
		t.Errorf("CountFailure after one with a done ctx: got %d, %v, want 1, nil", n, err)
	}
	got, err := s.List(t.Context(), 0, 10)
	if err != nil {
		t.Fatalf("List: got error %v, want nil", err)
	}
	checkIDs(t, "List after calls with a done ctx", got, []string{"a"})
}
