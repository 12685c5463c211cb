package redisq

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/resilience-go/resilience/queue"
)

// The fields of a task hash (the id is the key's suffix). Times are Unix
// microseconds in decimal, taken from Redis's clock (TIME) except
// enqueued_at and not_before, which the enqueuing client gives. Counters
// and times that are absent are zero. token and lease_us belong to the
// current lease and are not part of the task (once a task is settled,
// token holds the id of the call that settled it, so that a re-sent call
// can recognise its own work); enq_call, likewise, is the id of the
// Enqueue call that stored the task and is not decoded; ttl_ms is the
// result TTL (ExpiresAt is finished_at + ttl_ms).
const (
	fName         = "name"
	fQueue        = "queue"
	fPayload      = "payload"
	fState        = "state"
	fProgress     = "progress"
	fResult       = "result"
	fError        = "error"
	fAttempt      = "attempt"
	fMaxRetries   = "max_retries"
	fRetries      = "retries"
	fRedeliveries = "redeliveries"
	fEnqueuedAt   = "enqueued_at"
	fNotBefore    = "not_before"
	fStartedAt    = "started_at"
	fFinishedAt   = "finished_at"
	fTTL          = "ttl_ms"
	fHeaders      = "headers"  // JSON object of strings
	fCancel       = "cancel"   // set when a leased task's cancellation was requested: the TTL (ms) of its REVOKED result
	fEnqCall      = "enq_call" // the id of the Enqueue call that stored the task (not decoded)
)

// fieldMap turns the flat field/value list of HGETALL, as a script returns
// it, into a map. A malformed list (odd length, non-string items) is an
// error wrapping [ErrCorruptTask].
func fieldMap(v any) (map[string]string, error) {
	list, ok := v.([]any)
	if !ok || len(list)%2 != 0 {
		return nil, fmt.Errorf("%w: HGETALL reply is %T of length %d, want an even list", ErrCorruptTask, v, lenOf(v))
	}
	m := make(map[string]string, len(list)/2)
	for i := 0; i < len(list); i += 2 {
		k, ok1 := list[i].(string)
		val, ok2 := list[i+1].(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%w: HGETALL reply item %d is %T/%T, want strings", ErrCorruptTask, i, list[i], list[i+1])
		}
		m[k] = val
	}
	return m, nil
}

func lenOf(v any) int {
	if l, ok := v.([]any); ok {
		return len(l)
	}
	return -1
}

