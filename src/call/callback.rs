//! A queue's callback: a caller who took the offer ("press 1 to be called
//! back, you keep your place") hung up, and their place in the queue is
//! now this task's, under the id of the call it will become.
//!
//! The task waits for that place to come up like a caller would: the ACD
//! offers it to an agent (a browser agent: the agent is connected first,
//! and only a softphone can be), whose page rings with the pop and the
//! number to call; a missed or refused offer goes back to the front as
//! for any call. Once the agent answers, their station lends its media,
//! the agent's page shows the call connected, and the customer's number
//! is dialled through `agents.transfer_trunk` (the trunk's early media is
//! what the agent hears meanwhile). When the customer answers, the call
//! goes on as any call with an agent in the browser, in a call actor of
//! its own ([`Actor`], whose first leg is the one we placed): recorded
//! (customer left, agent right), with hold, transfers and consults, its
//! own call record (direction `outbound`) and the callback request closed
//! as done. When the customer is not reached (busy, refused, no answer,
//! the trunk unreachable) the call record says why
//! (`customer_not_reached`), the agent wraps up, and after the queue's
//! `callback_retry_seconds` the callback queues again, at the back and
//! under a new call id, up to `callback_attempts` in all; after the last,
//! or when the agent hangs up before the customer answers, the request
//! stays open in the callbacks list for an agent to handle by hand.
//!
//! A callback waiting in memory does not outlive the process: its request
//! stays open in the database (`GET /api/v1/callbacks`) for an agent to
//! call back by hand after a restart.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hibiki_sip::sdp::{self, Codec, LocalMedia};
use hibiki_sip::{Method, Response};
use tokio::sync::mpsc;
use tracing::{debug, info, warn, Instrument};

use super::actor::{now_ms, Actor, CallContext, End, InboundCall};
use super::bridge::transfer::{presented_number, Bridged, TRANSFER_RING_TIMEOUT};
use super::bridge::{codecs_for_trunk, next_agent_event, recv_on, CallerMedia, OutLeg};
use super::outbound::{self, TrunkTarget};
use super::outcome::{outcome_for_final_status, HangupCause};
use super::queue::{sleep_until, QueueStep, Queued};
use super::{CallHandle, CallInput, SipCommand};
use crate::acd::core::{Enqueue, EntryKind, Missed};
use crate::acd::service::{AgentEvent, Command, Device, QueueEvent};
use crate::config::RouteAction;
use crate::media::leg::Received;
use crate::softphone::{Lent, Station};
use crate::store::{CallRecord, CallbackRequest, CallbackStatus, Direction, Outcome, RecordEvent};

/// What a queue hands over when its caller takes the callback offer.
pub(super) struct Callback {
    /// The callback call's id: its place in the ACD, its call record, its
    /// recording, and its callback request.
    pub id: String,
    /// The number to dial.
    pub number: String,
    /// The call that took the offer (its number, customer and queue).
    pub from: CallRecord,
    pub step: QueueStep,
    /// The place's events, from the ACD.
    pub events: mpsc::Receiver<QueueEvent>,
    /// The stored request, closed once the customer is reached.
    pub request: CallbackRequest,
}

/// Starts the callback's task; it ends with the callback call, or with
/// the server.
pub(super) fn spawn(ctx: CallContext, callback: Callback) {
    let span = tracing::info_span!("callback", id = %callback.id);
    tokio::spawn(run(ctx, callback).instrument(span));
}

async fn run(ctx: CallContext, mut callback: Callback) {
    info!(number = %callback.number, queue = %callback.step.queue, "a callback keeps the caller's place");
    let settings = ctx.queues.get(&callback.step.queue);
    let attempts = settings.map_or(1, |q| q.callback_attempts.max(1));
    let retry = Duration::from_secs(settings.map_or(300, |q| q.callback_retry_seconds));
    for attempt in 1..=attempts {
        if attempt > 1 {
            tokio::select! {
                () = tokio::time::sleep(retry) => {}
                () = ctx.hard_stop.cancelled() => return,
            }
            if !queue_again(&ctx, &mut callback).await {
                return;
            }
        }
        let Some((agent, lent)) = wait_for_agent(&ctx, &mut callback).await else {
            return;
        };
        // The agent is on the call from now on: their page shows it connected.
        let _ = ctx
            .acd
            .send(Command::Answered {
                entry: callback.id.clone(),
                agent: agent.clone(),
            })
            .await;
        match dial(&ctx, &mut callback, agent, lent).await {
            Dialled::NotReached => info!(attempt, attempts, "the customer was not reached"),
            Dialled::Over => return,
        }
    }
    info!("no attempt reached the customer: the callback stays open in the callbacks list");
}

