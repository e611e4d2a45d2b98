//! A bridged call once the far end answered and the caller is answered
//! (the trunk route answers at this moment; an IVR transfer's caller was
//! answered by the flow): the two legs' RTP is relayed both ways (payload passthrough when the codecs
//! match, µ-law ↔ A-law otherwise; RFC 4733 events under each leg's own
//! payload type; SIP INFO digits re-sent as INFO on the other leg), both
//! sides are recorded (caller left, far end right), re-INVITEs are
//! answered per leg (hold and resume stay between a party and Hibiki),
//! and when one party hangs up the other is hung up too.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hibiki_sip::dialog::Dialog;
use hibiki_sip::sdp::{self, LocalMedia, SessionDescription};
use hibiki_sip::{Method, Request};
use tracing::{info, warn};

use super::hold::HoldMusic;
use super::next_agent_event;
use super::parking::{BridgeLegs, Here, MediaWoke, Party};
use super::{build_reason, CallerMedia, Connected, OutLeg};
use crate::acd::service::{CallControl, QueueEvent};
use crate::call::actor::{Actor, End};
use crate::call::bridge::browser::Talked;
use crate::call::outcome::HangupCause;
use crate::call::recording::Recording;
use crate::call::{CallInput, SipCommand};
use crate::media::leg::{Received, RtpLeg};
use crate::media::plane::PlaneEvent;
use crate::media::recording::Side;
use crate::store::Outcome;

/// Answers a re-INVITE's offer from the leg's own port and media: the
/// new negotiation and the SDP to send (version bumped), or `None` for 488.
fn reanswer(
    request: &Request,
    local: &LocalMedia,
    last: &SessionDescription,
) -> Option<(sdp::Negotiated, SessionDescription)> {
    let offer = SessionDescription::parse(&request.body).ok()?;
    let answer = sdp::answer(&offer, local).ok()?;
    Some((answer.negotiated, answer.sdp.versioned_after(last)))
}

/// What to do with a datagram `from` received: record its audio on the
/// party's channel, relay it (audio or event) onto `to`, report digits.
async fn pass_on(
    received: std::io::Result<Received>,
    from: &mut RtpLeg,
    to: &mut RtpLeg,
    recording: Option<&mut Recording>,
    party: Party,
) {
    let now = Instant::now();
    let (side, name) = match party {
        Party::Caller => (Side::Caller, "caller"),
        Party::Callee => (Side::Other, "callee"),
    };
    match received {
        Ok(Received::Audio { at_us, len }) => {
            if let Some(r) = recording {
                r.recorder.push(side, at_us, from.decoded(len));
            }
        }
        Ok(_) => {}
        Err(e) => warn!(error = %e, "RTP receive failed"),
    }
    if let Some((packet, payload)) = from.last_packet() {
        to.relay(packet, payload, now).await;
    }
    while let Some((digit, via)) = from.poll_digit(now) {
        info!(%digit, via, party = name, "dtmf digit");
    }
}

