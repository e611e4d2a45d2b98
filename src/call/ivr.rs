//! The IVR route (`action = "ivr"`): the call runs a flow from
//! `ivr-flows/`. The interpreter ([`crate::ivr::run::Session`]) decides;
//! this module does what it asks with the call's real media and the
//! outside world, and tells it what happened:
//!
//! - prompts: looked up in the [`MediaContext`] cache by language and
//!   name, played paced at 20 ms by a [`Player`], stopped when a key
//!   barges in; while the flow waits, the leg, the player and the
//!   recordings are parked on the media plane (`Actor::wait_on_plane`),
//!   which sends each frame when due and hands back keys and the
//!   prompts' end (with `media.workers = 0`, the call's own 20 ms tick
//!   does it);
//! - keys: RFC 4733 events, in-band tones (both through the leg) and SIP
//!   INFO, each reported once;
//! - lookups: the customer by the caller's number (the database), HTTP
//!   dips ([`crate::ivr::dip::Dipper`]), each in a task of the call's own [`JoinSet`] so
//!   they die with the call;
//! - voicemail: the caller's audio into its own WAV under the voicemail
//!   folder (the recorder's format and crash-safe header), then a
//!   callback request through the record writer;
//! - transfers: a blind transfer through an outbound trunk
//!   ([`super::bridge::transfer`]); while it rings the caller hears
//!   silence or the far end's early media and keys are ignored; once the
//!   far end answers the flow ends and the call goes on bridged, with the
//!   same recording, its path stored as it was when the flow handed over;
//! - queues: the call waits in the ACD ([`super::queue`]) with the
//!   screen pop built here; answered by an agent, the flow ends and the
//!   call goes on bridged to the agent, with the same recording;
//! - the whole call is recorded as every media route's is, and the path
//!   the caller took is stored with the call record.
//!
//! Time for the interpreter is milliseconds since the answer, read from
//! the leg's media clock.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hibiki_sip::Method;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::actor::{now_ms, Actor, End};
use super::bridge::transfer::{Bridged, TransferTo, Transferred};
use super::bridge::{Caller, CallerMedia};
use super::demo::{info_digit, AnsweredMedia};
use super::media::MediaContext;
use super::outcome::HangupCause;
use super::queue::{CallerSide, QueueStep, Waited};
use super::recording::Recording;
use super::CallInput;
use crate::acd::SkillNeed;
use crate::ivr::run::{Action, Ending, Flows, Input, LookupRequest, LookupResult, Session};
use crate::ivr::Flow;
use crate::media::leg::{Received, RtpLeg};
use crate::media::plane::{FlowMedia, Media, MediaPlane, PlaneEvent};
use crate::media::prompt::player::{Player, PlayerEvent};
use crate::media::recording::{recording_path, Recorder, RecordingFile, Side, Timeline};
use crate::store::Outcome;

/// The call's media tick: prompt frames go out on it.
const TICK_US: u64 = 20_000;

/// How far ahead of its deadline a prompt frame may go out. Prompts start
/// on the call's 20 ms tick grid ([`Io::grid_us`]), so each frame is due
/// exactly at a tick, and a tick (which never fires early) finds it due.
/// Had a prompt started between two ticks, a frame due a hair after a
/// tick would wait for the next one, and scheduling jitter would flip
/// frames between neighbouring ticks (gaps of 40 ms, then none). The
/// small slack only absorbs rounding; a tick must be 18 ms late before a
/// frame leaves early.
const SEND_AHEAD_US: u64 = 2_000;

/// Sleeps until `at`, or for ever.
async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// The first tick at or after `now_us` on the grid that starts at
/// `grid_us`.
fn on_grid(grid_us: u64, now_us: u64) -> u64 {
    let since = now_us.saturating_sub(grid_us);
    grid_us + since.div_ceil(TICK_US) * TICK_US
}

/// What ended one wait of the flow's loop.
enum Woke {
    Stopping,
    Input(Box<Option<CallInput>>),
    /// A datagram on the leg (media in the task).
    Packet(std::io::Result<Received>),
    Lookup(Result<(u64, LookupResult), tokio::task::JoinError>),
    /// The 20 ms tick (media in the task).
    Tick,
    /// The plane spoke or the flow's timer came (media back in the task,
    /// keys, the prompts' end and the timer already handed to the session).
    Plane,
    /// The plane refused the media (no worker): it stays in the task.
    PlaneRefused,
    /// The plane saw no RTP from the caller for the media timeout.
    MediaTimeout,
}