/// Queues a callback again, at the back, under a new call id, after an
/// attempt that did not reach the customer; false when the ACD refused
/// (the request stays open).
async fn queue_again(ctx: &CallContext, callback: &mut Callback) -> bool {
    let id = uuid::Uuid::new_v4().to_string();
    let step = &callback.step;
    let request = Enqueue {
        id: id.clone(),
        queue: step.queue.clone(),
        priority: step.priority,
        skills: step.skills.clone(),
        kind: EntryKind::Callback {
            number: callback.number.clone(),
        },
        pop: Arc::new(step.pop.clone()),
        agent: None,
    };
    match ctx.acd.enqueue(request).await {
        Ok(events) => {
            info!(call = %id, "the callback queues again");
            callback.id = id;
            callback.events = events;
            true
        }
        other => {
            warn!(
                ?other,
                "the callback could not queue again: it stays open in the callbacks list"
            );
            false
        }
    }
}

/// How an attempt ended.
enum Dialled {
    /// Busy, refused, no answer, unreachable: another attempt may follow.
    NotReached,
    /// Talked, or given up (the agent hung up first, shutdown).
    Over,
}

/// An offer to an agent's page, ringing until `until`.
struct Offer {
    agent: String,
    station: Station,
    until: tokio::time::Instant,
}

/// Waits until an agent has answered the callback in the browser and
/// lent their softphone; `None` when the place is gone (shutdown, the ACD
/// stopped).
async fn wait_for_agent(ctx: &CallContext, callback: &mut Callback) -> Option<(String, Lent)> {
    let mut offer: Option<Offer> = None;
    loop {
        let ring = Duration::from_secs(
            ctx.queues
                .get(&callback.step.queue)
                .map_or(15, |q| q.ring_seconds),
        );
        let offer_ends = offer.as_ref().map(|o| o.until);
        tokio::select! {
            () = ctx.hard_stop.cancelled() => {
                info!("shutting down: the callback stays open in the callbacks list");
                let _ = ctx.acd.send(Command::Abandon { entry: callback.id.clone() }).await;
                return None;
            }
            () = sleep_until(offer_ends) => {
                if let Some(o) = offer.take() {
                    info!(agent = %o.agent, "the agent did not answer the callback");
                    missed(ctx, &callback.id, o.agent, Missed::NoAnswer).await;
                }
            }
            event = callback.events.recv() => match event {
                Some(QueueEvent::Offered { agent, device: Device::Browser(station) }) => {
                    info!(%agent, "callback offered to the agent's browser");
                    offer = Some(Offer { agent, station, until: tokio::time::Instant::now() + ring });
                }
                Some(QueueEvent::Offered { agent, device: Device::Sip(_) }) => {
                    // The ACD offers callbacks to softphones only.
                    warn!(%agent, "a callback was offered to a SIP phone");
                    missed(ctx, &callback.id, agent, Missed::DeviceFailed).await;
                }
                Some(QueueEvent::AgentAnswer { agent }) => {
                    let Some(o) = offer.take_if(|o| o.agent == agent) else {
                        continue;
                    };
                    match o.station.borrow().await {
                        Ok(lent) => {
                            info!(%agent, "the agent took the callback");
                            return Some((agent, lent));
                        }
                        Err(e) => {
                            warn!(%agent, error = %e, "the agent answered but their softphone cannot take the call");
                            missed(ctx, &callback.id, agent, Missed::DeviceFailed).await;
                        }
                    }
                }
                Some(QueueEvent::Withdrawn { agent }) => {
                    offer.take_if(|o| o.agent == agent);
                }
                Some(QueueEvent::Moved { to }) => {
                    info!(%to, "the callback moved to another queue");
                    callback.step.queue = to;
                }
                Some(QueueEvent::Left { reason }) => {
                    warn!(%reason, "the callback left the queue; it stays open in the callbacks list");
                    return None;
                }
                Some(other) => debug!(?other, "queue event while waiting"),
                None => return None,
            },
        }
    }
}

