package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/queue"
	"github.com/resilience-go/resilience/queue/redisq"
)

// RedisServer is a private redis-server for the queue comparison: no
// persistence, a free loopback port, a temporary directory.
type RedisServer struct {
	Addr string
	cmd  *exec.Cmd
	dir  string
	done chan struct{}
}

// StartRedisServer starts redis-server from PATH and waits until it
// answers. It returns an error saying how to install Redis when there is
// no redis-server.
func StartRedisServer() (*RedisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("redis-server is not on PATH; install Redis (apt-get install redis-server, brew install redis)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	dir, err := os.MkdirTemp("", "queuecompare")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", dir, "--daemonize", "no", "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	s := &RedisServer{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), cmd: cmd, dir: dir, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer rdb.Close()
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		if rdb.Ping(context.Background()).Err() == nil {
			return s, nil
		}
		if time.Since(start) > 10*time.Second {
			s.Stop()
			return nil, errors.New("redis-server did not answer PING within 10s")
		}
	}
}

// Flush empties the server between runs.
func (s *RedisServer) Flush() error {
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer rdb.Close()
	return rdb.FlushAll(context.Background()).Err()
}

// Stop kills the server and removes its directory.
func (s *RedisServer) Stop() {
	_ = s.cmd.Process.Kill()
	<-s.done
	_ = os.RemoveAll(s.dir)
}

// QueueSystem is one task-queue library under test, with its own
// connections to the shared server. Handlers get the raw payload.
type QueueSystem interface {
	Name() string
	// Enqueue stores one task named "noop" with payload (JSON).
	Enqueue(ctx context.Context, payload []byte) error
	// Start runs workers with concurrency slots calling handle; stop
	// shuts them down and waits.
	Start(concurrency int, handle func(payload []byte)) (stop func(), err error)
	Close() error
}

var discard = slog.New(slog.DiscardHandler)

// redisqSystem is queue.Client and queue.Worker on redisq.
type redisqSystem struct {
	addr   string
	rdb    *redis.Client
	client *queue.Client
	prefix string
}

// NewRedisqSystem returns resilience's queue on redisq at addr.
func NewRedisqSystem(addr string) QueueSystem {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	return &redisqSystem{addr: addr, rdb: rdb, prefix: "bench",
		client: queue.NewClient(redisq.NewBroker(rdb, redisq.Options{Prefix: "bench"}))}
}

func (s *redisqSystem) Name() string { return "resilience queue/redisq" }

func (s *redisqSystem) Enqueue(ctx context.Context, payload []byte) error {
	_, err := s.client.Enqueue(ctx, "noop", json.RawMessage(payload))
	return err
}

func (s *redisqSystem) Start(concurrency int, handle func([]byte)) (func(), error) {
	// The workers have their own client, as asynq's server has.
	rdb := redis.NewClient(&redis.Options{Addr: s.addr, PoolSize: concurrency + 10})
	b := redisq.NewBroker(rdb, redisq.Options{Prefix: s.prefix})
	w, err := queue.NewWorker(b, queue.WorkerConfig{
		Concurrency: concurrency, Queues: []string{queue.QueueDefault},
		Logger: discard, Alerts: dlq.AlertConfig{Logger: discard},
	})
	if err != nil {
		return nil, err
	}
	w.Handle("noop", func(_ context.Context, t *queue.Task) (any, error) {
		handle(t.Payload)
		return nil, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = w.Run(ctx) })
	return func() {
		cancel()
		wg.Wait()
		_ = b.Close()
		_ = rdb.Close()
	}, nil
}

func (s *redisqSystem) Close() error { return s.rdb.Close() }

// asynqSystem is hibiken/asynq's Client and Server with default settings
// (apart from concurrency, one queue and quiet logs).
type asynqSystem struct {
	opt    asynq.RedisClientOpt
	client *asynq.Client
}

// NewAsynqSystem returns hibiken/asynq at addr.
func NewAsynqSystem(addr string) QueueSystem {
	opt := asynq.RedisClientOpt{Addr: addr}
	return &asynqSystem{opt: opt, client: asynq.NewClient(opt)}
}

func (s *asynqSystem) Name() string { return "hibiken/asynq v0.26.0" }

func (s *asynqSystem) Enqueue(ctx context.Context, payload []byte) error {
	_, err := s.client.EnqueueContext(ctx, asynq.NewTask("noop", payload))
	return err
}

func (s *asynqSystem) Start(concurrency int, handle func([]byte)) (func(), error) {
	srv := asynq.NewServer(s.opt, asynq.Config{
		Concurrency: concurrency, Queues: map[string]int{"default": 1}, LogLevel: asynq.FatalLevel,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc("noop", func(_ context.Context, t *asynq.Task) error {
		handle(t.Payload())
		return nil
	})
	if err := srv.Start(mux); err != nil {
		return nil, err
	}
	return srv.Shutdown, nil
}

func (s *asynqSystem) Close() error { return s.client.Close() }
