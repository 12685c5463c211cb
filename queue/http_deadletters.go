package queue

import (
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
	entries, err := store.List(r.Context(), offset, limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	total, err := store.Len(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if entries == nil {
		entries = []dlq.Entry{}
	}
	writeJSON(w, http.StatusOK, struct {
		Entries []dlq.Entry `json:"entries"`
		Total   int         `json:"total"`
		Offset  int         `json:"offset"`
		Limit   int         `json:"limit"`
	}{entries, total, offset, limit})
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
		return 0, &httpError{http.StatusBadRequest, fmt.Sprintf("queue: %s %q: want an integer from %d to %d", name, s, lo, hi)}
	}
	return n, nil
}
