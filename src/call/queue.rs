//! An IVR flow's `queue` step: the call waits in an ACD queue until an
//! agent takes it.
//!
//! The call is queued with its screen pop (built here from what the call
//! knows: the caller, the customer the flow's lookup found, the flow's
//! variables, the customer's last interactions) so the ACD can push the
//! pop to the agent in the same step that routes the call. While it
//! waits, the caller hears the queue's music, and every
//! `announce_seconds` their position and estimated wait; keys are
//! ignored; their audio is recorded as always.
//!
//! When the ACD offers the call to an agent whose device is a SIP phone,
//! this actor rings it (an outbound INVITE to the agent's SIP URI, the
//! same outbound-leg machinery as a transfer; the caller hears silence
//! meanwhile) for the queue's `ring_seconds`; answered, the call leaves
//! the flow bridged to the agent, with the call's one recording going on;
//! not answered, refused or unreachable, the ACD is told and the call
//! waits again (the ACD puts it back at the front).
//!
//! An offer to an agent who takes calls in the browser rings their page
//! instead (the ACD pushes `call.offered` with the pop): the caller keeps
//! hearing the queue's music until the agent answers with `call.answer`,
//! when their station lends its softphone media and the call leaves the
//! flow bridged to it ([`super::bridge::browser`]). A missed or refused
//! offer is handled by the ACD as for a SIP phone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hibiki_sip::sdp::{Codec, LocalMedia, SessionDescription};
use hibiki_sip::Method;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::actor::Actor;
use super::bridge::transfer::Bridged;
use super::bridge::{Caller, Ringing};
use super::callback::Callback;
use super::demo::info_digit;
use super::outbound::TrunkTarget;
use super::recording::{play_due, Recording};
use super::CallInput;
use crate::acd::core::{Enqueue, EntryKind, Missed, SkillNeed};
use crate::acd::service::{Command, Device, QueueEvent};
use crate::config::{CodecName, QueueConfig, TransportKind, TrunkOutbound};
use crate::ivr::flow::SayKind;
use crate::ivr::say::say;
use crate::media::g711::Law;
use crate::media::leg::{Received, RtpLeg};
use crate::media::prompt::player::Player;
use crate::media::prompt::Prompt;
use crate::media::recording::Side;
use crate::softphone::Station;
use crate::store::{CallbackRequest, RecordEvent};

/// The media tick.
const TICK: Duration = Duration::from_millis(20);

/// The prompts of the callback offer: "press 1 to be called back", and
/// the confirmation before Hibiki hangs up.
const CALLBACK_OFFER: &str = "queue-callback-offer";
const CALLBACK_CONFIRMED: &str = "queue-callback-confirmed";

/// What the queue step asks.
#[derive(Clone, Debug)]
pub(super) struct QueueStep {
    pub queue: String,
    pub priority: u32,
    pub skills: Vec<SkillNeed>,
    /// The flow's prompt language.
    pub language: String,
    pub pop: serde_json::Value,
    /// Only this agent may take the call (an agent's transfer to another).
    pub agent: Option<String>,
    /// The flow the step is in (callback requests name it).
    pub flow: String,
}

/// An offer to an agent's browser, while the caller waits with music.
struct BrowserOffer {
    agent: String,
    station: Station,
    until: tokio::time::Instant,
}

/// The caller's answered side, borrowed from the flow.
pub(super) struct CallerSide<'a> {
    pub leg: &'a mut RtpLeg,
    pub local: &'a LocalMedia,
    pub last_sdp: &'a mut SessionDescription,
    pub recording: &'a mut Option<Recording>,
    pub acked: &'a mut bool,
    pub t0: Instant,
}

/// How waiting ended.
pub(super) enum Waited {
    /// An agent answered: go on bridged.
    Connected {
        bridged: Box<Bridged>,
        agent: String,
    },
    /// The call left the queue without an agent (the reason for the
    /// flow's path).
    Left(String),
    /// The caller took the callback offer and heard the confirmation;
    /// Hibiki hung up (or they did), and call `callback` keeps the place.
    Callback {
        callback: String,
    },
    CallerLeft,
    Shutdown,
    EngineGone,
}

/// The call's place in the ACD, for the talk that follows and for the
/// call's end.
pub(super) struct Queued {
    pub events: mpsc::Receiver<QueueEvent>,
    pub agent: Option<String>,
}

