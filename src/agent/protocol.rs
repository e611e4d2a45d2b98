//! The agent websocket's messages, version 1 (`docs/agent-protocol.md`).
//!
//! Every message is one JSON object with a `type`. Requests from the
//! page may carry an `id`; the answer to each is `ok` or `error` with the
//! same `id`. Events from the server ([`crate::acd::service::AgentEvent`])
//! carry no `id`.

use serde::{Deserialize, Serialize};

/// The protocol version this server speaks.
pub const VERSION: u32 = 1;

/// A request from the agent's page.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum Request {
    /// Become available for calls.
    #[serde(rename = "state.available")]
    Available {
        #[serde(default)]
        id: Option<String>,
    },
    /// Stop taking calls, with a reason code (`break`, `lunch`…).
    #[serde(rename = "state.not_ready")]
    NotReady {
        #[serde(default)]
        id: Option<String>,
        #[serde(default = "default_reason")]
        reason: String,
    },
    /// Refuse the offered call (it goes to another agent).
    #[serde(rename = "call.reject")]
    Reject {
        #[serde(default)]
        id: Option<String>,
        call_id: String,
    },
    /// The page's softphone offer (SDP, every candidate gathered): the
    /// answer comes back as `softphone.answer`. Sent after `welcome` when
    /// `device` is `browser`, and again after a reload or a failure.
    #[serde(rename = "softphone.offer")]
    SoftphoneOffer {
        #[serde(default)]
        id: Option<String>,
        sdp: String,
    },
    /// Take the offered call (browser softphone).
    #[serde(rename = "call.answer")]
    Answer {
        #[serde(default)]
        id: Option<String>,
        call_id: String,
    },
    /// Put the caller on hold (they hear music) or take them off it.
    #[serde(rename = "call.hold")]
    Hold {
        #[serde(default)]
        id: Option<String>,
        call_id: String,
    },
    #[serde(rename = "call.resume")]
    Resume {
        #[serde(default)]
        id: Option<String>,
        call_id: String,
    },
    /// Blind transfer: the caller goes to a queue, to another agent (who is
    /// offered the call with its pop) or to an external number; this agent
    /// goes to wrap-up.
    #[serde(rename = "call.transfer")]
    Transfer {
        #[serde(default)]
        id: Option<String>,
        call_id: String,
        to: TransferTo,
    },
    /// Consult (warm) transfer to another agent (`to: {"agent": …}`): the
    /// caller hears music while the two agents talk; then
    /// `call.consult_complete` hands the caller over, `call.consult_cancel`
    /// goes back to them.
    #[serde(rename = "call.consult")]
    Consult {
        #[serde(default)]
        id: Option<String>,
        call_id: String,
        to: TransferTo,
    },
    #[serde(rename = "call.consult_complete")]
    ConsultComplete {
        #[serde(default)]
        id: Option<String>,
        call_id: String,
    },
    #[serde(rename = "call.consult_cancel")]
    ConsultCancel {
        #[serde(default)]
        id: Option<String>,
        call_id: String,
    },
    /// Hang up the call in progress.
    #[serde(rename = "call.hangup")]
    Hangup {
        #[serde(default)]
        id: Option<String>,
        call_id: String,
    },
    /// The wrap-up of a handled call: a disposition code and notes; then
    /// `available` (default) or not ready.
    #[serde(rename = "call.wrapup")]
    WrapUp {
        #[serde(default)]
        id: Option<String>,
        call_id: String,
        disposition: String,
        #[serde(default)]
        notes: String,
        #[serde(default)]
        not_ready: Option<String>,
    },
    /// Log out (refused while on a call).
    #[serde(rename = "logout")]
    Logout {
        #[serde(default)]
        id: Option<String>,
    },
    /// Keep-alive.
    #[serde(rename = "ping")]
    Ping {
        #[serde(default)]
        id: Option<String>,
    },
}

/// Where a transfer goes: exactly one of the three.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TransferTo {
    /// A queue by name (the call waits there with its pop).
    Queue(String),
    /// An agent by username.
    Agent(String),
    /// A phone number, dialled through `agents.transfer_trunk`.
    Number(String),
}

fn default_reason() -> String {
    "not_ready".to_owned()
}

impl Request {
    /// The request's correlation id, if the page gave one.
    pub fn id(&self) -> Option<&str> {
        match self {
            Request::Available { id }
            | Request::NotReady { id, .. }
            | Request::Reject { id, .. }
            | Request::SoftphoneOffer { id, .. }
            | Request::Answer { id, .. }
            | Request::Hold { id, .. }
            | Request::Resume { id, .. }
            | Request::Transfer { id, .. }
            | Request::Consult { id, .. }
            | Request::ConsultComplete { id, .. }
            | Request::ConsultCancel { id, .. }
            | Request::Hangup { id, .. }
            | Request::WrapUp { id, .. }
            | Request::Logout { id }
            | Request::Ping { id } => id.as_deref(),
        }
    }
}

/// A reply to a request.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type")]
pub enum Reply {
    #[serde(rename = "ok")]
    Ok { id: Option<String> },
    #[serde(rename = "pong")]
    Pong { id: Option<String> },
    /// The server's answer to `softphone.offer`.
    #[serde(rename = "softphone.answer")]
    SoftphoneAnswer { id: Option<String>, sdp: String },
    #[serde(rename = "error")]
    Error {
        id: Option<String>,
        /// A stable code: `bad_request`, `wrong_state`, `not_yours`,
        /// `unknown_disposition`, `unavailable`.
        code: &'static str,
        message: String,
    },
}

/// The first message of a session, from the server.
#[derive(Clone, Debug, Serialize)]
pub struct Welcome {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub version: u32,
    pub agent: String,
    pub display_name: String,
    pub role: String,
    pub status: crate::acd::AgentStatus,
    pub reason: Option<String>,
    /// The call the agent is offered or on (after a reconnect).
    pub call_id: Option<String>,
    /// That call's screen pop, as `call.offered` carried it.
    pub pop: Option<std::sync::Arc<serde_json::Value>>,
    /// Where calls ring: `browser` or `sip`.
    pub device: &'static str,
    /// For a browser device: the page's `RTCConfiguration.iceServers`.
    pub ice_servers: Vec<crate::softphone::BrowserIceServer>,
    pub skills: Vec<(String, u8)>,
    pub dispositions: Vec<String>,
}
