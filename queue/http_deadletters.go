package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/resilience-go/resilience/dlq"
)

// The dead-letter routes of [NewHTTPHandlerWith], registered when
// HTTPConfig.DeadLetters is set.

// Page sizes of GET /dead-letters: the default limit and the largest one.
const (
	DefaultDeadLetterLimit = 50
	MaxDeadLetterLimit     = 1000
)

// MaxDeadLetterPageBytes caps the entries of one GET /dead-letters answer
// by their JSON size: a page ends before the entry that would pass it
// (but holds at least one entry), and says where the next page starts. A
// thousand 1 MiB payloads thus cost the server about 4 MiB per request,
// not 1 GiB.
const MaxDeadLetterPageBytes = 4 << 20

// deadLetterBatch is how many entries GET /dead-letters reads from the
// store at a time while it fills a page.
const deadLetterBatch = 16

func (a *httpAPI) listDead(w http.ResponseWriter, r *http.Request) {
	offset, err := queryInt(r, "offset", 0, 0, math.MaxInt)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	limit, err := queryInt(r, "limit", DefaultDeadLetterLimit, 1, MaxDeadLetterLimit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	store := a.cfg.DeadLetters
	entries, next, err := deadLetterPage(r.Context(), store, offset, limit, MaxDeadLetterPageBytes)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	total, err := store.Len(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if next != nil && *next >= total {
		next = nil
	}
	writeJSON(w, http.StatusOK, struct {
		Entries    []json.RawMessage `json:"entries"`
		Total      int               `json:"total"`
		Offset     int               `json:"offset"`
		Limit      int               `json:"limit"`
		NextOffset *int              `json:"next_offset"`
	}{entries, total, offset, limit, next})
}

// deadLetterPage reads up to limit entries from offset on, in batches, as
// JSON, and stops before the entry that would take the page past maxBytes
// (the first entry is always taken). next is the offset after the last
// entry taken, or nil when the store ran out first.
func deadLetterPage(ctx context.Context, store dlq.Store, offset, limit, maxBytes int) (page []json.RawMessage, next *int, err error) {
	page = []json.RawMessage{}
	size := 0
	for len(page) < limit {
		n := min(deadLetterBatch, limit-len(page))
		batch, err := store.List(ctx, offset+len(page), n)
		if err != nil {
			return nil, nil, err
		}
		for _, e := range batch {
			b, err := json.Marshal(e)
			if err != nil {
				return nil, nil, fmt.Errorf("queue: encode dead letter %q: %w", e.TaskID, err)
			}
			if len(page) > 0 && size+len(b) > maxBytes {
				end := offset + len(page)
				return page, &end, nil
			}
			page = append(page, b)
			size += len(b) + 1
		}
		if len(batch) < n {
			return page, nil, nil
		}
	}
	end := offset + len(page)
	return page, &end, nil
}

func (a *httpAPI) getDead(w http.ResponseWriter, r *http.Request) {
	e, err := a.cfg.DeadLetters.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

func (a *httpAPI) deleteDead(w http.ResponseWriter, r *http.Request) {
	if err := a.cfg.DeadLetters.Delete(r.Context(), r.PathValue("id")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *httpAPI) replayDead(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	t, err := a.c.Replay(r.Context(), a.cfg.DeadLetters, id)
	switch {
	case err == nil:
		w.Header().Set("Location", taskLocation(r, t.ID))
		writeJSON(w, http.StatusAccepted, accepted{TaskID: t.ID, Status: t.State, ReplayOf: id})
	case t != nil:
		// Enqueued, but the entry stays: a retry is safe (Replay is idempotent).
		a.cfg.Logger.LogAttrs(r.Context(), slog.LevelError, "queue: replayed dead letter not deleted",
			slog.String("task_id", id), slog.Any("error", err))
		writeJSON(w, http.StatusInternalServerError, struct {
			Error  string `json:"error"`
			TaskID string `json:"task_id"`
		}{"queue: replay enqueued the task but could not delete the dead letter; retry the replay", t.ID})
	case errors.Is(err, dlq.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrUnknownQueue), errors.Is(err, ErrInvalidArgument):
		// The request is fine; the entry cannot be enqueued as it is.
		writeError(w, http.StatusConflict, err.Error())
	default:
		a.fail(w, r, err)
	}
}

// queryInt parses the query parameter name as an integer in [lo, hi], or
// returns def when it is absent.
func queryInt(r *http.Request, name string, def, lo, hi int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, badRequest("queue: %s %q: want an integer from %d to %d", name, s, lo, hi)
	}
	return n, nil
}