async fn missed(ctx: &CallContext, entry: &str, agent: String, how: Missed) {
    let _ = ctx
        .acd
        .send(Command::Missed {
            entry: entry.to_owned(),
            agent,
            how,
        })
        .await;
}

/// Places the call to the customer for `agent`, and runs it to its end.
async fn dial(ctx: &CallContext, callback: &mut Callback, agent: String, lent: Lent) -> Dialled {
    let number = callback.number.clone();
    let from = &callback.from;
    let mut record = CallRecord {
        id: callback.id.clone(),
        node_id: from.node_id.clone(),
        sip_call_id: String::new(),
        direction: Direction::Outbound,
        trunk: ctx.transfer_trunk.clone(),
        from_number: String::new(),
        to_number: number.clone(),
        started_at_ms: now_ms(),
        answered_at_ms: None,
        ended_at_ms: None,
        outcome: None,
        final_sip_code: None,
        hangup_cause: None,
        ivr_path: None,
        customer_id: callback
            .request
            .customer_id
            .clone()
            .or(from.customer_id.clone()),
        queue: Some(callback.step.queue.clone()),
        queued_at_ms: from.queued_at_ms,
        agent: Some(agent.clone()),
        connected_at_ms: None,
        out_trunk: None,
        out_sip_call_id: None,
    };
    let place = match prepare(ctx, &record, from, &number).await {
        Ok(p) => p,
        Err(cause) => {
            // Nothing was sent: the call record says why, the agent wraps up.
            warn!(cause = cause.as_str(), "the callback could not be dialled");
            tell_dialling(ctx, &agent, &record.id, &number, "failed").await;
            record.ended_at_ms = Some(now_ms());
            record.outcome = Some(Outcome::Failed);
            record.hangup_cause = Some(cause.as_str().to_owned());
            ctx.records.send(RecordEvent::Started(record.clone()));
            ctx.records.send(RecordEvent::Ended(record.clone()));
            let _ = ctx.acd.send(Command::Ended { entry: record.id }).await;
            drop(lent);
            return Dialled::NotReached;
        }
    };
    let Placed { out, presented, t0 } = place;
    record.from_number = presented;
    record.sip_call_id.clone_from(&out.call_id);
    let (input_tx, input) = mpsc::channel(64);
    let handle = CallHandle {
        id: record.id.clone(),
        input: input_tx,
    };
    if ctx
        .sip
        .send(SipCommand::Placed {
            call_id: out.call_id.clone(),
            handle,
        })
        .await
        .is_err()
    {
        warn!("the signaling engine stopped: the callback is not dialled");
        let _ = ctx.acd.send(Command::Ended { entry: record.id }).await;
        return Dialled::Over;
    }
    ctx.records.send(RecordEvent::Started(record.clone()));
    ctx.metrics.calls_active.inc();
    let local_tag = hibiki_sip::transaction::build::tag_of(&out.invite.headers.from)
        .unwrap_or_default()
        .to_owned();
    let call = InboundCall {
        record,
        invite: out.invite.clone(),
        tx: None,
        source: out.target.destination,
        transport: out.target.transport.clone(),
        route: RouteAction::Trunk {
            trunk: ctx.transfer_trunk.clone().unwrap_or_default(),
            to: Some(number),
            ring_timeout_seconds: TRANSFER_RING_TIMEOUT.as_secs(),
        },
        local_tag,
    };
    let mut actor = Actor {
        ctx: ctx.clone(),
        call,
        input,
        dialog: None,
        queued: Some(Queued {
            events: std::mem::replace(&mut callback.events, mpsc::channel(1).1),
            agent: Some(agent.clone()),
        }),
        queue_step: Some(callback.step.clone()),
        placed_ack: None,
    };
    actor.send_out(&out, out.invite.clone()).await;
    actor.tell_dialling("ringing").await;
    let end = actor
        .call_customer(out, agent, lent, t0, &mut callback.request)
        .await;
    let reached = !matches!(
        end.cause,
        HangupCause::CustomerNotReached | HangupCause::TrunkFailed
    );
    actor.finish(end).await;
    ctx.metrics.calls_active.dec();
    if reached {
        Dialled::Over
    } else {
        Dialled::NotReached
    }
}

/// The customer's leg, ready to send.
struct Placed {
    out: OutLeg,
    /// The caller ID the customer sees.
    presented: String,
    t0: Instant,
}

