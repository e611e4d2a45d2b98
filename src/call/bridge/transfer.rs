//! An IVR flow's `transfer` step: a blind transfer of the answered caller
//! to a number through an outbound trunk.
//!
//! It is the trunk route with the caller's side already answered: the
//! same outbound INVITE (digest retry once), ringing ([`Actor::ring`] in
//! its [`Caller::Answered`] form: silence or the far end's early media,
//! keys ignored, the caller's BYE cancels the attempt), the same
//! CANCEL / crossing-2xx handling, and once the far end answers the same
//! relay ([`Actor::talk`]) with the call's recording going on.
//!
//! A failure is a short reason the flow writes in its path
//! (`failed: 486 Busy Here`) before it goes on at the step's `next`.
//!
//! The number presented: the step's `caller_id` when the flow gives one
//! (the caller's by default), else the trunk's own — its `username`
//! (the carrier account, which carriers name by the account's number),
//! or, for a trunk without credentials, the number the caller dialled
//! (the call came in on it, so it is ours).

use std::sync::Arc;
use std::time::{Duration, Instant};

use hibiki_sip::sdp::Codec;
use tracing::{info, warn};

use super::{status_line, Caller, Connected, OutLeg, Ringing};
use crate::call::actor::Actor;
use crate::call::outbound::{self, TrunkTarget};
use crate::media::g711::Law;
use crate::media::leg::RtpLeg;

/// How long a transferred-to number may ring.
pub const TRANSFER_RING_TIMEOUT: Duration = Duration::from_secs(30);

/// What the transfer asks for.
pub struct TransferTo<'a> {
    pub trunk: &'a str,
    pub to: &'a str,
    /// `None`: the trunk's own number.
    pub caller_id: Option<&'a str>,
}

/// How a transfer attempt ended.
pub enum Transferred {
    /// The far end answered: hand it to [`Actor::talk_transferred`].
    Answered(Box<Bridged>),
    /// It did not: the reason, for the flow's path.
    Failed(String),
    /// The caller hung up while it rang (the outbound leg is cancelled).
    CallerLeft,
    /// The server's grace period ran out (the outbound leg is cancelled;
    /// the caller is still up).
    Shutdown,
    /// The signaling engine stopped.
    EngineGone,
}

/// Whom the caller is about to talk to: an answered outbound leg (a
/// transfer, an agent's SIP phone) or an agent's browser softphone.
pub enum Bridged {
    Sip {
        out: Box<OutLeg>,
        far: Box<Connected>,
    },
    Browser {
        agent: String,
        /// The agent's softphone media, lent for the call.
        lent: crate::softphone::Lent,
    },
}

impl Bridged {
    /// An answered leg and its far side (a queue's agent leg, too).
    pub(in crate::call) fn new(out: OutLeg, far: Connected) -> Bridged {
        Bridged::Sip {
            out: Box::new(out),
            far: Box::new(far),
        }
    }
}

/// The number a transfer presents (the From user): the flow's, else the
/// trunk's own — its `username`, else the number the caller dialled.
pub(in crate::call) fn presented_number(
    caller_id: Option<&str>,
    username: Option<&str>,
    dialled: &str,
) -> String {
    caller_id.or(username).unwrap_or(dialled).to_owned()
}

/// What a refusal of the outbound INVITE means for the flow's path: the
/// far end's status line (`486 Busy Here`), or `trunk unreachable` for our
/// own transaction's timeout (a 408 without a To tag: nobody answered).
fn failure_reason(response: &hibiki_sip::Response) -> String {
    if response.status == 408 && outbound::remote_tag(response).is_none() {
        "trunk unreachable".into()
    } else {
        status_line(response)
    }
}