impl Actor {
    /// Runs the answered bridge to its end: the far end connected, the
    /// caller answered (by the trunk route just now, or long before by
    /// an IVR flow whose recording goes on here). Returns how it ended
    /// (an agent on a SIP phone may transfer the caller) and the caller's
    /// media, its recording still open (`None` only if the media plane
    /// lost the legs: the call is over then).
    ///
    /// Whenever the caller is not on hold, the legs and the recording are
    /// parked on the media plane (if there is one), which relays and
    /// records them; this task takes them back for whatever needs them.
    #[allow(clippy::too_many_lines)]
    pub(in crate::call) async fn talk(
        &mut self,
        out: OutLeg,
        far: Connected,
        caller: CallerMedia,
    ) -> (Talked, Option<CallerMedia>) {
        let media = Arc::clone(&self.ctx.media);
        let Connected {
            dialog: mut dialog_b,
            ack,
            rtp: leg_b,
        } = far;
        let CallerMedia {
            rtp: leg_a,
            local: local_a,
            last_sdp: mut last_sdp_a,
            recording,
            mut acked,
        } = caller;
        info!(
            caller_codec = ?leg_a.target().law,
            callee_codec = ?leg_b.target().law,
            "bridged"
        );
        let mut legs = BridgeLegs::Here(Box::new(Here {
            a: leg_a,
            b: leg_b,
            recording,
        }));
        let mut last_sdp_b = sdp::offer(&out.local);
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut media_since = Instant::now();
        let (b_destination, b_transport) = (out.target.destination, out.target.transport.clone());
        let lost = End {
            outcome: Outcome::Answered,
            code: Some(200),
            cause: HangupCause::NoMediaPorts,
        };

        // Made once, not per packet: a cancellation future registers with
        // the token on creation.
        let stopping = self.ctx.hard_stop.clone().cancelled_owned();
        tokio::pin!(stopping);
        // A queued call's agent may hang up from their screen: the ACD's
        // events are read here (the call ends after the talk anyway).
        let mut agent_events = self
            .queued
            .as_mut()
            .map(|q| std::mem::replace(&mut q.events, tokio::sync::mpsc::channel(1).1));
        // An agent's phone on hold: the caller hears the queue's music.
        let mut hold = HoldMusic::for_call(self);
        let mut source = 20_000u32;
        let talked = loop {
            // The plane relays and records while this task has nothing to
            // add (hold music is played from here).
            if !hold.is_on() {
                if let Some(plane) = media.plane.as_ref() {
                    legs.park(plane, media_since);
                }
            }
            if legs.is_lost() {
                self.hang_up().await;
                self.bye(&mut dialog_b, b_destination, b_transport.clone())
                    .await;
                break Talked::Ended(lost);
            }
            let parked = legs.is_parked();
            tokio::select! {
                Some(event) = next_agent_event(&mut agent_events) => {
                    match &event {
                        QueueEvent::Control(CallControl::Hold) if !hold.is_on() => {
                            let Some(here) = legs.here().await else {
                                self.hang_up().await;
                                self.bye(&mut dialog_b, b_destination, b_transport.clone()).await;
                                break Talked::Ended(lost);
                            };
                            hold.start(here.a.media_us(Instant::now()));
                            info!("the agent put the caller on hold");
                            source = source.wrapping_add(1);
                        }
                        QueueEvent::Control(CallControl::Resume) if hold.stop() => {
                            info!("the agent took the caller off hold");
                        }
                        QueueEvent::Control(CallControl::Transfer(target)) => {
                            info!(?target, "the agent transfers the caller");
                            self.bye(&mut dialog_b, b_destination, b_transport.clone()).await;
                            break Talked::Transfer(target.clone());
                        }
                        _ => {}
                    }
                    if matches!(event, crate::acd::service::QueueEvent::AgentHangup) {
                        info!("the agent hung up from their screen");
                        self.hang_up().await;
                        self.bye(&mut dialog_b, b_destination, b_transport.clone()).await;
                        break Talked::Ended(End { outcome: Outcome::Answered, code: Some(200), cause: HangupCause::AgentHangup });
                    }
                }
                () = &mut stopping => {
                    self.hang_up().await;
                    self.bye(&mut dialog_b, b_destination, b_transport.clone()).await;
                    break Talked::Ended(End { outcome: Outcome::Answered, code: Some(200), cause: HangupCause::Shutdown });
                }
                input = self.input.recv() => {
                    let Some(input) = input else { break Talked::Ended(self.engine_gone()) };
                    match input {
                        CallInput::Ack { .. } => acked = true,
                        CallInput::AckTimeout if !acked => {
                            warn!("the caller never acknowledged our 200: hanging up");
                            self.hang_up().await;
                            self.bye(&mut dialog_b, b_destination, b_transport.clone()).await;
                            break Talked::Ended(End { outcome: Outcome::Answered, code: Some(200), cause: HangupCause::AckTimeout });
                        }
                        CallInput::Response { response, .. } => {
                            // A retransmitted 2xx: our ACK was lost.
                            if response.headers.call_id == out.call_id
                                && response.headers.cseq.method == Method::Invite
                                && (200..300).contains(&response.status)
                            {
                                self.send_ack(&out, ack.clone()).await;
                            }
                        }
                        CallInput::Request { tx, request } => {
                            let party = if request.headers.call_id == out.call_id { Party::Callee } else { Party::Caller };
                            let dialog = match party {
                                Party::Caller => self.dialog.as_mut(),
                                Party::Callee => Some(&mut dialog_b),
                            };
                            if let Some(Err(e)) = dialog.map(|d| d.on_request(&request)) {
                                self.respond_on(tx, &request, e.status(), "Out of Order", None).await;
                                continue;
                            }
                            match (request.method.clone(), party) {
                                (Method::Bye, Party::Caller) => {
                                    self.respond_on(tx, &request, 200, "OK", None).await;
                                    info!("the caller hung up");
                                    self.bye(&mut dialog_b, b_destination, b_transport.clone()).await;
                                    break Talked::Ended(End { outcome: Outcome::Answered, code: Some(200), cause: HangupCause::Normal });
                                }
                                (Method::Bye, Party::Callee) => {
                                    self.respond_on(tx, &request, 200, "OK", None).await;
                                    info!("the called party hung up");
                                    self.hang_up().await;
                                    break Talked::Ended(End { outcome: Outcome::Answered, code: Some(200), cause: HangupCause::CalleeHungUp });
                                }
                                (Method::Invite, party) => {
                                    let (local, last) = match party {
                                        Party::Caller => (&local_a, &mut last_sdp_a),
                                        Party::Callee => (&out.local, &mut last_sdp_b),
                                    };
                                    match reanswer(&request, local, last) {
                                        Some((negotiated, sdp)) => {
                                            let Some(here) = legs.here().await else {
                                                self.respond_on(tx, &request, 500, "Server Internal Error", None).await;
                                                self.hang_up().await;
                                                self.bye(&mut dialog_b, b_destination, b_transport.clone()).await;
                                                break Talked::Ended(lost);
                                            };
                                            info!(direction = ?negotiated.direction, ?party, "re-INVITE");
                                            match party {
                                                Party::Caller => here.a.renegotiate(negotiated),
                                                Party::Callee => here.b.renegotiate(negotiated),
                                            }
                                            media_since = Instant::now();
                                            let body = sdp.to_bytes();
                                            *last = sdp;
                                            self.respond_on(tx, &request, 200, "OK", Some(body)).await;
                                        }
                                        None => self.respond_on(tx, &request, 488, "Not Acceptable Here", None).await,
                                    }
                                }
                                (Method::Info, from) => {
                                    // DTMF by SIP INFO: passed on as INFO to the other party.
                                    self.respond_on(tx, &request, 200, "OK", None).await;
                                    self.pass_info(&request, from, &mut dialog_b, &out).await;
                                }
                                (Method::Options | Method::Update, _) => {
                                    self.respond_on(tx, &request, 200, "OK", None).await;
                                }
                                (Method::Ack, _) => {}
                                _ => self.respond_on(tx, &request, 501, build_reason(501), None).await,
                            }
                        }
                        CallInput::Control(control) => {
                            let here = legs.here().await;
                            let now_us = here.as_ref().map_or(0, |h| h.a.media_us(Instant::now()));
                            crate::call::recording::control(here.and_then(|h| h.recording.as_mut()), control, now_us, self.call.record.agent.as_deref());
                        }
                        other => self.unexpected(other).await,
                    }
                }
                woke = legs.next() => match woke {
                    MediaWoke::Packet(party, received) => {
                        let Some(here) = legs.here_now() else { continue };
                        let (from, to) = match party {
                            Party::Caller => (&mut here.a, &mut here.b),
                            Party::Callee => (&mut here.b, &mut here.a),
                        };
                        if hold.is_on() {
                            // The caller is recorded, not heard by the
                            // agent; the agent's phone is not heard.
                            if let (Party::Caller, Ok(Received::Audio { at_us, len })) = (party, received) {
                                if let Some(r) = here.recording.as_mut() {
                                    r.recorder.push(Side::Caller, at_us, from.decoded(len));
                                }
                            }
                            while from.poll_digit(Instant::now()).is_some() {}
                        } else {
                            pass_on(received, from, to, here.recording.as_mut(), party).await;
                        }
                    }
                    MediaWoke::Plane(Some(PlaneEvent::MediaTimeout)) => {
                        warn!(limit = ?media.timeout, "no RTP from a party: hanging up both");
                        self.hang_up().await;
                        self.bye(&mut dialog_b, b_destination, b_transport.clone()).await;
                        break Talked::Ended(End { outcome: Outcome::Answered, code: Some(200), cause: HangupCause::MediaTimeout });
                    }
                    // (Logged by the plane; the call goes on unrecorded.
                    // A bridge's digits are only logged; it plays nothing.)
                    MediaWoke::Plane(Some(
                        PlaneEvent::RecordingFailed(_) | PlaneEvent::Digit { .. } | PlaneEvent::PlayFinished,
                    )) => {}
                    MediaWoke::Plane(None) => {
                        self.hang_up().await;
                        self.bye(&mut dialog_b, b_destination, b_transport.clone()).await;
                        break Talked::Ended(lost);
                    }
                },
                _ = tick.tick(), if !parked => {
                    let now = Instant::now();
                    let Some(here) = legs.here_now() else { continue };
                    hold.play(&mut here.a, source, here.recording.as_mut(), now).await;
                    if let Some(r) = here.recording.as_mut() {
                        if let Err(e) = r.recorder.tick(here.a.media_us(now)) {
                            warn!(error = %e, "recording failed; the call goes on unrecorded");
                            here.recording = None;
                        }
                    }
                    // Digits whose end packets were lost end by timeout.
                    for (leg, party) in [(&mut here.a, "caller"), (&mut here.b, "callee")] {
                        while let Some((digit, via)) = leg.poll_digit(now) {
                            info!(%digit, via, party, "dtmf digit");
                        }
                    }
                    if let Some(limit) = media.timeout {
                        let quiet = [&here.a, &here.b].into_iter().any(|leg| {
                            let last = leg.last_received().unwrap_or(media_since).max(media_since);
                            leg.expects_media() && now.saturating_duration_since(last) > limit
                        });
                        if quiet {
                            warn!(?limit, "no RTP from a party: hanging up both");
                            self.hang_up().await;
                            self.bye(&mut dialog_b, b_destination, b_transport.clone()).await;
                            break Talked::Ended(End { outcome: Outcome::Answered, code: Some(200), cause: HangupCause::MediaTimeout });
                        }
                    }
                }
            }
        };
        // The events go back to the call's place in the ACD (a transfer
        // queues again with it).
        if let (Some(q), Some(events)) = (self.queued.as_mut(), agent_events) {
            q.events = events;
        }
        let Some(Here {
            a: leg_a,
            b: leg_b,
            recording,
        }) = legs.into_here().await
        else {
            return (talked, None);
        };
        let (a, b) = (leg_a.stats(), leg_b.stats());
        info!(
            caller_received = a.received,
            caller_sent = a.sent,
            callee_received = b.received,
            callee_sent = b.sent,
            rejected_source = a.rejected_source + b.rejected_source,
            events_held = a.events_held + b.events_held,
            caller_max_late_us = a.max_late_us,
            callee_max_late_us = b.max_late_us,
            "media ended"
        );
        let caller = CallerMedia {
            rtp: leg_a,
            local: local_a,
            last_sdp: last_sdp_a,
            recording,
            acked,
        };
        (talked, Some(caller))
    }

