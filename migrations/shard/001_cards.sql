-- A shard database: cards, stored write outcomes and the audit trail of the
-- logical shards it owns.

-- shard_of is the logical shard of a CPR number; it must equal shard.Of in
-- Go (see shard/doc.go). 1023 is shard.Count - 1.
CREATE FUNCTION shard_of(person text) RETURNS integer
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN (('x' || substr(encode(sha256(convert_to(person, 'UTF8')), 'hex'), 1, 16))::bit(64)::bigint & 1023)::integer;

-- owned_shards is this database's own word on which logical shards live
-- here. The write triggers consult it, so a gateway with a stale shard map
-- cannot write to a database that gave a shard away.
CREATE TABLE owned_shards (
    shard    integer PRIMARY KEY CHECK (shard BETWEEN 0 AND 1023),
    -- writable is false while a move freezes the shard.
    writable boolean NOT NULL DEFAULT true,
    since    timestamptz NOT NULL DEFAULT now()
);

-- One row per person: the whole card.
CREATE TABLE cards (
    person     text PRIMARY KEY CHECK (person ~ '^[0-9]{10}$'),
    shard      integer NOT NULL CHECK (shard = shard_of(person)),
    version    bigint NOT NULL CHECK (version > 0),
    card       jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cards_shard ON cards (shard);

-- The first answer to each (system, MessageID), stored with the write so a
-- resend gets the same answer and changes nothing. A resend concerns the
-- same person and so the same logical shard; the shard is part of the key
-- so that a shard's outcomes can be copied to another database on a move
-- without colliding with that database's own.
CREATE TABLE write_outcomes (
    shard        integer NOT NULL,
    system       text NOT NULL,
    message_id   text NOT NULL,
    request_hash bytea NOT NULL,
    result       jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shard, system, message_id)
);

-- Every look-up and change of a card: the citizen's access log is built
-- from it.
CREATE TABLE audit_log (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shard            integer NOT NULL,
    person           text NOT NULL,
    at               timestamptz NOT NULL,
    operation        text NOT NULL,
    system           text NOT NULL,
    organisation     text NOT NULL,
    role             text NOT NULL,
    authorisation_id text NOT NULL DEFAULT '',
    message_id       text NOT NULL DEFAULT '',
    card_version     bigint NOT NULL
);
CREATE INDEX audit_log_person ON audit_log (person, at);
CREATE INDEX audit_log_shard ON audit_log (shard);

-- refuse_foreign_shard rejects a row for a logical shard this database does
-- not own (SQLSTATE MC001) and, for card changes (TG_ARGV[0] = 'write'), one
-- whose shard is frozen for a move (MC002). Audit rows of reads are still
-- taken while a shard is frozen, since reads stay available during a move.
CREATE FUNCTION refuse_foreign_shard() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    is_writable boolean;
BEGIN
    SELECT writable INTO is_writable FROM owned_shards WHERE shard = NEW.shard;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'logical shard % is not owned by this database', NEW.shard
            USING ERRCODE = 'MC001';
    END IF;
    IF NOT is_writable AND TG_ARGV[0] = 'write' THEN
        RAISE EXCEPTION 'logical shard % is frozen for a move', NEW.shard
            USING ERRCODE = 'MC002';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER cards_fence BEFORE INSERT OR UPDATE ON cards
    FOR EACH ROW EXECUTE FUNCTION refuse_foreign_shard('write');
CREATE TRIGGER write_outcomes_fence BEFORE INSERT OR UPDATE ON write_outcomes
    FOR EACH ROW EXECUTE FUNCTION refuse_foreign_shard('write');
CREATE TRIGGER audit_log_fence BEFORE INSERT OR UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION refuse_foreign_shard('read');
