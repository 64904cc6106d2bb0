-- pgbench ceiling of a card read that misses the cache: the statement
-- shard.Store.ReadCard sends (read the card and write its audit row in one
-- round trip), for a uniformly random seeded person of this database.
-- n (set by scripts/bench.sh) is the number of rows of bench_persons.
\set i random(1, :n)
WITH c AS (SELECT version, card, shard, person FROM cards
           WHERE person = (SELECT person FROM bench_persons WHERE i = :i)),
audit AS (
    INSERT INTO audit_log (shard, person, at, operation, system, organisation, role, authorisation_id, message_id, card_version)
    SELECT shard, person, now(), 'GetMedicineCard', 'pgbench', 'SOR-pgbench', 'Doctor', '', 'pgbench', version FROM c
)
SELECT version, card FROM c;
