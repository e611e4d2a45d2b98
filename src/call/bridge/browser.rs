//! A queued caller talking to an agent in the browser: the caller's RTP
//! leg on one side, the agent's softphone media (lent by their station,
//! see [`crate::softphone::Station`]) on the other.
//!
//! Audio is relayed both ways frame by frame as it arrives (the caller's
//! decoded and encoded in the softphone's law, the browser's decoded and
//! sent on the caller's leg), and both sides go on the call's one
//! recording, on the caller's media clock: caller left, agent right.
//!
//! The agent's screen steers the call through the ACD's events: hang up,
//! hold (the caller hears the queue's music, neither hears the other; the
//! recording keeps the caller's side and the music on the agent's) and
//! resume, and a blind transfer,
//! which ends this talk with [`Talked::Transfer`] for
//! [`Actor::talk_transferred`] to carry out. A consult transfer to another
//! browser agent holds the caller while the agent talks to the colleague
//! ([`super::consult`]), then either hands the caller over or returns to
//! them. A page reload renegotiates
//! the softphone under the call: frames of the new connection simply carry
//! on, so the call is not dropped for it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hibiki_sip::Method;
use tracing::{debug, info, warn};

use super::consult::{Consult, ConsultStep, DialConsult};
use super::hold::HoldMusic;
use super::next_agent_event;
use super::recv_on;
use super::transfer::Bridged;
use super::CallerMedia;
use crate::acd::service::{CallControl, QueueEvent, TransferTarget};
use crate::call::actor::{Actor, End};
use crate::call::demo::info_digit;
use crate::call::outcome::HangupCause;
use crate::call::queue::sleep_until;
use crate::call::CallInput;
use crate::media::leg::Received;
use crate::media::recording::{Side, StreamClock};
use crate::softphone::Lent;
use crate::store::Outcome;

/// How a talk with a browser agent ended.
pub(in crate::call) enum Talked {
    /// The call is over.
    Ended(End),
    /// The agent transferred the caller: the caller is still up.
    Transfer(TransferTarget),
    /// The agent completed a consult of a number: the caller goes on
    /// bridged to it, the agent's part is over.
    Handover(Box<Bridged>),
}

