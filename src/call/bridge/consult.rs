//! A consult (warm) transfer from a browser agent to another agent, as the
//! call actor runs it inside [`Actor::talk_browser`].
//!
//! The consulting agent asks (`call.consult`); the caller goes on hold
//! (the queue's music) and the ACD gets an entry of its own for the
//! consulted agent only (`<call id>#consult`, the call's pop with
//! `consult_from`), so the consulted agent is offered it like any call,
//! with their screen pop, and answers in their page. Once they answer,
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
use crate::acd::service::{AgentEvent, Command, Device, QueueEvent};
use crate::call::actor::Actor;
use crate::softphone::{Lent, Station};

/// A consult in progress.
pub(super) struct Consult {
    /// The consulted agent.
    pub(super) agent: String,
    /// Its ACD entry (`<call id>#consult`).
    pub(super) entry: String,
    pub(super) events: mpsc::Receiver<QueueEvent>,
    /// Offered on this station, ringing until then.
    offered: Option<(Station, tokio::time::Instant)>,
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
        self.offered.as_ref().map(|(_, until)| *until)
    }
}

impl Actor {
    /// Starts a consult of `other` by `agent`; `None` when the ACD refused
    /// (the consulting agent is told).
    pub(super) async fn start_consult(&mut self, agent: &str, other: &str) -> Option<Consult> {
        let call = self.call.record.id.clone();
        let entry = format!("{call}#consult");
        let queue = self.call.record.queue.clone().unwrap_or_default();
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
            kind: EntryKind::Call,
            pop: Arc::new(pop),
            agent: Some(other.to_owned()),
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
            } if agent == consult.agent => {
                consult.offered = Some((station, tokio::time::Instant::now() + ring));
                ConsultStep::Continue
            }
            QueueEvent::Offered { agent, .. } => {
                // A SIP phone cannot be consulted from the page (yet).
                self.consult_missed(consult, &agent, Missed::DeviceFailed)
                    .await;
                self.fail_consult(consulting, consult).await
            }
            QueueEvent::AgentAnswer { agent } if agent == consult.agent => {
                let Some((station, _)) = consult.offered.take() else {
                    return ConsultStep::Continue;
                };
                match station.borrow().await {
                    Ok(lent) => {
                        consult.lent = Some(lent);
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

    /// The consult's offer rang out.
    pub(super) async fn consult_rang_out(
        &mut self,
        consulting: &str,
        consult: &mut Consult,
    ) -> ConsultStep {
        consult.offered = None;
        let agent = consult.agent.clone();
        self.consult_missed(consult, &agent, Missed::NoAnswer).await;
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
