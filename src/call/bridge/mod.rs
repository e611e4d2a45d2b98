//! The trunk route (`action = "trunk"`): Hibiki answers the caller by
//! placing a second call through an outbound trunk and bridging the two.
//!
//! This module takes the call up to the moment the far end answers:
//! the caller's offer is answered locally (one RTP port for the caller's
//! leg), an offer is made to the trunk (a second port), the INVITE goes
//! out with the caller's number as From, digest challenges from the trunk
//! are answered once, ringing is passed back (180, or 183 with our answer
//! and the far end's early media relayed), and every way the attempt can
//! end is mapped onto the caller's final response: the far end's refusal
//! (its status passed through), the caller's CANCEL (CANCEL sent on), the
//! route's ring timeout (480), an unreachable trunk (503). [`talk`] runs
//! the answered call: relaying audio and DTMF, recording both sides,
//! hanging up one leg when the other does.
//!
//! The two legs' RTP sockets and the recorder all belong to this one
//! actor, like everything else about the call.

pub(super) mod browser;
mod consult;
mod hold;
mod parking;
mod talk;

pub(super) mod transfer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hibiki_sip::dialog::Dialog;
use hibiki_sip::sdp::{self, Codec, LocalMedia, SessionDescription};
use hibiki_sip::{Contact, Method, NameAddr, Request, Response, Transport};
use tracing::{debug, info, warn};

use super::actor::{now_ms, Actor, End};
use super::outbound::{self, TrunkTarget};
use super::outcome::{outcome_for_final_status, HangupCause};
use super::recording::Recording;
use super::{CallInput, SipCommand};
use crate::config::CodecName;
use crate::media::leg::{Received, RtpLeg};
use crate::media::ports::PortLease;
use crate::media::recording::Side;
use crate::store::Outcome;

/// How long we wait for the final response to a CANCEL or BYE we send.
const FINAL_WAIT: Duration = Duration::from_secs(5);

/// The outbound leg while it is being set up.
pub(super) struct OutLeg {
    pub(super) target: TrunkTarget,
    /// The last INVITE sent (without our Via).
    pub(super) invite: Request,
    pub(super) call_id: String,
    pub(in crate::call) offer: SessionDescription,
    /// Our SDP toward the trunk (for re-INVITE answers).
    pub(super) local: LocalMedia,
    pub(in crate::call) lease: Option<PortLease>,
    pub(super) rtp: Option<RtpLeg>,
    pub(in crate::call) auth_tried: bool,
}

impl OutLeg {
    /// Sets up RTP from the far end's SDP answer (in a 183 or the 200).
    pub(in crate::call) async fn accept(
        &mut self,
        body: &Bytes,
        t0: Instant,
        bind_ip: std::net::IpAddr,
    ) -> bool {
        if self.rtp.is_some() {
            return true;
        }
        let negotiated = match SessionDescription::parse(body)
            .map_err(|e| e.to_string())
            .and_then(|a| sdp::accept_answer(&self.offer, &a).map_err(|e| e.to_string()))
        {
            Ok(n) => n,
            Err(e) => {
                warn!(error = %e, "the trunk's SDP answer is unusable");
                return false;
            }
        };
        let Some(lease) = self.lease.take() else {
            return false;
        };
        match RtpLeg::bind(lease, bind_ip, negotiated, t0).await {
            Ok(leg) => {
                info!(codec = ?negotiated.codec, remote = %negotiated.remote, rtp = %leg.local_addr(), "outbound leg media");
                self.rtp = Some(leg);
                true
            }
            Err(e) => {
                warn!(error = %e, "cannot bind the outbound leg's RTP");
                false
            }
        }
    }
}

