package app

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// silentRedisLogger drops go-redis's own log lines (one per failed dial,
// per request, while Redis is down): Redis failures are counted in the
// cache metrics and the breaker logs its state changes once.
type silentRedisLogger struct{}

func (silentRedisLogger) Printf(context.Context, string, ...any) {}

// newRedisClient returns a client for a single Redis or, with Sentinels
// configured, one that follows the Sentinels' current primary; nil when no
// Redis is configured. Timeouts are short: Redis must never hold up a
// request for long.
func newRedisClient(cfg Config) *redis.Client {
	redis.SetLogger(silentRedisLogger{})
	dial, rw := 200*time.Millisecond, cfg.CacheTimeout
	if len(cfg.RedisSentinels) > 0 {
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: cfg.RedisMaster, SentinelAddrs: cfg.RedisSentinels,
			DialTimeout: dial, ReadTimeout: rw, WriteTimeout: rw, MaxRetries: -1, DialerRetries: 1,
		})
	}
	if cfg.RedisAddr == "" {
		return nil
	}
	// MaxRetries -1 is none (0 means the default, 3); one dial attempt.
	return redis.NewClient(&redis.Options{Addr: cfg.RedisAddr, DialTimeout: dial, ReadTimeout: rw, WriteTimeout: rw,
		MaxRetries: -1, DialerRetries: 1})
}

// redisCommands is what the cache and the nonce store send their commands
// through. With pipelining on, go-redis's AutoPipeliner coalesces the
// commands of concurrent requests (nonce SET NX, card HMGET, fills) into
// one write and one read per batch instead of two system calls per command:
// on a hot read that cut the gateway's CPU per request by a quarter
// (docs/performance.md). Each caller still waits for its own reply, so
// nothing about ordering or timeouts changes for it. The API is marked
// experimental in go-redis v9.23; off is the way back.
//
// It runs full duplex: commands stream down one connection while earlier
// replies are still on their way. Half duplex (go-redis's default) sends
// one batch per round trip, so a request's nonce check that missed the
// batch of its card look-up waited a whole round trip for it: two round
// trips instead of one behind a slow link (TestCachedReadInOneRedisRoundTrip
// failed most runs), and no CPU saved on loopback (BenchmarkCachedRead,
// three interleaved pairs: median 108.3 cpu-µs/op full duplex, 109.0 half).
func redisCommands(rdb *redis.Client, pipeline bool) (redis.Cmdable, error) {
	if !pipeline {
		return rdb, nil
	}
	opts := redis.DefaultBlockingAutoPipelineOptions()
	opts.FullDuplex = true
	ap, err := rdb.AutoPipelineWithOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("redis autopipeline: %w", err)
	}
	return ap, nil
}
