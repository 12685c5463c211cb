package redisq

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// pipe sends the script calls that goroutines make at the same time in one
// pipeline: while one batch is on the wire, the next calls queue up and go
// together in the next one. With one caller it costs two goroutine
// switches; with many (a worker's slots settling and claiming) it saves
// both Redis and the client a read, a write and a wake-up per call, which
// is most of a call's cost.
//
// Enqueue does not use it: a producer waits for each call, and a call that
// queues behind the batch on the wire waits for up to two round trips
// instead of one. With four producers sharing a client, batching their
// enqueues cut end-to-end throughput by a fifth (bench/cmd/queuecompare);
// go-redis's pool runs them side by side instead.
//
// A call made while no batch is on the wire is sent at once from the
// caller's goroutine; calls made meanwhile queue up, and a flusher
// goroutine, which runs only while calls are queued, sends them. So an
// idle pipe holds no goroutine and needs no Close.
type pipe struct {
	rdb     redis.UniversalClient
	mu      sync.Mutex
	queue   []*pipeCall
	running bool
	batched atomic.Int64 // calls sent in pipelines of two or more
}

type pipeCall struct {
	ctx  context.Context
	s    *redis.Script
	keys []string
	args []any
	cmd  *redis.Cmd
	done chan struct{}
}

// maxBatch bounds the calls sent in one pipeline.
const maxBatch = 128

// run runs s like s.Run, in the next batch. A call whose ctx ends before
// it was sent is not sent (it returns ctx's error); once sent, run waits
// for its reply like s.Run (which go-redis bounds by its read timeout), so
// that no state change, such as a claim, is made without its caller
// learning of it.
func (p *pipe) run(ctx context.Context, s *redis.Script, keys []string, args ...any) *redis.Cmd {
	c := &pipeCall{ctx: ctx, s: s, keys: keys, args: args, done: make(chan struct{})}
	p.mu.Lock()
	if !p.running {
		p.running = true
		p.mu.Unlock()
		c.cmd = s.Run(ctx, p.rdb, keys, args...)
		p.mu.Lock()
		if len(p.queue) > 0 {
			go p.flush() // calls queued behind this one: send them
		} else {
			p.running = false
		}
		p.mu.Unlock()
		return c.cmd
	}
	p.queue = append(p.queue, c)
	p.mu.Unlock()
	<-c.done
	return c.cmd
}

// flush sends batches until the queue is empty, then exits.
func (p *pipe) flush() {
	for {
		p.mu.Lock()
		batch := p.queue
		if len(batch) > maxBatch {
			batch = batch[:maxBatch:maxBatch]
			p.queue = p.queue[maxBatch:]
		} else {
			p.queue = nil
		}
		if len(batch) == 0 {
			p.running = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		p.exec(batch)
	}
}

// exec sends one batch with EVALSHA, then EVAL for the scripts the server
// did not know (a restarted server forgets them). Calls whose ctx ended
// are answered with its error instead.
func (p *pipe) exec(batch []*pipeCall) {
	live := batch[:0:0]
	for _, c := range batch {
		if err := c.ctx.Err(); err != nil {
			c.cmd = redis.NewCmd(c.ctx)
			c.cmd.SetErr(err)
			close(c.done)
			continue
		}
		live = append(live, c)
	}
	batch = live
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if len(batch) == 1 {
		c := batch[0]
		c.cmd = c.s.Run(ctx, p.rdb, c.keys, c.args...)
		close(c.done)
		return
	}
	p.batched.Add(int64(len(batch)))
	pl := p.rdb.Pipeline()
	for _, c := range batch {
		c.cmd = c.s.EvalSha(ctx, pl, c.keys, c.args...)
	}
	_, _ = pl.Exec(ctx) // errors are in each command
	var again []*pipeCall
	for _, c := range batch {
		if redis.HasErrorPrefix(c.cmd.Err(), "NOSCRIPT") {
			again = append(again, c)
			continue
		}
		close(c.done)
	}
	if len(again) == 0 {
		return
	}
	pl = p.rdb.Pipeline()
	for _, c := range again {
		c.cmd = c.s.Eval(ctx, pl, c.keys, c.args...)
	}
	_, _ = pl.Exec(ctx)
	for _, c := range again {
		close(c.done)
	}
}