impl Actor {
    /// Queues the call and waits; see the module doc.
    pub(super) async fn wait_in_queue(
        &mut self,
        step: QueueStep,
        caller: CallerSide<'_>,
    ) -> Waited {
        let Some(settings) = self.ctx.queues.get(&step.queue).cloned() else {
            return Waited::Left(format!("no queue is named `{}`", step.queue));
        };
        let entry = self.call.record.id.clone();
        let request = Enqueue {
            id: entry.clone(),
            queue: step.queue.clone(),
            priority: step.priority,
            skills: step.skills.clone(),
            kind: EntryKind::Call,
            pop: Arc::new(step.pop.clone()),
            agent: step.agent.clone(),
        };
        self.queue_step = Some(step.clone());
        let events = match self.ctx.acd.enqueue(request).await {
            Ok(events) => events,
            Err(e) => return Waited::Left(e.to_string()),
        };
        info!(queue = %step.queue, "queued");
        self.call.record.queue = Some(step.queue.clone());
        self.call.record.queued_at_ms = Some(super::actor::now_ms());
        self.queued = Some(Queued {
            events,
            agent: None,
        });
        let waited = self.wait(&step, &settings, caller).await;
        match &waited {
            Waited::Connected { agent, .. } => {
                self.call.record.agent = Some(agent.clone());
                self.call.record.connected_at_ms = Some(super::actor::now_ms());
                if let Some(q) = self.queued.as_mut() {
                    q.agent = Some(agent.clone());
                }
                let _ = self
                    .ctx
                    .acd
                    .send(Command::Answered {
                        entry,
                        agent: agent.clone(),
                    })
                    .await;
            }
            // The place is the callback's now.
            Waited::Left(_) | Waited::Callback { .. } => self.queued = None,
            Waited::CallerLeft | Waited::Shutdown | Waited::EngineGone => {
                self.queued = None;
                let _ = self.ctx.acd.send(Command::Abandon { entry }).await;
            }
        }
        waited
    }

