//! The demo route (`action = "demo"`), a media check without a flow:
//! answer with real media, play a welcome prompt, read back every
//! key pressed (RFC 4733), and hang up after `#` once "goodbye" has played.
//! The whole call is recorded: the caller on the left channel, what Hibiki
//! played on the right.
//!
//! It is the first route with media, so it shows the shape every media
//! route takes: one [`RtpLeg`] owned by the call actor, a prompt
//! [`Player`] and a [`Recorder`] on the call's media clock, all driven from
//! the actor's single select loop.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hibiki_sip::sdp::{self, LocalMedia, SessionDescription};
use hibiki_sip::{Contact, Method, NameAddr};
use tracing::{info, warn};

use super::actor::{now_ms, Actor, End};
use super::media::MediaContext;
use super::outcome::HangupCause;
use super::CallInput;
use crate::media::leg::{Received, RtpLeg};
use crate::media::prompt::player::{Player, PlayerEvent};
use crate::media::recording::Side;
use crate::store::Outcome;

/// A call answered with media by [`Actor::answer_media`].
pub(super) struct AnsweredMedia {
    pub(super) leg: RtpLeg,
    /// Our side of the session (for re-INVITE answers).
    pub(super) local: LocalMedia,
    /// The SDP we sent last.
    pub(super) last_sdp: SessionDescription,
    /// Whether the INVITE had no offer (the ACK brings the answer).
    pub(super) late: bool,
}

/// The prompt that names `digit`.
fn digit_prompt(digit: char) -> String {
    match digit {
        '*' => "digit-star".to_owned(),
        '#' => "digit-pound".to_owned(),
        d => format!("digit-{d}"),
    }
}

/// The player that reads `digit` back (and says goodbye after `#`), and
/// whether the call ends when it finishes. Barge-in: it replaces whatever
/// was playing.
fn read_back(media: &MediaContext, digit: char, now_us: u64) -> (Player, bool) {
    let mut prompts = media.prompt(&digit_prompt(digit));
    let last = digit == '#';
    if last {
        prompts.extend(media.prompt("goodbye"));
    }
    (Player::new(prompts, now_us), last)
}

/// The digit of a SIP INFO: `application/dtmf-relay` (`Signal=5`) or
/// `application/dtmf` (the digit itself).
pub(super) fn info_digit(request: &hibiki_sip::Request) -> Option<char> {
    let media = request
        .headers
        .content_type
        .as_deref()?
        .split(';')
        .next()?
        .trim()
        .to_ascii_lowercase();
    let body = std::str::from_utf8(&request.body).ok()?;
    let token = match media.as_str() {
        "application/dtmf-relay" => body.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            k.trim().eq_ignore_ascii_case("signal").then(|| v.trim())
        })?,
        "application/dtmf" => body.trim(),
        _ => return None,
    };
    let mut chars = token.chars();
    let c = chars.next()?.to_ascii_uppercase();
    let digit = match (c, chars.next()) {
        ('1'..='9' | '0' | '*' | '#' | 'A'..='D', None) => c,
        _ => match token {
            "10" => '*',
            "11" => '#',
            _ => return None,
        },
    };
    Some(digit)
}

