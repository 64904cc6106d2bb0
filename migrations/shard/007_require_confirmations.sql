-- The write's own check that the commit it is about to make will wait for
-- as many synchronous standbys as the gateway requires (--sync-standbys).
-- The gateway checks the setting at start and in /readyz, but it can change
-- under it: Patroni without synchronous_mode_strict empties
-- synchronous_standby_names when the last standby goes, and a commit then
-- returns at once, confirmed by nobody. A write that calls this first, in
-- the same transaction, is refused instead (SQLSTATE MC003, answered
-- retryably) and commits nothing; its resend succeeds once the database
-- waits for its standbys again.
--
-- The count is what PostgreSQL's synchronous_standby_names grammar gives:
-- 'ANY n (...)', 'FIRST n (...)', 'n (...)', or a bare list (one); none
-- when empty, or when synchronous_commit does not wait for standbys to
-- flush (off, local, remote_write).
CREATE FUNCTION require_confirmations(required integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    names text := btrim(current_setting('synchronous_standby_names'));
    waits boolean := current_setting('synchronous_commit') IN ('on', 'remote_apply');
    confirming integer := 0;
BEGIN
    IF names <> '' AND waits THEN
        confirming := coalesce((regexp_match(names, '^(?:(?:ANY|FIRST)\s+)?(\d+)\s*\(', 'i'))[1]::integer, 1);
    END IF;
    IF confirming < required THEN
        RAISE EXCEPTION 'this database commits with % synchronous standby confirmations, the gateway requires %', confirming, required
            USING ERRCODE = 'MC003';
    END IF;
END
$$;
