//! `GET /api/v1/calls/{id}`: one stored call (its CDR), with the IVR
//! path it took and its recordings, for supervisors, managers and admins.
//! Live-call commands on the same path prefix are `calls.rs`.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::error::ApiError;
use super::rfc3339_ms;
use crate::auth::Role;
use crate::store::{
    CallRecord, Direction, Outcome, Pause, RecordingRecord, RecordingStatus, Store,
};

/// Who may read call records.
const CDR_READERS: &[Role] = &[Role::Supervisor, Role::Manager, Role::Admin];

/// A recording of the call as the API shows it (not its server path).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingView {
    pub id: String,
    pub status: RecordingStatus,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339; `None` while recording.
    pub ended_at: Option<String>,
    pub duration_ms: u64,
    pub bytes: u64,
    pub channels: u16,
    pub sample_rate: u32,
    pub sha256: Option<String>,
    pub pauses: Vec<Pause>,
}

impl From<&RecordingRecord> for RecordingView {
    fn from(r: &RecordingRecord) -> RecordingView {
        RecordingView {
            id: r.id.clone(),
            status: r.status,
            started_at: rfc3339_ms(r.started_at_ms),
            ended_at: r.ended_at_ms.map(rfc3339_ms),
            duration_ms: r.duration_ms,
            bytes: r.bytes,
            channels: r.channels,
            sample_rate: r.sample_rate,
            sha256: r.sha256.clone(),
            pauses: r.pauses.clone(),
        }
    }
}

/// A call record as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallView {
    pub id: String,
    pub node_id: String,
    pub sip_call_id: String,
    pub direction: Direction,
    pub trunk: Option<String>,
    pub from_number: String,
    pub to_number: String,
    /// RFC 3339.
    pub started_at: String,
    pub answered_at: Option<String>,
    /// `None` while the call is up.
    pub ended_at: Option<String>,
    pub outcome: Option<Outcome>,
    pub final_sip_code: Option<u16>,
    pub hangup_cause: Option<String>,
    /// The IVR path (a JSON array of entries), `None` when the call ran
    /// no flow.
    pub ivr_path: Option<serde_json::Value>,
    /// The customer the caller was found to be, if any.
    pub customer_id: Option<String>,
    /// The ACD queue the call waited in, if any.
    pub queue: Option<String>,
    /// RFC 3339: when the call entered the queue.
    pub queued_at: Option<String>,
    /// The username of the agent who took the call.
    pub agent: Option<String>,
    /// RFC 3339: when the agent's leg was connected.
    pub connected_at: Option<String>,
    /// The trunk of the last leg Hibiki placed through a trunk for the
    /// call (trunk route, transfer or consult to a number), if any.
    pub out_trunk: Option<String>,
    /// That leg's SIP Call-ID (for carrier disputes).
    pub out_sip_call_id: Option<String>,
    /// Oldest first.
    pub recordings: Vec<RecordingView>,
}

impl CallView {
    fn new(c: CallRecord, recordings: &[RecordingRecord]) -> CallView {
        CallView {
            started_at: rfc3339_ms(c.started_at_ms),
            answered_at: c.answered_at_ms.map(rfc3339_ms),
            ended_at: c.ended_at_ms.map(rfc3339_ms),
            queued_at: c.queued_at_ms.map(rfc3339_ms),
            connected_at: c.connected_at_ms.map(rfc3339_ms),
            id: c.id,
            node_id: c.node_id,
            sip_call_id: c.sip_call_id,
            direction: c.direction,
            trunk: c.trunk,
            from_number: c.from_number,
            to_number: c.to_number,
            outcome: c.outcome,
            final_sip_code: c.final_sip_code,
            hangup_cause: c.hangup_cause,
            ivr_path: c.ivr_path,
            customer_id: c.customer_id,
            queue: c.queue,
            agent: c.agent,
            out_trunk: c.out_trunk,
            out_sip_call_id: c.out_sip_call_id,
            recordings: recordings.iter().map(RecordingView::from).collect(),
        }
    }
}

/// `GET /api/v1/calls/{id}`: 200 with the call; 404 when no stored call
/// has the id (a call's record is written a moment after it starts).
pub async fn get(
    State(store): State<Store>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<CallView>, ApiError> {
    caller.require(CDR_READERS)?;
    let call = store
        .call(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no call record has id `{id}`")))?;
    let recordings = store.recordings_for_call(&id).await?;
    Ok(axum::Json(CallView::new(call, &recordings)))
}