impl Actor {
    /// Relays between the caller and the agent's browser until one hangs
    /// up or the agent transfers; see the module doc.
    #[allow(clippy::too_many_lines)]
    pub(in crate::call) async fn talk_browser(
        &mut self,
        agent: &str,
        mut lent: Lent,
        caller: &mut CallerMedia,
    ) -> Talked {
        let mut agent = agent.to_owned();
        let mut consult: Option<Consult> = None;
        let mut dialled: Option<DialConsult> = None;
        let ring = Duration::from_secs(
            self.call
                .record
                .queue
                .as_ref()
                .and_then(|q| self.ctx.queues.get(q))
                .map_or(15, |q| q.ring_seconds),
        );
        let media = Arc::clone(&self.ctx.media);
        let mut hold = HoldMusic::for_call(self);
        info!(%agent, caller_codec = ?caller.rtp.target().law, "bridged to the agent's browser");
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let media_since = Instant::now();
        let stopping = self.ctx.hard_stop.clone().cancelled_owned();
        tokio::pin!(stopping);
        let mut agent_events = self
            .queued
            .as_mut()
            .map(|q| std::mem::replace(&mut q.events, tokio::sync::mpsc::channel(1).1));
        let mut audio = lent.media().audio.clone();
        let mut source = 10_000u32;
        let mut pcm = [0i16; 480];
        let mut agent_clock = StreamClock::default();
        let mut agent_generation = u64::MAX;
        let (mut to_agent, mut from_agent) = (0u64, 0u64);
        let answered = |cause| End {
            outcome: Outcome::Answered,
            code: Some(200),
            cause,
        };
        let talked = loop {
            let phone = lent.media();
            tokio::select! {
                () = &mut stopping => {
                    self.hang_up().await;
                    break Talked::Ended(answered(HangupCause::Shutdown));
                }
                Some(event) = next_agent_event(&mut agent_events) => match event {
                    QueueEvent::AgentHangup => {
                        info!(%agent, "the agent hung up from their screen");
                        self.hang_up().await;
                        break Talked::Ended(answered(HangupCause::AgentHangup));
                    }
                    QueueEvent::Control(CallControl::Hold) => {
                        if hold.start(caller.rtp.media_us(Instant::now())) {
                            info!(%agent, "the agent put the caller on hold");
                            source = source.wrapping_add(1);
                        }
                    }
                    QueueEvent::Control(CallControl::Resume) if consult.is_none() && dialled.is_none() => {
                        if hold.stop() {
                            info!(%agent, "the agent took the caller off hold");
                            source = source.wrapping_add(1);
                            // What the agent said during the hold stays
                            // unheard and unrecorded.
                            while lent.media().frames.try_recv().is_ok() {}
                        }
                    }
                    QueueEvent::Control(CallControl::Transfer(target)) => {
                        info!(%agent, ?target, "the agent transfers the caller");
                        break Talked::Transfer(target);
                    }
                    QueueEvent::Control(CallControl::Consult(TransferTarget::Number(number))) if consult.is_none() && dialled.is_none() => {
                        if hold.start(caller.rtp.media_us(Instant::now())) {
                            source = source.wrapping_add(1);
                        }
                        dialled = self.dial_consult(&agent, &number, caller.rtp.origin()).await;
                        if dialled.is_none() {
                            hold.stop();
                            source = source.wrapping_add(1);
                        }
                    }
                    QueueEvent::Control(CallControl::CompleteConsult) if dialled.as_ref().is_some_and(|d| d.far.is_some()) => {
                        let Some(DialConsult { number, out, far: Some(far), .. }) = dialled.take() else {
                            continue;
                        };
                        info!(%agent, %number, "consult completed: the caller is handed to the number");
                        self.tell_consult(&agent, &number, "completed").await;
                        break Talked::Handover(Box::new(Bridged::new(out, far)));
                    }
                    QueueEvent::Control(CallControl::CancelConsult) if dialled.is_some() => {
                        if let Some(d) = dialled.take() {
                            let number = d.number.clone();
                            self.end_dial_consult(d).await;
                            self.tell_consult(&agent, &number, "cancelled").await;
                            hold.stop();
                            source = source.wrapping_add(1);
                            while lent.media().frames.try_recv().is_ok() {}
                        }
                    }
                    QueueEvent::Control(CallControl::Consult(other)) if consult.is_none() && dialled.is_none() => {
                        if hold.start(caller.rtp.media_us(Instant::now())) {
                            source = source.wrapping_add(1);
                        }
                        consult = self.start_consult(&agent, &other).await;
                        if consult.is_none() {
                            hold.stop();
                            source = source.wrapping_add(1);
                        }
                    }
                    QueueEvent::Control(CallControl::CompleteConsult) => {
                        let Some(mut c) = consult.take_if(|c| c.lent.is_some()) else {
                            debug!("nothing to complete: the consulted agent has not answered");
                            continue;
                        };
                        self.complete_consult(&agent, &c).await;
                        if let Some(next) = c.lent.take() {
                            // The consulting agent's softphone goes back
                            // to their station as `lent` is replaced.
                            lent = next;
                            audio = lent.media().audio.clone();
                            // Another browser's stream from now on.
                            agent_clock.reset();
                            agent_generation = u64::MAX;
                        }
                        agent = c.agent.clone();
                        agent_events = Some(std::mem::replace(&mut c.events, tokio::sync::mpsc::channel(1).1));
                        hold.stop();
                        source = source.wrapping_add(1);
                        while lent.media().frames.try_recv().is_ok() {}
                    }
                    QueueEvent::Control(CallControl::CancelConsult) => {
                        if let Some(mut c) = consult.take() {
                            info!(%agent, consulted = %c.agent, "consult cancelled");
                            self.end_consult(&mut c).await;
                            self.tell_consult(&agent, &c.agent, "cancelled").await;
                            hold.stop();
                            source = source.wrapping_add(1);
                            while lent.media().frames.try_recv().is_ok() {}
                        }
                    }
                    other => debug!(?other, "queue event while talking"),
                },
                input = next_consult(&mut consult) => {
                    let step = match (input, consult.as_mut()) {
                        (ConsultInput::Event(event), Some(c)) => self.consult_event(&agent, c, event, ring).await,
                        (ConsultInput::RangOut, Some(c)) => self.consult_rang_out(&agent, c).await,
                        (ConsultInput::Frame(frame), _) => {
                            // The consulted agent, to the consulting one.
                            let n = frame.law.decode(&frame.payload, &mut pcm);
                            let _ = audio.send_pcm(pcm.get(..n).unwrap_or(&[]));
                            ConsultStep::Continue
                        }
                        (_, None) => ConsultStep::Continue,
                    };
                    if matches!(step, ConsultStep::Over) {
                        consult = None;
                        hold.stop();
                        source = source.wrapping_add(1);
                        while lent.media().frames.try_recv().is_ok() {}
                    }
                }
                () = sleep_until(dialled.as_ref().and_then(|d| d.rings_until)) => {
                    if let Some(mut d) = dialled.take() {
                        info!(%agent, number = %d.number, "the consulted number did not answer");
                        self.abandon(&mut d.out).await;
                        self.tell_consult(&agent, &d.number, "failed").await;
                        hold.stop();
                        source = source.wrapping_add(1);
                        while lent.media().frames.try_recv().is_ok() {}
                    }
                }
                received = recv_dialled(&mut dialled) => {
                    // The consulted number, to the consulting agent.
                    if let (Ok(Received::Audio { len, .. }), Some(rtp)) = (&received, dialled.as_ref().and_then(dial_rtp)) {
                        let _ = audio.send_pcm(rtp.decoded(*len));
                    }
                }
                Some(frame) = phone.frames.recv() => {
                    if let Some(far) = dialled.as_mut().and_then(|d| d.far.as_mut()) {
                        // Consulting a number: to it, not the caller.
                        let n = frame.law.decode(&frame.payload, &mut pcm);
                        far.rtp.send_pcm(source, pcm.get(..n).unwrap_or(&[]), Instant::now()).await;
                        continue;
                    }
                    if dialled.is_some() {
                        continue;
                    }
                    if let Some(other) = consult.as_mut().and_then(|c| c.lent.as_mut()) {
                        // Consulting: to the other agent, not the caller.
                        let n = frame.law.decode(&frame.payload, &mut pcm);
                        let _ = other.media().audio.send_pcm(pcm.get(..n).unwrap_or(&[]));
                        continue;
                    }
                    if hold.is_on() {
                        continue;
                    }
                    let n = frame.law.decode(&frame.payload, &mut pcm);
                    let samples = pcm.get(..n).unwrap_or(&[]);
                    if let Some(r) = caller.recording.as_mut() {
                        // Placed by the browser's RTP timestamps, not by
                        // when each frame happened to arrive: the agent's
                        // side is continuous in the file. A new
                        // connection (reload) is a new stream.
                        if frame.generation != agent_generation {
                            agent_generation = frame.generation;
                            agent_clock.reset();
                        }
                        let at_us = agent_clock.media_time(frame.timestamp, caller.rtp.media_us(frame.arrived));
                        r.recorder.push(Side::Other, at_us, samples);
                    }
                    caller.rtp.send_pcm(source, samples, Instant::now()).await;
                    from_agent += 1;
                }
                Some(event) = phone.events.recv() => {
                    info!(%agent, generation = event.generation, state = ?event.state, "the agent's softphone link");
                }
                received = caller.rtp.recv() => {
                    match received {
                        Ok(Received::Audio { at_us, len }) => {
                            let samples = caller.rtp.decoded(len);
                            if let Some(r) = caller.recording.as_mut() {
                                r.recorder.push(Side::Caller, at_us, samples);
                            }
                            if !hold.is_on() {
                                if let Err(e) = audio.send_pcm(samples) {
                                    debug!(error = %e, "a frame to the agent was dropped");
                                }
                                to_agent += 1;
                            }
                        }
                        Ok(_) => {}
                        Err(e) => warn!(error = %e, "RTP receive failed"),
                    }
                    while let Some((digit, via)) = caller.rtp.poll_digit(Instant::now()) {
                        info!(%digit, via, "caller dtmf while talking to the agent");
                    }
                }
                input = self.input.recv() => {
                    let Some(input) = input else { break Talked::Ended(self.engine_gone()) };
                    match input {
                        CallInput::Ack { .. } => caller.acked = true,
                        CallInput::AckTimeout if !caller.acked => {
                            warn!("the caller never acknowledged our 200: hanging up");
                            self.hang_up().await;
                            break Talked::Ended(answered(HangupCause::AckTimeout));
                        }
                        CallInput::Response { response, .. } if dialled.as_ref().is_some_and(|d| response.headers.call_id == d.out.call_id) => {
                            let Some(d) = dialled.as_mut() else { continue };
                            let step = self.dial_consult_response(&agent, d, response).await;
                            if matches!(step, ConsultStep::Over) {
                                dialled = None;
                                hold.stop();
                                source = source.wrapping_add(1);
                                while lent.media().frames.try_recv().is_ok() {}
                            }
                        }
                        CallInput::Request { tx, request } if dialled.as_ref().is_some_and(|d| request.headers.call_id == d.out.call_id) => {
                            // The consulted number's side: a BYE ends the
                            // consult, back to the caller.
                            let bye = request.method == Method::Bye;
                            let status = if bye || request.method == Method::Info || request.method == Method::Options { 200 } else { 501 };
                            self.respond_on(tx, &request, status, if status == 200 { "OK" } else { "Not Implemented" }, None).await;
                            if bye {
                                if let Some(d) = dialled.take() {
                                    info!(%agent, number = %d.number, "the consulted number hung up");
                                    self.tell_consult(&agent, &d.number, "cancelled").await;
                                }
                                hold.stop();
                                source = source.wrapping_add(1);
                                while lent.media().frames.try_recv().is_ok() {}
                            }
                        }
                        CallInput::Request { tx, request } => {
                            if let Some(Err(e)) = self.dialog.as_mut().map(|d| d.on_request(&request)) {
                                self.respond_on(tx, &request, e.status(), "Out of Order", None).await;
                                continue;
                            }
                            match request.method {
                                Method::Bye => {
                                    self.respond_on(tx, &request, 200, "OK", None).await;
                                    info!("the caller hung up");
                                    break Talked::Ended(answered(HangupCause::Normal));
                                }
                                Method::Invite => {
                                    self.reinvite(tx, &request, &mut caller.rtp, &caller.local, &mut caller.last_sdp).await;
                                }
                                Method::Info => {
                                    if let Some(digit) = info_digit(&request) {
                                        info!(%digit, via = "info", "caller dtmf while talking to the agent");
                                    }
                                    self.respond_on(tx, &request, 200, "OK", None).await;
                                }
                                Method::Options | Method::Update => {
                                    self.respond_on(tx, &request, 200, "OK", None).await;
                                }
                                Method::Ack => {}
                                _ => self.respond_on(tx, &request, 501, "Not Implemented", None).await,
                            }
                        }
                        CallInput::Control(control) => {
                            let now_us = caller.rtp.media_us(Instant::now());
                            crate::call::recording::control(caller.recording.as_mut(), control, now_us, self.call.record.agent.as_deref());
                        }
                        other => self.unexpected(other).await,
                    }
                }
                _ = tick.tick() => {
                    let now = Instant::now();
                    let now_us = caller.rtp.media_us(now);
                    hold.play(&mut caller.rtp, source, caller.recording.as_mut(), now).await;
                    if let Some(r) = caller.recording.as_mut() {
                        if let Err(e) = r.recorder.tick(now_us) {
                            warn!(error = %e, "recording failed; the call goes on unrecorded");
                            caller.recording = None;
                        }
                    }
                    if let Some(limit) = media.timeout {
                        let last = caller.rtp.last_received().unwrap_or(media_since).max(media_since);
                        if caller.rtp.expects_media() && now.saturating_duration_since(last) > limit {
                            warn!(?limit, "no RTP from the caller: hanging up");
                            self.hang_up().await;
                            break Talked::Ended(answered(HangupCause::MediaTimeout));
                        }
                    }
                }
            }
        };
        if let Some(mut c) = consult.take() {
            self.end_consult(&mut c).await;
            self.tell_consult(&agent, &c.agent, "cancelled").await;
        }
        if let Some(d) = dialled.take() {
            let number = d.number.clone();
            self.end_dial_consult(d).await;
            self.tell_consult(&agent, &number, "cancelled").await;
        }
        // The events go back to the call's place in the ACD (a transfer
        // queues again with it).
        if let (Some(q), Some(events)) = (self.queued.as_mut(), agent_events) {
            q.events = events;
        }
        info!(%agent, to_agent, from_agent, "talk with the agent's browser ended");
        talked
    }

