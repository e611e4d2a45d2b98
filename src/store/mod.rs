//! Storage: the database behind Hibiki, and the call-record writer.
//!
//! This module owns the schema (`migrations/sqlite/`,
//! `migrations/postgres/`, embedded in the binary and applied by
//! [`Store::migrate`]), every SQL statement Hibiki runs, and the
//! [`RecordWriter`] task that keeps the database off the call path.
//!
//! ## Design: one enum, one implementation per database
//! [`Store`] is an enum, `Sqlite(SqliteStore) | Postgres(PgStore)`, whose
//! methods dispatch to the backend. Not `sqlx::Any`: it cannot carry
//! timestamps and erases the dialect. Not a `dyn Store` trait: `async fn`
//! in traits is not object-safe without boxing every future, and there are
//! exactly two backends, both known at compile time; an enum is `Clone`,
//! costs one match per call, and the compiler checks every method is
//! implemented for both. A third backend would be a third variant.
//!
//! Both backends share the SQL text of both tables, `calls` and
//! `recordings` (`sql.rs`): times are epoch-millisecond `i64` columns,
//! enums are lowercase text with a `CHECK`, a recording's pause list is
//! JSON in a text column, so the same queries and the same row mapping
//! (`model.rs`) serve both. Queries are runtime-checked (`sqlx::query` with binds): there is
//! no database at build time. The contract tests in
//! `tests/store_contract.rs` run the same cases against both.
//!
//! ## Recordings
//! A `recordings` row per WAV file joins the CDR on `call_id` (indexed; no
//! foreign key, so a recording row is never refused because its call row
//! was dropped by the writer or is not written yet: see
//! `migrations/*/0002_recordings.sql`). It is inserted with status
//! `recording` when recording starts and completed by an upsert when the
//! file closes (`closed`, with size, duration, sha256 and pause markers).
//! A crash leaves rows at `recording`; the start-up repair closes them
//! with the same upsert, status `repaired` (header rewritten) or `failed`
//! (file missing or unreadable). There is no separate "mark" method: the
//! close upsert carries every field a repair learns.
//!
//! ## Users and tokens
//! `users` and `auth_tokens` (`migrations/*/0003_auth.sql`) back the API's
//! logins; their methods live in `users.rs` (`impl Store` there, one SQL
//! text run on either pool). A token row is keyed by the token's SHA-256,
//! never the token. Changing a password or disabling a user revokes the
//! user's tokens in the same transaction.
//!
//! ## Customers and callback requests
//! `customers` and `customer_phones` (E.164 numbers, one owner each) answer
//! the IVR's caller-id lookup ([`Store::customer_by_phone`]);
//! `callback_requests` hold the callbacks callers ask for in a flow, with an
//! optional voicemail WAV (`migrations/*/0004_customers_callbacks.sql`).
//! Their methods live in `customers.rs` and `callbacks.rs`, written once
//! for both databases like `users.rs`. A callback request is written by the
//! record writer ([`RecordEvent::CallbackRequested`]), like the CDR, so a
//! call never waits on the database; agents complete it through the API
//! ([`Store::complete_callback`]). The call's IVR path is JSON text in
//! `calls.ivr_path`, written with the CDR's end.
//!
//! ## Agents
//! Skills and devices of agents (users with role `agent` or
//! `supervisor`), their state changes, their call dispositions and a
//! customer's interaction history live in `agents.rs`
//! (`migrations/*/0005_agents_queues.sql`). A state change goes through
//! the record writer ([`RecordEvent::AgentState`]); a disposition is
//! written directly ([`Store::save_disposition`]). The ACD columns of
//! `calls` (`customer_id`, `queue`, `queued_at_ms`, `agent`,
//! `connected_at_ms`) are part of [`CallRecord`], written like `ivr_path`.
//!
//! ## Who calls what
//! - start-up: [`Store::connect`], [`Store::migrate`], then
//!   [`Store::close_orphaned_calls`] for this node (calls left open by a
//!   crash), then for each of [`Store::open_recordings`] of this node:
//!   repair the file, then [`Store::recording_closed`] with status
//!   `repaired` or `failed`; then [`RecordWriter::spawn`].
//! - call actors: [`RecordSink::send`] with [`RecordEvent::Started`],
//!   [`RecordEvent::RecordingStarted`], [`RecordEvent::RecordingClosed`],
//!   [`RecordEvent::CallbackRequested`] and [`RecordEvent::Ended`]; the
//!   ACD [`RecordEvent::AgentState`]; never
//!   the store directly for writes (reads such as
//!   [`Store::customer_by_phone`] are fine).
//! - `/readyz`: [`Store::ping`]; the API: the read methods, and the user
//!   and token methods through `crate::auth`.
//! - shutdown: [`WriterHandle::finish`] after the calls have ended.