impl Actor {
    /// Runs the demo route to its end.
    pub(super) async fn run_demo(&mut self) -> End {
        let media = Arc::clone(&self.ctx.media);
        let t0 = Instant::now();
        let AnsweredMedia {
            mut leg,
            local,
            mut last_sdp,
            late,
        } = match self.answer_media(&media, t0).await {
            Ok(a) => a,
            Err(end) => return end,
        };

        let mut recording = self.start_recording(&media, leg.media_us(Instant::now()));
        let mut player = Player::new(media.prompt("welcome"), leg.media_us(Instant::now()));
        let mut source: u32 = 1;
        let mut hang_up_after_prompt = false;
        let mut acked = late;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        // The media timeout counts from the answer, or the last re-INVITE.
        let mut media_since = Instant::now();

        // Made once, not per packet: a cancellation future registers with
        // the token on creation.
        let stopping = self.ctx.hard_stop.clone().cancelled_owned();
        tokio::pin!(stopping);
        let end = loop {
            tokio::select! {
                () = &mut stopping => {
                    self.hang_up().await;
                    break End { outcome: Outcome::Answered, code: Some(200), cause: HangupCause::Shutdown };
                }
                input = self.input.recv() => match input {
                    Some(CallInput::Ack { .. }) => acked = true,
                    Some(CallInput::AckTimeout) if !acked => {
                        self.hang_up().await;
                        break End { outcome: Outcome::Answered, code: Some(200), cause: HangupCause::AckTimeout };
                    }
                    Some(CallInput::Request { tx, request }) if request.method == Method::Bye => {
                        self.respond_on(tx, &request, 200, "OK", None).await;
                        info!("caller hung up");
                        break End { outcome: Outcome::Answered, code: Some(200), cause: HangupCause::Normal };
                    }
                    Some(CallInput::Request { tx, request }) if request.method == Method::Info => {
                        // SIP INFO DTMF (application/dtmf-relay, application/dtmf).
                        let digit = info_digit(&request);
                        self.respond_on(tx, &request, 200, "OK", None).await;
                        if let Some(digit) = digit {
                            info!(%digit, via = "sip-info", "dtmf digit");
                            if !hang_up_after_prompt {
                                let now_us = leg.media_us(Instant::now());
                                (player, hang_up_after_prompt) = read_back(&media, digit, now_us);
                                source = source.wrapping_add(1);
                            }
                        }
                    }
                    Some(CallInput::Request { tx, request }) if request.method == Method::Invite => {
                        self.reinvite(tx, &request, &mut leg, &local, &mut last_sdp).await;
                        media_since = Instant::now();
                    }
                    Some(CallInput::Control(control)) => {
                        let now_us = leg.media_us(Instant::now());
                        super::recording::control(recording.as_mut(), control, now_us, self.call.record.agent.as_deref());
                    }
                    Some(other) => self.unexpected(other).await,
                    None => break self.engine_gone(),
                },
                received = leg.recv() => {
                    let now = Instant::now();
                    match received {
                        Ok(Received::Audio { at_us, len }) => {
                            if let Some(r) = recording.as_mut() {
                                r.recorder.push(Side::Caller, at_us, leg.decoded(len));
                            }
                        }
                        Ok(Received::Event | Received::Ignored) => {}
                        Err(e) => warn!(error = %e, "RTP receive failed"),
                    }
                    while let Some((digit, via)) = leg.poll_digit(now) {
                        info!(%digit, via, "dtmf digit");
                        if !hang_up_after_prompt {
                            (player, hang_up_after_prompt) = read_back(&media, digit, leg.media_us(now));
                            source = source.wrapping_add(1);
                        }
                    }
                }
                _ = tick.tick() => {
                    let now = Instant::now();
                    let now_us = leg.media_us(now);
                    while let Some(event) = player.poll(now_us) {
                        match event {
                            PlayerEvent::Frame(frame) => {
                                leg.send_pcm(source, &frame.samples, now).await;
                                if let Some(r) = recording.as_mut() {
                                    r.recorder.push(Side::Other, frame.deadline_us, &frame.samples);
                                }
                            }
                            PlayerEvent::Finished(_) => {}
                        }
                    }
                    if let Some(r) = recording.as_mut() {
                        if let Err(e) = r.recorder.tick(now_us) {
                            warn!(error = %e, "recording failed; the call goes on unrecorded");
                            recording = None;
                        }
                    }
                    // Digits whose end packets were lost end by timeout.
                    while let Some((digit, via)) = leg.poll_digit(now) {
                        info!(%digit, via, "dtmf digit");
                        if !hang_up_after_prompt {
                            (player, hang_up_after_prompt) = read_back(&media, digit, now_us);
                            source = source.wrapping_add(1);
                        }
                    }
                    if hang_up_after_prompt && player.finished().is_some() {
                        self.hang_up().await;
                        break End { outcome: Outcome::Answered, code: Some(200), cause: HangupCause::Normal };
                    }
                    if let Some(limit) = media.timeout.filter(|_| leg.expects_media()) {
                        let last = leg.last_received().unwrap_or(media_since).max(media_since);
                        if now.saturating_duration_since(last) > limit {
                            warn!(?limit, "no RTP from the caller: hanging up");
                            self.hang_up().await;
                            break End { outcome: Outcome::Answered, code: Some(200), cause: HangupCause::MediaTimeout };
                        }
                    }
                }
            }
        };
        let stats = leg.stats();
        info!(
            received = stats.received,
            sent = stats.sent,
            rejected_source = stats.rejected_source,
            "media ended"
        );
        if let Some(r) = recording {
            self.finish_recording(r, leg.media_us(Instant::now())).await;
        }
        end
    }

