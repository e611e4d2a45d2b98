-- API users and their bearer tokens. Times are epoch milliseconds
-- (BIGINT, as in the SQLite schema). Booleans are BOOLEAN here and
-- INTEGER 0/1 in SQLite; sqlx maps both to `bool`, so the stores share
-- their queries.
--
-- users: one row per person who logs in to the API or the web UI. The
-- password is an Argon2id PHC string (`$argon2id$v=19$...`), never the
-- password itself. Roles are lowercase text with a CHECK, like the other
-- enums; the list grows only by a later migration.
CREATE TABLE IF NOT EXISTS users (
    id              TEXT    PRIMARY KEY,
    username        TEXT    NOT NULL UNIQUE,
    display_name    TEXT    NOT NULL,
    role            TEXT    NOT NULL CHECK (role IN ('agent', 'supervisor', 'manager', 'admin')),
    password_hash   TEXT    NOT NULL,
    disabled        BOOLEAN NOT NULL DEFAULT FALSE,
    created_at_ms   BIGINT  NOT NULL CHECK (created_at_ms >= 0),
    updated_at_ms   BIGINT  NOT NULL CHECK (updated_at_ms >= 0)
);

-- auth_tokens: one row per login. The key is the lower-case hex SHA-256 of
-- the token: the token itself is handed to the client once and never
-- stored, so a copy of the database cannot be replayed against the API.
-- Rows go with their user (ON DELETE CASCADE); expired rows are purged.
CREATE TABLE IF NOT EXISTS auth_tokens (
    token_hash      TEXT    PRIMARY KEY,
    user_id         TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at_ms   BIGINT  NOT NULL CHECK (created_at_ms >= 0),
    expires_at_ms   BIGINT  NOT NULL CHECK (expires_at_ms >= 0),
    revoked         BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE INDEX IF NOT EXISTS auth_tokens_user_id ON auth_tokens (user_id);
CREATE INDEX IF NOT EXISTS auth_tokens_expires_at_ms ON auth_tokens (expires_at_ms);