mod agents;
mod callbacks;
mod customers;
mod model;
mod postgres;
mod sql;
mod sqlite;
mod users;
mod writer;

pub use agents::{
    AgentProfile, AgentSkill, AgentStateChange, AgentStatus, Disposition, Interaction,
    InteractionRecording, SkillError, UnknownAgentStatus,
};
pub use callbacks::{CallbackCompletion, CallbackRequest, CallbackStatus, Voicemail};
pub use customers::Customer;
pub use model::{now_ms, CallRecord, Direction, Outcome, Pause, RecordingRecord, RecordingStatus};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use users::{TokenRecord, UserRecord};
pub use writer::{
    RecordEvent, RecordSink, RecordWriter, WriterClosed, WriterHandle, WriterStats,
    DEFAULT_CAPACITY, MAX_BATCH,
};

/// Everything that can go wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL names a database Hibiki does not support. Carries
    /// only the scheme, so credentials never reach a log line.
    #[error(
        "unsupported database URL scheme {0:?} (expected sqlite:, postgres:// or postgresql://)"
    )]
    UnsupportedUrl(String),
    #[error("cannot create the database directory {path}: {source}")]
    CreateDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// An insert met a row with the same unique key (a username taken).
    /// `key` names the value, never a secret.
    #[error("{table}: {key} already exists")]
    Conflict { table: &'static str, key: String },
    /// A value the store refuses before writing anything (a skill level
    /// outside 1..=10, a skill listed twice). `reason` says which.
    #[error("{table}: {reason}")]
    Invalid { table: &'static str, reason: String },
    /// A stored row holds a value this version cannot read. `table` is
    /// `"calls"`, `"recordings"`, `"users"`, `"auth_tokens"`,
    /// `"callback_requests"`, `"agent_skills"`, `"agent_state_changes"`.
    #[error("{table} row {id}: stored row is invalid: {reason}")]
    Corrupt {
        table: &'static str,
        id: String,
        reason: String,
    },
}

impl StoreError {
    /// True when retrying the same write cannot help (the row itself is
    /// refused: a constraint, a bad value), as opposed to the database
    /// being busy, unreachable or restarting.
    pub fn is_permanent(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(e)) => {
                !matches!(e.kind(), sqlx::error::ErrorKind::Other)
            }
            StoreError::Database(
                sqlx::Error::ColumnDecode { .. }
                | sqlx::Error::Encode(_)
                | sqlx::Error::Decode(_)
                | sqlx::Error::TypeNotFound { .. },
            ) => true,
            StoreError::Database(_) => false,
            StoreError::UnsupportedUrl(_)
            | StoreError::CreateDir { .. }
            | StoreError::Migrate(_)
            | StoreError::Conflict { .. }
            | StoreError::Invalid { .. }
            | StoreError::Corrupt { .. } => true,
        }
    }
}

/// The database, SQLite or PostgreSQL. Cheap to clone (a pool handle).
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// Dispatches one method call to the backend.
macro_rules! dispatch {
    ($self:expr, $s:ident => $call:expr) => {
        match $self {
            Store::Sqlite($s) => $call,
            Store::Postgres($s) => $call,
        }
    };
}

