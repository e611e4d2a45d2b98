//! A consult (warm) transfer from a browser agent to another agent, as the
//! call actor runs it inside [`Actor::talk_browser`].
//!
//! The consulting agent asks (`call.consult`) for an agent or a queue;
//! the caller goes on hold (the queue's music) and the ACD gets an entry
//! of its own (`<call id>#consult`, kind `consult`, the call's pop with
//! `consult_from`): for the consulted agent only, or for the queue's
//! agents in the browser, the longest idle first. The consulted agent is
//! offered it like any call, with their screen pop, and answers in their
//! page; in a queue, an offer that is refused or rings out goes to the
//! next agent, as for a caller. Once an agent answers,
//! the two agents hear each other (relayed by this actor between the two
//! softphones) while the caller hears the music. Then:
//! - **complete**: the consulting agent's part ends (wrap-up) and the ACD
//!   merges the consult's entry into the call's, so the consulted agent
//!   now has the call itself; the caller comes off hold talking to them;
//! - **cancel** (or the consulted agent hangs up): the consulted agent is
//!   released and the caller comes back to the consulting agent;
//! - **failed** (not answered, refused, no such agent any more): the same
//!   as cancel.
//!
//! The consulting agent's screen follows it through `call.consult` events
//! (`ringing`, `connected`, `failed`, `cancelled`, `completed`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use hibiki_sip::sdp::Codec;
use hibiki_sip::Response;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::transfer::{presented_number, TRANSFER_RING_TIMEOUT};
use super::{Connected, OutLeg};
use crate::call::outbound::{self, TrunkTarget};

use crate::acd::core::{Enqueue, EntryKind, Missed};
use crate::acd::service::{AgentEvent, Command, Device, QueueEvent, TransferTarget};
use crate::call::actor::Actor;
use crate::softphone::{Lent, Station};

/// A consult in progress.
pub(super) struct Consult {
    /// The consulted agent: the one asked for, or (a queue's consult) the
    /// queue's name until an agent answers, then theirs. What the
    /// consulting agent's `call.consult` events name.
    pub(super) agent: String,
    /// A queue's consult: any of its agents may take it.
    in_queue: bool,
    /// Its ACD entry (`<call id>#consult`).
    pub(super) entry: String,
    pub(super) events: mpsc::Receiver<QueueEvent>,
    /// Offered to this agent on this station, ringing until then.
    offered: Option<(String, Station, tokio::time::Instant)>,
    /// Once the consulted agent answered: their softphone.
    pub(super) lent: Option<Lent>,
}

/// What a consult's event means for the talk.
pub(super) enum ConsultStep {
    /// Nothing for the talk to do.
    Continue,
    /// The consulted agent answered: the agents talk.
    Connected,
    /// The consult is over without a handover: back to the caller.
    Over,
}

impl Consult {
    /// When the offer rings out, while it rings.
    pub(super) fn rings_until(&self) -> Option<tokio::time::Instant> {
        self.offered.as_ref().map(|(_, _, until)| *until)
    }
}

impl Actor {
    /// Starts a consult of `target` by `agent`; `None` when the ACD
    /// refused (the consulting agent is told).
    pub(super) async fn start_consult(
        &mut self,
        agent: &str,
        target: &TransferTarget,
    ) -> Option<Consult> {
        let call = self.call.record.id.clone();
        let entry = format!("{call}#consult");
        let (queue, only, other) = match target {
            TransferTarget::Agent(other) => (
                self.call.record.queue.clone().unwrap_or_default(),
                Some(other.clone()),
                other.as_str(),
            ),
            TransferTarget::Queue(queue) => (queue.clone(), None, queue.as_str()),
            // Dialled by `dial_consult`, not queued.
            TransferTarget::Number(number) => {
                self.tell_consult(agent, number, "failed").await;
                return None;
            }
        };
        let mut pop = self
            .queue_step
            .as_ref()
            .map_or(serde_json::Value::Null, |s| s.pop.clone());
        if let Some(object) = pop.as_object_mut() {
            object.insert("consult_from".into(), agent.into());
        }
        let request = Enqueue {
            id: entry.clone(),
            queue,
            priority: 0,
            skills: Vec::new(),
            kind: EntryKind::Consult,
            pop: Arc::new(pop),
            agent: only,
        };
        let events = match self.ctx.acd.enqueue(request).await {
            Ok(events) => events,
            Err(e) => {
                warn!(%agent, %other, error = %e, "the consult could not be queued");
                self.tell_consult(agent, other, "failed").await;
                return None;
            }
        };
        info!(%agent, %other, "consulting");
        self.tell_consult(agent, other, "ringing").await;
        Some(Consult {
            agent: other.to_owned(),
            in_queue: matches!(target, TransferTarget::Queue(_)),
            entry,
            events,
            offered: None,
            lent: None,
        })
    }