impl Actor {
    /// Tries `transfer` for the answered caller on `leg` (whose clock
    /// started at `t0`); see the module doc.
    pub(in crate::call) async fn transfer(
        &mut self,
        transfer: TransferTo<'_>,
        leg: &mut RtpLeg,
        caller: Caller<'_>,
        t0: Instant,
    ) -> Transferred {
        let TransferTo {
            trunk,
            to,
            caller_id,
        } = transfer;
        let Some(outbound) = self.ctx.trunks.get(trunk).cloned() else {
            warn!(trunk, "the transfer names a trunk with no outbound side");
            return Transferred::Failed(format!("no outbound trunk `{trunk}`"));
        };
        let target = match TrunkTarget::resolve(&outbound, &self.ctx.media_ip).await {
            Ok(t) => t,
            Err(e) => {
                warn!(error = %e, trunk, "cannot reach the trunk");
                return Transferred::Failed("trunk unreachable".into());
            }
        };
        let Some(lease) = Arc::clone(&self.ctx.media).ports.lease() else {
            warn!("no RTP port free for the transfer");
            return Transferred::Failed("no RTP port free".into());
        };
        let presented = presented_number(
            caller_id,
            outbound.username.as_deref(),
            &self.call.record.to_number,
        );
        let codec = match leg.target().law {
            Law::Ulaw => Codec::Pcmu,
            Law::Alaw => Codec::Pcma,
        };
        info!(trunk, %to, "transferring");
        let mut out = self
            .call_out(Some(trunk), target, &outbound, lease, codec, to, &presented)
            .await;
        let ringing = self
            .ring(&mut out, leg, caller, t0, TRANSFER_RING_TIMEOUT)
            .await;
        let response = match ringing {
            Ringing::Answered(r) => r,
            Ringing::Refused { response, .. } => {
                let reason = failure_reason(&response);
                info!(%reason, "the transfer was refused");
                return Transferred::Failed(reason);
            }
            Ringing::NoAnswer => {
                self.abandon(&mut out).await;
                return Transferred::Failed(format!(
                    "no answer in {} s",
                    TRANSFER_RING_TIMEOUT.as_secs()
                ));
            }
            Ringing::CallerLeft => {
                self.abandon(&mut out).await;
                return Transferred::CallerLeft;
            }
            Ringing::Shutdown => {
                self.abandon(&mut out).await;
                return Transferred::Shutdown;
            }
            Ringing::EngineGone => return Transferred::EngineGone,
        };
        match self.connect(&mut out, &response, t0).await {
            Ok(far) => {
                info!(%to, "the transfer was answered");
                Transferred::Answered(Box::new(Bridged::new(out, far)))
            }
            Err(e) => {
                warn!(error = %e, "the transfer's answer is unusable");
                Transferred::Failed(e.to_string())
            }
        }
    }

    /// Hangs up a far end that answered a transfer the call cannot go on
    /// with (the caller left meanwhile); a softphone is given back.
    pub(in crate::call) async fn drop_transferred(&mut self, bridged: Bridged) {
        if let Bridged::Sip { out, mut far } = bridged {
            let (destination, transport) = (out.target.destination, out.target.transport.clone());
            self.bye(&mut far.dialog, destination, transport).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(text: &str) -> hibiki_sip::Response {
        match hibiki_sip::parse::parse_message(text.as_bytes()) {
            Ok(hibiki_sip::Message::Response(r)) => r,
            other => panic!("not a response: {other:?}"),
        }
    }

    fn status(status: &str, to_tag: &str) -> hibiki_sip::Response {
        response(&format!(
            "SIP/2.0 {status}\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\n\
             From: <sip:400@127.0.0.1>;tag=a\r\nTo: <sip:100@127.0.0.1>{to_tag}\r\n\
             Call-ID: x@127.0.0.1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        ))
    }

    #[test]
    fn a_refusal_reads_as_its_status_line_and_our_timeout_as_unreachable() {
        assert_eq!(
            failure_reason(&status("486 Busy Here", ";tag=b")),
            "486 Busy Here"
        );
        assert_eq!(
            failure_reason(&status("408 Request Timeout", "")),
            "trunk unreachable"
        );
        assert_eq!(
            failure_reason(&status("408 Request Timeout", ";tag=b")),
            "408 Request Timeout"
        );
    }

    #[test]
    fn a_transfer_presents_the_flows_number_else_the_trunks_own() {
        assert_eq!(
            presented_number(Some("+81300000000"), Some("0312345678"), "400"),
            "+81300000000"
        );
        assert_eq!(
            presented_number(None, Some("0312345678"), "400"),
            "0312345678"
        );
        assert_eq!(presented_number(None, None, "400"), "400");
    }
}
