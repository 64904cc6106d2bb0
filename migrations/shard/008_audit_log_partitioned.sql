-- The citizen's access log (medcard.Service.GetAccessLog) is read from
-- audit_log, which grows by every look-up: at 5,000 requests/s hundreds of
-- millions of rows a month across the fleet. The table is now partitioned
-- by month of `at`, so that
--
--   * one person's log over a period is an index range read in each month
--     it spans (audit_log_person_at, pruned to the period's partitions),
--     newest first, a page at a time;
--   * retention drops whole months (audit_log_drop_before), never a
--     DELETE of millions of rows;
--   * an insert never fails for a missing month: audit_log_default takes a
--     row no monthly partition covers (a clock far off, a month not
--     created ahead), and audit_log_ensure_months moves such rows into
--     the month when it creates it.
--
-- The row is also complete now (issue 14): the FlowID, the consent the
-- caller declared (ConsentHeader: None, Given or Withdrawn), whether an
-- emergency override was asked for, the signed-in UI user acting, and the
-- items a change touched (Kind:ID, as medcard.ItemVersion names them).
--
-- The key becomes (shard, id, at): a partitioned table's key must hold its
-- partition key. Moves still find a row by (shard, id): ids stay unique per
-- source database and the mover keeps the target's above the source's
-- (shard/move/mover.go). The publication of a move names the root table
-- with publish_via_partition_root, so its row filter on shard holds for
-- every partition and the target routes the rows into its own months.
--
-- Existing rows are copied into the new table (months from the oldest row
-- to two months ahead, at most ten years; anything older into the default
-- partition) under this migration's lock: fine while audit tables are
-- small, which is when this was written. The id sequence continues where
-- the old one stopped.
ALTER TABLE audit_log RENAME TO audit_log_unpartitioned;
ALTER INDEX audit_log_pkey RENAME TO audit_log_unpartitioned_pkey;
ALTER INDEX audit_log_person RENAME TO audit_log_unpartitioned_person;
ALTER SEQUENCE audit_log_id_seq RENAME TO audit_log_unpartitioned_id_seq;
DROP TRIGGER audit_log_fence ON audit_log_unpartitioned;

CREATE TABLE audit_log (
    id                 bigint GENERATED ALWAYS AS IDENTITY,
    shard              integer NOT NULL,
    person             text NOT NULL,
    at                 timestamptz NOT NULL,
    operation          text NOT NULL,
    system             text NOT NULL,
    organisation       text NOT NULL,
    role               text NOT NULL,
    authorisation_id   text NOT NULL DEFAULT '',
    message_id         text NOT NULL DEFAULT '',
    card_version       bigint NOT NULL,
    flow_id            text NOT NULL DEFAULT '',
    consent            text NOT NULL DEFAULT 'None',
    emergency_override boolean NOT NULL DEFAULT false,
    acting_user        text NOT NULL DEFAULT '',
    items              text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (shard, id, at)
) PARTITION BY RANGE (at);

-- One person's log over a period, newest first; id breaks ties of one
-- instant so that a page's cursor (at, id) is exact.
CREATE INDEX audit_log_person_at ON audit_log (person, at DESC, id DESC);

CREATE TABLE audit_log_default PARTITION OF audit_log DEFAULT;

-- audit_log_month_name is the name of the partition of the month that
-- starts at month_start (UTC): audit_log_pYYYYMM.
CREATE FUNCTION audit_log_month_name(month_start timestamptz) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    RETURN 'audit_log_p' || to_char(month_start AT TIME ZONE 'UTC', 'YYYYMM');

-- audit_log_ensure_months creates the monthly partitions of the months
-- from the one holding first (UTC) for months months, skipping those that
-- exist, and returns how many it created. Rows of a new month waiting in
-- the default partition are moved into it, so attaching it never fails.
-- Each new month is made as a plain table and attached, which locks the
-- root only in SHARE UPDATE EXCLUSIVE mode: inserts and reads go on.
CREATE FUNCTION audit_log_ensure_months(first timestamptz, months integer) RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    start timestamptz := date_trunc('month', first AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    lo timestamptz;
    hi timestamptz;
    name text;
    created integer := 0;
BEGIN
    FOR i IN 0 .. months - 1 LOOP
        lo := ((start AT TIME ZONE 'UTC') + make_interval(months => i)) AT TIME ZONE 'UTC';
        hi := ((start AT TIME ZONE 'UTC') + make_interval(months => i + 1)) AT TIME ZONE 'UTC';
        name := audit_log_month_name(lo);
        CONTINUE WHEN to_regclass(name) IS NOT NULL;
        EXECUTE format('CREATE TABLE %I (LIKE audit_log INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
        -- The CHECK lets ATTACH skip its scan of the new table.
        EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (at >= %L AND at < %L)', name, name || '_range', lo, hi);
        EXECUTE format('WITH moved AS (DELETE FROM audit_log_default WHERE at >= %L AND at < %L RETURNING *) INSERT INTO %I SELECT * FROM moved',
            lo, hi, name);
        EXECUTE format('ALTER TABLE audit_log ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
        EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', name, name || '_range');
        created := created + 1;
    END LOOP;
    RETURN created;
END
$$;

-- audit_log_drop_before drops every monthly partition that ends on or
-- before cutoff and deletes the default partition's rows older than
-- cutoff, and returns how many partitions it dropped: retention by whole
-- months. A month that ends after cutoff is kept whole, so a log is
-- never cut inside a month.
CREATE FUNCTION audit_log_drop_before(cutoff timestamptz) RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    part record;
    month_end timestamptz;
    dropped integer := 0;
BEGIN
    FOR part IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'audit_log'::regclass AND c.relname ~ '^audit_log_p[0-9]{6}$'
        ORDER BY c.relname
    LOOP
        month_end := (make_timestamp(substr(part.relname, 12, 4)::integer, substr(part.relname, 16, 2)::integer, 1, 0, 0, 0)
                      + interval '1 month') AT TIME ZONE 'UTC';
        CONTINUE WHEN month_end > cutoff;
        EXECUTE format('DROP TABLE %I', part.relname);
        dropped := dropped + 1;
    END LOOP;
    DELETE FROM audit_log_default WHERE at < cutoff;
    RETURN dropped;
END
$$;

DO $$
DECLARE
    oldest timestamptz;
    first_month timestamp; -- UTC
    last_month timestamp := date_trunc('month', (now() AT TIME ZONE 'UTC') + interval '2 months');
    span interval;
BEGIN
    SELECT greatest(coalesce(min(at), now()), now() - interval '10 years') INTO oldest FROM audit_log_unpartitioned;
    first_month := date_trunc('month', oldest AT TIME ZONE 'UTC');
    span := age(last_month, first_month);
    PERFORM audit_log_ensure_months(first_month AT TIME ZONE 'UTC',
        (extract(year FROM span) * 12 + extract(month FROM span))::integer + 1);
END
$$;

INSERT INTO audit_log (id, shard, person, at, operation, system, organisation, role, authorisation_id, message_id, card_version)
OVERRIDING SYSTEM VALUE
SELECT id, shard, person, at, operation, system, organisation, role, authorisation_id, message_id, card_version
FROM audit_log_unpartitioned;

SELECT setval(pg_get_serial_sequence('audit_log', 'id'),
    greatest(coalesce(pg_sequence_last_value(pg_get_serial_sequence('audit_log_unpartitioned', 'id')::regclass), 0),
             (SELECT coalesce(max(id), 0) FROM audit_log_unpartitioned), 1));

DROP TABLE audit_log_unpartitioned;

-- The fence, as before: a row of a shard this database does not own is
-- refused (MC001); read audits take the shard's row FOR KEY SHARE (005).
CREATE TRIGGER audit_log_fence BEFORE INSERT OR UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION refuse_foreign_shard('read');
