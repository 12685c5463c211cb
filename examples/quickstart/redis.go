package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resilience-go/resilience/queue/redisq"
)

// useRedis makes the run use the Redis at cfg.RedisAddr: a broker and a
// dead-letter store under a key prefix of this run's own, so that runs do
// not see each other's tasks. Closing stops the broker, deletes the
// prefix's keys and closes the client.
func (e *env) useRedis(ctx context.Context) error {
	// A plain dial first: go-redis would retry and log each failure.
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := d.DialContext(dctx, "tcp", e.cfg.RedisAddr)
	if err != nil {
		return fmt.Errorf("cannot reach Redis at %s: %w", e.cfg.RedisAddr, err)
	}
	_ = conn.Close()
	rdb := redis.NewClient(&redis.Options{
		Addr:     e.cfg.RedisAddr,
		PoolSize: 32, // more than the claims blocked at once (4 slots) plus the rest
	})
	if err := rdb.Ping(dctx).Err(); err != nil {
		_ = rdb.Close()
		return fmt.Errorf("cannot reach Redis at %s: %w", e.cfg.RedisAddr, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	opts := redisq.Options{Prefix: "quickstart-" + hex.EncodeToString(b[:])}
	broker := redisq.NewBroker(rdb, opts)
	e.broker, e.store = broker, redisq.NewDeadLetterStore(rdb, opts)
	e.brokerIs = fmt.Sprintf("Redis broker at %s (key prefix {%s})", e.cfg.RedisAddr, opts.Prefix)
	e.closeBroker = func() {
		_ = broker.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := deleteKeys(ctx, rdb, "{"+opts.Prefix+"}:*"); err != nil {
			e.p.event("error", "deleting the run's Redis keys: %v", err)
		}
		_ = rdb.Close()
	}
	return nil
}

// deleteKeys deletes every key matching pattern.
func deleteKeys(ctx context.Context, rdb *redis.Client, pattern string) error {
	var keys []string
	iter := rdb.Scan(ctx, 0, pattern, 500).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	return rdb.Del(ctx, keys...).Err()
}
