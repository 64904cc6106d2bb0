-- The audit rows of reads no longer wait for, or hold up, a move's freeze.
--
-- Reads stay available while a shard is frozen, and their audit rows go on
-- being written at the source. With FOR SHARE each audit batch held the
-- shard's owned_shards row until its commit, and the freeze's two UPDATEs
-- (freeze, and the commit to the flip) waited for every batch in flight:
-- 30-90 ms of a freeze's tail under load (docs/operations.md). An audit
-- row needs only that the shard stays owned here until it commits, so it
-- now takes FOR KEY SHARE, which an UPDATE of the row's other columns does
-- not wait for. The release (the row's DELETE) still waits for every audit
-- row in flight, and an audit row that comes after it sees the shard gone:
-- the mover's last barrier, inserted after the release, then follows every
-- audit row the source took. Card changes keep FOR SHARE, so freeze and
-- writes still serialise (004_online_moves.sql).

CREATE OR REPLACE FUNCTION refuse_foreign_shard() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    owned owned_shards%ROWTYPE;
BEGIN
    IF TG_ARGV[0] = 'write' THEN
        SELECT * INTO owned FROM owned_shards WHERE shard = NEW.shard FOR SHARE;
    ELSE
        SELECT * INTO owned FROM owned_shards WHERE shard = NEW.shard FOR KEY SHARE;
    END IF;
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