    /// Handles one ACD event of the consult's entry.
    pub(super) async fn consult_event(
        &mut self,
        consulting: &str,
        consult: &mut Consult,
        event: QueueEvent,
        ring: Duration,
    ) -> ConsultStep {
        match event {
            QueueEvent::Offered {
                agent,
                device: Device::Browser(station),
            } if consult.in_queue || agent == consult.agent => {
                consult.offered = Some((agent, station, tokio::time::Instant::now() + ring));
                ConsultStep::Continue
            }
            QueueEvent::Offered { agent, .. } => {
                // A SIP phone cannot be consulted from the page (yet).
                self.consult_missed(consult, &agent, Missed::DeviceFailed)
                    .await;
                self.fail_consult(consulting, consult).await
            }
            QueueEvent::AgentAnswer { agent }
                if consult
                    .offered
                    .as_ref()
                    .is_some_and(|(a, _, _)| *a == agent) =>
            {
                let Some((_, station, _)) = consult.offered.take() else {
                    return ConsultStep::Continue;
                };
                match station.borrow().await {
                    Ok(lent) => {
                        consult.lent = Some(lent);
                        consult.agent.clone_from(&agent);
                        let _ = self
                            .ctx
                            .acd
                            .send(Command::Answered {
                                entry: consult.entry.clone(),
                                agent: agent.clone(),
                            })
                            .await;
                        info!(%consulting, consulted = %agent, "the consulted agent answered");
                        self.tell_consult(consulting, &agent, "connected").await;
                        ConsultStep::Connected
                    }
                    Err(e) => {
                        warn!(%agent, error = %e, "the consulted agent's softphone cannot take it");
                        self.consult_missed(consult, &agent, Missed::DeviceFailed)
                            .await;
                        self.fail_consult(consulting, consult).await
                    }
                }
            }
            // In a queue, the next agent will be offered it.
            QueueEvent::Withdrawn { .. } if consult.in_queue => {
                consult.offered = None;
                ConsultStep::Continue
            }
            QueueEvent::Withdrawn { .. } | QueueEvent::Left { .. } => {
                self.fail_consult(consulting, consult).await
            }
            QueueEvent::AgentHangup => {
                // The consulted agent hung up on the consult.
                self.end_consult(consult).await;
                self.tell_consult(consulting, &consult.agent.clone(), "cancelled")
                    .await;
                ConsultStep::Over
            }
            _ => ConsultStep::Continue,
        }
    }

    /// The consult's offer rang out: a queue's goes to its next agent.
    pub(super) async fn consult_rang_out(
        &mut self,
        consulting: &str,
        consult: &mut Consult,
    ) -> ConsultStep {
        let Some((agent, _, _)) = consult.offered.take() else {
            return ConsultStep::Continue;
        };
        self.consult_missed(consult, &agent, Missed::NoAnswer).await;
        if consult.in_queue {
            return ConsultStep::Continue;
        }
        self.fail_consult(consulting, consult).await
    }

    /// Ends the consult without a handover (cancel, or the call ended).
    pub(super) async fn end_consult(&mut self, consult: &mut Consult) {
        let entry = consult.entry.clone();
        let command = if consult.lent.take().is_some() {
            Command::Ended { entry }
        } else {
            Command::Abandon { entry }
        };
        let _ = self.ctx.acd.send(command).await;
    }

    /// Hands the call to the consulted agent: the consulting agent's part
    /// ends, the consult's entry becomes the call's.
    pub(super) async fn complete_consult(&mut self, consulting: &str, consult: &Consult) {
        let call = self.call.record.id.clone();
        let _ = self
            .ctx
            .acd
            .send(Command::Ended {
                entry: call.clone(),
            })
            .await;
        let _ = self
            .ctx
            .acd
            .send(Command::Merge {
                from: consult.entry.clone(),
                into: call,
            })
            .await;
        self.tell_consult(consulting, &consult.agent, "completed")
            .await;
        self.call.record.agent = Some(consult.agent.clone());
        if let Some(q) = self.queued.as_mut() {
            q.agent = Some(consult.agent.clone());
        }
        info!(%consulting, to = %consult.agent, "consult completed: the caller is handed over");
    }

    pub(super) async fn tell_consult(&self, agent: &str, other: &str, state: &'static str) {
        let _ = self
            .ctx
            .acd
            .send(Command::Tell {
                agent: agent.to_owned(),
                event: AgentEvent::Consult {
                    call_id: self.call.record.id.clone(),
                    agent: other.to_owned(),
                    state,
                },
            })
            .await;
    }

    async fn consult_missed(&self, consult: &Consult, agent: &str, how: Missed) {
        let _ = self
            .ctx
            .acd
            .send(Command::Missed {
                entry: consult.entry.clone(),
                agent: agent.to_owned(),
                how,
            })
            .await;
    }

    async fn fail_consult(&mut self, consulting: &str, consult: &mut Consult) -> ConsultStep {
        info!(%consulting, consulted = %consult.agent, "the consult failed");
        self.end_consult(consult).await;
        self.tell_consult(consulting, &consult.agent.clone(), "failed")
            .await;
        ConsultStep::Over
    }
}

