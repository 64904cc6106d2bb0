// Package cache is the gateway's Redis adapter. Redis holds nothing that is
// the only copy of anything: every call has a short timeout, and callers go
// on without it when it fails.
package cache

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// Nonces remembers WS-Security UsernameToken nonces in Redis, so that a
// replayed token is refused by every gateway, not only the one that saw it.
type Nonces struct {
	rdb     redis.UniversalClient
	timeout time.Duration
}

// NewNonces returns a nonce store over rdb; each call gives up after timeout.
func NewNonces(rdb redis.UniversalClient, timeout time.Duration) *Nonces {
	return &Nonces{rdb: rdb, timeout: timeout}
}

// FirstUse records the nonce for ttl and reports whether it was unseen.
func (n *Nonces) FirstUse(ctx context.Context, system, nonce string, ttl time.Duration) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	return n.rdb.SetNX(ctx, "nonce:"+system+":"+nonce, 1, ttl).Result()
}
