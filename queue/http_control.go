package queue

import (
	"net/http"
	"strings"
)

// The control and inspection routes of [NewHTTPHandlerWith]: GET /queues,
// POST /queues/{name}/pause and /resume, GET /tasks and DELETE /tasks/{id}.

func (a *httpAPI) queues(w http.ResponseWriter, r *http.Request) {
	st, err := a.c.Stats(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var dead *int
	if a.cfg.DeadLetters != nil {
		n, err := a.cfg.DeadLetters.Len(r.Context())
		if err != nil {
			a.fail(w, r, err)
			return
		}
		dead = &n
	}
	alerts, err := a.alertViews(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if st == nil {
		st = []QueueStats{}
	}
	writeJSON(w, http.StatusOK, struct {
		Queues      []QueueStats `json:"queues"`
		DeadLetters *int         `json:"dead_letters"`
		Alerts      []alertView  `json:"alerts"`
		ReadOnly    bool         `json:"read_only"`
	}{st, dead, alerts, a.cfg.ReadOnly})
}

func (a *httpAPI) pause(w http.ResponseWriter, r *http.Request)  { a.setPaused(w, r, true) }
func (a *httpAPI) resume(w http.ResponseWriter, r *http.Request) { a.setPaused(w, r, false) }

func (a *httpAPI) setPaused(w http.ResponseWriter, r *http.Request, paused bool) {
	name := r.PathValue("name")
	set := a.c.ResumeQueue
	if paused {
		set = a.c.PauseQueue
	}
	if err := set(r.Context(), name); err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Queue  string `json:"queue"`
		Paused bool   `json:"paused"`
	}{name, paused})
}

func (a *httpAPI) cancel(w http.ResponseWriter, r *http.Request) { a.answerTask(w, r, a.c.Cancel) }

func (a *httpAPI) listTasks(w http.ResponseWriter, r *http.Request) {
	opts, err := listOptions(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ts, err := a.c.List(r.Context(), opts)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	views := make([]listedView, len(ts))
	for i, t := range ts {
		views[i] = listedView{taskView: viewOf(t)}
	}
	writeJSON(w, http.StatusOK, struct {
		Tasks  []listedView `json:"tasks"`
		Offset int          `json:"offset"`
		Limit  int          `json:"limit"`
	}{views, opts.Offset, opts.Limit})
}

// listOptions reads the query of GET /tasks, or returns a 400 that says
// what is allowed.
func listOptions(r *http.Request) (ListOptions, error) {
	q := r.URL.Query()
	for key := range q {
		switch key {
		case "queue", "state", "offset", "limit":
		default:
			return ListOptions{}, badRequest("queue: unknown query parameter %q; want queue, state, offset or limit", key)
		}
	}
	opts := ListOptions{Queue: q.Get("queue")}
	if s := q.Get("state"); s != "" {
		opts.State = State(strings.ToUpper(s))
		if !opts.State.Valid() {
			return ListOptions{}, badRequest("queue: state %q does not exist; want one of %s", s, statesList())
		}
	}
	if opts.Queue != "" {
		if checkName("queue name", opts.Queue, false) != nil {
			return ListOptions{}, badRequest("queue: queue %q is not a queue name; want 1 to %d bytes of printable UTF-8 without spaces or '/'",
				opts.Queue, maxNameLen)
		}
	}
	var err error
	if opts.Offset, err = queryInt(r, "offset", 0, 0, MaxListOffset); err != nil {
		return ListOptions{}, err
	}
	if opts.Limit, err = queryInt(r, "limit", DefaultListLimit, 1, MaxListLimit); err != nil {
		return ListOptions{}, err
	}
	return opts, nil
}