/// A consult of an external number, dialled through
/// `agents.transfer_trunk`: the consulting agent's softphone talks to the
/// far end's leg (this actor relays) while the caller holds; completed,
/// the caller is bridged to that leg and the agent's part ends.
pub(super) struct DialConsult {
    pub(super) number: String,
    pub(super) out: OutLeg,
    /// Until it is answered: when it rings out.
    pub(super) rings_until: Option<tokio::time::Instant>,
    /// Once answered.
    pub(super) far: Option<Connected>,
    /// The caller's media origin: the leg keeps the call's one clock.
    t0: Instant,
}

impl Actor {
    /// Dials `number` for a consult by `agent`; `None` (the agent told
    /// `failed`) when there is no trunk for it or no port.
    pub(super) async fn dial_consult(
        &mut self,
        agent: &str,
        number: &str,
        t0: Instant,
    ) -> Option<DialConsult> {
        let outbound = self
            .ctx
            .transfer_trunk
            .as_ref()
            .and_then(|t| self.ctx.trunks.get(t))
            .cloned();
        let target = match &outbound {
            Some(o) => TrunkTarget::resolve(o, &self.ctx.media_ip).await.ok(),
            None => None,
        };
        let lease = self.ctx.media.ports.lease();
        let trunk = self.ctx.transfer_trunk.clone();
        let (Some(outbound), Some(target), Some(lease)) = (outbound, target, lease) else {
            warn!(%agent, %number, "a consult of a number cannot be dialled (no trunk, or no port)");
            self.tell_consult(agent, number, "failed").await;
            return None;
        };
        let presented = presented_number(
            None,
            outbound.username.as_deref(),
            &self.call.record.to_number,
        );
        info!(%agent, %number, "consulting a number");
        let out = self
            .call_out(
                trunk.as_deref(),
                target,
                &outbound,
                lease,
                Codec::Pcmu,
                number,
                &presented,
            )
            .await;
        self.tell_consult(agent, number, "ringing").await;
        Some(DialConsult {
            number: number.to_owned(),
            out,
            rings_until: Some(tokio::time::Instant::now() + TRANSFER_RING_TIMEOUT),
            far: None,
            t0,
        })
    }

    /// A response on the consulted number's leg.
    pub(super) async fn dial_consult_response(
        &mut self,
        agent: &str,
        dial: &mut DialConsult,
        response: Response,
    ) -> ConsultStep {
        if !outbound::is_invite_response(&response, &dial.out.call_id) {
            return ConsultStep::Continue;
        }
        match (response.status, dial.far.as_ref()) {
            // The 2xx again: our ACK was lost.
            (200..=299, Some(far)) => {
                let ack = far.ack.clone();
                self.send_ack(&dial.out, ack).await;
                ConsultStep::Continue
            }
            (100, _) | (_, Some(_)) => ConsultStep::Continue,
            (101..=199, None) => {
                if !response.body.is_empty() {
                    let bind_ip = self.ctx.media.bind_ip;
                    dial.out.accept(&response.body, dial.t0, bind_ip).await;
                }
                ConsultStep::Continue
            }
            (200..=299, None) => match self.connect(&mut dial.out, &response, dial.t0).await {
                Ok(far) => {
                    info!(%agent, number = %dial.number, "the consulted number answered");
                    dial.far = Some(far);
                    dial.rings_until = None;
                    self.tell_consult(agent, &dial.number, "connected").await;
                    ConsultStep::Connected
                }
                Err(e) => {
                    warn!(error = %e, "the consulted number's answer is unusable");
                    self.tell_consult(agent, &dial.number, "failed").await;
                    ConsultStep::Over
                }
            },
            (401 | 407, None) if !dial.out.auth_tried => {
                match outbound::authorized_retry(&dial.out.invite, &response, &dial.out.target) {
                    Some(retry) => {
                        dial.out.auth_tried = true;
                        dial.out.invite = retry.clone();
                        self.send_out(&dial.out, retry).await;
                        ConsultStep::Continue
                    }
                    None => {
                        self.tell_consult(agent, &dial.number, "failed").await;
                        ConsultStep::Over
                    }
                }
            }
            (status, None) => {
                info!(%agent, number = %dial.number, status, "the consulted number did not answer");
                self.tell_consult(agent, &dial.number, "failed").await;
                ConsultStep::Over
            }
        }
    }

    /// Ends a consult of a number without a handover: BYE once answered,
    /// CANCEL before.
    pub(super) async fn end_dial_consult(&mut self, mut dial: DialConsult) {
        match dial.far.as_mut() {
            Some(far) => {
                let (destination, transport) = (
                    dial.out.target.destination,
                    dial.out.target.transport.clone(),
                );
                self.bye(&mut far.dialog, destination, transport).await;
            }
            None => self.abandon(&mut dial.out).await,
        }
    }
}
