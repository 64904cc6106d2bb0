-- The journal of online shard moves (shard/move, docs/operations.md).
-- Every plan, move, step and replication artefact is written here before
-- it is carried out or created, so a mover killed at any point can be run
-- again and resume, or cancel, with nothing orphaned.

-- A database being drained takes no new shards; remove-db needs it empty.
ALTER TABLE shard_databases ADD COLUMN draining boolean NOT NULL DEFAULT false;

-- A plan: the moves that take the map from one epoch to a better one.
-- Executing it is refused if the epoch moved on before it started.
CREATE TABLE move_plans (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    epoch       bigint NOT NULL,
    goal        text NOT NULL,   -- what it evens out or empties, for people
    body        jsonb NOT NULL,  -- the plan as computed: before, after, moves
    created_at  timestamptz NOT NULL DEFAULT now(),
    started_at  timestamptz
);

-- One logical shard's move from one database to another.
CREATE TABLE moves (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    plan_id      bigint REFERENCES move_plans (id),
    shard        integer NOT NULL CHECK (shard >= 0),
    -- Names, not references: the journal outlives a removed database.
    source       text NOT NULL,
    target       text NOT NULL CHECK (target <> source),
    -- state is the step the move is at; see shard/move/doc.go.
    state        text NOT NULL DEFAULT 'pending' CHECK (state IN
                     ('pending', 'prepare', 'copy', 'catch-up', 'freeze', 'flip', 'unsubscribe',
                      'verify', 'done', 'cancelling', 'cancelled', 'cleaned')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    cleaned_at   timestamptz,
    -- progress and figures, for `gateway shard moves`
    rows_total   bigint NOT NULL DEFAULT 0,
    bytes_total  bigint NOT NULL DEFAULT 0,
    rows_copied  bigint NOT NULL DEFAULT 0,
    bytes_copied bigint NOT NULL DEFAULT 0,
    copy_seconds double precision,
    lag_ms       double precision,     -- last catch-up probe
    freeze_ms    double precision,     -- the freeze that flipped the map
    freeze_tries integer NOT NULL DEFAULT 0,
    mismatches   bigint,               -- from the verify step
    flip_epoch   bigint,
    error        text
);
-- A shard has at most one move that is not finished.
CREATE UNIQUE INDEX moves_one_open_per_shard ON moves (shard)
    WHERE state NOT IN ('done', 'cancelled', 'cleaned');

-- What each move did, step by step, with timings.
CREATE TABLE move_steps (
    move_id     bigint NOT NULL REFERENCES moves (id),
    seq         integer NOT NULL,
    step        text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz,
    detail      text NOT NULL DEFAULT '',
    PRIMARY KEY (move_id, seq)
);

-- Replication artefacts a move creates, registered before they exist.
CREATE TABLE move_artefacts (
    move_id    bigint NOT NULL REFERENCES moves (id),
    database   text NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('publication', 'subscription', 'slot')),
    name       text NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now(),
    dropped_at timestamptz,
    PRIMARY KEY (move_id, database, kind)
);
