//! The SQL text both stores run. SQLite (3.24+) and PostgreSQL agree on
//! everything the `calls` and `recordings` tables need: `$n` placeholders (sqlx binds
//! SQLite's `$n` by number), `INSERT … ON CONFLICT … DO UPDATE` with
//! `excluded`, and integer epoch-millisecond times. Where a later table
//! needs dialect-specific SQL, it goes in `sqlite.rs` / `postgres.rs`
//! instead of here.

use std::borrow::Cow;

/// Every column of `calls`, in the order [`bind_record!`] binds them.
const COLUMNS: &str = "id, node_id, sip_call_id, direction, trunk, from_number, to_number, \
     started_at_ms, answered_at_ms, ended_at_ms, outcome, final_sip_code, hangup_cause, ivr_path, \
     customer_id, queue, queued_at_ms, agent, connected_at_ms, out_trunk, out_sip_call_id";

/// Inserts a started call. Idempotent: a retried batch, or a `Started`
/// arriving after its `Ended` was already upserted, changes nothing.
pub(crate) const INSERT_STARTED: &str =
    "INSERT INTO calls (id, node_id, sip_call_id, direction, trunk, from_number, to_number, \
     started_at_ms, answered_at_ms, ended_at_ms, outcome, final_sip_code, hangup_cause, \
     ivr_path, customer_id, queue, queued_at_ms, agent, connected_at_ms, out_trunk, \
     out_sip_call_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
     $15, $16, $17, $18, $19, $20, $21) \
     ON CONFLICT (id) DO NOTHING";

/// Inserts an ended call, or completes the started row: the end fields
/// are overwritten; `answered_at_ms`, `ivr_path` and the ACD columns
/// (`customer_id`, `queue`, `queued_at_ms`, `agent`, `connected_at_ms`)
/// and the outbound leg's (`out_trunk`, `out_sip_call_id`) only when the
/// new record knows them (a NULL never erases a value).
pub(crate) const UPSERT_ENDED: &str =
    "INSERT INTO calls (id, node_id, sip_call_id, direction, trunk, from_number, to_number, \
     started_at_ms, answered_at_ms, ended_at_ms, outcome, final_sip_code, hangup_cause, \
     ivr_path, customer_id, queue, queued_at_ms, agent, connected_at_ms, out_trunk, \
     out_sip_call_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
     $15, $16, $17, $18, $19, $20, $21) \
     ON CONFLICT (id) DO UPDATE SET \
     answered_at_ms = COALESCE(excluded.answered_at_ms, calls.answered_at_ms), \
     ended_at_ms = excluded.ended_at_ms, \
     outcome = excluded.outcome, \
     final_sip_code = excluded.final_sip_code, \
     hangup_cause = excluded.hangup_cause, \
     ivr_path = COALESCE(excluded.ivr_path, calls.ivr_path), \
     customer_id = COALESCE(excluded.customer_id, calls.customer_id), \
     queue = COALESCE(excluded.queue, calls.queue), \
     queued_at_ms = COALESCE(excluded.queued_at_ms, calls.queued_at_ms), \
     agent = COALESCE(excluded.agent, calls.agent), \
     connected_at_ms = COALESCE(excluded.connected_at_ms, calls.connected_at_ms), \
     out_trunk = COALESCE(excluded.out_trunk, calls.out_trunk), \
     out_sip_call_id = COALESCE(excluded.out_sip_call_id, calls.out_sip_call_id)";

/// `$1` node id, `$2` now (ms), `$3` hangup cause.
pub(crate) const CLOSE_ORPHANED: &str = "UPDATE calls \
     SET ended_at_ms = $2, outcome = 'failed', hangup_cause = $3 \
     WHERE node_id = $1 AND ended_at_ms IS NULL";

pub(crate) const COUNT: &str = "SELECT COUNT(*) FROM calls";

pub(crate) const PING: &str = "SELECT 1";

/// `SELECT <all columns> FROM calls ` followed by `tail`.
pub(crate) fn select(tail: &str) -> String {
    format!("SELECT {COLUMNS} FROM calls {tail}")
}