    async fn wait(
        &mut self,
        step: &QueueStep,
        settings: &QueueConfig,
        c: CallerSide<'_>,
    ) -> Waited {
        let CallerSide {
            leg,
            local,
            last_sdp,
            recording,
            acked,
            t0,
        } = c;
        let media = Arc::clone(&self.ctx.media);
        let music = media.flow_prompt(&step.language, &settings.music);
        if let Err(e) = &music {
            warn!(error = %e, "the queue's music cannot be played");
        }
        let mut source = 1_000u32;
        let now_us = leg.media_us(Instant::now());
        let mut player = Player::new(music.iter().cloned().collect(), now_us);
        let announce =
            (settings.announce_seconds > 0).then(|| Duration::from_secs(settings.announce_seconds));
        let mut next_announce = announce.map(|d| tokio::time::Instant::now() + d);
        let mut announcing = false;
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let stopping = self.ctx.hard_stop.clone().cancelled_owned();
        tokio::pin!(stopping);
        let mut offer: Option<BrowserOffer> = None;
        // The callback offer: made once the caller has waited long enough
        // (to a caller whose number can be dialled), then with each
        // announcement; `1` takes it from then on.
        let callback_after = (settings.callback_offer_seconds > 0
            && dialable(&self.call.record.from_number))
        .then(|| Duration::from_secs(settings.callback_offer_seconds));
        let mut offer_callback_at = callback_after.map(|d| tokio::time::Instant::now() + d);
        let mut callback_offered = false;
        let mut pressed_one = false;
        loop {
            if std::mem::take(&mut pressed_one) {
                let caller = CallerSide {
                    leg: &mut *leg,
                    local,
                    last_sdp: &mut *last_sdp,
                    recording: &mut *recording,
                    acked: &mut *acked,
                    t0,
                };
                if let Some(waited) = self.take_callback(step, caller).await {
                    return waited;
                }
            }
            let Some(queued) = self.queued.as_mut() else {
                return Waited::EngineGone;
            };
            let offer_ends = offer.as_ref().map(|o| o.until);
            tokio::select! {
                () = &mut stopping => {
                    self.hang_up().await;
                    return Waited::Shutdown;
                }
                () = sleep_until(offer_ends) => {
                    if let Some(o) = offer.take() {
                        info!(agent = %o.agent, "the agent did not answer in the browser");
                        self.missed(o.agent, Missed::NoAnswer).await;
                    }
                }
                event = queued.events.recv() => match event {
                    Some(QueueEvent::Offered { agent, device: Device::Browser(station) }) => {
                        // The caller keeps hearing the music while the
                        // agent's page rings.
                        info!(%agent, "offered to the agent's browser");
                        offer = Some(BrowserOffer {
                            agent,
                            station,
                            until: tokio::time::Instant::now() + Duration::from_secs(settings.ring_seconds),
                        });
                    }
                    Some(QueueEvent::AgentAnswer { agent }) => {
                        let Some(o) = offer.take_if(|o| o.agent == agent) else {
                            continue;
                        };
                        match o.station.borrow().await {
                            Ok(lent) => {
                                info!(%agent, "the agent answered in the browser");
                                return Waited::Connected {
                                    bridged: Box::new(Bridged::Browser { agent: agent.clone(), lent }),
                                    agent,
                                };
                            }
                            Err(e) => {
                                warn!(%agent, error = %e, "the agent answered but their softphone cannot take the call");
                                self.missed(agent, Missed::DeviceFailed).await;
                            }
                        }
                    }
                    Some(QueueEvent::Withdrawn { agent }) => {
                        // Rejected on the page, or rang out in the ACD:
                        // it has dealt with the agent already.
                        offer.take_if(|o| o.agent == agent);
                    }
                    Some(QueueEvent::Offered { agent, device }) => {
                        let caller = Caller::Answered {
                            local,
                            last_sdp: &mut *last_sdp,
                            recording: &mut *recording,
                            acked: &mut *acked,
                        };
                        match self.ring_agent(&agent, &device, settings, leg, caller, t0).await {
                            AgentRing::Answered(bridged) => {
                                return Waited::Connected { bridged, agent };
                            }
                            AgentRing::Missed(how) => {
                                self.missed(agent, how).await;
                                let now_us = leg.media_us(Instant::now());
                                source = source.wrapping_add(1);
                                player = Player::new(music.iter().cloned().collect(), now_us);
                            }
                            AgentRing::CallerLeft => return Waited::CallerLeft,
                            AgentRing::Shutdown => return Waited::Shutdown,
                            AgentRing::EngineGone => return Waited::EngineGone,
                        }
                    }
                    Some(QueueEvent::Left { reason }) => return Waited::Left(reason.to_owned()),
                    Some(QueueEvent::Moved { to }) => {
                        info!(%to, "moved to another queue");
                        self.call.record.queue = Some(to);
                    }
                    Some(QueueEvent::AgentHangup | QueueEvent::Control(_)) => {}
                    None => return Waited::Left("the ACD stopped".into()),
                },
                input = self.input.recv() => {
                    let caller = CallerSide { leg: &mut *leg, local, last_sdp: &mut *last_sdp, recording: &mut *recording, acked: &mut *acked, t0 };
                    match self.caller_signal(input, caller).await {
                        CallerSignal::Nothing => {}
                        CallerSignal::Key(digit) => pressed_one |= callback_offered && digit == '1',
                        CallerSignal::Left => {
                            info!("caller hung up while queued");
                            return Waited::CallerLeft;
                        }
                        CallerSignal::EngineGone => return Waited::EngineGone,
                    }
                }
                received = leg.recv() => {
                    if let Ok(Received::Audio { at_us, len }) = received {
                        let pcm = leg.decoded(len);
                        if let Some(r) = recording.as_mut() {
                            r.recorder.push(Side::Caller, at_us, pcm);
                        }
                    }
                    // Keys are not used while queued, but for the
                    // callback offer's.
                    while let Some((digit, _)) = leg.poll_digit(Instant::now()) {
                        pressed_one |= callback_offered && digit == '1';
                    }
                }
                _ = tick.tick() => {
                    let now = Instant::now();
                    let now_us = leg.media_us(now);
                    play_due(&mut player, leg, source, recording.as_mut(), now).await;
                    if player.finished().is_some() {
                        // Music loops; an announcement gives way to it.
                        announcing = false;
                        player = Player::new(music.iter().cloned().collect(), now_us);
                    }
                    if let Some(r) = recording.as_mut() {
                        if let Err(e) = r.recorder.tick(now_us) {
                            warn!(error = %e, "recording failed; the call goes on unrecorded");
                            *recording = None;
                        }
                    }
                    if next_announce.is_some_and(|t| t <= tokio::time::Instant::now()) && !announcing {
                        next_announce = announce.map(|d| tokio::time::Instant::now() + d);
                        let mut prompts = self.announcement(&step.language).await;
                        if callback_offered {
                            prompts.extend(media.flow_prompt(&step.language, CALLBACK_OFFER).ok());
                        }
                        if !prompts.is_empty() {
                            announcing = true;
                            source = source.wrapping_add(1);
                            player = Player::new(prompts, now_us);
                        }
                    }
                    if offer_callback_at.is_some_and(|t| t <= tokio::time::Instant::now()) && !announcing {
                        offer_callback_at = None;
                        match media.flow_prompt(&step.language, CALLBACK_OFFER) {
                            Ok(prompt) => {
                                info!("offering a callback");
                                callback_offered = true;
                                announcing = true;
                                source = source.wrapping_add(1);
                                player = Player::new(vec![prompt], now_us);
                            }
                            Err(e) => warn!(error = %e, "the callback offer cannot be played"),
                        }
                    }
                }
            }
        }
    }

