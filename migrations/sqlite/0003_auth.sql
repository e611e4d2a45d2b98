-- API users and their bearer tokens. Times are epoch milliseconds
-- (INTEGER), as in the other tables.
--
-- users: one row per person who logs in to the API or the web UI. The
-- password is an Argon2id PHC string (`$argon2id$v=19$...`), never the
-- password itself. Roles are lowercase text with a CHECK, like the other
-- enums; the list grows only by a later migration.
CREATE TABLE IF NOT EXISTS users (
    id              TEXT    PRIMARY KEY NOT NULL,
    username        TEXT    NOT NULL UNIQUE,
    display_name    TEXT    NOT NULL,
    role            TEXT    NOT NULL CHECK (role IN ('agent', 'supervisor', 'manager', 'admin')),
    password_hash   TEXT    NOT NULL,
    disabled        INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at_ms   INTEGER NOT NULL CHECK (created_at_ms >= 0),
    updated_at_ms   INTEGER NOT NULL CHECK (updated_at_ms >= 0)
);

-- auth_tokens: one row per login. The key is the lower-case hex SHA-256 of
-- the token: the token itself is handed to the client once and never
-- stored, so a copy of the database cannot be replayed against the API.
-- Rows go with their user (ON DELETE CASCADE); expired rows are purged.
CREATE TABLE IF NOT EXISTS auth_tokens (
    token_hash      TEXT    PRIMARY KEY NOT NULL,
    user_id         TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at_ms   INTEGER NOT NULL CHECK (created_at_ms >= 0),
    expires_at_ms   INTEGER NOT NULL CHECK (expires_at_ms >= 0),
    revoked         INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
);

CREATE INDEX IF NOT EXISTS auth_tokens_user_id ON auth_tokens (user_id);
CREATE INDEX IF NOT EXISTS auth_tokens_expires_at_ms ON auth_tokens (expires_at_ms);
