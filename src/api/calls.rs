//! `/api/v1/calls/{id}/…`: commands for live calls. Today: pausing and
//! resuming a call's recording while the caller reads out payment-card
//! details (PCI DSS). A pause is silence on both channels of the WAV and
//! a `{start_ms, end_ms}` marker in the recording's row.
//!
//! The command travels to the call's own actor through the signaling
//! engine ([`CallControl`]); the API holds no call state. `id` is the
//! call's id (the CDR's), not its SIP Call-ID.

use std::time::Duration;

use axum::extract::{Path, State};
use serde::Serialize;

use super::auth::Caller;
use super::error::ApiError;
use crate::auth::Role;
use crate::call::{CallControl, ControlCommand, ControlError, RecordingState};

/// Who may pause a recording: the agent on the call (the call itself
/// checks that an agent asking is its agent), a supervisor, an admin.
const RECORDING_CONTROLLERS: &[Role] = &[Role::Agent, Role::Supervisor, Role::Admin];

/// How long a live call gets to answer a command.
const ANSWER_WITHIN: Duration = Duration::from_secs(2);

/// The answer to a recording command.
#[derive(Debug, Serialize)]
pub struct RecordingView {
    pub call_id: String,
    /// `recording` or `paused`.
    pub recording: &'static str,
}

/// `POST /api/v1/calls/{id}/recording/pause`: 200 `{recording: "paused"}`
/// (also when already paused); 404 when no live call has this id; 409
/// when the call is not being recorded.
pub async fn pause(
    State(calls): State<CallControl>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<RecordingView>, ApiError> {
    command(calls, caller, id, ControlCommand::PauseRecording).await
}

/// `POST /api/v1/calls/{id}/recording/resume`: 200 `{recording:
/// "recording"}` (also when not paused); 404 / 409 as for pause.
pub async fn resume(
    State(calls): State<CallControl>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<RecordingView>, ApiError> {
    command(calls, caller, id, ControlCommand::ResumeRecording).await
}

async fn command(
    calls: CallControl,
    caller: Caller,
    id: String,
    command: ControlCommand,
) -> Result<axum::Json<RecordingView>, ApiError> {
    caller.require(RECORDING_CONTROLLERS)?;
    let agent = (caller.role == Role::Agent).then(|| caller.username.clone());
    let state = calls
        .send(&id, command, agent, ANSWER_WITHIN)
        .await
        .map_err(|e| match e {
            ControlError::NoSuchCall => ApiError::not_found(format!("no live call has id `{id}`")),
            ControlError::NotYourCall => ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "forbidden",
                format!("call `{id}` is not yours: an agent may pause or resume only the recording of the call they are on"),
            ),
            ControlError::NotRecording => ApiError::conflict(format!(
                "call `{id}` is not being recorded (not answered yet, or recording is off)"
            )),
            ControlError::Unavailable => ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the call did not answer in time; try again",
            ),
        })?;
    tracing::info!(call = %id, by = %caller.username, ?command, "recording command");
    Ok(axum::Json(RecordingView {
        call_id: id,
        recording: match state {
            RecordingState::Recording => "recording",
            RecordingState::Paused => "paused",
        },
    }))
}
