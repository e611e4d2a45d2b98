-- What the ACD and the agents need: agents' skills and devices, every
-- agent state change, what each call did in its queue and with which
-- agent (calls columns), and the wrap-up of each handled call
-- (dispositions). Times are epoch milliseconds (INTEGER), as in the
-- other tables.
--
-- agent_skills: a skill an agent has, with a level 1 (novice) to 10
-- (expert); queues and queue steps require skills at a minimum level.
CREATE TABLE IF NOT EXISTS agent_skills (
    user_id         TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    skill           TEXT    NOT NULL,
    level           INTEGER NOT NULL CHECK (level BETWEEN 1 AND 10),
    PRIMARY KEY (user_id, skill)
);

-- agent_devices: where an agent takes calls when not (only) in the
-- browser: a SIP URI rung with an INVITE when a call is offered. No row:
-- the browser softphone.
CREATE TABLE IF NOT EXISTS agent_devices (
    user_id         TEXT    PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sip_uri         TEXT    NOT NULL,
    updated_at_ms   INTEGER NOT NULL CHECK (updated_at_ms >= 0)
);

-- agent_state_changes: every state an agent entered, when, why (the
-- not-ready reason code, `ring_no_answer`…) and for which call. Written by
-- the record writer, like the CDR (no FOREIGN KEY: see 0002).
CREATE TABLE IF NOT EXISTS agent_state_changes (
    id              TEXT    PRIMARY KEY NOT NULL,
    node_id         TEXT    NOT NULL,
    username        TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('offline', 'available', 'offered', 'on_call', 'wrap_up', 'not_ready')),
    reason          TEXT,
    call_id         TEXT,
    at_ms           INTEGER NOT NULL CHECK (at_ms >= 0)
);

CREATE INDEX IF NOT EXISTS agent_state_changes_username_at ON agent_state_changes (username, at_ms);

-- call_dispositions: an agent's wrap-up of a call: a disposition code
-- (from the configured list) and notes. One per call and agent (a
-- transferred call may have several).
CREATE TABLE IF NOT EXISTS call_dispositions (
    call_id         TEXT    NOT NULL,
    username        TEXT    NOT NULL,
    customer_id     TEXT,
    code            TEXT    NOT NULL,
    notes           TEXT    NOT NULL DEFAULT '',
    at_ms           INTEGER NOT NULL CHECK (at_ms >= 0),
    PRIMARY KEY (call_id, username)
);

CREATE INDEX IF NOT EXISTS call_dispositions_customer_id ON call_dispositions (customer_id, at_ms);

-- calls: who the caller was (the customer found by caller number), the
-- queue the call waited in, when it entered it, the agent who took it
-- and when the agent's leg was connected. NULL when not applicable.
ALTER TABLE calls ADD COLUMN customer_id TEXT;
ALTER TABLE calls ADD COLUMN queue TEXT;
ALTER TABLE calls ADD COLUMN queued_at_ms INTEGER;
ALTER TABLE calls ADD COLUMN agent TEXT;
ALTER TABLE calls ADD COLUMN connected_at_ms INTEGER;

CREATE INDEX IF NOT EXISTS calls_customer_id ON calls (customer_id, started_at_ms);