impl Store {
    /// Connects to the database a URL names: `sqlite:…` (the file and its
    /// parent directories are created when missing; `sqlite::memory:` for a
    /// throw-away database) or `postgres://…` / `postgresql://…`. Anything
    /// else is [`StoreError::UnsupportedUrl`]. Fails when the database
    /// cannot be opened or reached now.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => Ok(Store::Sqlite(
                SqliteStore::connect(url, max_connections).await?,
            )),
            "postgres" | "postgresql" => Ok(Store::Postgres(
                PgStore::connect(url, max_connections).await?,
            )),
            _ => Err(StoreError::UnsupportedUrl(scheme.to_owned())),
        }
    }

    /// `"sqlite"` or `"postgres"`, for logs and `/readyz`.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Applies every embedded migration not yet applied. Running it again
    /// is a no-op; several nodes running it at once is safe.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        dispatch!(self, s => s.migrate().await)
    }

    /// A round trip to the database.
    pub async fn ping(&self) -> Result<(), StoreError> {
        dispatch!(self, s => s.ping().await)
    }

    /// Inserts a call that has started. Idempotent on `id`: writing the
    /// same start twice (a retried batch) leaves one row.
    pub async fn call_started(&self, record: &CallRecord) -> Result<(), StoreError> {
        dispatch!(self, s => s.call_started(record).await)
    }

    /// Records the end of a call: inserts the whole record when its start
    /// was never written, otherwise updates the end fields (`ended_at_ms`,
    /// `outcome`, `final_sip_code`, `hangup_cause`; and `answered_at_ms`,
    /// `ivr_path`, `customer_id`, `queue`, `queued_at_ms`, `agent` and
    /// `connected_at_ms` only when the record has them: a `None` there
    /// keeps the stored value).
    pub async fn call_ended(&self, record: &CallRecord) -> Result<(), StoreError> {
        dispatch!(self, s => s.call_ended(record).await)
    }

    /// Writes several events in one transaction, in order: all or none.
    pub async fn write_batch(&self, events: &[RecordEvent]) -> Result<(), StoreError> {
        dispatch!(self, s => s.write_batch(events).await)
    }

    /// Inserts a recording that has started (status `recording`).
    /// Idempotent on `id`, and never undoes a close already written.
    pub async fn recording_started(&self, record: &RecordingRecord) -> Result<(), StoreError> {
        dispatch!(self, s => s.recording_started(record).await)
    }

    /// Records the end of a recording, normal (`closed`) or after a crash
    /// (`repaired`, `failed`): inserts the whole row when its start was
    /// never written, otherwise overwrites every field but `id`, `call_id`,
    /// `node_id`, `path` and `started_at_ms` (set at start).
    pub async fn recording_closed(&self, record: &RecordingRecord) -> Result<(), StoreError> {
        dispatch!(self, s => s.recording_closed(record).await)
    }

    /// One recording by its id.
    pub async fn recording(&self, id: &str) -> Result<Option<RecordingRecord>, StoreError> {
        dispatch!(self, s => s.recording(id).await)
    }

    /// Every recording of a call, oldest first (by start, then id).
    pub async fn recordings_for_call(
        &self,
        call_id: &str,
    ) -> Result<Vec<RecordingRecord>, StoreError> {
        dispatch!(self, s => s.recordings_for_call(call_id).await)
    }

    /// The recordings of `node_id` still at status `recording`, oldest
    /// first: at start-up, the files a crash left open.
    pub async fn open_recordings(&self, node_id: &str) -> Result<Vec<RecordingRecord>, StoreError> {
        dispatch!(self, s => s.open_recordings(node_id).await)
    }

    /// Ends every call of `node_id` still open (`ended_at_ms IS NULL`):
    /// `ended_at_ms = now_ms`, outcome `failed`, hangup cause `cause`
    /// (`server_restart` at start-up). Returns how many were closed.
    pub async fn close_orphaned_calls(
        &self,
        node_id: &str,
        now_ms: i64,
        cause: &str,
    ) -> Result<u64, StoreError> {
        dispatch!(self, s => s.close_orphaned_calls(node_id, now_ms, cause).await)
    }

    /// One call by our id.
    pub async fn call(&self, id: &str) -> Result<Option<CallRecord>, StoreError> {
        dispatch!(self, s => s.call(id).await)
    }

    /// Every call with this SIP Call-ID, oldest first.
    pub async fn calls_by_sip_call_id(
        &self,
        sip_call_id: &str,
    ) -> Result<Vec<CallRecord>, StoreError> {
        dispatch!(self, s => s.calls_by_sip_call_id(sip_call_id).await)
    }

    /// The `limit` most recently started calls, newest first.
    pub async fn recent_calls(&self, limit: u32) -> Result<Vec<CallRecord>, StoreError> {
        dispatch!(self, s => s.recent_calls(limit).await)
    }

    /// How many calls are stored.
    pub async fn count_calls(&self) -> Result<u64, StoreError> {
        dispatch!(self, s => s.count_calls().await)
    }

    /// Closes the pool; later queries fail. Call after the writer finished.
    pub async fn close(&self) {
        dispatch!(self, s => s.close().await)
    }
}
