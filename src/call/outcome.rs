//! The stable catalog of hangup causes, and how a final SIP status maps
//! to a call outcome. These strings are stored in call records and shown
//! to operators: add to them, never rename them.

use crate::store::Outcome;

/// Why a call ended. `as_str` is the stored, stable code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HangupCause {
    /// A party hung up with BYE after the call was answered.
    Normal,
    /// The caller cancelled before answer.
    Cancelled,
    /// The dialled number has no route.
    NotFound,
    /// The request came from no known trunk, or failed authentication.
    Forbidden,
    /// The route rejected the call with a configured status.
    Rejected,
    /// The caller's offer is of a type or encoding we cannot answer (415),
    /// or it accepts no answer we can give (406).
    UnsupportedMedia,
    /// Hibiki was at its call limit.
    Overload,
    /// Hibiki was shutting down and refused new calls.
    ShuttingDown,
    /// The grace period of a shutdown ran out and Hibiki hung up.
    Shutdown,
    /// Our 2xx was never acknowledged.
    AckTimeout,
    /// A request of ours went unanswered (Timer B/F).
    Timeout,
    /// No RTP port was free (or it could not be bound), or the call's RTP
    /// sockets were lost on the media plane (logged; a fault).
    NoMediaPorts,
    /// No RTP from the caller for `media.timeout_seconds`.
    MediaTimeout,
    /// The server crashed or was killed while the call was live
    /// (written at the next start).
    ServerRestart,
    /// A bridged call: the called party (the outbound leg) hung up.
    CalleeHungUp,
    /// A bridged call: the called party refused it (its final status is
    /// the call's `final_sip_code`).
    CalleeRejected,
    /// A bridged call: the outbound leg rang past the route's
    /// `ring_timeout_seconds` and was cancelled.
    RingTimeout,
    /// A bridged call: the trunk could not be reached, did not answer,
    /// or refused our credentials.
    TrunkFailed,
    /// An IVR flow ended the call (a `hangup` step, or a top flow's
    /// `return`).
    FlowEnded,
    /// An IVR flow could not go on (see the call's IVR path).
    FlowFailed,
    /// The agent hung up from their screen (the agent websocket).
    AgentHangup,
    /// The caller took a queue's callback offer: Hibiki hung up after the
    /// confirmation; a callback call keeps their place.
    CallbackRequested,
    /// A callback: the agent had taken it, the customer's number was
    /// dialled and did not answer (busy, refused, rang out, unreachable).
    CustomerNotReached,
}

impl HangupCause {
    pub fn as_str(self) -> &'static str {
        match self {
            HangupCause::Normal => "normal",
            HangupCause::Cancelled => "cancelled",
            HangupCause::NotFound => "not_found",
            HangupCause::Forbidden => "forbidden",
            HangupCause::Rejected => "rejected",
            HangupCause::UnsupportedMedia => "unsupported_media",
            HangupCause::Overload => "overload",
            HangupCause::ShuttingDown => "shutting_down",
            HangupCause::Shutdown => "shutdown",
            HangupCause::AckTimeout => "ack_timeout",
            HangupCause::Timeout => "timeout",
            HangupCause::NoMediaPorts => "no_media_ports",
            HangupCause::MediaTimeout => "media_timeout",
            HangupCause::ServerRestart => "server_restart",
            HangupCause::CalleeHungUp => "callee_hung_up",
            HangupCause::CalleeRejected => "callee_rejected",
            HangupCause::RingTimeout => "ring_timeout",
            HangupCause::TrunkFailed => "trunk_failed",
            HangupCause::FlowEnded => "flow_ended",
            HangupCause::FlowFailed => "flow_failed",
            HangupCause::AgentHangup => "agent_hangup",
            HangupCause::CallbackRequested => "callback_requested",
            HangupCause::CustomerNotReached => "customer_not_reached",
        }
    }
}

/// The outcome of a call that ended before answer with `status`.
pub fn outcome_for_final_status(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::Answered,
        486 | 600 => Outcome::Busy,
        487 => Outcome::Cancelled,
        408 | 480 => Outcome::NoAnswer,
        500..=599 => Outcome::Failed,
        _ => Outcome::Rejected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_status_maps_to_outcome() {
        assert_eq!(outcome_for_final_status(486), Outcome::Busy);
        assert_eq!(outcome_for_final_status(600), Outcome::Busy);
        assert_eq!(outcome_for_final_status(487), Outcome::Cancelled);
        assert_eq!(outcome_for_final_status(404), Outcome::Rejected);
        assert_eq!(outcome_for_final_status(403), Outcome::Rejected);
        assert_eq!(outcome_for_final_status(480), Outcome::NoAnswer);
        assert_eq!(outcome_for_final_status(503), Outcome::Failed);
        assert_eq!(outcome_for_final_status(200), Outcome::Answered);
    }
}
