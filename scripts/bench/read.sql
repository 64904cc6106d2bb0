-- pgbench ceiling of a card read that misses the cache: the statement
-- shard.Store.ReadCard sends (the card, and in the same snapshot whether
-- this database owns its shard), for a uniformly random seeded person of
-- this database. The look-up's audit row is not in it: the gateway queues
-- it and writes it with others in one INSERT (shard.AuditWriter), work this
-- ceiling leaves out, so the ratio to it is, if anything, too low.
-- n (set by scripts/bench.sh) is the number of rows of bench_persons.
\set i random(1, :n)
SELECT c.version, c.card
FROM (SELECT person, shard FROM bench_persons WHERE i = :i) p
JOIN owned_shards o ON o.shard = p.shard
LEFT JOIN cards c ON c.person = p.person;
