package queue

import (
	"net/http"
	"time"
)

// MaxAlertStates caps the task names in the "alerts" of GET /queues: the
// ones with most failures in the current window, so every alerted name
// comes first. Failures of arbitrary task names (anyone who can enqueue can
// make them up) thus cannot make the overview grow without bound.
const MaxAlertStates = 50

// alertView is one element of the "alerts" of GET /queues: a
// [dlq.AlertState] in JSON.
type alertView struct {
	TaskName    string    `json:"task_name"`
	Failures    int64     `json:"failures"`
	Threshold   int64     `json:"threshold"`
	Window      string    `json:"window"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	Alerted     bool      `json:"alerted"`
}

// alertViews returns the alert states of the dead-letter store, or nil
// (JSON null) when the handler has no store that can report them.
func (a *httpAPI) alertViews(r *http.Request) ([]alertView, error) {
	if a.alerts == nil {
		return nil, nil
	}
	states, err := a.alerts.AlertStates(r.Context(), MaxAlertStates)
	if err != nil {
		return nil, err
	}
	out := make([]alertView, len(states))
	for i, s := range states {
		out[i] = alertView{
			TaskName:    s.TaskName,
			Failures:    s.Failures,
			Threshold:   s.Threshold,
			Window:      s.Window.String(),
			WindowStart: s.WindowStart,
			WindowEnd:   s.WindowEnd(),
			Alerted:     s.Alerted,
		}
	}
	return out, nil
}
