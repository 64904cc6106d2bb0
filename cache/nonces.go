// Package cache is the gateway's Redis adapter. Redis holds nothing that is
// the only copy of anything: every call has a short timeout, a breaker
// stops calling a Redis that keeps failing, and callers go on without it.
package cache

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"
)

// Nonces remembers WS-Security UsernameToken nonces in Redis, so that a
// replayed token is refused by every gateway, not only the one that saw it.
type Nonces struct {
	rdb     redis.Cmdable
	timeout time.Duration
	breaker *gobreaker.CircuitBreaker[bool]
}

// NewNonces returns a nonce store over rdb; each call gives up after
// timeout, and after five failures in a row calls fail at once for two
// seconds, so a dead Redis costs a request nothing.
func NewNonces(rdb redis.Cmdable, timeout time.Duration) *Nonces {
	return &Nonces{rdb: rdb, timeout: timeout, breaker: gobreaker.NewCircuitBreaker[bool](gobreaker.Settings{
		Name:         "redis-nonces",
		MaxRequests:  1,
		Timeout:      2 * time.Second,
		ReadyToTrip:  func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 5 },
		IsSuccessful: func(err error) bool { return err == nil || errors.Is(err, context.Canceled) },
	})}
}

// FirstUse records the nonce for ttl and reports whether it was unseen.
func (n *Nonces) FirstUse(ctx context.Context, system, nonce string, ttl time.Duration) (bool, error) {
	ctx, cancel, err := callContext(ctx, n.timeout)
	if err != nil {
		return false, err
	}
	defer cancel()
	return n.breaker.Execute(func() (bool, error) {
		return n.rdb.SetNX(ctx, "nonce:"+system+":"+nonce, 1, ttl).Result()
	})
}