    /// The prompt language and music name for hold: the last queue's.
    pub(in crate::call) fn hold_music_names(&self) -> (String, String) {
        let language = self
            .queue_step
            .as_ref()
            .map_or_else(|| "en".to_owned(), |s| s.language.clone());
        let music = self
            .call
            .record
            .queue
            .as_ref()
            .and_then(|q| self.ctx.queues.get(q))
            .map_or_else(|| "hold-music".to_owned(), |q| q.music.clone());
        (language, music)
    }
}

/// What a consult in progress brings.
enum ConsultInput {
    Event(QueueEvent),
    Frame(crate::softphone::InboundFrame),
    RangOut,
}

/// The next thing from the consult in progress, or never.
async fn next_consult(consult: &mut Option<Consult>) -> ConsultInput {
    let Some(c) = consult else {
        return std::future::pending().await;
    };
    let until = c.rings_until();
    let frames = async {
        match c.lent.as_mut() {
            Some(l) => l.media().frames.recv().await,
            None => std::future::pending().await,
        }
    };
    let rang_out = async {
        match until {
            Some(t) => tokio::time::sleep_until(t).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        Some(event) = c.events.recv() => ConsultInput::Event(event),
        Some(frame) = frames => ConsultInput::Frame(frame),
        () = rang_out => ConsultInput::RangOut,
        else => std::future::pending().await,
    }
}

/// Waits for a packet on the consulted number's leg (its early media, then
/// the answered leg's); never without one.
async fn recv_dialled(dialled: &mut Option<DialConsult>) -> std::io::Result<Received> {
    match dialled {
        Some(DialConsult { far: Some(far), .. }) => far.rtp.recv().await,
        Some(DialConsult { out, .. }) => recv_on(&mut out.rtp).await,
        None => std::future::pending().await,
    }
}

/// The consulted number's RTP leg, if it has one yet.
fn dial_rtp(dial: &DialConsult) -> Option<&crate::media::leg::RtpLeg> {
    match &dial.far {
        Some(far) => Some(&far.rtp),
        None => dial.out.rtp.as_ref(),
    }
}
