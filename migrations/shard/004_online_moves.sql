-- Online shard moves (shard/move, docs/operations.md).
--
-- 1. An airtight fence. The triggers used to read owned_shards without a
--    lock, so a write whose check ran before a move froze its shard could
--    still commit after the mover's last copy: a lost write. Now every
--    check takes the shard's owned_shards row FOR SHARE, and the freeze
--    (an UPDATE of that row) and the release (its DELETE) wait for every
--    write holding it; a write that comes later sees the frozen or
--    released row. Freeze and writes serialise inside the database.
--
-- 2. A freeze that cannot outlive its mover. frozen_until bounds a move's
--    freeze: past it the shard is writable again, so a mover killed while
--    a shard is frozen stops that shard's writes for at most the bound.
--    The mover commits to a flip by setting it to 'infinity' (frozen until
--    released) only while the freeze still holds, in one conditional
--    UPDATE. A shard frozen by hand (writable = false, frozen_until NULL)
--    stays frozen too, and is never mistaken for a committed freeze.
--
-- 3. What logical replication needs to copy one shard's rows. A
--    publication's row filter (WHERE shard = N) may only name columns of
--    the replica identity, or every UPDATE of the table fails: cards gets
--    a unique index on (person, shard) as its replica identity, and
--    audit_log's key becomes (shard, id), since copied rows keep the ids
--    the source gave them and ids are only unique per database.
--    move_markers carries a mover's barrier: a row inserted at the source
--    (in the freeze's own transaction) arrives at the target after every
--    change committed before it.

ALTER TABLE owned_shards ADD COLUMN frozen_until timestamptz;

CREATE OR REPLACE FUNCTION refuse_foreign_shard() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    owned owned_shards%ROWTYPE;
BEGIN
    SELECT * INTO owned FROM owned_shards WHERE shard = NEW.shard FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'logical shard % is not owned by this database', NEW.shard
            USING ERRCODE = 'MC001';
    END IF;
    IF NOT owned.writable AND TG_ARGV[0] = 'write'
       AND (owned.frozen_until IS NULL OR owned.frozen_until > clock_timestamp()) THEN
        RAISE EXCEPTION 'logical shard % is frozen for a move', NEW.shard
            USING ERRCODE = 'MC002';
    END IF;
    RETURN NEW;
END
$$;

CREATE UNIQUE INDEX cards_person_shard ON cards (person, shard);
ALTER TABLE cards REPLICA IDENTITY USING INDEX cards_person_shard;

ALTER TABLE audit_log DROP CONSTRAINT audit_log_pkey, ADD PRIMARY KEY (shard, id);
DROP INDEX audit_log_shard; -- the new key leads with shard

CREATE TABLE move_markers (
    shard integer NOT NULL,
    move  bigint  NOT NULL,
    seq   bigint  NOT NULL,
    at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (shard, move, seq)
);