    /// The caller pressed 1 after the callback offer: their place becomes
    /// a callback (see [`super::callback`]), they hear the confirmation
    /// and Hibiki hangs up. `None` when the ACD refused (an agent is being
    /// offered the call this very moment): the caller waits on.
    async fn take_callback(&mut self, step: &QueueStep, c: CallerSide<'_>) -> Option<Waited> {
        let record = self.call.record.clone();
        let number = self
            .ctx
            .customers
            .normalise(&record.from_number)
            .unwrap_or_else(|| record.from_number.clone());
        let callback = uuid::Uuid::new_v4().to_string();
        let (events_tx, events) = mpsc::channel(16);
        let taken = self
            .ctx
            .acd
            .ask(|reply| Command::ToCallback {
                entry: record.id.clone(),
                callback: callback.clone(),
                number: number.clone(),
                events: events_tx,
                reply,
            })
            .await;
        if !matches!(taken, Ok(true)) {
            info!("the callback offer came too late: an agent is being offered the call");
            return None;
        }
        info!(%callback, %number, "the caller took the callback offer");
        let mut request = CallbackRequest::open(
            callback.clone(),
            record.id.clone(),
            record.node_id.clone(),
            number.clone(),
            record.to_number.clone(),
            step.flow.clone(),
            super::actor::now_ms(),
        );
        request.customer_id = record.customer_id.clone().or_else(|| {
            step.pop
                .pointer("/customer/id")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        });
        request.notes = format!("keeps its place in queue {}", step.queue);
        self.ctx
            .records
            .send(RecordEvent::CallbackRequested(request.clone()));
        super::callback::spawn(
            self.ctx.clone(),
            Callback {
                id: callback.clone(),
                number,
                from: record,
                step: step.clone(),
                events,
                request,
            },
        );
        let confirmation = self
            .ctx
            .media
            .flow_prompt(&step.language, CALLBACK_CONFIRMED)
            .map_err(|e| warn!(error = %e, "the callback confirmation cannot be played"))
            .ok();
        if self
            .play_to_end(confirmation.into_iter().collect(), c)
            .await
        {
            self.hang_up().await;
        }
        Some(Waited::Callback { callback })
    }

    /// Plays `prompts` to the caller to their end, recording both sides;
    /// false when the caller hung up meanwhile.
    async fn play_to_end(&mut self, prompts: Vec<Arc<Prompt>>, c: CallerSide<'_>) -> bool {
        let CallerSide {
            leg,
            local,
            last_sdp,
            recording,
            acked,
            t0,
        } = c;
        let mut player = Player::new(prompts, leg.media_us(Instant::now()));
        let source = 3_000u32;
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        loop {
            tokio::select! {
                () = self.ctx.hard_stop.cancelled() => return true,
                input = self.input.recv() => {
                    let caller = CallerSide { leg: &mut *leg, local, last_sdp: &mut *last_sdp, recording: &mut *recording, acked: &mut *acked, t0 };
                    if matches!(self.caller_signal(input, caller).await, CallerSignal::Left | CallerSignal::EngineGone) {
                        return false;
                    }
                }
                received = leg.recv() => {
                    if let Ok(Received::Audio { at_us, len }) = received {
                        if let Some(r) = recording.as_mut() {
                            r.recorder.push(Side::Caller, at_us, leg.decoded(len));
                        }
                    }
                    while leg.poll_digit(Instant::now()).is_some() {}
                }
                _ = tick.tick() => {
                    let now = Instant::now();
                    let now_us = leg.media_us(now);
                    play_due(&mut player, leg, source, recording.as_mut(), now).await;
                    if let Some(r) = recording.as_mut() {
                        if let Err(e) = r.recorder.tick(now_us) {
                            warn!(error = %e, "recording failed; the call goes on unrecorded");
                            *recording = None;
                        }
                    }
                    if player.finished().is_some() {
                        return true;
                    }
                }
            }
        }
    }