pub(crate) fn select_by_id() -> String {
    select("WHERE id = $1")
}

pub(crate) fn select_by_sip_call_id() -> String {
    select("WHERE sip_call_id = $1 ORDER BY started_at_ms, id")
}

pub(crate) fn select_recent() -> String {
    select("ORDER BY started_at_ms DESC, id DESC LIMIT $1")
}

/// Every column of `recordings`, in the order [`bind_recording!`] binds them.
const RECORDING_COLUMNS: &str = "id, call_id, node_id, path, started_at_ms, ended_at_ms, \
     duration_ms, bytes, channels, sample_rate, sha256, status, pauses";

/// Inserts a started recording. Idempotent, like [`INSERT_STARTED`]: a
/// late or repeated start leaves a closed row closed.
pub(crate) const INSERT_RECORDING_STARTED: &str =
    "INSERT INTO recordings (id, call_id, node_id, path, started_at_ms, ended_at_ms, \
     duration_ms, bytes, channels, sample_rate, sha256, status, pauses) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
     ON CONFLICT (id) DO NOTHING";

/// Inserts a closed (or repaired, or failed) recording, or completes the
/// started row: what the file turned out to be is overwritten; who, which
/// call, where and when it started stay as the start wrote them.
pub(crate) const UPSERT_RECORDING_CLOSED: &str =
    "INSERT INTO recordings (id, call_id, node_id, path, started_at_ms, ended_at_ms, \
     duration_ms, bytes, channels, sample_rate, sha256, status, pauses) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
     ON CONFLICT (id) DO UPDATE SET \
     ended_at_ms = excluded.ended_at_ms, \
     duration_ms = excluded.duration_ms, \
     bytes = excluded.bytes, \
     channels = excluded.channels, \
     sample_rate = excluded.sample_rate, \
     sha256 = excluded.sha256, \
     status = excluded.status, \
     pauses = excluded.pauses";

/// `SELECT <all columns> FROM recordings ` followed by `tail`.
pub(crate) fn select_recordings(tail: &str) -> String {
    format!("SELECT {RECORDING_COLUMNS} FROM recordings {tail}")
}

pub(crate) fn select_recording_by_id() -> String {
    select_recordings("WHERE id = $1")
}

pub(crate) fn select_recordings_by_call() -> String {
    select_recordings("WHERE call_id = $1 ORDER BY started_at_ms, id")
}

/// `$1` node id; served by the `(node_id, status)` index.
pub(crate) fn select_open_recordings() -> String {
    select_recordings("WHERE node_id = $1 AND status = 'recording' ORDER BY started_at_ms, id")
}

/// Inserts a callback request (`callbacks.rs`), or closes it: the same
/// request sent again with another status (a queue's callback, done when
/// the customer was reached) updates an open row. Idempotent on `id`: a
/// retried batch leaves one row, and never undoes a completion.
pub(crate) const INSERT_CALLBACK: &str = "INSERT INTO callback_requests (id, call_id, node_id, \
     caller_number, dialled, flow, customer_id, created_at_ms, status, done_at_ms, done_by, \
     voicemail_path, voicemail_duration_ms, voicemail_bytes, voicemail_sha256, notes) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
     ON CONFLICT (id) DO UPDATE SET status = excluded.status, done_at_ms = excluded.done_at_ms, \
     done_by = excluded.done_by, notes = excluded.notes \
     WHERE callback_requests.status = 'open' AND excluded.status <> 'open'";

