-- The catalog: the cluster, its shard databases, the shard map and the
-- integrating systems.

CREATE TABLE cluster (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    shard_count integer NOT NULL CHECK (shard_count > 0 AND shard_count & (shard_count - 1) = 0),
    -- epoch is bumped by every change of shard_map; gateways poll it.
    epoch       bigint NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE shard_databases (
    name     text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_-]{0,39}$'),
    dsn      text NOT NULL,
    added_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE shard_map (
    shard    integer PRIMARY KEY CHECK (shard >= 0),
    database text NOT NULL REFERENCES shard_databases (name),
    -- epoch is the cluster epoch at which this shard last changed owner.
    epoch    bigint NOT NULL
);

-- Integrating systems that may call the SOAP service. secret is the
-- WS-Security UsernameToken password (the digest needs the plain value).
CREATE TABLE systems (
    name       text PRIMARY KEY,
    secret     text NOT NULL,
    roles      text[] NOT NULL,
    enabled    boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);
