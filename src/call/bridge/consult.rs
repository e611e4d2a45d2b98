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
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::acd::core::{Enqueue, EntryKind, Missed};
use crate::acd::service::{AgentEvent, Command, ConsultTarget, Device, QueueEvent};
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
        target: &ConsultTarget,
    ) -> Option<Consult> {
        let call = self.call.record.id.clone();
        let entry = format!("{call}#consult");
        let (queue, only, other) = match target {
            ConsultTarget::Agent(other) => (
                self.call.record.queue.clone().unwrap_or_default(),
                Some(other.clone()),
                other.as_str(),
            ),
            ConsultTarget::Queue(queue) => (queue.clone(), None, queue.as_str()),
        };
        let mut pop = self
            .queue_step
            .as_ref()
            .map_or(serde_json::Value::Null, |s| s.pop.clone());
        if let Some(object) = pop.as_object_mut() {
            object.insert("consult_from".into(), agent.into());
        }
        let (events_tx, events) = mpsc::channel(16);
        let request = Enqueue {
            id: entry.clone(),
            queue,
            priority: 0,
            skills: Vec::new(),
            kind: EntryKind::Consult,
            pop: Arc::new(pop),
            agent: only,
        };
        let enqueued = self
            .ctx
            .acd
            .ask(|reply| Command::Enqueue {
                request,
                events: events_tx,
                reply,
            })
            .await;
        if !matches!(enqueued, Ok(Ok(()))) {
            warn!(%agent, %other, ?enqueued, "the consult could not be queued");
            self.tell_consult(agent, other, "failed").await;
            return None;
        }
        info!(%agent, %other, "consulting");
        self.tell_consult(agent, other, "ringing").await;
        Some(Consult {
            agent: other.to_owned(),
            in_queue: matches!(target, ConsultTarget::Queue(_)),
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