/// Text as stored: PostgreSQL refuses NUL in `text`, and a hostile SIP
/// header can carry one, so both stores replace it with U+FFFD rather
/// than lose the record (and stay alike for the contract tests).
pub(crate) fn text(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// Binds a [`super::CallRecord`]'s twenty-one columns, in [`COLUMNS`] order,
/// to a `sqlx::query(..)` of either database.
macro_rules! bind_record {
    ($query:expr, $r:expr) => {{
        let r: &$crate::store::CallRecord = $r;
        $query
            .bind($crate::store::sql::text(&r.id))
            .bind($crate::store::sql::text(&r.node_id))
            .bind($crate::store::sql::text(&r.sip_call_id))
            .bind(r.direction.as_str())
            .bind(r.trunk.as_deref().map($crate::store::sql::text))
            .bind($crate::store::sql::text(&r.from_number))
            .bind($crate::store::sql::text(&r.to_number))
            .bind(r.started_at_ms)
            .bind(r.answered_at_ms)
            .bind(r.ended_at_ms)
            .bind(r.outcome.map(|o| o.as_str()))
            .bind(r.final_sip_code.map(i32::from))
            .bind(r.hangup_cause.as_deref().map($crate::store::sql::text))
            .bind($crate::store::model::ivr_path_json(r.ivr_path.as_ref()))
            .bind(r.customer_id.as_deref().map($crate::store::sql::text))
            .bind(r.queue.as_deref().map($crate::store::sql::text))
            .bind(r.queued_at_ms)
            .bind(r.agent.as_deref().map($crate::store::sql::text))
            .bind(r.connected_at_ms)
            .bind(r.out_trunk.as_deref().map($crate::store::sql::text))
            .bind(r.out_sip_call_id.as_deref().map($crate::store::sql::text))
    }};
}
pub(crate) use bind_record;

/// Binds a [`super::RecordingRecord`]'s thirteen columns, in
/// [`RECORDING_COLUMNS`] order, to a `sqlx::query(..)` of either database.
macro_rules! bind_recording {
    ($query:expr, $r:expr) => {{
        let r: &$crate::store::RecordingRecord = $r;
        $query
            .bind($crate::store::sql::text(&r.id))
            .bind($crate::store::sql::text(&r.call_id))
            .bind($crate::store::sql::text(&r.node_id))
            .bind($crate::store::sql::text(&r.path))
            .bind(r.started_at_ms)
            .bind(r.ended_at_ms)
            .bind($crate::store::model::stored_u64(r.duration_ms))
            .bind($crate::store::model::stored_u64(r.bytes))
            .bind(i32::from(r.channels))
            .bind(i64::from(r.sample_rate))
            .bind(r.sha256.as_deref().map($crate::store::sql::text))
            .bind(r.status.as_str())
            .bind($crate::store::model::pauses_json(&r.pauses))
    }};
}
pub(crate) use bind_recording;

/// Binds a [`super::CallbackRequest`]'s sixteen columns, in
/// `callbacks::CALLBACK_COLUMNS` order, to a `sqlx::query(..)` of either
/// database.
macro_rules! bind_callback {
    ($query:expr, $r:expr) => {{
        let r: &$crate::store::CallbackRequest = $r;
        let (vm_path, vm_duration, vm_bytes, vm_sha256) =
            $crate::store::callbacks::voicemail_columns(r.voicemail.as_ref());
        $query
            .bind($crate::store::sql::text(&r.id))
            .bind($crate::store::sql::text(&r.call_id))
            .bind($crate::store::sql::text(&r.node_id))
            .bind($crate::store::sql::text(&r.caller_number))
            .bind($crate::store::sql::text(&r.dialled))
            .bind($crate::store::sql::text(&r.flow))
            .bind(r.customer_id.as_deref().map($crate::store::sql::text))
            .bind(r.created_at_ms)
            .bind(r.status.as_str())
            .bind(r.done_at_ms)
            .bind(r.done_by.as_deref().map($crate::store::sql::text))
            .bind(vm_path.map($crate::store::sql::text))
            .bind(vm_duration)
            .bind(vm_bytes)
            .bind(vm_sha256.map($crate::store::sql::text))
            .bind($crate::store::sql::text(&r.notes))
    }};
}
pub(crate) use bind_callback;

/// Runs `$body` with `$pool` bound to the backend's pool: one expansion
/// per database, checked by the compiler for each.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite(s) => {
                let $pool = s.pool();
                $body
            }
            $crate::store::Store::Postgres(s) => {
                let $pool = s.pool();
                $body
            }
        }
    };
}
pub(crate) use on_pool;
