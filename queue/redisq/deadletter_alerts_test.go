package redisq

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/internal/redistest"
	"github.com/resilience-go/resilience/queue"
)

// alertTestWindow is long, so that no window ends within a test that
// needs one window (one ends every 41 days).
const alertTestWindow = 1000 * time.Hour

// The read script is checked for declared keys with the others.
func init() { allScripts = append(allScripts, &failureCountsScript) }

// TestHTTPQueuesShowRedisAlertStates records failures through a
// dlq.Recorder on the Redis store and reads GET /queues of a queue HTTP
// handler backed by that store: the task name past its threshold is
// alerted, the other is not. Before the store reported its counts, the
// answer held "alerts": null.
func TestHTTPQueuesShowRedisAlertStates(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := newClient(t, srv)
	b, opts := newBroker(t, rdb)
	store := NewDeadLetterStore(rdb, opts)
	alerts := dlq.AlertConfig{Threshold: 3, Window: alertTestWindow, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	rec, err := dlq.NewRecorder(store, alerts)
	if err != nil {
		t.Fatalf("NewRecorder: %v", err)
	}
	before := time.Now()
	ctx := ctxFor(t, 10*time.Second)
	for i, name := range []string{"embed", "chat", "embed", "embed", "embed"} {
		if err := rec.Record(ctx, dlq.Entry{TaskID: fmt.Sprintf("t%d", i), TaskName: name, Queue: "default"}); err != nil {
			t.Fatalf("Record %d: %v", i, err)
		}
	}
	h, err := queue.NewHTTPHandlerWith(queue.NewClient(b), queue.HTTPConfig{DeadLetters: store, Alerts: alerts})
	if err != nil {
		t.Fatalf("NewHTTPHandlerWith: %v", err)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/queues", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("GET /queues: status %d, body %s", w.Code, w.Body)
	}
	var body struct {
		Alerts []struct {
			TaskName    string    `json:"task_name"`
			Failures    int64     `json:"failures"`
			Threshold   int64     `json:"threshold"`
			WindowStart time.Time `json:"window_start"`
			WindowEnd   time.Time `json:"window_end"`
			Alerted     bool      `json:"alerted"`
		} `json:"alerts"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("GET /queues: %v in %s", err, w.Body)
	}
	got := body.Alerts
	if len(got) != 2 || got[0].TaskName != "embed" || got[0].Failures != 4 || !got[0].Alerted ||
		got[1].TaskName != "chat" || got[1].Failures != 1 || got[1].Alerted {
		t.Fatalf("GET /queues alerts: got %+v, want embed with 4 failures (alerted) then chat with 1 (not alerted)", got)
	}
	for _, a := range got {
		if a.Threshold != 3 || a.WindowEnd.Sub(a.WindowStart) != alertTestWindow {
			t.Errorf("%s: threshold %d, window %v–%v; want 3 and a %v window", a.TaskName, a.Threshold, a.WindowStart, a.WindowEnd, alertTestWindow)
		}
		if a.WindowStart.After(before) || !a.WindowEnd.After(before) {
			t.Errorf("%s: window %v–%v does not hold the failures after %v", a.TaskName, a.WindowStart, a.WindowEnd, before)
		}
	}
}

// TestFailureCountsRankingKeys pins the ranking's keys: a sorted set of
// minus the counts and the number of its window, both expiring a second
// after the window ends, like the counter they mirror.
func TestFailureCountsRankingKeys(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := newClient(t, srv)
	opts := Options{Prefix: uniquePrefix(t)}
	store := NewDeadLetterStore(rdb, opts)
	ctx := ctxFor(t, 10*time.Second)
	for _, name := range []string{"a", "b", "a"} {
		if _, err := store.CountFailure(ctx, name, alertTestWindow); err != nil {
			t.Fatalf("CountFailure %s: %v", name, err)
		}
	}
	tag := "{" + opts.Prefix + "}"
	rank, win := tag+":dlq:rank:3600000000000", tag+":dlq:rank:3600000000000:window"
	zs, err := rdb.ZRangeWithScores(ctx, rank, 0, -1).Result()
	if err != nil {
		t.Fatalf("ZRANGE %s: %v", rank, err)
	}
	if len(zs) != 2 || zs[0].Member != "a" || zs[0].Score != -2 || zs[1].Member != "b" || zs[1].Score != -1 {
		t.Errorf("ranking %s: got %+v, want a at -2 then b at -1", rank, zs)
	}
	idx, err := rdb.Get(ctx, win).Int64()
	if err != nil {
		t.Fatalf("GET %s: %v", win, err)
	}
	if n, err := rdb.HGet(ctx, tag+":dlq:fail:3600000000000:a", fmt.Sprint(idx)).Int64(); err != nil || n != 2 {
		t.Errorf("counter of a in window %d: got %d, %v; want 2, the ranking's window", idx, n, err)
	}
	wantExpiry := time.UnixMicro((idx + 1) * micros(alertTestWindow)).Add(time.Second).UnixMilli()
	for _, k := range []string{rank, win} {
		at, err := rdb.PExpireTime(ctx, k).Result()
		if err != nil || at.Milliseconds() != wantExpiry {
			t.Errorf("PEXPIRETIME %s: got %v, %v; want %d ms (a second after the window ends)", k, at.Milliseconds(), err, wantExpiry)
		}
	}
}

// TestFailureCountsNewWindowDropsRanking counts in one short window and
// then in the next: the ranking of the next window holds only what was
// counted in it, even though the previous one has not expired yet.
func TestFailureCountsNewWindowDropsRanking(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	store := NewDeadLetterStore(newClient(t, srv), Options{Prefix: uniquePrefix(t)})
	const window = 200 * time.Millisecond
	ctx := ctxFor(t, 30*time.Second)
	for range 2 {
		for _, name := range []string{"old", "both"} {
			if _, err := store.CountFailure(ctx, name, window); err != nil {
				t.Fatalf("CountFailure %s: %v", name, err)
			}
		}
	}
	first, err := store.FailureCounts(ctx, window, 10)
	if err != nil {
		t.Fatalf("FailureCounts: %v", err)
	}
	if len(first) == 0 {
		t.Skip("the window ended between counting and reading (a stalled machine); nothing to compare")
	}
	// Wait for the window to end: the counts are gone.
	for {
		got, err := store.FailureCounts(ctx, window, 10)
		if err != nil {
			t.Fatalf("FailureCounts: %v", err)
		}
		if len(got) == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("FailureCounts still %+v after the window of %v ended", got, window)
		}
		time.Sleep(window / 10)
	}
	n, err := store.CountFailure(ctx, "both", window)
	if err != nil {
		t.Fatalf("CountFailure: %v", err)
	}
	got, err := store.FailureCounts(ctx, window, 10)
	if err != nil {
		t.Fatalf("FailureCounts: %v", err)
	}
	if len(got) == 0 {
		return // that window ended too; the next read of an empty window is checked above
	}
	if len(got) != 1 || got[0].TaskName != "both" || got[0].Failures != n || !got[0].WindowStart.After(first[0].WindowStart) {
		t.Errorf("FailureCounts in the next window: got %+v, want only both with %d failure(s), after window %v",
			got, n, first[0].WindowStart)
	}
}

// TestFailureCountsBadInputNeedsNoRedis checks the arguments before any
// Redis call (the client below has no server), and that a Redis that does
// not answer is a clear error.
func TestFailureCountsBadInputNeedsNoRedis(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	store := NewDeadLetterStore(rdb, Options{})
	ctx := ctxFor(t, 10*time.Second)
	for _, c := range []struct {
		window time.Duration
		limit  int
	}{{0, 10}, {-time.Second, 10}, {time.Hour, -1}} {
		_, err := store.FailureCounts(ctx, c.window, c.limit)
		if !errors.Is(err, dlq.ErrInvalidArgument) {
			t.Errorf("FailureCounts(%v, %d): got %v, want an error wrapping %v", c.window, c.limit, err, dlq.ErrInvalidArgument)
		}
	}
	if got, err := store.FailureCounts(ctx, time.Hour, 0); err != nil || got == nil || len(got) != 0 {
		t.Errorf("FailureCounts with limit 0: got %#v, %v; want an empty slice and no error", got, err)
	}
	_, err := store.FailureCounts(ctx, time.Hour, 10)
	if err == nil || !strings.Contains(err.Error(), "redisq: dead letters: failure counts of window 1h0m0s") {
		t.Errorf("FailureCounts with Redis down: got %v, want an error naming the failure counts", err)
	}
}

// FuzzDecodeFailureCounts feeds the decoder of the read script's reply
// any strings: it returns an error or one count per name-score pair,
// never panics.
func FuzzDecodeFailureCounts(f *testing.F) {
	f.Add("29", "embed", "-4", "chat", "-1")
	f.Add("x", "", "", "", "")
	f.Add("7", "a", "-inf", "b", "nan")
	f.Fuzz(func(t *testing.T, idx, n1, s1, n2, s2 string) {
		for k := 1; k <= 5; k++ {
			res := []string{idx, n1, s1, n2, s2}[:k]
			out, err := decodeFailureCounts(res, 3600000000)
			if err == nil && len(out) != (k-1)/2 {
				t.Fatalf("decode %q: got %d counts, want %d", res, len(out), (k-1)/2)
			}
			if err == nil && k%2 == 0 {
				t.Fatalf("decode %q: an odd reply decoded without error", res)
			}
		}
	})
}
