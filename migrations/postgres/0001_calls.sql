-- Call detail records: one row per call, inserted when the call starts and
-- completed when it ends. Times are epoch milliseconds (BIGINT), the same
-- unit as the SQLite schema, so both stores share their queries.
CREATE TABLE IF NOT EXISTS calls (
    id              TEXT    PRIMARY KEY,
    node_id         TEXT    NOT NULL,
    sip_call_id     TEXT    NOT NULL,
    direction       TEXT    NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    trunk           TEXT,
    from_number     TEXT    NOT NULL,
    to_number       TEXT    NOT NULL,
    started_at_ms   BIGINT  NOT NULL CHECK (started_at_ms >= 0),
    answered_at_ms  BIGINT,
    ended_at_ms     BIGINT,
    outcome         TEXT    CHECK (outcome IN ('answered', 'busy', 'cancelled', 'no_answer', 'rejected', 'failed')),
    final_sip_code  INTEGER,
    hangup_cause    TEXT
);

CREATE INDEX IF NOT EXISTS calls_sip_call_id ON calls (sip_call_id);
CREATE INDEX IF NOT EXISTS calls_started_at_ms ON calls (started_at_ms);
CREATE INDEX IF NOT EXISTS calls_node_open ON calls (node_id, ended_at_ms);
