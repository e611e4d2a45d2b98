//! Callback requests: a caller asked, in an IVR flow, to be called back
//! (maybe leaving a voicemail). [`CallbackRequest`], its
//! [`CallbackStatus`] and [`Voicemail`], and the [`Store`] methods agents
//! use (`callback_requests`; see `migrations/*/0004_customers_callbacks.sql`).
//!
//! A request is created by the call actor through the record writer
//! ([`super::RecordEvent::CallbackRequested`], inserted by
//! `sql::INSERT_CALLBACK`, idempotent on `id`), never by a direct store
//! call on the call path. Agents then list and read requests and complete
//! open ones ([`Store::complete_callback`]). The read and update SQL is
//! written once for both databases (`on_pool!`), like `users.rs`.

use std::fmt;

use super::model::stored_u64;
use super::sql::{on_pool, text};
use super::{Store, StoreError};

/// Where a callback request stands. Stored lowercase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackStatus {
    /// Waiting for an agent to call back.
    Open,
    /// An agent completed it ([`Store::complete_callback`]).
    Done,
    /// Withdrawn without a callback.
    Cancelled,
}

impl CallbackStatus {
    /// Every status, in catalog order.
    pub const ALL: [CallbackStatus; 3] = [
        CallbackStatus::Open,
        CallbackStatus::Done,
        CallbackStatus::Cancelled,
    ];

    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            CallbackStatus::Open => "open",
            CallbackStatus::Done => "done",
            CallbackStatus::Cancelled => "cancelled",
        }
    }

    /// Parses the stored text; `None` for anything else.
    pub fn parse(s: &str) -> Option<CallbackStatus> {
        CallbackStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl fmt::Display for CallbackStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A voicemail left with a callback request: one WAV file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Voicemail {
    /// Relative to the recordings root of the request's node
    /// (`voicemail/YYYY/MM/DD/<request id>.wav`, say).
    pub path: String,
    pub duration_ms: u64,
    /// File size, header included.
    pub bytes: u64,
    /// Lower-case hex SHA-256 of the whole file, when known.
    pub sha256: Option<String>,
}

/// One callback request.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CallbackRequest {
    /// Our request id (a uuid v4 string).
    pub id: String,
    /// The [`super::CallRecord::id`] of the call that asked.
    pub call_id: String,
    /// The node that took the call (and holds the voicemail file).
    pub node_id: String,
    /// The number to call back: E.164 when the caller's number could be
    /// normalised, else as received.
    pub caller_number: String,
    /// The number the caller dialled.
    pub dialled: String,
    /// The IVR flow that took the request.
    pub flow: String,
    /// The customer the caller's number belongs to, if known.
    pub customer_id: Option<String>,
    pub created_at_ms: i64,
    pub status: CallbackStatus,
    /// When it was completed (or cancelled).
    pub done_at_ms: Option<i64>,
    /// Who completed it (a username).
    pub done_by: Option<String>,
    pub voicemail: Option<Voicemail>,
    /// Free text: the agent's, once completed.
    pub notes: String,
}

impl CallbackRequest {
    /// An open request made now, without voicemail or notes.
    pub fn open(
        id: impl Into<String>,
        call_id: impl Into<String>,
        node_id: impl Into<String>,
        caller_number: impl Into<String>,
        dialled: impl Into<String>,
        flow: impl Into<String>,
        created_at_ms: i64,
    ) -> CallbackRequest {
        CallbackRequest {
            id: id.into(),
            call_id: call_id.into(),
            node_id: node_id.into(),
            caller_number: caller_number.into(),
            dialled: dialled.into(),
            flow: flow.into(),
            customer_id: None,
            created_at_ms,
            status: CallbackStatus::Open,
            done_at_ms: None,
            done_by: None,
            voicemail: None,
            notes: String::new(),
        }
    }
}

/// What [`Store::complete_callback`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallbackCompletion {
    /// The request was open and is now done: as stored afterwards.
    Completed(CallbackRequest),
    /// The request is not open (done or cancelled already): unchanged.
    NotOpen(CallbackRequest),
    /// No request has this id.
    NotFound,
}

/// Every column of `callback_requests`, in the order `bind_callback!`
/// binds them.
pub(crate) const CALLBACK_COLUMNS: &str = "id, call_id, node_id, caller_number, dialled, flow, \
     customer_id, created_at_ms, status, done_at_ms, done_by, voicemail_path, \
     voicemail_duration_ms, voicemail_bytes, voicemail_sha256, notes";

/// `$1` id, `$2` now, `$3` username, `$4` notes: only an open request.
const COMPLETE: &str = "UPDATE callback_requests \
     SET status = 'done', done_at_ms = $2, done_by = $3, notes = $4 \
     WHERE id = $1 AND status = 'open'";

fn select(tail: &str) -> String {
    format!("SELECT {CALLBACK_COLUMNS} FROM callback_requests {tail}")
}