// decodeTask builds task id from the fields of its hash. Every field this
// package writes is checked: name, queue, state, max_retries and
// enqueued_at present, numbers and times integers, JSON fields valid JSON,
// the state a known one. Any problem is an error wrapping [ErrCorruptTask]
// that names the field. decodeTask never panics, whatever the input
// (FuzzDecodeTask checks it).
func decodeTask(id string, f map[string]string) (*queue.Task, error) {
	d := decoder{f: f}
	t := &queue.Task{
		ID:    id,
		Name:  d.str(fName, true),
		Queue: d.str(fQueue, true),
		Error: d.str(fError, false),
	}
	t.Payload = d.json(fPayload)
	t.Result = d.json(fResult)
	t.State = queue.State(d.str(fState, true))
	switch t.State {
	case queue.StatePending, queue.StateStarted, queue.StateProcessing,
		queue.StateRetry, queue.StateSuccess, queue.StateFailure, queue.StateRevoked:
	default:
		if d.err == nil {
			d.fail(fState, "%q is not a task state", string(t.State))
		}
	}
	t.Attempt = d.int(fAttempt, false)
	t.MaxRetries = d.int(fMaxRetries, true)
	t.Retries = d.int(fRetries, false)
	t.Redeliveries = d.int(fRedeliveries, false)
	t.EnqueuedAt = d.time(fEnqueuedAt, true)
	t.NotBefore = d.time(fNotBefore, false)
	t.StartedAt = d.time(fStartedAt, false)
	t.FinishedAt = d.time(fFinishedAt, false)
	if ttl := d.int(fTTL, false); ttl > 0 && !t.FinishedAt.IsZero() {
		// Saturated: a TTL past the largest Duration (written by another
		// program) must not wrap into the past.
		t.ExpiresAt = t.FinishedAt.Add(time.Duration(min(ttl, math.MaxInt64/int(time.Millisecond))) * time.Millisecond)
	}
	t.CancelRequested = f[fCancel] != "" && t.State.Leased()
	if raw, ok := f[fHeaders]; ok && raw != "" && d.err == nil {
		if err := json.Unmarshal([]byte(raw), &t.Headers); err != nil {
			d.fail(fHeaders, "%v", err)
		}
	}
	if raw, ok := f[fProgress]; ok && raw != "" && d.err == nil {
		var p queue.Progress
		if err := json.Unmarshal([]byte(raw), &p); err != nil {
			d.fail(fProgress, "%v", err)
		} else {
			t.Progress = &p
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	return t, nil
}

// decoder reads fields, keeping the first error.
type decoder struct {
	f   map[string]string
	err error
}

func (d *decoder) fail(field, format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: field %q: %s", ErrCorruptTask, field, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) str(field string, required bool) string {
	v, ok := d.f[field]
	if required && (!ok || v == "") {
		d.fail(field, "missing")
	}
	return v
}

func (d *decoder) int(field string, required bool) int {
	v, ok := d.f[field]
	if !ok || v == "" {
		if required {
			d.fail(field, "missing")
		}
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		d.fail(field, "%q is not an integer", v)
	}
	return n
}

func (d *decoder) time(field string, required bool) time.Time {
	v, ok := d.f[field]
	if !ok || v == "" {
		if required {
			d.fail(field, "missing")
		}
		return time.Time{}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < minMicros || n > maxMicros {
		d.fail(field, "%q is not a time in Unix microseconds", v)
		return time.Time{}
	}
	return time.UnixMicro(n)
}

func (d *decoder) json(field string) json.RawMessage {
	v, ok := d.f[field]
	if !ok || v == "" {
		return nil
	}
	if !json.Valid([]byte(v)) {
		d.fail(field, "not valid JSON")
		return nil
	}
	return json.RawMessage(v)
}

// rawPayload returns the payload field as JSON for a dead letter: as is
// when it is valid JSON, else as a JSON string holding the raw bytes.
func rawPayload(f map[string]string) json.RawMessage {
	v := f[fPayload]
	if v == "" {
		return nil
	}
	if json.Valid([]byte(v)) {
		return json.RawMessage(v)
	}
	b, _ := json.Marshal(v) // a string always marshals
	return b
}

// dumpFields renders the fields of a corrupt task for a dead letter's
// trace: one "field=value" per line, sorted, values cut at 512 bytes.
func dumpFields(f map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(f)) {
		v := f[k]
		if len(v) > 512 {
			v = v[:512] + "..."
		}
		fmt.Fprintf(&b, "%s=%q\n", k, v)
	}
	return b.String()
}

// Bounds of a time a task hash may hold: the years 1 to 9999, so that
// every accepted time survives a round trip (the zero time.Time is stored
// as an absent field).
var (
	minTime, maxTime     = time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
	minMicros, maxMicros = minTime.UnixMicro(), maxTime.UnixMicro()
)

// usString renders t as the decimal Unix microseconds a task hash holds
// (and the score of the delayed set); "" for the zero time. A time outside
// the years 1 to 9999 is stored as the nearest bound, which the decoder
// accepts: a NotBefore past the year 9999 still holds the task for good
// (UnixMicro alone wraps after the year 294,246 and would make it due at
// once), and one before the year 1 makes it due at once.
func usString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	switch {
	case t.After(maxTime):
		return strconv.FormatInt(maxMicros, 10)
	case t.Before(minTime):
		return strconv.FormatInt(minMicros, 10)
	}
	return strconv.FormatInt(t.UnixMicro(), 10)
}

// micros returns d in whole microseconds, at least 1 for a positive d.
func micros(d time.Duration) int64 {
	return max(int64(d/time.Microsecond), 1)
}
