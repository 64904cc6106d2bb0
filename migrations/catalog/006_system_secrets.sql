-- No system secret in plain text at rest (issue 14). A system's secret is
-- kept twice, neither in clear:
--   secret_hash   its argon2id hash in the PHC string format, which checks a
--                 PasswordText (internal/credential);
--   secret_sealed the secret sealed with AES-256-GCM under the gateways' key
--                 (--secret-key-file, never in the database), bound to the
--                 system's name; a PasswordDigest needs the secret itself.
--                 NULL: the system was given its secret without the key, and
--                 authenticates with PasswordText (over TLS) only.
-- The plain column secret stays only for the rows written before this
-- migration: `gateway migrate --secret-key-file FILE` hashes and seals them
-- and empties it (shard.Catalog.ConvertPlainSecrets); nothing writes it any
-- more, and a later migration drops it once every catalog is converted.
ALTER TABLE systems
    ADD COLUMN secret_hash text CHECK (secret_hash LIKE '$argon2id$%'),
    ADD COLUMN secret_sealed bytea,
    ALTER COLUMN secret DROP NOT NULL,
    ADD CONSTRAINT systems_secret_kept CHECK (secret_hash IS NOT NULL OR secret IS NOT NULL),
    ADD CONSTRAINT systems_sealed_needs_hash CHECK (secret_sealed IS NULL OR secret_hash IS NOT NULL);