/// The trunk, a port and our offer for the call to `number`; the cause to
/// record when there is none.
async fn prepare(
    ctx: &CallContext,
    record: &CallRecord,
    from: &CallRecord,
    number: &str,
) -> Result<Placed, HangupCause> {
    let outbound = record
        .trunk
        .as_ref()
        .and_then(|t| ctx.trunks.get(t))
        .cloned()
        .ok_or(HangupCause::TrunkFailed)?;
    let target = TrunkTarget::resolve(&outbound, &ctx.media_ip)
        .await
        .map_err(|e| {
            warn!(error = %e, "cannot reach the callback trunk");
            HangupCause::TrunkFailed
        })?;
    let lease = ctx.media.ports.lease().ok_or(HangupCause::NoMediaPorts)?;
    let session = now_ms().unsigned_abs().wrapping_add(1);
    let mut local = LocalMedia::new(ctx.media.announce_ip, lease.port(), session);
    local.codecs = codecs_for_trunk(&outbound.codecs, Codec::Pcmu);
    let offer = sdp::offer(&local);
    // The customer sees the number they called us on (or the trunk's own).
    let presented = presented_number(None, outbound.username.as_deref(), &from.to_number);
    let invite = outbound::invite(
        &target,
        number,
        &presented,
        None,
        &ctx.contact,
        offer.to_bytes(),
    );
    info!(%number, destination = %target.destination, leg_call_id = %invite.headers.call_id, "calling the customer back");
    Ok(Placed {
        out: OutLeg {
            call_id: invite.headers.call_id.clone(),
            target,
            invite,
            offer,
            local,
            lease: Some(lease),
            rtp: None,
            auth_tried: false,
        },
        presented,
        t0: Instant::now(),
    })
}

/// Tells `agent`'s page how dialling the customer of callback `call`
/// goes.
async fn tell_dialling(
    ctx: &CallContext,
    agent: &str,
    call: &str,
    number: &str,
    state: &'static str,
) {
    let _ = ctx
        .acd
        .send(Command::Tell {
            agent: agent.to_owned(),
            event: AgentEvent::Dialling {
                call_id: call.to_owned(),
                number: number.to_owned(),
                state,
            },
        })
        .await;
}

/// How ringing the customer ended.
enum CustomerRing {
    Answered(Box<Response>),
    Refused(Box<Response>),
    NoAnswer,
    /// The agent hung up from their screen before the customer answered.
    AgentLeft,
    Shutdown,
    EngineGone,
}

impl Actor {
    /// Tells the callback's agent how dialling the customer goes.
    async fn tell_dialling(&self, state: &'static str) {
        if let Some(agent) = &self.call.record.agent {
            let record = &self.call.record;
            tell_dialling(&self.ctx, agent, &record.id, &record.to_number, state).await;
        }
    }

    /// Rings the customer for the connected `agent`, then talks.
    async fn call_customer(
        &mut self,
        mut out: OutLeg,
        agent: String,
        mut lent: Lent,
        t0: Instant,
        request: &mut CallbackRequest,
    ) -> End {
        let not_reached = |outcome, code| End {
            outcome,
            code,
            cause: HangupCause::CustomerNotReached,
        };
        let response = match self.ring_customer(&mut out, &mut lent, t0).await {
            CustomerRing::Answered(r) => r,
            CustomerRing::Refused(r) => {
                info!(status = r.status, "the customer was not reached");
                self.tell_dialling("failed").await;
                return not_reached(outcome_for_final_status(r.status), Some(r.status));
            }
            CustomerRing::NoAnswer => {
                info!("the customer did not answer");
                self.tell_dialling("failed").await;
                self.abandon(&mut out).await;
                return not_reached(Outcome::NoAnswer, None);
            }
            CustomerRing::AgentLeft => {
                info!("the agent hung up before the customer answered");
                self.abandon(&mut out).await;
                return End {
                    outcome: Outcome::Cancelled,
                    code: None,
                    cause: HangupCause::AgentHangup,
                };
            }
            CustomerRing::Shutdown => {
                self.abandon(&mut out).await;
                return End {
                    outcome: Outcome::Failed,
                    code: None,
                    cause: HangupCause::Shutdown,
                };
            }
            CustomerRing::EngineGone => return self.engine_gone(),
        };
        let far = match self.connect(&mut out, &response, t0).await {
            Ok(far) => far,
            Err(e) => {
                warn!(error = %e, "the customer's answer is unusable");
                self.tell_dialling("failed").await;
                return End {
                    outcome: Outcome::Failed,
                    code: Some(response.status),
                    cause: HangupCause::TrunkFailed,
                };
            }
        };
        info!(%agent, "the customer answered the callback");
        self.tell_dialling("answered").await;
        let now = now_ms();
        self.dialog = Some(far.dialog);
        self.placed_ack = Some(far.ack);
        self.call.record.answered_at_ms = Some(now);
        self.call.record.connected_at_ms = Some(now);
        request.status = CallbackStatus::Done;
        request.done_at_ms = Some(now);
        request.done_by = Some(agent.clone());
        request.notes = format!("called back by {agent} in call {}", self.call.record.id);
        self.ctx
            .records
            .send(RecordEvent::CallbackRequested(request.clone()));
        // What the agent said while it rang stays unheard.
        while lent.media().frames.try_recv().is_ok() {}
        let media = std::sync::Arc::clone(&self.ctx.media);
        let recording = self.start_recording(&media, far.rtp.media_us(Instant::now()));
        let customer = CallerMedia {
            rtp: far.rtp,
            last_sdp: out.offer.clone(),
            local: out.local.clone(),
            recording,
            acked: true,
        };
        self.talk_transferred(Bridged::Browser { agent, lent }, customer, t0)
            .await
    }

