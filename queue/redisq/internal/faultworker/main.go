// Command faultworker is the worker process of the redisq fault tests: a
// queue.Worker on a redisq.Broker that the tests kill with SIGKILL and
// start again. It is not part of the API.
//
//	faultworker -addr 127.0.0.1:6379 -prefix test -concurrency 4 -lease 1s
//
// Its one handler, "job", takes a faultjob.Job payload. Every execution is
// counted in the hash "{prefix}:test:execs" (task id -> executions), so a
// test can count duplicates across processes. A blocking job pushes its id
// onto "{prefix}:test:started" when it starts, and "<id> <cause>" onto
// "{prefix}:test:ended" when its context ends.
package main

import (
	"context"
	"flag"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resilience-go/resilience/internal/proctest/faultjob"
	"github.com/resilience-go/resilience/queue/redisq"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6379", "Redis address")
	prefix := flag.String("prefix", redisq.DefaultPrefix, "key prefix")
	f := faultjob.AddFlags(flag.CommandLine)
	flag.Parse()
	faultjob.Exit(run(*addr, *prefix, f))
}

func run(addr, prefix string, f *faultjob.Flags) error {
	rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: f.Concurrency + 8})
	defer rdb.Close()
	opts := redisq.Options{Prefix: prefix}
	b := redisq.NewBroker(rdb, opts)
	defer b.Close()
	return faultjob.Run(b, f, redisq.NewDeadLetterStore(rdb, opts), recorder{rdb, "{" + prefix + "}"})
}

// recorder keeps what the handler did in keys under the prefix's hash tag.
type recorder struct {
	rdb redis.UniversalClient
	tag string
}

func (r recorder) Executed(ctx context.Context, id string) error {
	return r.rdb.HIncrBy(ctx, r.tag+":test:execs", id, 1).Err()
}

func (r recorder) Started(ctx context.Context, id string) {
	r.rdb.RPush(ctx, r.tag+":test:started", id)
}

// Ended retries for ten seconds while Redis is away: the cancellation
// tests wait for this entry.
func (r recorder) Ended(id string, cause error) {
	for range 200 {
		if r.rdb.RPush(context.Background(), r.tag+":test:ended", id+" "+cause.Error()).Err() == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