    /// Handles one input from an answered caller who waits or listens:
    /// their ACK, re-INVITEs, recording pauses; a BYE or an INFO key is
    /// answered and reported.
    async fn caller_signal(&mut self, input: Option<CallInput>, c: CallerSide<'_>) -> CallerSignal {
        let CallerSide {
            leg,
            local,
            last_sdp,
            recording,
            acked,
            ..
        } = c;
        match input {
            Some(CallInput::Ack { .. }) => *acked = true,
            Some(CallInput::Request { tx, request }) if request.method == Method::Bye => {
                self.respond_on(tx, &request, 200, "OK", None).await;
                return CallerSignal::Left;
            }
            Some(CallInput::Request { tx, request }) if request.method == Method::Info => {
                self.respond_on(tx, &request, 200, "OK", None).await;
                if let Some(digit) = info_digit(&request) {
                    return CallerSignal::Key(digit);
                }
            }
            Some(CallInput::Request { tx, request }) if request.method == Method::Invite => {
                self.reinvite(tx, &request, leg, local, last_sdp).await;
            }
            Some(CallInput::Control(control)) => {
                let now_us = leg.media_us(Instant::now());
                super::recording::control(
                    recording.as_mut(),
                    control,
                    now_us,
                    self.call.record.agent.as_deref(),
                );
            }
            Some(other) => self.unexpected(other).await,
            None => return CallerSignal::EngineGone,
        }
        CallerSignal::Nothing
    }

    /// Tells the ACD the offer to `agent` was missed.
    async fn missed(&self, agent: String, how: Missed) {
        let _ = self
            .ctx
            .acd
            .send(Command::Missed {
                entry: self.call.record.id.clone(),
                agent,
                how,
            })
            .await;
    }

    /// "You are caller number N. Your estimated wait is about M minutes."
    async fn announcement(&self, language: &str) -> Vec<Arc<crate::media::prompt::Prompt>> {
        let entry = self.call.record.id.clone();
        let Ok(Some(estimate)) = self
            .ctx
            .acd
            .ask(|reply| Command::Estimate { entry, reply })
            .await
        else {
            return Vec::new();
        };
        let minutes = estimate.ewt_ms.div_ceil(60_000);
        let mut names: Vec<String> = vec!["queue-position".into()];
        names.extend(
            say(SayKind::Number, &estimate.position.to_string(), language).unwrap_or_default(),
        );
        if minutes <= 1 {
            names.push("queue-wait-short".into());
        } else {
            names.push("queue-wait".into());
            names.extend(say(SayKind::Number, &minutes.to_string(), language).unwrap_or_default());
            names.push("queue-minutes".into());
        }
        info!(
            position = estimate.position,
            ewt_s = estimate.ewt_ms / 1000,
            "announcing the wait"
        );
        names
            .iter()
            .filter_map(|n| self.ctx.media.flow_prompt(language, n).ok())
            .collect()
    }