    /// Answers the call with media: a port from the pool, our answer to
    /// the INVITE's offer (or our offer in the 200 when the INVITE had
    /// none: late offer), the RTP leg bound. Refuses the call (503, 488)
    /// when that cannot be done.
    pub(super) async fn answer_media(
        &mut self,
        media: &MediaContext,
        t0: Instant,
    ) -> Result<AnsweredMedia, End> {
        let Some(lease) = media.ports.lease() else {
            warn!("no RTP port free: refusing the call");
            return Err(self
                .refuse(503, "Service Unavailable", HangupCause::NoMediaPorts)
                .await);
        };
        let local = LocalMedia::new(media.announce_ip, lease.port(), now_ms().unsigned_abs());
        let late = self.call.invite.body.is_empty();
        let (negotiated, last_sdp) = if late {
            // Late offer: our 200 carried the offer, the ACK the answer.
            self.late_offer(&local).await?
        } else {
            let a = self.answer_offer(&local).await?;
            (a.negotiated, a.sdp)
        };
        let leg = match RtpLeg::bind(lease, media.bind_ip, negotiated, t0).await {
            Ok(l) => l,
            Err(e) if late => {
                warn!(error = %e, "cannot bind RTP; hanging up");
                self.hang_up().await;
                return Err(End {
                    outcome: Outcome::Answered,
                    code: Some(200),
                    cause: HangupCause::NoMediaPorts,
                });
            }
            Err(e) => {
                warn!(error = %e, "cannot bind RTP");
                return Err(self
                    .refuse(503, "Service Unavailable", HangupCause::NoMediaPorts)
                    .await);
            }
        };
        if !late {
            self.answer_with(&last_sdp).await;
        }
        info!(
            codec = ?negotiated.codec,
            rtp = %leg.local_addr(),
            remote = %negotiated.remote,
            late_offer = late,
            "answered with media"
        );
        Ok(AnsweredMedia {
            leg,
            local,
            last_sdp,
            late,
        })
    }

    /// Answers a re-INVITE (hold, resume, a new address) from the leg's
    /// own port, and makes the leg follow what it negotiated; 488 when
    /// its offer is unusable.
    pub(super) async fn reinvite(
        &mut self,
        tx: hibiki_sip::endpoint::ServerTxId,
        request: &hibiki_sip::Request,
        leg: &mut RtpLeg,
        local: &LocalMedia,
        last_sdp: &mut SessionDescription,
    ) {
        let renegotiated = SessionDescription::parse(&request.body)
            .ok()
            .and_then(|o| sdp::answer(&o, local).ok());
        match renegotiated {
            Some(a) => {
                let sdp = a.sdp.versioned_after(last_sdp);
                info!(direction = ?a.negotiated.direction, "re-INVITE");
                leg.renegotiate(a.negotiated);
                let body = sdp.to_bytes();
                *last_sdp = sdp;
                self.respond_on(tx, request, 200, "OK", Some(body)).await;
            }
            None => {
                self.respond_on(tx, request, 488, "Not Acceptable Here", None)
                    .await;
            }
        }
    }