impl Store {
    /// Callback requests, newest first, at most `limit`; only those with
    /// `status` when given.
    pub async fn callback_requests(
        &self,
        status: Option<CallbackStatus>,
        limit: u32,
    ) -> Result<Vec<CallbackRequest>, StoreError> {
        let limit = i64::from(limit);
        let rows: Vec<CallbackRow> = match status {
            Some(st) => {
                let sql = select("WHERE status = $1 ORDER BY created_at_ms DESC, id DESC LIMIT $2");
                on_pool!(self, pool => {
                    sqlx::query_as(&sql).bind(st.as_str()).bind(limit).fetch_all(pool).await?
                })
            }
            None => {
                let sql = select("ORDER BY created_at_ms DESC, id DESC LIMIT $1");
                on_pool!(self, pool => {
                    sqlx::query_as(&sql).bind(limit).fetch_all(pool).await?
                })
            }
        };
        rows.into_iter().map(CallbackRequest::try_from).collect()
    }

    /// One callback request by id.
    pub async fn callback_request(&self, id: &str) -> Result<Option<CallbackRequest>, StoreError> {
        let sql = select("WHERE id = $1");
        let row: Option<CallbackRow> = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(text(id)).fetch_optional(pool).await?
        });
        row.map(CallbackRequest::try_from).transpose()
    }

    /// Completes an open request: status `done`, `done_at_ms = now_ms`,
    /// `done_by = by` (a username), `notes` replaced by `notes`. A request
    /// that is not open is left as it is ([`CallbackCompletion::NotOpen`]),
    /// so two agents completing the same request cannot both succeed.
    pub async fn complete_callback(
        &self,
        id: &str,
        by: &str,
        notes: &str,
        now_ms: i64,
    ) -> Result<CallbackCompletion, StoreError> {
        let updated = on_pool!(self, pool => {
            sqlx::query(COMPLETE)
                .bind(text(id))
                .bind(now_ms)
                .bind(text(by))
                .bind(text(notes))
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(match self.callback_request(id).await? {
            None => CallbackCompletion::NotFound,
            Some(r) if updated > 0 => CallbackCompletion::Completed(r),
            Some(r) => CallbackCompletion::NotOpen(r),
        })
    }
}

/// The voicemail columns as stored: all NULL, or the file's.
pub(crate) fn voicemail_columns(
    v: Option<&Voicemail>,
) -> (Option<&str>, Option<i64>, Option<i64>, Option<&str>) {
    match v {
        None => (None, None, None, None),
        Some(v) => (
            Some(v.path.as_str()),
            Some(stored_u64(v.duration_ms)),
            Some(stored_u64(v.bytes)),
            v.sha256.as_deref(),
        ),
    }
}

/// The `callback_requests` row as both databases return it.
#[derive(sqlx::FromRow)]
struct CallbackRow {
    id: String,
    call_id: String,
    node_id: String,
    caller_number: String,
    dialled: String,
    flow: String,
    customer_id: Option<String>,
    created_at_ms: i64,
    status: String,
    done_at_ms: Option<i64>,
    done_by: Option<String>,
    voicemail_path: Option<String>,
    voicemail_duration_ms: Option<i64>,
    voicemail_bytes: Option<i64>,
    voicemail_sha256: Option<String>,
    notes: String,
}

impl TryFrom<CallbackRow> for CallbackRequest {
    type Error = StoreError;

    fn try_from(row: CallbackRow) -> Result<CallbackRequest, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt {
            table: "callback_requests",
            id: row.id.clone(),
            reason,
        };
        let status = CallbackStatus::parse(&row.status)
            .ok_or_else(|| corrupt(format!("unknown status {:?}", row.status)))?;
        let voicemail = match row.voicemail_path {
            None => None,
            Some(path) => {
                let count = |what: &str, v: Option<i64>| {
                    v.and_then(|n| u64::try_from(n).ok())
                        .ok_or_else(|| corrupt(format!("voicemail {what} {v:?}")))
                };
                Some(Voicemail {
                    path,
                    duration_ms: count("duration", row.voicemail_duration_ms)?,
                    bytes: count("size", row.voicemail_bytes)?,
                    sha256: row.voicemail_sha256,
                })
            }
        };
        Ok(CallbackRequest {
            id: row.id,
            call_id: row.call_id,
            node_id: row.node_id,
            caller_number: row.caller_number,
            dialled: row.dialled,
            flow: row.flow,
            customer_id: row.customer_id,
            created_at_ms: row.created_at_ms,
            status,
            done_at_ms: row.done_at_ms,
            done_by: row.done_by,
            voicemail,
            notes: row.notes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_texts_round_trip() {
        for st in CallbackStatus::ALL {
            assert_eq!(CallbackStatus::parse(st.as_str()), Some(st));
        }
        assert_eq!(CallbackStatus::parse("Open"), None);
        assert_eq!(CallbackStatus::parse("pending"), None);
    }

    #[test]
    fn voicemail_columns_are_all_or_nothing() {
        assert_eq!(voicemail_columns(None), (None, None, None, None));
        let v = Voicemail {
            path: "voicemail/a.wav".into(),
            duration_ms: 1500,
            bytes: 24_044,
            sha256: None,
        };
        assert_eq!(
            voicemail_columns(Some(&v)),
            (Some("voicemail/a.wav"), Some(1500), Some(24_044), None)
        );
    }
}
