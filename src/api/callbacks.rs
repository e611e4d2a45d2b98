//! `/api/v1/callbacks`: the callback requests callers leave in IVR flows,
//! for the agents who call them back. Listing and reading (every role),
//! downloading a request's voicemail (`audio/wav`), and completing an
//! open request (agents, supervisors, admins).
//!
//! Requests are created by calls through the record writer
//! (`crate::store::RecordEvent::CallbackRequested`), never here. A
//! voicemail's stored path is relative to the recordings root; the
//! download resolves it there and refuses (404, logged) any path that
//! would leave that directory, through `..`, an absolute path or a
//! symbolic link. In a cluster the file is on the node that took the
//! call (`node_id`): another node answers 404 for it.

use std::path::{Component, Path, PathBuf};

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRef, Path as UrlPath, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::error::{ApiError, Json};
use super::{rfc3339_ms, ApiState};
use crate::auth::Role;
use crate::store::{now_ms, CallbackCompletion, CallbackRequest, CallbackStatus, Store};

/// Who may read callback requests and their voicemail.
const READERS: &[Role] = &[Role::Agent, Role::Supervisor, Role::Manager, Role::Admin];

/// Who may complete one: those who call customers back.
const COMPLETERS: &[Role] = &[Role::Agent, Role::Supervisor, Role::Admin];

/// `limit` when the query has none, and the most it may be.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;

/// The longest `notes` a completion takes, in characters.
const MAX_NOTES_CHARS: usize = 10_000;

/// What the handlers here read from the state.
#[derive(Clone)]
pub struct CallbacksState {
    pub store: Store,
    /// Where recordings (and voicemails) live: `Config::recording_dir`.
    pub recordings_dir: PathBuf,
}

impl FromRef<ApiState> for CallbacksState {
    fn from_ref(state: &ApiState) -> CallbacksState {
        CallbacksState {
            store: state.store.clone(),
            recordings_dir: state.recordings_dir.clone(),
        }
    }
}

/// A voicemail as the API shows it (never the server's path).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoicemailView {
    pub duration_ms: u64,
    pub bytes: u64,
    pub sha256: Option<String>,
    /// Where to download it (`GET`, `audio/wav`).
    pub url: String,
}

/// A callback request as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackView {
    pub id: String,
    pub call_id: String,
    /// The number to call back (E.164 when it could be normalised).
    pub caller_number: String,
    pub dialled: String,
    pub flow: String,
    pub customer_id: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    pub status: CallbackStatus,
    /// RFC 3339.
    pub done_at: Option<String>,
    pub done_by: Option<String>,
    pub voicemail: Option<VoicemailView>,
    pub notes: String,
}

impl From<&CallbackRequest> for CallbackView {
    fn from(r: &CallbackRequest) -> CallbackView {
        CallbackView {
            id: r.id.clone(),
            call_id: r.call_id.clone(),
            caller_number: r.caller_number.clone(),
            dialled: r.dialled.clone(),
            flow: r.flow.clone(),
            customer_id: r.customer_id.clone(),
            created_at: rfc3339_ms(r.created_at_ms),
            status: r.status,
            done_at: r.done_at_ms.map(rfc3339_ms),
            done_by: r.done_by.clone(),
            voicemail: r.voicemail.as_ref().map(|v| VoicemailView {
                duration_ms: v.duration_ms,
                bytes: v.bytes,
                sha256: v.sha256.clone(),
                url: format!("/api/v1/callbacks/{}/voicemail", r.id),
            }),
            notes: r.notes.clone(),
        }
    }
}

/// The query of `GET /api/v1/callbacks`: text, so that a bad value gets
/// our message rather than serde's.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// `open`, `done`, `cancelled`; absent: every status.
    pub status: Option<String>,
    /// 1..=500, default 50.
    pub limit: Option<String>,
}

/// `GET /api/v1/callbacks?status=open&limit=50`: requests, newest first.
/// 422 for an unknown status or a limit outside 1..=500.
pub async fn list(
    State(state): State<CallbacksState>,
    caller: Caller,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<axum::Json<Vec<CallbackView>>, ApiError> {
    caller.require(READERS)?;
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(CallbackStatus::parse(s).ok_or_else(|| {
            ApiError::invalid(format!(
                "unknown status {s:?}: expected open, done or cancelled"
            ))
        })?),
    };
    let limit = match query.limit.as_deref() {
        None | Some("") => DEFAULT_LIMIT,
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| ApiError::invalid(format!("limit {s:?}: expected 1 to {MAX_LIMIT}")))?,
    };
    let requests = state.store.callback_requests(status, limit).await?;
    Ok(axum::Json(
        requests.iter().map(CallbackView::from).collect(),
    ))
}