    /// Sends the 200 with `sdp` (an answer, or our offer) and forms the
    /// dialog.
    async fn answer_with(&mut self, sdp: &SessionDescription) {
        let mut response = self.response(200, "OK");
        response.headers.contact = vec![Contact::Addr(NameAddr {
            display_name: None,
            uri: self.ctx.contact.clone(),
            params: Vec::new(),
        })];
        response.headers.content_type = Some("application/sdp".into());
        response.body = sdp.to_bytes();
        match hibiki_sip::dialog::Dialog::uas(&self.call.invite, &response) {
            Ok(d) => self.dialog = Some(d),
            Err(e) => warn!(error = %e, "cannot form a dialog from our 200"),
        }
        self.send_invite_response(response).await;
        self.call.record.answered_at_ms = Some(now_ms());
    }

    /// A late offer (RFC 3261 §13.2.1, RFC 3264): the INVITE had no SDP,
    /// so our 200 carries our offer and the caller's ACK must carry the
    /// answer. An ACK without a usable answer ends the call (BYE, cause
    /// `unsupported_media`), as does no ACK at all.
    async fn late_offer(
        &mut self,
        local: &LocalMedia,
    ) -> Result<(sdp::Negotiated, SessionDescription), End> {
        let offer = sdp::offer(local);
        self.answer_with(&offer).await;
        let media_end = |cause| End {
            outcome: Outcome::Answered,
            code: Some(200),
            cause,
        };
        loop {
            tokio::select! {
                () = self.ctx.hard_stop.cancelled() => {
                    self.hang_up().await;
                    return Err(media_end(HangupCause::Shutdown));
                }
                input = self.input.recv() => match input {
                    Some(CallInput::Ack { sdp: body }) => {
                        let agreed = SessionDescription::parse(&body)
                            .map_err(|e| e.to_string())
                            .and_then(|a| sdp::accept_answer(&offer, &a).map_err(|e| e.to_string()));
                        return match agreed {
                            Ok(negotiated) => Ok((negotiated, offer)),
                            Err(e) => {
                                info!(error = %e, "the ACK carries no usable answer to our offer: hanging up");
                                self.hang_up().await;
                                Err(media_end(HangupCause::UnsupportedMedia))
                            }
                        };
                    }
                    Some(CallInput::AckTimeout) => {
                        self.hang_up().await;
                        return Err(media_end(HangupCause::AckTimeout));
                    }
                    Some(CallInput::Request { tx, request }) if request.method == Method::Bye => {
                        self.respond_on(tx, &request, 200, "OK", None).await;
                        return Err(media_end(HangupCause::Normal));
                    }
                    Some(other) => self.unexpected(other).await,
                    None => return Err(self.engine_gone()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hibiki_sip::Message;

    fn info(content_type: &str, body: &str) -> hibiki_sip::Request {
        let text = format!(
            "INFO sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n\
             From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:100@127.0.0.1>;tag=2\r\nCall-ID: i\r\n\
             CSeq: 2 INFO\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        match hibiki_sip::parse::parse_message(text.as_bytes()) {
            Ok(Message::Request(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sip_info_digits_in_both_body_types() {
        assert_eq!(
            info_digit(&info(
                "application/dtmf-relay",
                "Signal=5\r\nDuration=160\r\n"
            )),
            Some('5')
        );
        assert_eq!(
            info_digit(&info("application/dtmf-relay", "Signal= #\r\n")),
            Some('#')
        );
        assert_eq!(
            info_digit(&info("Application/DTMF-Relay", "signal=11\r\n")),
            Some('#')
        );
        assert_eq!(info_digit(&info("application/dtmf", "*")), Some('*'));
        assert_eq!(
            info_digit(&info("application/dtmf-relay", "Signal=x\r\n")),
            None
        );
        assert_eq!(info_digit(&info("text/plain", "5")), None);
    }
}