    /// Rings `agent` for an offer.
    async fn ring_agent(
        &mut self,
        agent: &str,
        device: &Device,
        settings: &QueueConfig,
        leg: &mut RtpLeg,
        caller: Caller<'_>,
        t0: Instant,
    ) -> AgentRing {
        let Device::Sip(uri) = device else {
            // Browser offers are answered from the page (see `wait`).
            return AgentRing::Missed(Missed::DeviceFailed);
        };
        let Some((user, address)) = sip_uri_parts(uri) else {
            warn!(%agent, %uri, "the agent's SIP URI is unusable");
            return AgentRing::Missed(Missed::DeviceFailed);
        };
        let outbound = TrunkOutbound {
            address,
            transport: TransportKind::Udp,
            username: None,
            password: None,
            password_env: None,
            from_domain: None,
            codecs: vec![CodecName::Pcmu, CodecName::Pcma],
        };
        let target = match TrunkTarget::resolve(&outbound, &self.ctx.media_ip).await {
            Ok(t) => t,
            Err(e) => {
                warn!(%agent, error = %e, "cannot reach the agent's phone");
                return AgentRing::Missed(Missed::DeviceFailed);
            }
        };
        let Some(lease) = Arc::clone(&self.ctx.media).ports.lease() else {
            warn!("no RTP port free for the agent's leg");
            return AgentRing::Missed(Missed::DeviceFailed);
        };
        let codec = match leg.target().law {
            Law::Ulaw => Codec::Pcmu,
            Law::Alaw => Codec::Pcma,
        };
        let presented = self.call.record.from_number.clone();
        info!(%agent, %uri, "ringing the agent");
        let mut out = self
            .call_out(None, target, &outbound, lease, codec, &user, &presented)
            .await;
        let ring = Duration::from_secs(settings.ring_seconds);
        match self.ring(&mut out, leg, caller, t0, ring).await {
            Ringing::Answered(response) => match self.connect(&mut out, &response, t0).await {
                Ok(far) => {
                    info!(%agent, "the agent answered");
                    AgentRing::Answered(Box::new(Bridged::new(out, far)))
                }
                Err(e) => {
                    warn!(%agent, error = %e, "the agent's answer is unusable");
                    AgentRing::Missed(Missed::DeviceFailed)
                }
            },
            Ringing::Refused { response, .. } => {
                info!(%agent, status = response.status, "the agent's phone refused the call");
                AgentRing::Missed(Missed::DeviceFailed)
            }
            Ringing::NoAnswer => {
                self.abandon(&mut out).await;
                info!(%agent, "the agent did not answer");
                AgentRing::Missed(Missed::NoAnswer)
            }
            Ringing::CallerLeft => {
                self.abandon(&mut out).await;
                AgentRing::CallerLeft
            }
            Ringing::Shutdown => {
                self.abandon(&mut out).await;
                AgentRing::Shutdown
            }
            Ringing::EngineGone => AgentRing::EngineGone,
        }
    }
}

/// What an input from a waiting caller came to.
enum CallerSignal {
    Nothing,
    /// A key by SIP INFO.
    Key(char),
    /// They hung up (BYE, answered).
    Left,
    EngineGone,
}

enum AgentRing {
    Answered(Box<Bridged>),
    Missed(Missed),
    CallerLeft,
    Shutdown,
    EngineGone,
}

/// `sip:user@host[:port][;params]` → (`user`, `host[:port]`).
fn sip_uri_parts(uri: &str) -> Option<(String, String)> {
    let rest = uri.strip_prefix("sip:")?;
    let rest = rest.split(';').next()?;
    let (user, host) = rest.split_once('@')?;
    (!user.is_empty() && !host.is_empty()).then(|| (user.to_owned(), host.to_owned()))
}

/// Whether `number` (a caller's) is one a callback can dial: digits, with
/// an optional leading `+`.
fn dialable(number: &str) -> bool {
    let digits = number.strip_prefix('+').unwrap_or(number);
    (3..=20).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit())
}

pub(super) async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::{dialable, sip_uri_parts};

    #[test]
    fn only_numbers_are_offered_a_callback() {
        for n in ["+81312345678", "0312345678", "100"] {
            assert!(dialable(n), "{n}");
        }
        for n in [
            "",
            "anonymous",
            "sipp",
            "+",
            "12",
            "+81-3-1234",
            "123456789012345678901",
        ] {
            assert!(!dialable(n), "{n}");
        }
    }

    #[test]
    fn agent_uris_split_into_user_and_address() {
        assert_eq!(
            sip_uri_parts("sip:agent1@127.0.0.1:5072;transport=udp"),
            Some(("agent1".into(), "127.0.0.1:5072".into()))
        );
        assert_eq!(sip_uri_parts("sips:a@b"), None);
        assert_eq!(sip_uri_parts("sip:@b"), None);
        assert_eq!(sip_uri_parts("sip:nobody"), None);
    }
}