/// `GET /api/v1/callbacks/{id}`: one request; 404 when none has the id.
pub async fn get(
    State(state): State<CallbacksState>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> Result<axum::Json<CallbackView>, ApiError> {
    caller.require(READERS)?;
    let request = find(&state.store, &id).await?;
    Ok(axum::Json(CallbackView::from(&request)))
}

/// `GET /api/v1/callbacks/{id}/voicemail`: the WAV file, `audio/wav`;
/// 404 when the request does not exist, has no voicemail, or its file is
/// not on this node.
pub async fn voicemail(
    State(state): State<CallbacksState>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    caller.require(READERS)?;
    let request = find(&state.store, &id).await?;
    let no_file = || ApiError::not_found(format!("callback request `{id}` has no voicemail here"));
    let Some(vm) = request.voicemail.as_ref() else {
        return Err(ApiError::not_found(format!(
            "callback request `{id}` has no voicemail"
        )));
    };
    let Some(file) = resolve_inside(&state.recordings_dir, &vm.path).await else {
        tracing::warn!(callback = %id, path = %vm.path, node = %request.node_id,
            "voicemail file missing, or its path leaves the recordings directory");
        return Err(no_file());
    };
    let audio = match tokio::fs::read(&file).await {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(no_file()),
        Err(e) => {
            return Err(ApiError::internal(format!(
                "reading {}: {e}",
                file.display()
            )))
        }
    };
    tracing::info!(callback = %id, by = %caller.username, "voicemail downloaded");
    Ok((
        [
            (header::CONTENT_TYPE, "audio/wav".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"voicemail-{}.wav\"", safe_name(&id)),
            ),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
        ],
        audio,
    )
        .into_response())
}

/// The body of `POST /api/v1/callbacks/{id}/complete`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompleteBody {
    /// What came of the callback; replaces the request's notes.
    #[serde(default)]
    pub notes: String,
}

/// `POST /api/v1/callbacks/{id}/complete`: 200 with the request, now
/// `done` by the caller; 404 when none has the id; 409 when it is not
/// open (done or cancelled already); 422 for notes over 10,000
/// characters.
pub async fn complete(
    State(state): State<CallbacksState>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
    Json(body): Json<CompleteBody>,
) -> Result<axum::Json<CallbackView>, ApiError> {
    caller.require(COMPLETERS)?;
    if body.notes.chars().count() > MAX_NOTES_CHARS {
        return Err(ApiError::invalid(format!(
            "notes: at most {MAX_NOTES_CHARS} characters"
        )));
    }
    match state
        .store
        .complete_callback(&id, &caller.username, &body.notes, now_ms())
        .await?
    {
        CallbackCompletion::Completed(r) => {
            tracing::info!(callback = %id, by = %caller.username, "callback completed");
            Ok(axum::Json(CallbackView::from(&r)))
        }
        CallbackCompletion::NotOpen(r) => Err(ApiError::conflict(format!(
            "callback request `{id}` is {} already",
            r.status
        ))),
        CallbackCompletion::NotFound => Err(not_found(&id)),
    }
}

async fn find(store: &Store, id: &str) -> Result<CallbackRequest, ApiError> {
    store
        .callback_request(id)
        .await?
        .ok_or_else(|| not_found(id))
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("no callback request has id `{id}`"))
}

/// `relative` under `root`, when it names an existing file that stays
/// inside `root` (after following symbolic links); `None` otherwise.
/// Absolute paths and `..`/`.` components are refused before the file
/// system is asked.
pub async fn resolve_inside(root: &Path, relative: &str) -> Option<PathBuf> {
    let rel = Path::new(relative);
    if relative.is_empty()
        || rel.is_absolute()
        || !rel.components().all(|c| matches!(c, Component::Normal(_)))
    {
        return None;
    }
    let root = tokio::fs::canonicalize(root).await.ok()?;
    let full = tokio::fs::canonicalize(root.join(rel)).await.ok()?;
    let is_file = tokio::fs::metadata(&full).await.ok()?.is_file();
    (full.starts_with(&root) && is_file).then_some(full)
}

/// An id as it may appear in a `Content-Disposition` file name.
fn safe_name(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn voicemail_paths_stay_inside_the_recordings_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("recordings");
        std::fs::create_dir_all(root.join("voicemail/2026")).unwrap();
        std::fs::write(root.join("voicemail/2026/a.wav"), b"RIFF").unwrap();
        std::fs::write(dir.path().join("secret.txt"), b"no").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("link.wav")).unwrap();

        let inside = resolve_inside(&root, "voicemail/2026/a.wav").await.unwrap();
        assert!(inside.ends_with("voicemail/2026/a.wav"));
        for bad in [
            "",
            "../secret.txt",
            "voicemail/../../secret.txt",
            "./voicemail/2026/a.wav",
            "voicemail/2026",
            "voicemail/2026/missing.wav",
            "link.wav",
        ] {
            assert_eq!(resolve_inside(&root, bad).await, None, "{bad:?}");
        }
        let absolute = dir.path().join("secret.txt");
        assert_eq!(
            resolve_inside(&root, &absolute.to_string_lossy()).await,
            None
        );
    }

    #[test]
    fn download_names_are_tame() {
        assert_eq!(safe_name("ab-12_x"), "ab-12_x");
        assert_eq!(safe_name("a\"; b/../c\r\n"), "abc");
    }
}
