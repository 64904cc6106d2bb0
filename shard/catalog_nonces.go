package shard

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// firstUseNonceSQL records a nonce unless a live record of it exists; an
// expired record is taken over. It returns a row only for a first use.
const firstUseNonceSQL = `
INSERT INTO used_nonces (system, nonce, expires_at)
VALUES ($1, $2, now() + make_interval(secs => $3))
ON CONFLICT (system, nonce) DO UPDATE SET expires_at = excluded.expires_at
    WHERE used_nonces.expires_at <= now()
RETURNING true`

// FirstUseNonce records a WS-Security nonce of system for ttl in the
// catalog and reports whether it was unseen (or seen only longer ago than
// its ttl). It is the replay check's fallback while Redis cannot answer
// (cache.Nonces).
func (c *Catalog) FirstUseNonce(ctx context.Context, system, nonce string, ttl time.Duration) (bool, error) {
	var first bool
	err := c.pool.QueryRow(ctx, firstUseNonceSQL, system, nonce, ttl.Seconds()).Scan(&first)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return false, err
}

// NoncesLive reports whether the catalog holds a nonce that has not
// expired: some gateway fell back to it within a token's lifetime.
func (c *Catalog) NoncesLive(ctx context.Context) (bool, error) {
	var live bool
	err := c.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM used_nonces WHERE expires_at > now())`).Scan(&live)
	return live, err
}

// PurgeNonces deletes the expired nonces and reports how many there were.
func (c *Catalog) PurgeNonces(ctx context.Context) (int64, error) {
	tag, err := c.pool.Exec(ctx, `DELETE FROM used_nonces WHERE expires_at <= now()`)
	return tag.RowsAffected(), err
}
