-- What the IVR needs: customers and their phone numbers (who is calling),
-- callback requests (a caller asked to be called back, maybe with a
-- voicemail), and the IVR path of each call. Times are epoch milliseconds
-- (INTEGER), as in the other tables.
--
-- customers: one row per known customer. name_prompt names a prompt
-- (without `.wav`) that says the customer's name, for flows that greet
-- callers by name; NULL when there is none.
CREATE TABLE IF NOT EXISTS customers (
    id              TEXT    PRIMARY KEY NOT NULL,
    name            TEXT    NOT NULL,
    name_prompt     TEXT,
    email           TEXT,
    notes           TEXT    NOT NULL DEFAULT '',
    created_at_ms   INTEGER NOT NULL CHECK (created_at_ms >= 0),
    updated_at_ms   INTEGER NOT NULL CHECK (updated_at_ms >= 0)
);

-- customer_phones: a customer's numbers, E.164 (`+81312345678`), several
-- per customer; a number belongs to one customer at most (the caller-id
-- lookup must find one answer). Rows go with their customer.
CREATE TABLE IF NOT EXISTS customer_phones (
    number          TEXT    PRIMARY KEY NOT NULL CHECK (number LIKE '+%'),
    customer_id     TEXT    NOT NULL REFERENCES customers (id) ON DELETE CASCADE
);

CREATE INDEX IF NOT EXISTS customer_phones_customer_id ON customer_phones (customer_id);

-- callback_requests: a caller asked (in an IVR flow) to be called back.
-- Written by the record writer like the CDR, so no FOREIGN KEY on call_id
-- (see 0002_recordings.sql for why). caller_number is E.164 when the
-- caller's number could be normalised, else as received. The voicemail
-- columns are all NULL (none left) or describe one WAV file, its path
-- relative to the recordings root of node_id. An agent completes an open
-- request (done_at_ms, done_by = their username, notes).
CREATE TABLE IF NOT EXISTS callback_requests (
    id                      TEXT    PRIMARY KEY NOT NULL,
    call_id                 TEXT    NOT NULL,
    node_id                 TEXT    NOT NULL,
    caller_number           TEXT    NOT NULL,
    dialled                 TEXT    NOT NULL,
    flow                    TEXT    NOT NULL,
    customer_id             TEXT,
    created_at_ms           INTEGER NOT NULL CHECK (created_at_ms >= 0),
    status                  TEXT    NOT NULL CHECK (status IN ('open', 'done', 'cancelled')),
    done_at_ms              INTEGER,
    done_by                 TEXT,
    voicemail_path          TEXT,
    voicemail_duration_ms   INTEGER CHECK (voicemail_duration_ms >= 0),
    voicemail_bytes         INTEGER CHECK (voicemail_bytes >= 0),
    voicemail_sha256        TEXT,
    notes                   TEXT    NOT NULL DEFAULT '',
    CHECK ((voicemail_path IS NULL AND voicemail_duration_ms IS NULL
            AND voicemail_bytes IS NULL AND voicemail_sha256 IS NULL)
        OR (voicemail_path IS NOT NULL AND voicemail_duration_ms IS NOT NULL
            AND voicemail_bytes IS NOT NULL))
);

CREATE INDEX IF NOT EXISTS callback_requests_status_created ON callback_requests (status, created_at_ms);
CREATE INDEX IF NOT EXISTS callback_requests_call_id ON callback_requests (call_id);

-- calls.ivr_path: the IVR path of the call, a JSON array of entries (text,
-- as in the PostgreSQL schema, so both stores share their queries); NULL
-- when the call ran no flow.
ALTER TABLE calls ADD COLUMN ivr_path TEXT;
