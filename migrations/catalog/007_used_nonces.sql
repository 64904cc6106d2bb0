-- The WS-Security nonces of PasswordDigest tokens, kept here only while a
-- gateway cannot reach Redis (cache.Nonces): the replay check falls back to
-- the catalog instead of turning off. While any row here is live, every
-- gateway also checks a nonce that is new to Redis against this table, so a
-- token first used during an outage cannot be replayed after it, nor at a
-- gateway that still reaches Redis. Rows expire with the token's freshness
-- window (twice five minutes); gateways delete expired rows.
CREATE TABLE used_nonces (
    system     text NOT NULL,
    nonce      text NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (system, nonce)
);
CREATE INDEX used_nonces_expiry ON used_nonces (expires_at);