/// A voicemail message being recorded.
struct Message {
    op: u64,
    recorder: Recorder,
}

/// The media and outside-world side of one call's flow.
struct Io {
    media: Arc<MediaContext>,
    player: Player,
    /// The `op` of the prompts playing, until they end or are stopped.
    playing: Option<u64>,
    /// Bumped per prompt list (a new talk spurt: marker bit).
    source: u32,
    message: Option<Message>,
    lookups: JoinSet<(u64, LookupResult)>,
    /// Inputs produced while carrying out actions, handed to the session
    /// before the next wait.
    feedback: VecDeque<Input>,
    /// The flow the call entered (callback requests name it).
    flow: String,
    /// The customer a lookup found, for callback requests.
    customer_id: Option<String>,
    /// The customer document that lookup found, for the screen pop.
    customer: Option<serde_json::Value>,
    /// The ops of customer lookups in flight.
    customer_lookups: Vec<u64>,
    /// Media time of the call's first tick: ticks fall every 20 ms from
    /// here, and prompts start on them.
    grid_us: u64,
}

impl Actor {
    /// Runs `flow` on this call to its end.
    pub(super) async fn run_ivr(&mut self, flows: Arc<dyn Flows>, flow: Arc<Flow>) -> End {
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
        let clock = |leg: &RtpLeg| leg.media_us(Instant::now()) / 1000;
        let mut recording = self.start_recording(&media, leg.media_us(Instant::now()));
        info!(flow = %flow.name, "running the flow");
        let flow_name = flow.name.clone();
        let language = flow.language.clone();
        let mut session = Session::new(
            flows,
            flow,
            &self.call.record.from_number,
            &self.call.record.to_number,
            chrono::Utc::now(),
        );
        // The tick grid is fixed before the first prompt starts on it.
        let tick_origin = tokio::time::Instant::now();
        let grid_us = leg.media_us(tick_origin.into_std());
        let mut io = Io {
            grid_us,
            media: Arc::clone(&media),
            player: Player::new(Vec::new(), grid_us),
            playing: None,
            source: 1,
            message: None,
            lookups: JoinSet::new(),
            feedback: VecDeque::new(),
            flow: flow_name,
            customer_id: None,
            customer: None,
            customer_lookups: Vec::new(),
        };
        session.start(clock(&leg));

        let mut acked = late;
        // A transfer the far end answered: the call goes on bridged.
        let mut bridged: Option<Box<Bridged>> = None;
        let mut tick = tokio::time::interval_at(tick_origin, Duration::from_micros(TICK_US));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut media_since = Instant::now();
        let stopping = self.ctx.hard_stop.clone().cancelled_owned();
        tokio::pin!(stopping);
        let mut end: Option<End> = None;
        // While the flow waits, its media is on the plane (if there is
        // one): prompts paced to the millisecond whatever the runtime does.
        let mut on_plane = true;
        let answered = |cause| End {
            outcome: Outcome::Answered,
            code: Some(200),
            cause,
        };
        loop {
            // Carry out what the session asks, feeding back what that
            // caused, until it waits.
            loop {
                if let Some(input) = io.feedback.pop_front() {
                    session.handle(input, clock(&leg));
                    continue;
                }
                let Some(action) = session.poll_action() else {
                    break;
                };
                if let Action::Queue {
                    op,
                    queue,
                    priority,
                    skills,
                } = action
                {
                    io.player.stop();
                    io.playing = None;
                    let pop = self.screen_pop(&io, &session, &queue).await;
                    let step = QueueStep {
                        queue,
                        priority,
                        skills: skills
                            .into_iter()
                            .map(|(skill, level)| SkillNeed {
                                skill,
                                min_level: u8::try_from(level).unwrap_or(u8::MAX),
                            })
                            .collect(),
                        language: language.clone(),
                        pop,
                        agent: None,
                        flow: io.flow.clone(),
                    };
                    let caller = CallerSide {
                        leg: &mut leg,
                        local: &local,
                        last_sdp: &mut last_sdp,
                        recording: &mut recording,
                        acked: &mut acked,
                        t0,
                    };
                    match self.wait_in_queue(step, caller).await {
                        Waited::Connected { bridged: b, agent } => {
                            bridged = Some(b);
                            io.feedback.push_back(Input::QueueConnected { op, agent });
                        }
                        Waited::Left(reason) => {
                            io.feedback.push_back(Input::QueueLeft { op, reason });
                        }
                        Waited::Callback { callback } => {
                            io.feedback.push_back(Input::QueueCallback { op, callback });
                            end.get_or_insert(answered(HangupCause::CallbackRequested));
                        }
                        Waited::CallerLeft => {
                            session.handle(Input::Hangup, clock(&leg));
                            end.get_or_insert(answered(HangupCause::Normal));
                        }
                        Waited::Shutdown => {
                            session.handle(Input::Hangup, clock(&leg));
                            end.get_or_insert(answered(HangupCause::Shutdown));
                        }
                        Waited::EngineGone => {
                            session.handle(Input::Hangup, clock(&leg));
                            end.get_or_insert(self.engine_gone());
                        }
                    }
                    continue;
                }
                if let Action::Transfer {
                    op,
                    trunk,
                    to,
                    caller_id,
                } = action
                {
                    io.player.stop();
                    io.playing = None;
                    let request = TransferTo {
                        trunk: &trunk,
                        to: &to,
                        caller_id: caller_id.as_deref(),
                    };
                    let caller = Caller::Answered {
                        local: &local,
                        last_sdp: &mut last_sdp,
                        recording: &mut recording,
                        acked: &mut acked,
                    };
                    let result = match self.transfer(request, &mut leg, caller, t0).await {
                        Transferred::Answered(b) => {
                            bridged = Some(b);
                            Ok(())
                        }
                        Transferred::Failed(reason) => Err(reason),
                        Transferred::CallerLeft => {
                            session.handle(Input::Hangup, clock(&leg));
                            end.get_or_insert(answered(HangupCause::Normal));
                            continue;
                        }
                        Transferred::Shutdown => {
                            self.hang_up().await;
                            session.handle(Input::Hangup, clock(&leg));
                            end.get_or_insert(answered(HangupCause::Shutdown));
                            continue;
                        }
                        Transferred::EngineGone => {
                            session.handle(Input::Hangup, clock(&leg));
                            end.get_or_insert(self.engine_gone());
                            continue;
                        }
                    };
                    io.feedback.push_back(Input::TransferDone { op, result });
                    continue;
                }
                if let Some(e) = self
                    .carry_out(action, &mut io, &mut leg, &mut recording)
                    .await
                {
                    end.get_or_insert(e);
                }
            }
            if end.is_none() {
                if let Some(ending) = session.ending() {
                    // Hangup actions have been carried out; this covers an
                    // ending without one (a transfer answered elsewhere).
                    end = Some(match ending {
                        Ending::Failed { .. } => answered(HangupCause::FlowFailed),
                        Ending::CallerHungUp => answered(HangupCause::Normal),
                        _ => answered(HangupCause::FlowEnded),
                    });
                }
            }
            if end.is_some() {
                break;
            }
            let woke = match media.plane.as_ref().filter(|_| on_plane) {
                Some(plane) => {
                    let waited = self
                        .wait_on_plane(
                            plane,
                            leg,
                            &mut io,
                            &mut recording,
                            &mut session,
                            media_since,
                            stopping.as_mut(),
                        )
                        .await;
                    match waited {
                        Ok((back, woke)) => {
                            leg = back;
                            woke
                        }
                        Err(lost) => {
                            self.hang_up().await;
                            self.call.record.ivr_path = serde_json::to_value(session.path()).ok();
                            return lost;
                        }
                    }
                }
                None => tokio::select! {
                    () = &mut stopping => Woke::Stopping,
                    input = self.input.recv() => Woke::Input(Box::new(input)),
                    received = leg.recv() => Woke::Packet(received),
                    Some(done) = io.lookups.join_next(), if !io.lookups.is_empty() => Woke::Lookup(done),
                    _ = tick.tick() => Woke::Tick,
                },
            };
            match woke {
                Woke::Stopping => {
                    self.hang_up().await;
                    session.handle(Input::Hangup, clock(&leg));
                    end = Some(answered(HangupCause::Shutdown));
                }
                Woke::Input(input) => match *input {
                    Some(CallInput::Ack { .. }) => acked = true,
                    Some(CallInput::AckTimeout) if !acked => {
                        self.hang_up().await;
                        session.handle(Input::Hangup, clock(&leg));
                        end = Some(answered(HangupCause::AckTimeout));
                    }
                    Some(CallInput::Request { tx, request }) if request.method == Method::Bye => {
                        self.respond_on(tx, &request, 200, "OK", None).await;
                        info!("caller hung up");
                        session.handle(Input::Hangup, clock(&leg));
                        end = Some(answered(HangupCause::Normal));
                    }
                    Some(CallInput::Request { tx, request }) if request.method == Method::Info => {
                        let digit = info_digit(&request);
                        self.respond_on(tx, &request, 200, "OK", None).await;
                        if let Some(digit) = digit {
                            info!(%digit, via = "sip-info", "dtmf digit");
                            session.handle(Input::Digit(digit), clock(&leg));
                        }
                    }
                    Some(CallInput::Request { tx, request })
                        if request.method == Method::Invite =>
                    {
                        self.reinvite(tx, &request, &mut leg, &local, &mut last_sdp)
                            .await;
                        media_since = Instant::now();
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
                    None => {
                        session.handle(Input::Hangup, clock(&leg));
                        end = Some(self.engine_gone());
                    }
                },
                Woke::Packet(received) => {
                    let now = Instant::now();
                    match received {
                        Ok(Received::Audio { at_us, len }) => {
                            let pcm = leg.decoded(len);
                            if let Some(r) = recording.as_mut() {
                                r.recorder.push(Side::Caller, at_us, pcm);
                            }
                            if let Some(m) = io.message.as_mut() {
                                m.recorder.push(Side::Caller, at_us, pcm);
                            }
                        }
                        Ok(Received::Event | Received::Ignored) => {}
                        Err(e) => warn!(error = %e, "RTP receive failed"),
                    }
                    while let Some((digit, via)) = leg.poll_digit(now) {
                        info!(%digit, via, "dtmf digit");
                        session.handle(Input::Digit(digit), leg.media_us(now) / 1000);
                    }
                }
                Woke::Lookup(done) => match done {
                    Ok((op, result)) => {
                        debug!(op, ?result, "lookup answered");
                        let customer = io.customer_lookups.contains(&op);
                        io.customer_lookups.retain(|o| *o != op);
                        if let (true, LookupResult::Found(doc)) = (customer, &result) {
                            io.customer_id =
                                doc.get("id").and_then(|v| v.as_str()).map(str::to_owned);
                            io.customer = Some(doc.clone());
                            self.call.record.customer_id.clone_from(&io.customer_id);
                        }
                        session.handle(Input::LookupDone { op, result }, clock(&leg));
                    }
                    Err(e) => warn!(error = %e, "lookup task failed"),
                },
                Woke::Tick => {
                    let now = Instant::now();
                    let now_us = leg.media_us(now);
                    while let Some(event) = io.player.poll(now_us + SEND_AHEAD_US) {
                        match event {
                            PlayerEvent::Frame(frame) => {
                                leg.send_pcm(io.source, &frame.samples, now).await;
                                if let Some(r) = recording.as_mut() {
                                    r.recorder
                                        .push(Side::Other, frame.deadline_us, &frame.samples);
                                }
                            }
                            PlayerEvent::Finished(_) => {}
                        }
                    }
                    if io.player.finished().is_some() {
                        if let Some(op) = io.playing.take() {
                            session.handle(Input::PlayDone { op }, now_us / 1000);
                        }
                    }
                    if let Some(r) = recording.as_mut() {
                        if let Err(e) = r.recorder.tick(now_us) {
                            warn!(error = %e, "recording failed; the call goes on unrecorded");
                            recording = None;
                        }
                    }
                    if let Some(m) = io.message.as_mut() {
                        if let Err(e) = m.recorder.tick(now_us) {
                            warn!(error = %e, "voicemail recording failed");
                        }
                    }
                    while let Some((digit, via)) = leg.poll_digit(now) {
                        info!(%digit, via, "dtmf digit");
                        session.handle(Input::Digit(digit), now_us / 1000);
                    }
                    if session.poll_timeout().is_some_and(|at| at <= now_us / 1000) {
                        session.handle_timeout(now_us / 1000);
                    }
                    if let Some(limit) = media.timeout.filter(|_| leg.expects_media()) {
                        let last = leg.last_received().unwrap_or(media_since).max(media_since);
                        if now.saturating_duration_since(last) > limit {
                            warn!(?limit, "no RTP from the caller: hanging up");
                            self.hang_up().await;
                            session.handle(Input::Hangup, now_us / 1000);
                            end = Some(answered(HangupCause::MediaTimeout));
                        }
                    }
                }
                // The plane's keys, the prompts' end and the flow's timer
                // were handed to the session as the media came back.
                Woke::Plane => {}
                Woke::PlaneRefused => on_plane = false,
                Woke::MediaTimeout => {
                    warn!(limit = ?media.timeout, "no RTP from the caller: hanging up");
                    self.hang_up().await;
                    session.handle(Input::Hangup, clock(&leg));
                    end = Some(answered(HangupCause::MediaTimeout));
                }
            }
        }
        // A message the caller was leaving when the call ended is kept.
        if let Some(message) = io.message.take() {
            self.save_message(message, &io, leg.media_us(Instant::now()))
                .await;
        }
        let stats = leg.stats();
        info!(
            received = stats.received,
            sent = stats.sent,
            rejected_source = stats.rejected_source,
            steps = session.path().len(),
            "flow ended"
        );
        self.call.record.ivr_path = serde_json::to_value(session.path()).ok();
        if let Some(b) = bridged {
            if matches!(
                session.ending(),
                Some(Ending::Transferred { .. } | Ending::Connected { .. })
            ) {
                info!("the flow handed the call over (transfer or agent)");
                let caller = CallerMedia {
                    rtp: leg,
                    local,
                    last_sdp,
                    recording,
                    acked,
                };
                return self.talk_transferred(*b, caller, t0).await;
            }
            self.drop_transferred(*b).await;
        }
        if let Some(r) = recording {
            self.finish_recording(r, leg.media_us(Instant::now())).await;
        }
        end.unwrap_or_else(|| answered(HangupCause::FlowEnded))
    }

    /// Waits with the flow's media (leg, prompts, recording, message) on
    /// the plane, and takes it back when anything happens: the plane's
    /// word (keys, the prompts' end, a media timeout), the flow's timer, a
    /// SIP message, a lookup's answer, a shutdown. Keys, the prompts' end
    /// and the timer are handed to the session here. `Err` when the plane
    /// lost the media (the call is over).
    #[allow(clippy::too_many_arguments)]
    async fn wait_on_plane(
        &mut self,
        plane: &MediaPlane,
        leg: RtpLeg,
        io: &mut Io,
        recording: &mut Option<Recording>,
        session: &mut Session,
        media_since: Instant,
        mut stopping: std::pin::Pin<&mut tokio_util::sync::WaitForCancellationFutureOwned>,
    ) -> Result<(RtpLeg, Woke), End> {
        let lost = End {
            outcome: Outcome::Answered,
            code: Some(200),
            cause: HangupCause::NoMediaPorts,
        };
        let timer = session
            .poll_timeout()
            .map(|ms| leg.origin() + Duration::from_millis(ms));
        let (recorder, row) = Recording::split(recording.take());
        let (message, message_op) = match io.message.take() {
            Some(Message { op, recorder }) => (Some(recorder), Some(op)),
            None => (None, None),
        };
        let player = std::mem::replace(&mut io.player, Player::new(Vec::new(), 0));
        let leg = match leg.park() {
            Ok(leg) => leg,
            Err(e) => {
                warn!(error = %e, "the caller's RTP socket could not be parked");
                return Err(lost);
            }
        };
        let flow = Box::new(FlowMedia {
            leg,
            player,
            source: io.source,
            send_ahead_us: SEND_AHEAD_US,
            notify_finish: io.playing.is_some(),
            recorder,
            message,
            media_since,
        });
        let (flow, mut said, woke) = match plane.park(Media::Flow(flow), tracing::Span::current()) {
            Err(Media::Flow(flow)) => (flow, Vec::new(), Woke::PlaneRefused),
            Err(Media::Bridge(_)) => return Err(lost),
            Ok(mut parked) => {
                let mut said = Vec::new();
                let woke = tokio::select! {
                    () = &mut stopping => Woke::Stopping,
                    input = self.input.recv() => Woke::Input(Box::new(input)),
                    Some(done) = io.lookups.join_next(), if !io.lookups.is_empty() => Woke::Lookup(done),
                    event = parked.event() => {
                        said.extend(event);
                        Woke::Plane
                    }
                    () = sleep_until_opt(timer) => Woke::Plane,
                };
                let (flow, unread) = match parked.unpark().await {
                    Some((Media::Flow(flow), unread)) => (flow, unread),
                    Some((Media::Bridge(_), _)) => {
                        warn!("the media plane gave back a bridge for the caller's leg");
                        return Err(lost);
                    }
                    None => {
                        warn!("the media plane is gone with the caller's leg");
                        return Err(lost);
                    }
                };
                said.extend(unread);
                (flow, said, woke)
            }
        };
        let FlowMedia {
            leg,
            player,
            recorder,
            message,
            ..
        } = *flow;
        let leg = match leg.unpark() {
            Ok(leg) => leg,
            Err(e) => {
                warn!(error = %e, "the caller's RTP socket could not be taken back");
                return Err(lost);
            }
        };
        io.player = player;
        *recording = Recording::join(recorder, row);
        if let (Some(recorder), Some(op)) = (message, message_op) {
            io.message = Some(Message { op, recorder });
        }
        let mut woke = woke;
        for event in said.drain(..) {
            match event {
                PlaneEvent::Digit { digit, at_us, .. } => {
                    session.handle(Input::Digit(digit), at_us / 1000);
                }
                // Only when nothing else woke the flow (a BYE must still
                // be answered); the plane says it again once parked anew.
                PlaneEvent::MediaTimeout if matches!(woke, Woke::Plane) => {
                    woke = Woke::MediaTimeout;
                }
                PlaneEvent::MediaTimeout => {}
                // (The recorder is gone; the plane said why.)
                PlaneEvent::RecordingFailed(_) | PlaneEvent::PlayFinished => {}
            }
        }
        let now_ms = leg.media_us(Instant::now()) / 1000;
        if io.player.finished().is_some() {
            if let Some(op) = io.playing.take() {
                session.handle(Input::PlayDone { op }, now_ms);
            }
        }
        if session.poll_timeout().is_some_and(|at| at <= now_ms) {
            session.handle_timeout(now_ms);
        }
        Ok((leg, woke))
    }

    /// Does what the session asked; `Some` when the call ends.
    async fn carry_out(
        &mut self,
        action: Action,
        io: &mut Io,
        leg: &mut RtpLeg,
        recording: &mut Option<Recording>,
    ) -> Option<End> {
        let now_us = leg.media_us(Instant::now());
        match action {
            Action::Play { op, prompts } => {
                let mut loaded = Vec::with_capacity(prompts.len());
                for p in &prompts {
                    match io.media.flow_prompt(&p.language, &p.name) {
                        Ok(prompt) => loaded.push(prompt),
                        Err(e) => warn!(error = %e, "prompt skipped"),
                    }
                }
                debug!(op, prompts = ?prompts.iter().map(ToString::to_string).collect::<Vec<_>>(), "play");
                io.player = Player::new(loaded, on_grid(io.grid_us, now_us));
                io.playing = Some(op);
                io.source = io.source.wrapping_add(1);
            }
            Action::StopPlay => {
                io.player.stop();
                io.playing = None;
            }
            Action::Lookup { op, request } => {
                if matches!(request, LookupRequest::Customer { .. }) {
                    io.customer_lookups.push(op);
                }
                let lookup = self.lookup_task(request);
                io.lookups.spawn(async move { (op, lookup.await) });
            }
            // `run_ivr` carries queue steps out itself: the call waits
            // there with its whole caller side.
            Action::Queue { .. } => {}
            Action::Record { op, max_ms } => {
                let name = format!("{}-{op}", self.call.record.id);
                let path = recording_path(&io.media.voicemail_dir, &name, now_ms());
                match RecordingFile::create(&path, &self.call.record.id) {
                    Ok(file) => {
                        info!(path = %path.display(), max_ms, "recording a message");
                        io.message = Some(Message {
                            op,
                            recorder: Recorder::new(Timeline::new(now_us), file),
                        });
                    }
                    Err(e) => {
                        warn!(error = %e, "cannot record the message");
                        io.feedback
                            .push_back(Input::RecordDone { op, duration_ms: 0 });
                    }
                }
            }
            Action::StopRecord { op } => {
                if let Some(message) = io.message.take_if(|m| m.op == op) {
                    let duration_ms = self.save_message(message, io, now_us).await;
                    io.feedback.push_back(Input::RecordDone { op, duration_ms });
                }
            }
            // `run_ivr` carries transfers out itself: they take over the
            // caller's whole side (SIP, media, recording) while they ring.
            Action::Transfer { .. } => {}
            Action::Hangup => {
                io.player.stop();
                self.hang_up().await;
                let _ = recording;
                return Some(End {
                    outcome: Outcome::Answered,
                    code: Some(200),
                    cause: HangupCause::FlowEnded,
                });
            }
        }
        None
    }

    /// What the agent's screen shows when the call is offered: the
    /// caller, the customer the flow found (and their last interactions),
    /// the flow's variables, the queue, and the external CRM's record.
    async fn screen_pop(&self, io: &Io, session: &Session, queue: &str) -> serde_json::Value {
        let history = async {
            match &io.customer_id {
                Some(id) => self.ctx.customers.history(id).await,
                None => serde_json::Value::Array(Vec::new()),
            }
        };
        // The CRM is asked at the same time; each is bounded on its own.
        let crm = async {
            match &self.ctx.crm {
                Some(crm) => crm.lookup(&self.call.record.from_number).await,
                None => serde_json::Value::Null,
            }
        };
        let (history, crm) = tokio::join!(history, crm);
        serde_json::json!({
            "call_id": self.call.record.id,
            "caller": self.call.record.from_number,
            "dialled": self.call.record.to_number,
            "queue": queue,
            "flow": io.flow,
            "customer": io.customer,
            "ivr": session.vars_json(),
            "history": history,
            "crm": crm,
        })
    }

    /// The future answering a lookup: the customer from the database, or
    /// an HTTP dip.
    fn lookup_task(
        &self,
        request: LookupRequest,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = LookupResult> + Send>> {
        match request {
            LookupRequest::Http { .. } => {
                let dipper = self.ctx.dipper.clone();
                Box::pin(async move { dipper.dip(&request).await })
            }
            LookupRequest::Customer { caller } => {
                let customers = self.ctx.customers.clone();
                Box::pin(async move { customers.find(&caller).await })
            }
        }
    }

    /// Closes a voicemail message's WAV and files the callback request;
    /// returns the message's length.
    async fn save_message(&self, message: Message, io: &Io, end_us: u64) -> u64 {
        let Message { recorder, .. } = message;
        let summary = tokio::task::spawn_blocking(move || recorder.finish(end_us)).await;
        let summary = match summary {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                warn!(error = %e, "closing the message failed");
                return 0;
            }
            Err(e) => {
                warn!(error = %e, "closing the message failed");
                return 0;
            }
        };
        info!(
            duration_ms = summary.duration_ms,
            path = %summary.path.display(),
            "message saved"
        );
        let root = io
            .media
            .voicemail_dir
            .parent()
            .unwrap_or(&io.media.voicemail_dir);
        self.ctx.customers.callback_requested(
            &self.call.record,
            &io.flow,
            io.customer_id.clone(),
            root,
            &summary,
        );
        summary.duration_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_start_on_the_next_tick_of_the_grid() {
        // The grid starts at 1.000 s: ticks at 1.000, 1.020, 1.040 s…
        let grid = 1_000_000;
        assert_eq!(on_grid(grid, grid), grid);
        assert_eq!(on_grid(grid, grid + 1), grid + TICK_US);
        assert_eq!(on_grid(grid, grid + 19_999), grid + TICK_US);
        assert_eq!(on_grid(grid, grid + 20_000), grid + TICK_US);
        assert_eq!(on_grid(grid, grid + 47_500), grid + 3 * TICK_US);
        // Before the grid (cannot happen): its start.
        assert_eq!(on_grid(grid, 10), grid);
    }
}
