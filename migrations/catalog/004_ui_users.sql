-- The pharmacists' web UI (package web): its users and their sessions.
--
-- A user acts for one organisation (the pharmacy) in one role, as an
-- integrating system does; every look-up and change made through the UI is
-- audited with the user's name (as the authorisation id) and that
-- organisation. password_hash is an argon2id hash in the PHC string format
-- ($argon2id$v=19$m=…,t=…,p=…$salt$hash); the password itself is never
-- stored. failed_signins and locked_until are the back-off after wrong
-- passwords.
CREATE TABLE ui_users (
    name            text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9._-]{1,39}$'),
    organisation    text NOT NULL CHECK (organisation <> ''),
    role            text NOT NULL,
    password_hash   text NOT NULL,
    disabled        boolean NOT NULL DEFAULT false,
    failed_signins  integer NOT NULL DEFAULT 0,
    locked_until    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    password_set_at timestamptz NOT NULL DEFAULT now()
);

-- A signed-in session. The cookie carries a random token; only its SHA-256
-- is stored, so the table's content does not let anyone sign in. csrf is
-- the token every form of the session must carry.
CREATE TABLE ui_sessions (
    token_hash bytea PRIMARY KEY,
    user_name  text NOT NULL REFERENCES ui_users (name) ON DELETE CASCADE,
    csrf       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ui_sessions_user ON ui_sessions (user_name);
