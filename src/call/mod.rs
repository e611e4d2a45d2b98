//! The call model.
//!
//! A call is one tokio task (its actor, in [`actor`]) that owns every bit
//! of that call's state: its legs, its dialog, its timers and its call
//! record. Nothing else writes that state; the signaling engine feeds the
//! actor [`CallInput`]s (SIP events for the call's dialogs) and the actor
//! answers with [`SipCommand`]s. When the actor ends it writes the call
//! record (CDR) through the non-blocking [`crate::store::RecordSink`] and
//! tells the engine to forget the call.
//!
//! [`outcome`] holds the stable catalog of outcomes and hangup causes that
//! call records and metrics carry.

pub mod actor;
pub mod bridge;
mod callback;
pub mod demo;
pub mod directory;
mod handover;
pub mod ivr;
pub mod media;
pub mod outbound;
pub mod outcome;
pub mod queue;
pub mod recording;

use std::net::SocketAddr;

use hibiki_sip::endpoint::{ClientTxId, ServerTxId};
use hibiki_sip::{Request, Response, Transport};
use tokio::sync::{mpsc, oneshot};

/// What the signaling engine tells a call actor.
#[derive(Debug)]
pub enum CallInput {
    /// A request inside one of the call's dialogs (BYE, re-INVITE, INFO…),
    /// to be answered on `tx`.
    Request { tx: ServerTxId, request: Request },
    /// The caller cancelled the INVITE; the engine already answered the
    /// CANCEL with 200 and the actor must answer the INVITE with 487.
    Cancelled,
    /// The ACK for our 2xx arrived, with its body (the SDP answer when
    /// our 2xx carried the offer: a late offer).
    Ack { sdp: bytes::Bytes },
    /// Our 2xx was retransmitted for 64·T1 without an ACK.
    AckTimeout,
    /// A response to a request the actor sent.
    Response { tx: ClientTxId, response: Response },
    /// A request the actor sent got no response (Timer B/F).
    Timeout { tx: ClientTxId },
    /// A command from the API (pause the recording…), answered on its
    /// reply channel.
    Control(Control),
}

/// A command for a live call from outside SIP (the HTTP API).
#[derive(Debug)]
pub struct Control {
    pub command: ControlCommand,
    /// The agent asking, when the requester is an agent: only the agent
    /// on the call may then command it (supervisors and admins: `None`).
    pub agent: Option<String>,
    pub reply: oneshot::Sender<Result<RecordingState, ControlError>>,
}

/// What a [`Control`] asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlCommand {
    /// Silence the recording from now on (payment-card details): both
    /// channels, marked in the recording's metadata. Idempotent.
    PauseRecording,
    /// End the pause. Idempotent.
    ResumeRecording,
}

/// The recording's state after a [`Control`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingState {
    Recording,
    Paused,
}

/// Why a [`Control`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("no live call has this id")]
    NoSuchCall,
    #[error("the call is not being recorded (not answered yet, recording off, or failed)")]
    NotRecording,
    /// An agent asked about a call they are not on.
    #[error("the call is not the requesting agent's")]
    NotYourCall,
    /// The engine or the call did not answer in time (overload, shutdown).
    #[error("the call did not answer in time")]
    Unavailable,
}

/// A handle for sending [`Control`]s to live calls (through the signaling
/// engine, which knows them): what the API holds instead of call state.
#[derive(Clone, Debug)]
pub struct CallControl {
    engine: mpsc::Sender<SipCommand>,
}

impl CallControl {
    pub fn new(engine: mpsc::Sender<SipCommand>) -> CallControl {
        CallControl { engine }
    }

    /// Sends `command` to the live call with id `call` on behalf of
    /// `agent` (an agent may command only their own call; `None`: a
    /// supervisor or an admin) and waits at most `within` for its answer.
    pub async fn send(
        &self,
        call: &str,
        command: ControlCommand,
        agent: Option<String>,
        within: std::time::Duration,
    ) -> Result<RecordingState, ControlError> {
        let (reply, answer) = oneshot::channel();
        let control = SipCommand::Control {
            call: call.to_owned(),
            control: Control {
                command,
                agent,
                reply,
            },
        };
        let exchange = async {
            self.engine
                .send(control)
                .await
                .map_err(|_| ControlError::Unavailable)?;
            // A call that ends with the command queued drops the reply.
            answer.await.map_err(|_| ControlError::NoSuchCall)?
        };
        tokio::time::timeout(within, exchange)
            .await
            .map_err(|_| ControlError::Unavailable)?
    }
}

/// What a call actor asks of the signaling engine.
#[derive(Debug)]
pub enum SipCommand {
    /// Send a response on a server transaction.
    Respond { tx: ServerTxId, response: Response },
    /// Send a request in a new client transaction; its responses come
    /// back to the call whose SIP Call-ID is `call_id`. A request with
    /// another Call-ID (the INVITE of an outbound leg) makes that Call-ID
    /// an alias of the call: requests in its dialog come to the call too.
    Request {
        call_id: String,
        request: Request,
        destination: SocketAddr,
        transport: Transport,
    },
    /// Send the ACK for a 2xx of an outbound leg (no transaction).
    Ack {
        request: Request,
        destination: SocketAddr,
        transport: Transport,
    },
    /// Cancel the pending INVITE of the outbound leg whose Call-ID is
    /// `leg_call_id` (at once, or on its first provisional response).
    Cancel { leg_call_id: String },
    /// The call is over: forget its Call-ID and its aliases.
    Ended { call_id: String },
    /// A call Hibiki places itself (a callback) begins: requests in the
    /// dialog of Call-ID `call_id` and responses to the call's requests
    /// go to `handle`. Sent before the call's first INVITE.
    Placed { call_id: String, handle: CallHandle },
    /// From the API: hand `control` to the live call whose id (not SIP
    /// Call-ID) is `call`, or answer [`ControlError::NoSuchCall`].
    Control { call: String, control: Control },
}

/// The engine's handle on a live call.
#[derive(Clone, Debug)]
pub struct CallHandle {
    /// Our call id (also the CDR's primary key).
    pub id: String,
    pub input: mpsc::Sender<CallInput>,
}
