-- Call recordings: one row per WAV file, inserted when recording starts and
-- completed when the file is closed (or repaired after a crash); it joins
-- the CDR on recordings.call_id = calls.id. Times are epoch milliseconds
-- (INTEGER); path is relative to the recordings root; pauses is a JSON
-- array of {"start_ms":…,"end_ms":…} offsets into the recording (text in
-- both databases, so both stores share their queries).
--
-- No FOREIGN KEY on call_id, on purpose: the call row is written by the
-- asynchronous record writer, which drops events when its queue is full and
-- gives up on rows the database refuses; a recording row (the only pointer
-- to a file holding the call's audio) must not be refused because its CDR
-- was lost or is not written yet. A deferred FK would cover "a moment
-- later" only within one transaction. The index on call_id serves the join.
CREATE TABLE IF NOT EXISTS recordings (
    id              TEXT    PRIMARY KEY NOT NULL,
    call_id         TEXT    NOT NULL,
    node_id         TEXT    NOT NULL,
    path            TEXT    NOT NULL,
    started_at_ms   INTEGER NOT NULL CHECK (started_at_ms >= 0),
    ended_at_ms     INTEGER,
    duration_ms     INTEGER NOT NULL CHECK (duration_ms >= 0),
    bytes           INTEGER NOT NULL CHECK (bytes >= 0),
    channels        INTEGER NOT NULL CHECK (channels >= 0),
    sample_rate     INTEGER NOT NULL CHECK (sample_rate >= 0),
    sha256          TEXT,
    status          TEXT    NOT NULL CHECK (status IN ('recording', 'closed', 'repaired', 'failed')),
    pauses          TEXT    NOT NULL DEFAULT '[]'
);

CREATE INDEX IF NOT EXISTS recordings_call_id ON recordings (call_id);
CREATE INDEX IF NOT EXISTS recordings_node_status ON recordings (node_id, status);
