package redisq

import (
	"context"
	"encoding/json"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resilience-go/resilience/internal/redistest"
	"github.com/resilience-go/resilience/queue"
)

var usecField = regexp.MustCompile(`cmdstat_(?:evalsha|eval):calls=\d+,usec=(\d+),`)

// redisUsec returns the microseconds Redis has spent running scripts (INFO
// commandstats of EVALSHA and EVAL, which include the commands the
// scripts call), a measure of the server's work that the noise of a
// shared machine disturbs less than wall time.
func redisUsec(b *testing.B, rdb *redis.Client) int64 {
	b.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatalf("INFO commandstats: %v", err)
	}
	total := int64(0)
	for _, m := range usecField.FindAllStringSubmatch(info, -1) {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		total += n
	}
	return total
}

// reportRedis reports Redis's own time in scripts per operation beside the
// wall time.
func reportRedis(b *testing.B, rdb *redis.Client, before int64, n int) {
	b.Helper()
	b.ReportMetric(float64(redisUsec(b, rdb)-before)/float64(n), "script-µs/op")
}

// BenchmarkEnqueue measures one Enqueue (one script call) from one
// goroutine.
func BenchmarkEnqueue(b *testing.B) {
	srv := redistest.Start(b, redistest.Options{})
	rdb := newClient(b, srv)
	br, _ := newBroker(b, rdb)
	ctx := context.Background()
	payload := []byte(`{"i":1}`)
	i := 0
	before := redisUsec(b, rdb)
	for b.Loop() {
		i++
		if _, _, err := br.Enqueue(ctx, &queue.Task{ID: strconv.Itoa(i), Name: "noop", Queue: "default",
			Payload: payload, MaxRetries: -1, EnqueuedAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	reportRedis(b, rdb, before, i)
}

// BenchmarkClaimComplete measures one Claim plus one Complete of a ready
// task from one goroutine.
func BenchmarkClaimComplete(b *testing.B) {
	srv := redistest.Start(b, redistest.Options{})
	rdb := newClient(b, srv)
	br, _ := newBroker(b, rdb)
	ctx := context.Background()
	for i := range b.N {
		if _, _, err := br.Enqueue(ctx, &queue.Task{ID: strconv.Itoa(i), Name: "noop", Queue: "default",
			Payload: []byte(`{}`), MaxRetries: -1, EnqueuedAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	queues := []string{"default"}
	before := redisUsec(b, rdb)
	b.ResetTimer()
	for range b.N {
		t, token, err := br.Claim(ctx, queues, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if err := br.Complete(ctx, t.ID, token, nil, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportRedis(b, rdb, before, b.N)
}

// BenchmarkCompleteAndClaim measures the worker's steady state: complete
// one task and claim the next in one call, from one goroutine.
func BenchmarkCompleteAndClaim(b *testing.B) {
	srv := redistest.Start(b, redistest.Options{})
	rdb := newClient(b, srv)
	br, _ := newBroker(b, rdb)
	ctx := context.Background()
	for i := range b.N + 1 {
		if _, _, err := br.Enqueue(ctx, &queue.Task{ID: strconv.Itoa(i), Name: "noop", Queue: "default",
			Payload: []byte(`{}`), MaxRetries: -1, EnqueuedAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	queues := []string{"default"}
	t, token, err := br.Claim(ctx, queues, time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	before := redisUsec(b, rdb)
	b.ResetTimer()
	for range b.N {
		if t, token, err = br.CompleteAndClaim(ctx, t.ID, token, nil, time.Minute, queues, time.Minute); err != nil || t == nil {
			b.Fatalf("CompleteAndClaim: %v, %v", t, err)
		}
	}
	b.StopTimer()
	reportRedis(b, rdb, before, b.N)
}

// inspectTasks is how many tasks BenchmarkStats and BenchmarkList store.
const inspectTasks = 100_000

// fillForInspect stores inspectTasks tasks over four queues, a tenth of
// them done, and returns the broker.
func fillForInspect(b *testing.B) *Broker {
	srv := redistest.Start(b, redistest.Options{})
	rdb := newClient(b, srv)
	br, _ := newBroker(b, rdb)
	ctx := context.Background()
	queues := []string{"q0", "q1", "q2", "q3"}
	for i := range inspectTasks {
		if _, _, err := br.Enqueue(ctx, &queue.Task{ID: strconv.Itoa(i), Name: "noop", Queue: queues[i%4],
			Payload: json.RawMessage(`{}`), MaxRetries: -1, EnqueuedAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	for range inspectTasks / 10 {
		t, token, err := br.Claim(ctx, queues, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if err := br.Complete(ctx, t.ID, token, nil, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	return br
}

// BenchmarkStats measures Stats over 100,000 stored tasks in four queues:
// its cost follows the number of queues, not of tasks.
func BenchmarkStats(b *testing.B) {
	br := fillForInspect(b)
	ctx := context.Background()
	for b.Loop() {
		st, err := br.Stats(ctx)
		if err != nil || len(st) != 4 {
			b.Fatalf("Stats: %v, %v", st, err)
		}
	}
}

// BenchmarkList measures a page of 50 tasks of every queue and state at
// offset 1,000 over 100,000 stored tasks: its cost follows offset+limit.
func BenchmarkList(b *testing.B) {
	br := fillForInspect(b)
	ctx := context.Background()
	for b.Loop() {
		ts, err := br.List(ctx, queue.ListOptions{Offset: 1000, Limit: 50})
		if err != nil || len(ts) != 50 {
			b.Fatalf("List: %d tasks, %v", len(ts), err)
		}
	}
}
