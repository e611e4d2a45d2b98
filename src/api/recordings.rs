//! `/api/v1/recordings/{id}`: one call recording, its metadata and its
//! audio (the WAV file, streamed, with single byte ranges for players
//! that seek). The screen pop links here from a customer's interactions.
//!
//! Supervisors, managers and admins may fetch any recording; an agent
//! only the recordings of calls they took (`calls.agent` is their
//! username), 403 otherwise. The file is resolved under the recordings
//! directory like a voicemail (`callbacks::resolve_inside`): a stored path
//! that would leave it is refused (404, logged). In a cluster the file is
//! on the node that recorded it (`node_id`); another node answers 404.

use std::io::SeekFrom;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::auth::Caller;
use super::callbacks::{resolve_inside, CallbacksState};
use super::cdr::RecordingView;
use super::error::ApiError;
use crate::auth::Role;
use crate::store::{RecordingRecord, Store};

/// Who may fetch any recording.
const ANY_RECORDING: &[Role] = &[Role::Supervisor, Role::Manager, Role::Admin];

/// Everyone who may fetch some recording.
const READERS: &[Role] = &[Role::Agent, Role::Supervisor, Role::Manager, Role::Admin];

/// A recording with the call it belongs to and where its audio is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingDetail {
    pub call_id: String,
    /// `GET`, `audio/wav`.
    pub audio_url: String,
    #[serde(flatten)]
    pub recording: RecordingView,
}

/// `GET /api/v1/recordings/{id}`: the metadata; 404 when no recording
/// has the id; 403 for an agent and another agent's call.
pub async fn get(
    State(state): State<CallbacksState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<RecordingDetail>, ApiError> {
    let rec = allowed(&state.store, &caller, &id).await?;
    Ok(axum::Json(RecordingDetail {
        call_id: rec.call_id.clone(),
        audio_url: format!("/api/v1/recordings/{}/audio", rec.id),
        recording: RecordingView::from(&rec),
    }))
}

/// `GET /api/v1/recordings/{id}/audio`: the WAV file, `audio/wav`,
/// streamed; a `Range: bytes=…` of one range answers 206 with that part
/// (416 when it lies past the end; other forms are ignored and the whole
/// file is sent). 404 when the recording or its file is not here.
pub async fn audio(
    State(state): State<CallbacksState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let rec = allowed(&state.store, &caller, &id).await?;
    let no_file = || ApiError::not_found(format!("recording `{id}` has no file here"));
    let Some(path) = resolve_inside(&state.recordings_dir, &rec.path).await else {
        tracing::warn!(recording = %id, path = %rec.path, node = %rec.node_id,
            "recording file missing, or its path leaves the recordings directory");
        return Err(no_file());
    };
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(no_file()),
        Err(e) => {
            return Err(ApiError::internal(format!(
                "opening {}: {e}",
                path.display()
            )))
        }
    };
    let size = file
        .metadata()
        .await
        .map_err(|e| ApiError::internal(format!("reading {}: {e}", path.display())))?
        .len();
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| byte_range(v, size));
    let mut response_headers = HeaderMap::new();
    response_headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/wav"));
    response_headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    response_headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "inline; filename=\"recording-{}.wav\"",
        safe_name(&id)
    )) {
        response_headers.insert(header::CONTENT_DISPOSITION, v);
    }
    let (status, start, len) = match range {
        None => (StatusCode::OK, 0, size),
        Some(Err(Unsatisfiable)) => {
            let mut r = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                format!("the file has {size} bytes"),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(r);
        }
        Some(Ok((start, end))) => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{size}")) {
                response_headers.insert(header::CONTENT_RANGE, v);
            }
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
    };
    if start > 0 {
        file.seek(SeekFrom::Start(start))
            .await
            .map_err(|e| ApiError::internal(format!("seeking {}: {e}", path.display())))?;
    }
    response_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    tracing::info!(recording = %id, by = %caller.username, bytes = len, "recording fetched");
    let body = Body::from_stream(ReaderStream::new(file.take(len)));
    Ok((status, response_headers, body).into_response())
}

/// The recording, when the caller may have it.
async fn allowed(store: &Store, caller: &Caller, id: &str) -> Result<RecordingRecord, ApiError> {
    caller.require(READERS)?;
    let rec = store
        .recording(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no recording has id `{id}`")))?;
    if ANY_RECORDING.contains(&caller.role) {
        return Ok(rec);
    }
    let call = store.call(&rec.call_id).await?;
    if call.and_then(|c| c.agent).as_deref() == Some(caller.username.as_str()) {
        Ok(rec)
    } else {
        Err(ApiError::forbidden(
            "an agent may fetch only the recordings of calls they took",
        ))
    }
}

/// A `Range` the file cannot satisfy.
#[derive(Debug, PartialEq, Eq)]
struct Unsatisfiable;

/// Reads `bytes=a-b`, `bytes=a-` or `bytes=-n` (one range) against a file
/// of `size` bytes: the inclusive byte positions. `None` for anything else
/// (several ranges, another unit, garbage): the whole file is sent then,
/// as RFC 9110 §14.2 allows.
fn byte_range(value: &str, size: u64) -> Option<Result<(u64, u64), Unsatisfiable>> {
    let spec = value.trim().strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    let parse = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    if first.is_empty() {
        let n = parse(last)?;
        if n == 0 || size == 0 {
            return Some(Err(Unsatisfiable));
        }
        return Some(Ok((size.saturating_sub(n), size - 1)));
    }
    let start = parse(first)?;
    let end = if last.is_empty() {
        size.saturating_sub(1)
    } else {
        let end = parse(last)?;
        if end < start {
            return None;
        }
        end.min(size.saturating_sub(1))
    };
    if start >= size {
        return Some(Err(Unsatisfiable));
    }
    Some(Ok((start, end)))
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

    #[test]
    fn ranges() {
        assert_eq!(byte_range("bytes=0-99", 1000), Some(Ok((0, 99))));
        assert_eq!(byte_range("bytes=990-", 1000), Some(Ok((990, 999))));
        assert_eq!(byte_range("bytes=-10", 1000), Some(Ok((990, 999))));
        assert_eq!(byte_range("bytes=-5000", 1000), Some(Ok((0, 999))));
        assert_eq!(byte_range("bytes=900-5000", 1000), Some(Ok((900, 999))));
        assert_eq!(byte_range("bytes=1000-", 1000), Some(Err(Unsatisfiable)));
        assert_eq!(byte_range("bytes=-0", 1000), Some(Err(Unsatisfiable)));
        for ignored in [
            "bytes=0-1,5-6",
            "items=0-1",
            "bytes=a-b",
            "bytes=5-1",
            "bytes=-",
            "bytes=+1-2",
        ] {
            assert_eq!(byte_range(ignored, 1000), None, "{ignored}");
        }
    }
}
