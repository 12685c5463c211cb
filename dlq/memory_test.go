package dlq_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/dlq/dlqtest"
)

func TestMemoryStoreConformance(t *testing.T) {
	dlqtest.Run(t, func(*testing.T) dlq.Store { return dlq.NewMemoryStore() })
}

func TestMemoryStoreZeroValueIsUsable(t *testing.T) {
	dlqtest.Run(t, func(*testing.T) dlq.Store { return new(dlq.MemoryStore) })
}

// sameIDAndRetries reports whether a and b have the same TaskID and Retries,
// the fields the model test varies.
func sameIDAndRetries(a, b dlq.Entry) bool {
	return a.TaskID == b.TaskID && a.Retries == b.Retries
}

// TestMemoryStoreMatchesModel drives the store with random operations and
// compares it after each one with a plain slice that is obviously right, so
// the linked list and its index cannot drift apart (replace in place, pop
// from the front, delete in the middle, push after delete).
func TestMemoryStoreMatchesModel(t *testing.T) {
	ctx := t.Context()
	rng := rand.New(rand.NewPCG(1, 2))
	s := dlq.NewMemoryStore()
	var model []dlq.Entry
	find := func(id string) int {
		return slices.IndexFunc(model, func(e dlq.Entry) bool { return e.TaskID == id })
	}
	for step := range 5000 {
		id := fmt.Sprintf("t%d", rng.IntN(20))
		switch op := rng.IntN(4); op {
		case 0, 1: // push (twice as often, so the store fills up)
			e := dlq.Entry{TaskID: id, Retries: step}
			if err := s.Push(ctx, e); err != nil {
				t.Fatalf("step %d: Push(%s): got error %v, want nil", step, id, err)
			}
			if i := find(id); i >= 0 {
				model[i] = e
			} else {
				model = append(model, e)
			}
		case 2:
			n := 1 + rng.IntN(4)
			got, err := s.Pop(ctx, n)
			if err != nil {
				t.Fatalf("step %d: Pop(%d): got error %v, want nil", step, n, err)
			}
			want := model[:min(n, len(model))]
			if !slices.EqualFunc(got, want, sameIDAndRetries) {
				t.Fatalf("step %d: Pop(%d): got %v, want %v", step, n, got, want)
			}
			model = slices.Clone(model[len(want):])
		case 3:
			err := s.Delete(ctx, id)
			if i := find(id); i >= 0 {
				if err != nil {
					t.Fatalf("step %d: Delete(%s): got error %v, want nil", step, id, err)
				}
				model = slices.Delete(model, i, i+1)
			} else if err == nil {
				t.Fatalf("step %d: Delete(%s) of an absent id: got nil error, want ErrNotFound", step, id)
			}
		}
		all, err := s.List(ctx, 0, 100)
		if err != nil {
			t.Fatalf("step %d: List: got error %v, want nil", step, err)
		}
		if !slices.EqualFunc(all, model, sameIDAndRetries) {
			t.Fatalf("step %d: List: got %v, want %v", step, all, model)
		}
		if n, _ := s.Len(ctx); n != len(model) {
			t.Fatalf("step %d: Len: got %d, want %d", step, n, len(model))
		}
	}
}

// TestMemoryStoreCountFailureWindowsAlignToClock checks the exact window
// edges: a 1h window resets at every full hour of the clock, not one hour
// after the first failure.
func TestMemoryStoreCountFailureWindowsAlignToClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := dlq.NewMemoryStore()
		// The bubble's clock starts at 2000-01-01 00:00:00 UTC, a whole hour.
		steps := []struct {
			sleep time.Duration
			want  int64
		}{
			{30 * time.Minute, 1}, // 00:30, the first failure
			{0, 2},
			{29*time.Minute + 59*time.Second, 3}, // 00:59:59, same window
			{time.Second, 1},                     // 01:00:00, a new window
			{time.Hour - time.Nanosecond, 2},     // 01:59:59.999999999
			{time.Nanosecond, 1},                 // 02:00:00
			{5 * time.Hour, 1},                   // several windows later
		}
		for i, st := range steps {
			time.Sleep(st.sleep)
			got, err := s.CountFailure(t.Context(), "embed", time.Hour)
			if err != nil {
				t.Fatalf("step %d: CountFailure: got error %v, want nil", i, err)
			}
			if got != st.want {
				t.Errorf("step %d at %s: CountFailure: got %d, want %d",
					i, time.Now().UTC().Format("15:04:05.000000000"), got, st.want)
			}
		}
	})
}

func TestMemoryStoreCountFailureWindowLengthsCountApart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := dlq.NewMemoryStore()
		ctx := t.Context()
		for range 3 {
			if _, err := s.CountFailure(ctx, "embed", time.Hour); err != nil {
				t.Fatalf("CountFailure: got error %v, want nil", err)
			}
		}
		if got, _ := s.CountFailure(ctx, "embed", time.Minute); got != 1 {
			t.Errorf("CountFailure(embed, 1m) after three with 1h: got %d, want 1", got)
		}
		time.Sleep(time.Minute)
		if got, _ := s.CountFailure(ctx, "embed", time.Minute); got != 1 {
			t.Errorf("CountFailure(embed, 1m) a minute later: got %d, want 1", got)
		}
		if got, _ := s.CountFailure(ctx, "embed", time.Hour); got != 4 {
			t.Errorf("CountFailure(embed, 1h) a minute later: got %d, want 4", got)
		}
	})
}