    /// From our INVITE to the customer's final response (a digest
    /// challenge answered once); the trunk's early media goes to the
    /// agent.
    async fn ring_customer(
        &mut self,
        out: &mut OutLeg,
        lent: &mut Lent,
        t0: Instant,
    ) -> CustomerRing {
        let bind_ip = self.ctx.media.bind_ip;
        let deadline = tokio::time::sleep(TRANSFER_RING_TIMEOUT);
        tokio::pin!(deadline);
        let mut events = self
            .queued
            .as_mut()
            .map(|q| std::mem::replace(&mut q.events, mpsc::channel(1).1));
        let audio = lent.media().audio.clone();
        let rang = loop {
            let phone = lent.media();
            tokio::select! {
                () = self.ctx.hard_stop.cancelled() => break CustomerRing::Shutdown,
                () = &mut deadline => break CustomerRing::NoAnswer,
                Some(event) = next_agent_event(&mut events) => {
                    if matches!(event, QueueEvent::AgentHangup) {
                        break CustomerRing::AgentLeft;
                    }
                    debug!(?event, "queue event while the customer's phone rings");
                }
                // The agent's voice goes nowhere yet.
                Some(_) = phone.frames.recv() => {}
                input = self.input.recv() => match input {
                    None => break CustomerRing::EngineGone,
                    Some(CallInput::Response { response, .. }) if outbound::is_invite_response(&response, &out.call_id) => {
                        match response.status {
                            100..=199 => {
                                if !response.body.is_empty() {
                                    // Early media (the trunk's ringback) for the agent.
                                    out.accept(&response.body, t0, bind_ip).await;
                                }
                            }
                            200..=299 => break CustomerRing::Answered(Box::new(response)),
                            401 | 407 if !out.auth_tried => {
                                match outbound::authorized_retry(&out.invite, &response, &out.target) {
                                    Some(retry) => {
                                        info!("the trunk challenged: sending credentials");
                                        out.auth_tried = true;
                                        out.invite = retry.clone();
                                        self.call.invite = retry.clone();
                                        self.send_out(out, retry).await;
                                    }
                                    None => break CustomerRing::Refused(Box::new(response)),
                                }
                            }
                            _ => break CustomerRing::Refused(Box::new(response)),
                        }
                    }
                    Some(CallInput::Request { tx, request }) if request.method == Method::Bye => {
                        self.answer_while_ending(tx, &request).await;
                    }
                    Some(other) => self.unexpected(other).await,
                },
                received = recv_on(&mut out.rtp) => {
                    if let (Ok(Received::Audio { len, .. }), Some(rtp)) = (&received, out.rtp.as_ref()) {
                        let _ = audio.send_pcm(rtp.decoded(*len));
                    }
                }
            }
        };
        if let (Some(q), Some(events)) = (self.queued.as_mut(), events) {
            q.events = events;
        }
        rang
    }
}
