-- pgbench ceiling of a write: the read-modify-write of shard.Store, with the
-- same tables, rows and round trips as the gateway's write path for a
-- uniformly random seeded person of this database.
--   1. read the card and look up the stored outcome of the MessageID (the
--      gateway sends both in one pipelined batch: one round trip);
--   2. one statement: compare-and-set the card (the whole card sent back,
--      same size), insert the write outcome and the audit row.
-- Run with -M prepared (pgx prepares and caches its statements too).
\set i random(1, :n)
\set m random(1, 9000000000000000000)
SELECT c.person AS person, c.shard AS shard, c.version AS version, c.card AS card,
       (SELECT count(*) FROM write_outcomes o
        WHERE o.shard = c.shard AND o.system = 'pgbench' AND o.message_id = 'pgb-' || :m::text) AS prior
FROM cards c WHERE c.person = (SELECT person FROM bench_persons WHERE i = :i) \gset
WITH card AS (
    UPDATE cards SET version = :version::bigint + 1, card = :card::json, updated_at = now()
    WHERE person = :person::text AND version = :version::bigint
    RETURNING version
),
outcome AS (
    INSERT INTO write_outcomes (system, message_id, shard, request_hash, result)
    SELECT 'pgbench', 'pgb-' || :m::text, :shard::integer, sha256(convert_to(:m::text, 'UTF8')),
           jsonb_build_object('cardVersion', version, 'items', jsonb_build_array(jsonb_build_object('kind', 'DrugMedication', 'id', 1, 'version', 1)))
    FROM card
),
audit AS (
    INSERT INTO audit_log (shard, person, at, operation, system, organisation, role, authorisation_id, message_id, card_version)
    SELECT :shard::integer, :person::text, now(), 'CreateDrugMedication', 'pgbench', 'SOR-pgbench', 'Doctor', '', 'pgb-' || :m::text, version FROM card
)
SELECT count(*) FROM card;
