package soap

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/sharedmedcard/gateway/internal/credential"
)

// PasswordText is checked against the system's argon2id hash, which costs
// about 30 ms of a core: too much for every request. A successful check is
// remembered for passwordCacheTTL under a SHA-256 of (system, stored hash,
// password), so a rotated secret (a new hash) or another password misses,
// and only what already proved right is kept. Wrong passwords are never
// remembered: each costs a full argon2id check, which slows guessing down.
const (
	passwordCacheTTL  = time.Minute
	passwordCacheSize = 4096
)

// passwordCache remembers recent successful PasswordText checks.
type passwordCache struct {
	now func() time.Time

	mu    sync.Mutex
	valid map[[sha256.Size]byte]time.Time // until when
}

func newPasswordCache(now func() time.Time) *passwordCache {
	return &passwordCache{now: now, valid: map[[sha256.Size]byte]time.Time{}}
}

// check reports whether password is system's, whose secret hashes to hash.
func (c *passwordCache) check(system, hash, password string) bool {
	h := sha256.New()
	for _, s := range []string{system, hash, password} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	var key [sha256.Size]byte
	h.Sum(key[:0])
	now := c.now()
	c.mu.Lock()
	until, ok := c.valid[key]
	c.mu.Unlock()
	if ok && now.Before(until) {
		return true
	}
	if ok, err := credential.CheckPassword(hash, password); err != nil || !ok {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.valid) >= passwordCacheSize {
		for k, u := range c.valid {
			if !now.Before(u) {
				delete(c.valid, k)
			}
		}
		if len(c.valid) >= passwordCacheSize {
			clear(c.valid)
		}
	}
	c.valid[key] = now.Add(passwordCacheTTL)
	return true
}