    /// [`Actor::talk`] to the call's end, the recording closed after it
    /// (routes and transfers with no agent to hand the caller on).
    pub(in crate::call) async fn talk_to_end(
        &mut self,
        out: OutLeg,
        far: Connected,
        caller: CallerMedia,
    ) -> End {
        let (talked, caller) = self.talk(out, far, caller).await;
        if let Some(mut caller) = caller {
            if let Some(r) = caller.recording.take() {
                self.finish_recording(r, caller.rtp.media_us(Instant::now()))
                    .await;
            }
        }
        match talked {
            Talked::Ended(end) => end,
            // Only an agent transfers, and an agent's talk is not this.
            Talked::Transfer(_) | Talked::Handover(_) => End {
                outcome: Outcome::Answered,
                code: Some(200),
                cause: HangupCause::Normal,
            },
        }
    }

    /// Re-sends a SIP INFO (DTMF) from one party to the other.
    async fn pass_info(
        &mut self,
        request: &Request,
        from: Party,
        dialog_b: &mut Dialog,
        out: &OutLeg,
    ) {
        let (dialog, destination, transport) = match from {
            Party::Caller => (
                Some(dialog_b),
                out.target.destination,
                out.target.transport.clone(),
            ),
            Party::Callee => (
                self.dialog.as_mut(),
                self.call.source,
                self.call.transport.clone(),
            ),
        };
        let Some(dialog) = dialog else {
            return;
        };
        let mut info = dialog.request(Method::Info);
        info.headers
            .content_type
            .clone_from(&request.headers.content_type);
        info.body = request.body.clone();
        self.send(SipCommand::Request {
            call_id: self.call.record.sip_call_id.clone(),
            request: info,
            destination,
            transport,
        })
        .await;
    }
}