/// The next event from the ACD about the agent's side of the call; never,
/// for a call that was not queued.
pub(in crate::call) async fn next_agent_event(
    events: &mut Option<tokio::sync::mpsc::Receiver<crate::acd::service::QueueEvent>>,
) -> Option<crate::acd::service::QueueEvent> {
    match events {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Waits for a datagram on a leg that may not exist yet.
pub(super) async fn recv_on(leg: &mut Option<RtpLeg>) -> std::io::Result<Received> {
    match leg {
        Some(leg) => leg.recv().await,
        None => std::future::pending().await,
    }
}

/// The codecs to offer the trunk: its configured list, else the caller's
/// codec first and the other G.711 law after it.
pub(in crate::call) fn codecs_for_trunk(configured: &[CodecName], caller: Codec) -> Vec<Codec> {
    if configured.is_empty() {
        let other = match caller {
            Codec::Pcmu => Codec::Pcma,
            Codec::Pcma => Codec::Pcmu,
        };
        return vec![caller, other];
    }
    configured
        .iter()
        .map(|c| match c {
            CodecName::Pcmu => Codec::Pcmu,
            CodecName::Pcma => Codec::Pcma,
        })
        .collect()
}

/// What the caller hears when the far end refuses: its status, except
/// those that speak of our relation with the trunk (authentication,
/// redirection we do not follow), which become 503 / 480.
fn caller_status(far: u16) -> u16 {
    match far {
        300..=399 => 480,
        401 | 407 => 503,
        s => s,
    }
}

/// How the outbound leg's ringing ended. [`Actor::ring`] only reports;
/// what the caller is told (and the CANCEL, see [`Actor::abandon`]) is
/// up to the route.
pub(super) enum Ringing {
    /// The far end answered: go on to [`Actor::connect`].
    Answered(Box<Response>),
    /// The far end refused, or our transaction got no answer at all (a
    /// final response without a To tag: our 408 or a proxy's refusal).
    Refused {
        response: Box<Response>,
        cause: HangupCause,
    },
    /// The ring timeout passed.
    NoAnswer,
    /// The caller left (CANCEL before our answer, BYE after it).
    CallerLeft,
    /// The server's grace period ran out.
    Shutdown,
    /// The signaling engine stopped.
    EngineGone,
}

/// The caller's side while the outbound leg rings.
pub(in crate::call) enum Caller<'a> {
    /// The trunk route: the caller's INVITE is still unanswered. Ringing
    /// is passed back on it (180, or 183 with `answer_sdp` and the far
    /// end's early media relayed); the caller's audio goes nowhere.
    Waiting { answer_sdp: &'a SessionDescription },
    /// An IVR transfer: the caller was answered already. They hear
    /// silence or the far end's early media; keys are ignored; re-INVITEs
    /// are answered from the leg's own port; the call's recording goes on.
    Answered {
        local: &'a LocalMedia,
        last_sdp: &'a mut SessionDescription,
        recording: &'a mut Option<Recording>,
        acked: &'a mut bool,
    },
}

/// The far end's side of an answered bridge, ready to talk.
pub(super) struct Connected {
    pub(super) dialog: Dialog,
    /// Our ACK for its 2xx (sent again when the 2xx is retransmitted).
    pub(super) ack: Request,
    pub(super) rtp: RtpLeg,
}

/// Why an answered outbound leg could not be used.
#[derive(Debug, thiserror::Error)]
pub(super) enum ConnectError {
    #[error("the far end's answer forms no dialog")]
    NoDialog,
    #[error("the far end's answer has no usable media")]
    NoMedia,
}

/// The answered caller's media, handed to [`Actor::talk`].
pub(in crate::call) struct CallerMedia {
    pub(in crate::call) rtp: RtpLeg,
    pub(in crate::call) local: LocalMedia,
    /// Our last SDP toward the caller (re-INVITE answers follow it).
    pub(in crate::call) last_sdp: SessionDescription,
    /// The call's recording (caller left, far end right), if any.
    pub(in crate::call) recording: Option<Recording>,
    /// Whether the caller acknowledged our 200.
    pub(in crate::call) acked: bool,
}

/// The status and reason of a final response, as a path outcome or log
/// line: `486 Busy Here`.
fn status_line(response: &Response) -> String {
    let reason = if response.reason.is_empty() {
        build_reason(response.status)
    } else {
        response.reason.as_str()
    };
    format!("{} {reason}", response.status)
}

impl Actor {
    /// Runs the trunk route to its end.
    pub(super) async fn run_bridge(
        &mut self,
        trunk: &str,
        to: Option<&str>,
        ring_timeout: Duration,
    ) -> End {
        let media = Arc::clone(&self.ctx.media);
        let t0 = Instant::now();
        let Some(outbound) = self.ctx.trunks.get(trunk).cloned() else {
            warn!(trunk, "the route names a trunk with no outbound side");
            return self
                .refuse(503, "Service Unavailable", HangupCause::TrunkFailed)
                .await;
        };
        let target = match TrunkTarget::resolve(&outbound, &self.ctx.media_ip).await {
            Ok(t) => t,
            Err(e) => {
                warn!(error = %e, trunk, "cannot reach the trunk");
                return self
                    .refuse(503, "Service Unavailable", HangupCause::TrunkFailed)
                    .await;
            }
        };
        let (Some(lease_a), Some(lease_b)) = (media.ports.lease(), media.ports.lease()) else {
            warn!("no RTP port free: refusing the call");
            return self
                .refuse(503, "Service Unavailable", HangupCause::NoMediaPorts)
                .await;
        };
        let session = now_ms().unsigned_abs();
        let local_a = LocalMedia::new(media.announce_ip, lease_a.port(), session);
        let answer_a = match self.answer_offer(&local_a).await {
            Ok(a) => a,
            Err(end) => return end,
        };
        let leg_a = match RtpLeg::bind(lease_a, media.bind_ip, answer_a.negotiated, t0).await {
            Ok(l) => l,
            Err(e) => {
                warn!(error = %e, "cannot bind RTP");
                return self
                    .refuse(503, "Service Unavailable", HangupCause::NoMediaPorts)
                    .await;
            }
        };
        let number = to.unwrap_or(&self.call.record.to_number).to_owned();
        let caller = self.call.record.from_number.clone();
        let mut out = self
            .call_out(
                Some(trunk),
                target,
                &outbound,
                lease_b,
                answer_a.negotiated.codec,
                &number,
                &caller,
            )
            .await;
        let mut leg_a = leg_a;
        let answer_sdp = answer_a.sdp;
        let ringing = self
            .ring(
                &mut out,
                &mut leg_a,
                Caller::Waiting {
                    answer_sdp: &answer_sdp,
                },
                t0,
                ring_timeout,
            )
            .await;
        let response = match ringing {
            Ringing::Answered(response) => response,
            Ringing::Refused { response, cause } => {
                return self.far_refused(&response, cause).await;
            }
            Ringing::NoAnswer => {
                info!(?ring_timeout, "no answer: cancelling the outbound leg");
                self.respond(480, "Temporarily Unavailable", false).await;
                self.abandon(&mut out).await;
                return End {
                    outcome: Outcome::NoAnswer,
                    code: Some(480),
                    cause: HangupCause::RingTimeout,
                };
            }
            Ringing::CallerLeft => {
                info!("the caller cancelled: cancelling the outbound leg");
                self.respond(487, "Request Terminated", false).await;
                self.abandon(&mut out).await;
                return End {
                    outcome: Outcome::Cancelled,
                    code: Some(487),
                    cause: HangupCause::Cancelled,
                };
            }
            Ringing::Shutdown => {
                self.respond(503, "Service Unavailable", false).await;
                self.abandon(&mut out).await;
                return End {
                    outcome: Outcome::Failed,
                    code: Some(503),
                    cause: HangupCause::Shutdown,
                };
            }
            Ringing::EngineGone => return self.engine_gone(),
        };
        let far = match self.connect(&mut out, &response, t0).await {
            Ok(far) => far,
            Err(e) => {
                warn!(error = %e, "refusing the call");
                let status = match e {
                    ConnectError::NoDialog => 502,
                    ConnectError::NoMedia => 503,
                };
                return self
                    .refuse(status, build_reason(status), HangupCause::TrunkFailed)
                    .await;
            }
        };
        // Answer the caller, and start recording.
        let response = self.answer_response(200, "OK", &answer_sdp);
        match Dialog::uas(&self.call.invite, &response) {
            Ok(d) => self.dialog = Some(d),
            Err(e) => warn!(error = %e, "cannot form a dialog from our 200"),
        }
        self.send_invite_response(response).await;
        self.call.record.answered_at_ms = Some(now_ms());
        let recording = self.start_recording(&media, leg_a.media_us(Instant::now()));
        let caller = CallerMedia {
            rtp: leg_a,
            local: local_a,
            last_sdp: answer_sdp,
            recording,
            acked: false,
        };
        self.talk_to_end(out, far, caller).await
    }

    /// Places the outbound leg: our offer (from `lease`, the codecs the
    /// trunk is configured with or the caller's first), the INVITE to
    /// `number` from `caller` sent. Ringing is [`Actor::ring`]'s. A leg
    /// `through` a trunk (not an agent's SIP phone) is named in the call
    /// record (`out_trunk`, `out_sip_call_id`), for carrier disputes.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn call_out(
        &mut self,
        through: Option<&str>,
        target: TrunkTarget,
        outbound: &crate::config::TrunkOutbound,
        lease: PortLease,
        caller_codec: Codec,
        number: &str,
        caller: &str,
    ) -> OutLeg {
        let media = &self.ctx.media;
        let session = now_ms().unsigned_abs().wrapping_add(1);
        let mut local = LocalMedia::new(media.announce_ip, lease.port(), session);
        local.codecs = codecs_for_trunk(&outbound.codecs, caller_codec);
        let offer = sdp::offer(&local);
        let invite = outbound::invite(
            &target,
            number,
            caller,
            Some(&self.call.invite),
            &self.ctx.contact,
            offer.to_bytes(),
        );
        info!(%number, destination = %target.destination, leg_call_id = %invite.headers.call_id, "calling out");
        if let Some(trunk) = through {
            self.call.record.out_trunk = Some(trunk.to_owned());
            self.call.record.out_sip_call_id = Some(invite.headers.call_id.clone());
        }
        let out = OutLeg {
            call_id: invite.headers.call_id.clone(),
            target,
            invite,
            offer,
            local,
            lease: Some(lease),
            rtp: None,
            auth_tried: false,
        };
        self.send_out(&out, out.invite.clone()).await;
        out
    }

    /// From our INVITE to the far end's final response (digest
    /// challenges answered once), or until the caller leaves, the ring
    /// timeout passes or the server stops. The outbound leg is left as it
    /// is: [`Actor::abandon`] it unless it answered or refused.
    #[allow(clippy::too_many_lines)]
    pub(super) async fn ring(
        &mut self,
        out: &mut OutLeg,
        leg_a: &mut RtpLeg,
        mut caller: Caller<'_>,
        t0: Instant,
        ring_timeout: Duration,
    ) -> Ringing {
        let bind_ip = self.ctx.media.bind_ip;
        let deadline = tokio::time::sleep(ring_timeout);
        tokio::pin!(deadline);
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let answered = matches!(caller, Caller::Answered { .. });
        let mut ringing_sent = false;
        // Whether the far end's early media reaches the caller.
        let mut early = false;
        loop {
            tokio::select! {
                () = self.ctx.hard_stop.cancelled() => return Ringing::Shutdown,
                () = &mut deadline => return Ringing::NoAnswer,
                input = self.input.recv() => match input {
                    None => return Ringing::EngineGone,
                    Some(CallInput::Cancelled) if !answered => return Ringing::CallerLeft,
                    Some(CallInput::Response { response, .. }) if outbound::is_invite_response(&response, &out.call_id) => {
                        match response.status {
                            100 => {}
                            101..=199 => {
                                let has_sdp = !response.body.is_empty();
                                if has_sdp && !early && out.accept(&response.body, t0, bind_ip).await {
                                    early = true;
                                    if let Caller::Waiting { answer_sdp } = &caller {
                                        // Answer the caller's offer in a 183
                                        // and let the far end's tones through.
                                        let r = self.answer_response(183, "Session Progress", answer_sdp);
                                        self.send_invite_response(r).await;
                                    }
                                } else if !ringing_sent && !early && !answered {
                                    ringing_sent = true;
                                    self.respond(180, "Ringing", false).await;
                                }
                            }
                            200..=299 => return Ringing::Answered(Box::new(response)),
                            401 | 407 if !out.auth_tried => {
                                match outbound::authorized_retry(&out.invite, &response, &out.target) {
                                    Some(retry) => {
                                        info!("the trunk challenged: sending credentials");
                                        out.auth_tried = true;
                                        out.invite = retry.clone();
                                        self.send_out(out, retry).await;
                                    }
                                    None => return Ringing::Refused { response: Box::new(response), cause: HangupCause::TrunkFailed },
                                }
                            }
                            401 | 407 => return Ringing::Refused { response: Box::new(response), cause: HangupCause::TrunkFailed },
                            _ if outbound::remote_tag(&response).is_none() => {
                                return Ringing::Refused { response: Box::new(response), cause: HangupCause::TrunkFailed };
                            }
                            _ => return Ringing::Refused { response: Box::new(response), cause: HangupCause::CalleeRejected },
                        }
                    }
                    Some(CallInput::Request { tx, request }) if request.headers.call_id == out.call_id => {
                        // Nothing but an early BYE can come from the far end now.
                        self.answer_while_ending(tx, &request).await;
                    }
                    Some(other) => match &mut caller {
                        Caller::Waiting { .. } => self.unexpected(other).await,
                        Caller::Answered { local, last_sdp, recording, acked } => match other {
                            CallInput::Ack { .. } => **acked = true,
                            CallInput::Request { tx, request } => match request.method {
                                Method::Bye => {
                                    self.respond_on(tx, &request, 200, "OK", None).await;
                                    info!("the caller hung up during the transfer");
                                    return Ringing::CallerLeft;
                                }
                                Method::Invite => self.reinvite(tx, &request, leg_a, local, last_sdp).await,
                                // Keys (SIP INFO) are ignored while it rings.
                                _ => self.unexpected(CallInput::Request { tx, request }).await,
                            },
                            CallInput::Control(control) => {
                                let now_us = leg_a.media_us(Instant::now());
                                crate::call::recording::control(recording.as_mut(), control, now_us, self.call.record.agent.as_deref());
                            }
                            other => self.unexpected(other).await,
                        },
                    },
                },
                received = leg_a.recv() => {
                    // The caller's audio has nowhere to go before the
                    // answer; an answered caller's is recorded.
                    match received {
                        Ok(Received::Audio { at_us, len }) => {
                            if let Caller::Answered { recording: Some(r), .. } = &mut caller {
                                r.recorder.push(Side::Caller, at_us, leg_a.decoded(len));
                            }
                        }
                        Ok(_) => {}
                        Err(e) => debug!(error = %e, "RTP receive failed"),
                    }
                    // Keys pressed while it rings are dropped.
                    while leg_a.poll_digit(Instant::now()).is_some() {}
                }
                received = recv_on(&mut out.rtp) => {
                    if let Ok(Received::Audio { at_us, len }) = &received {
                        // Both legs keep time from `t0`.
                        if let (Caller::Answered { recording: Some(r), .. }, Some(rtp)) = (&mut caller, out.rtp.as_ref()) {
                            r.recorder.push(Side::Other, *at_us, rtp.decoded(*len));
                        }
                    }
                    if matches!(received, Ok(Received::Audio { .. } | Received::Event)) && early {
                        if let Some((packet, payload)) = out.rtp.as_ref().and_then(|l| l.last_packet()) {
                            leg_a.relay(packet, payload, Instant::now()).await;
                        }
                    }
                }
                _ = tick.tick(), if answered => {
                    let now_us = leg_a.media_us(Instant::now());
                    if let Caller::Answered { recording, .. } = &mut caller {
                        if let Some(r) = recording.as_mut() {
                            if let Err(e) = r.recorder.tick(now_us) {
                                warn!(error = %e, "recording failed; the call goes on unrecorded");
                                **recording = None;
                            }
                        }
                    }
                    while leg_a.poll_digit(Instant::now()).is_some() {}
                }
            }
        }
    }

    /// The far end answered: ACKs its 2xx and sets up its media. When its
    /// answer cannot be used, it is hung up (BYE when a dialog formed).
    pub(super) async fn connect(
        &mut self,
        out: &mut OutLeg,
        answered: &Response,
        t0: Instant,
    ) -> Result<Connected, ConnectError> {
        let mut dialog = Dialog::uac(&out.invite, answered).map_err(|e| {
            warn!(error = %e, "the far end's 2xx forms no dialog");
            ConnectError::NoDialog
        })?;
        let ack = dialog.ack_for_2xx(out.invite.headers.cseq.seq);
        self.send_ack(out, ack.clone()).await;
        let usable = out.accept(&answered.body, t0, self.ctx.media.bind_ip).await;
        match out.rtp.take().filter(|_| usable) {
            Some(rtp) => Ok(Connected { dialog, ack, rtp }),
            None => {
                let (destination, transport) =
                    (out.target.destination, out.target.transport.clone());
                self.bye(&mut dialog, destination, transport).await;
                Err(ConnectError::NoMedia)
            }
        }
    }

    /// The far end refused (or never answered): tell the caller.
    async fn far_refused(&mut self, response: &Response, cause: HangupCause) -> End {
        let status = caller_status(response.status);
        info!(
            far_status = response.status,
            status, "the outbound leg failed"
        );
        let reason = if status == response.status && !response.reason.is_empty() {
            response.reason.clone()
        } else {
            build_reason(status).to_owned()
        };
        self.respond(status, &reason, false).await;
        End {
            outcome: outcome_for_final_status(status),
            code: Some(status),
            cause,
        }
    }

    /// A response to the caller's INVITE carrying our SDP answer.
    pub(super) fn answer_response(
        &self,
        status: u16,
        reason: &str,
        sdp: &SessionDescription,
    ) -> Response {
        let mut response = self.response(status, reason);
        response.headers.contact = vec![Contact::Addr(NameAddr {
            display_name: None,
            uri: self.ctx.contact.clone(),
            params: Vec::new(),
        })];
        response.headers.content_type = Some("application/sdp".into());
        response.body = sdp.to_bytes();
        response
    }

    /// Sends a request of the outbound leg to the trunk.
    pub(super) async fn send_out(&self, out: &OutLeg, request: Request) {
        self.send(SipCommand::Request {
            call_id: self.call.record.sip_call_id.clone(),
            request,
            destination: out.target.destination,
            transport: out.target.transport.clone(),
        })
        .await;
    }

    /// Gives up the outbound leg before it answered: CANCEL, and if a 2xx
    /// crosses the CANCEL, ACK and BYE it so the far end is not left up.
    pub(super) async fn abandon(&mut self, out: &mut OutLeg) {
        self.send(SipCommand::Cancel {
            leg_call_id: out.call_id.clone(),
        })
        .await;
        let answered = self
            .await_final(&out.call_id, &Method::Invite)
            .await
            .filter(|r| (200..300).contains(&r.status));
        if let Some(response) = answered {
            info!("the far end answered as we cancelled: hanging it up");
            if let Ok(mut dialog) = Dialog::uac(&out.invite, &response) {
                let ack = dialog.ack_for_2xx(out.invite.headers.cseq.seq);
                self.send_ack(out, ack).await;
                let bye = dialog.request(Method::Bye);
                self.send_out(out, bye).await;
            }
        }
    }

    /// Sends the ACK for the outbound leg's 2xx.
    pub(super) async fn send_ack(&self, out: &OutLeg, ack: Request) {
        self.send(SipCommand::Ack {
            request: ack,
            destination: out.target.destination,
            transport: out.target.transport.clone(),
        })
        .await;
    }

    /// Sends BYE in `dialog` to `destination` and waits (bounded) for its
    /// final response, answering a crossing BYE.
    pub(super) async fn bye(
        &mut self,
        dialog: &mut Dialog,
        destination: SocketAddr,
        transport: Transport,
    ) {
        let bye = dialog.request(Method::Bye);
        let call_id = bye.headers.call_id.clone();
        self.send(SipCommand::Request {
            call_id: self.call.record.sip_call_id.clone(),
            request: bye,
            destination,
            transport,
        })
        .await;
        let _ = self.await_final(&call_id, &Method::Bye).await;
    }

    /// Waits (at most [`FINAL_WAIT`]) for the final response to our
    /// `method` request on the leg whose Call-ID is `call_id`, answering
    /// whatever requests arrive meanwhile. `None` on timeout, when the
    /// engine is gone, or when that leg's peer sends BYE itself (glare).
    async fn await_final(&mut self, call_id: &str, method: &Method) -> Option<Response> {
        let wait = tokio::time::sleep(FINAL_WAIT);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                () = &mut wait => return None,
                input = self.input.recv() => match input? {
                    CallInput::Response { response, .. }
                        if response.headers.call_id == call_id
                            && &response.headers.cseq.method == method
                            && response.status >= 200 => return Some(response),
                    CallInput::Request { tx, request } => {
                        self.answer_while_ending(tx, &request).await;
                        if request.method == Method::Bye && request.headers.call_id == call_id {
                            return None;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

impl Actor {
    /// Answers a request that arrives while a leg is being ended: a BYE
    /// gets 200 (both hung up at once), anything else 481.
    pub(in crate::call) async fn answer_while_ending(
        &mut self,
        tx: hibiki_sip::endpoint::ServerTxId,
        request: &Request,
    ) {
        let status = if request.method == Method::Bye {
            200
        } else {
            481
        };
        self.respond_on(tx, request, status, build_reason(status), None)
            .await;
    }
}

fn build_reason(status: u16) -> &'static str {
    super::actor::default_reason(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trunk_is_offered_the_callers_codec_first_unless_configured() {
        assert_eq!(
            codecs_for_trunk(&[], Codec::Pcma),
            vec![Codec::Pcma, Codec::Pcmu]
        );
        assert_eq!(
            codecs_for_trunk(&[], Codec::Pcmu),
            vec![Codec::Pcmu, Codec::Pcma]
        );
        assert_eq!(
            codecs_for_trunk(&[CodecName::Pcmu], Codec::Pcma),
            vec![Codec::Pcmu]
        );
    }

    #[test]
    fn the_caller_hears_the_far_ends_refusal_except_trunk_matters() {
        assert_eq!(caller_status(486), 486);
        assert_eq!(caller_status(404), 404);
        assert_eq!(caller_status(603), 603);
        assert_eq!(caller_status(302), 480);
        assert_eq!(caller_status(407), 503);
        assert_eq!(caller_status(401), 503);
    }
}
