//! The ACD task: the one owner of the [`Acd`] state and of the agents'
//! screens (their websocket sessions' outboxes).
//!
//! Calls and agent sessions talk to it with [`Command`]s through an
//! [`AcdHandle`]; it answers on oneshot channels and pushes what happens
//! to the calls ([`QueueEvent`]) and to the agents' sessions
//! ([`AgentEvent`]) on their channels. The screen pop travels with the
//! routing decision: the call prepared it when it queued, and the offer
//! goes to the agent's sessions in the same step that decides it, so the
//! pop's latency is one channel hop.
//!
//! Time: the core runs on milliseconds since this task started
//! (`tokio::time::Instant`), so tests can pause time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::core::{Acd, Action, AgentError, Enqueue, EnqueueError, Estimate, Missed, Withdrawn};
use super::AgentStatus;
use crate::softphone::{SoftphoneConfig, Station};
use crate::store::{RecordEvent, RecordSink};

/// Where an agent takes calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Device {
    /// Their SIP phone, rung with an INVITE.
    Sip(String),
    /// The browser softphone of their page: the station the call borrows
    /// the media from when the agent answers.
    Browser(Station),
}

/// What the ACD tells a queued call.
#[derive(Debug)]
pub enum QueueEvent {
    /// Ring `agent` on `device`: answered, report [`Command::Answered`];
    /// not, [`Command::Missed`].
    Offered { agent: String, device: Device },
    /// The offer to `agent` is withdrawn (rang out): stop ringing.
    Withdrawn { agent: String },
    /// The call left the queue without an agent: the flow goes on.
    Left { reason: &'static str },
    /// The call moved to another queue (overflow).
    Moved { to: String },
    /// The agent pressed hang up on their screen.
    AgentHangup,
    /// The agent pressed answer on their screen (a browser offer).
    AgentAnswer { agent: String },
    /// The connected agent asks for hold, resume or a transfer.
    Control(CallControl),
}

/// What a connected agent may ask of their call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallControl {
    /// The caller hears music; neither hears the other.
    Hold,
    Resume,
    /// Blind transfer; the agent goes to wrap-up once the caller is
    /// handed over.
    Transfer(TransferTarget),
    /// Consult (warm) transfer: the caller on hold, the agent talks to
    /// the target first (an agent, whoever takes it in a queue, or a
    /// number).
    Consult(TransferTarget),
    /// The consulted agent takes the caller; this agent goes to wrap-up.
    CompleteConsult,
    /// Back to the caller; the consulted agent is released.
    CancelConsult,
}

/// Where a blind transfer sends the caller, or whom a consult asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransferTarget {
    Queue(String),
    Agent(String),
    Number(String),
}

/// What an agent's screen is told (JSON over the websocket; see
/// `docs/agent-protocol.md`).
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type")]
pub enum AgentEvent {
    /// The agent's state.
    #[serde(rename = "agent.state")]
    State {
        status: AgentStatus,
        reason: Option<String>,
        call_id: Option<String>,
    },
    /// A call is offered: the screen pop.
    #[serde(rename = "call.offered")]
    Offered {
        call_id: String,
        queue: String,
        waited_seconds: u64,
        /// `call` (a caller on the line), `callback` or `consult`.
        kind: &'static str,
        callback_number: Option<String>,
        ring_seconds: u64,
        /// When the ACD decided, in microseconds since the Unix epoch
        /// (the pop's latency is its arrival minus this).
        offered_at_us: u64,
        pop: Arc<serde_json::Value>,
    },
    /// The offer is over without the agent taking it.
    #[serde(rename = "call.withdrawn")]
    Withdrawn {
        call_id: String,
        reason: &'static str,
    },
    /// The agent is connected to the caller.
    #[serde(rename = "call.connected")]
    Connected { call_id: String },
    /// The call ended.
    #[serde(rename = "call.ended")]
    Ended { call_id: String },
    /// Another session of the same agent logged in elsewhere.
    #[serde(rename = "session.replaced")]
    Replaced,
    /// How the agent's consult of another agent goes: `ringing`,
    /// `connected`, `failed` (not taken: back to the caller), `completed`,
    /// `cancelled`.
    #[serde(rename = "call.consult")]
    Consult {
        call_id: String,
        agent: String,
        state: &'static str,
    },
    /// A callback the agent took: how dialling the customer goes,
    /// `ringing`, `answered` or `failed` (not reached).
    #[serde(rename = "call.dialling")]
    Dialling {
        call_id: String,
        number: String,
        state: &'static str,
    },
}

/// An agent session's view when it attaches.
#[derive(Clone, Debug)]
pub struct Attached {
    pub status: AgentStatus,
    pub reason: Option<String>,
    pub call_id: Option<String>,
    /// That call's screen pop (a reloaded page shows it again).
    pub pop: Option<Arc<serde_json::Value>>,
    /// The agent's softphone station when they take calls in the browser
    /// (the same one for every session of the agent).
    pub station: Option<Station>,
}

/// A request to the ACD task.
#[derive(Debug)]
pub enum Command {
    Enqueue {
        request: Enqueue,
        events: mpsc::Sender<QueueEvent>,
        reply: oneshot::Sender<Result<(), EnqueueError>>,
    },
    Abandon {
        entry: String,
    },
    Answered {
        entry: String,
        agent: String,
    },
    Missed {
        entry: String,
        agent: String,
        how: Missed,
    },
    Ended {
        entry: String,
    },
    Estimate {
        entry: String,
        reply: oneshot::Sender<Option<Estimate>>,
    },
    /// A waiting caller takes the callback offer: their entry keeps its
    /// place as `callback` (the id of the call that will dial `number`),
    /// whose events go to `events` from now on. False: not waiting.
    ToCallback {
        entry: String,
        callback: String,
        number: String,
        events: mpsc::Sender<QueueEvent>,
        reply: oneshot::Sender<bool>,
    },
    Attach {
        agent: String,
        skills: HashMap<String, u8>,
        /// The agent's SIP phone; `None`: the browser softphone.
        sip_uri: Option<String>,
        session: u64,
        outbox: mpsc::Sender<AgentEvent>,
        reply: oneshot::Sender<Attached>,
    },
    Detach {
        agent: String,
        session: u64,
    },
    SetAvailable {
        agent: String,
        reply: oneshot::Sender<Result<(), AgentError>>,
    },
    SetNotReady {
        agent: String,
        reason: String,
        reply: oneshot::Sender<Result<(), AgentError>>,
    },
    Logout {
        agent: String,
        reply: oneshot::Sender<Result<(), AgentError>>,
    },
    Reject {
        agent: String,
        entry: String,
        reply: oneshot::Sender<Result<(), AgentError>>,
    },
    Hangup {
        agent: String,
        reply: oneshot::Sender<Result<(), AgentError>>,
    },
    /// The agent answers the call offered to them (browser softphone).
    Answer {
        agent: String,
        entry: String,
        reply: oneshot::Sender<Result<(), AgentError>>,
    },
    /// A consult completed: the agent connected to `from` takes `into`.
    Merge {
        from: String,
        into: String,
    },
    /// Pushes `event` to the agent's screens (a call tells its agent).
    Tell {
        agent: String,
        event: AgentEvent,
    },
    /// Hold, resume or transfer from the agent connected to `entry`.
    Control {
        agent: String,
        entry: String,
        control: CallControl,
        reply: oneshot::Sender<Result<(), AgentError>>,
    },
    /// Whether `entry` is the last call `agent` was connected to; if so,
    /// the customer it was about (for the disposition).
    HandledBy {
        agent: String,
        entry: String,
        reply: oneshot::Sender<Option<Option<String>>>,
    },
}

/// A cheap, cloneable handle on the ACD task.
#[derive(Clone, Debug)]
pub struct AcdHandle {
    tx: mpsc::Sender<Command>,
}

/// The ACD task is gone (shutdown).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the ACD is not running")]
pub struct AcdGone;

/// Why [`AcdHandle::enqueue`] queued nothing.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EnqueueFailed {
    #[error(transparent)]
    Refused(#[from] super::core::EnqueueError),
    #[error(transparent)]
    Gone(#[from] AcdGone),
}

impl AcdHandle {
    /// Sends `command`.
    pub async fn send(&self, command: Command) -> Result<(), AcdGone> {
        self.tx.send(command).await.map_err(|_| AcdGone)
    }

    /// Queues `request`; its events come on the receiver returned.
    pub async fn enqueue(
        &self,
        request: super::core::Enqueue,
    ) -> Result<mpsc::Receiver<QueueEvent>, EnqueueFailed> {
        let (events_tx, events) = mpsc::channel(16);
        self.ask(|reply| Command::Enqueue {
            request,
            events: events_tx,
            reply,
        })
        .await??;
        Ok(events)
    }

    /// Sends the command `make` builds around a reply channel, and waits
    /// for the answer.
    pub async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, AcdGone> {
        let (reply, answer) = oneshot::channel();
        self.send(make(reply)).await?;
        answer.await.map_err(|_| AcdGone)
    }
}

/// Per queue, what the task needs beyond the core's settings.
#[derive(Clone, Debug)]
pub struct QueueExtras {
    pub ring_seconds: u64,
}

/// Starts the ACD task; it runs until every handle is dropped.
pub fn spawn(
    acd: Acd,
    extras: HashMap<String, QueueExtras>,
    records: Option<RecordSink>,
    node_id: String,
    reconnect_grace: Duration,
    softphone: Arc<SoftphoneConfig>,
) -> AcdHandle {
    let (tx, rx) = mpsc::channel(4096);
    let task = Task {
        acd,
        extras,
        records,
        node_id,
        reconnect_grace,
        softphone,
        origin: Instant::now(),
        calls: HashMap::new(),
        agents: HashMap::new(),
        sessions: HashMap::new(),
        away: HashMap::new(),
        customers: HashMap::new(),
        last_call: HashMap::new(),
    };
    tokio::spawn(task.run(rx));
    AcdHandle { tx }
}

struct Task {
    acd: Acd,
    extras: HashMap<String, QueueExtras>,
    records: Option<RecordSink>,
    node_id: String,
    reconnect_grace: Duration,
    softphone: Arc<SoftphoneConfig>,
    origin: Instant,
    /// Each queued call's event channel.
    calls: HashMap<String, mpsc::Sender<QueueEvent>>,
    /// Each logged-in agent's device (a browser agent's station lives as
    /// long as this entry, and the calls that borrowed it).
    agents: HashMap<String, Device>,
    /// Each agent's live sessions.
    sessions: HashMap<String, Vec<(u64, mpsc::Sender<AgentEvent>)>>,
    /// Agents with no session, and when their grace ends.
    away: HashMap<String, Instant>,
    /// The customer of each offered or connected call (from its pop).
    customers: HashMap<String, Option<String>>,
    /// Each agent's last connected call and its customer.
    last_call: HashMap<String, (String, Option<String>)>,
}

impl Task {
    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                command = rx.recv() => match command {
                    Some(c) => self.handle(c),
                    None => break,
                },
                () = sleep_until(deadline) => {
                    let now = self.now();
                    self.acd.handle_timeout(now);
                    self.expire_away(now);
                }
            }
            self.drain();
        }
        debug!("ACD task stopped");
    }

    fn next_deadline(&self) -> Option<Instant> {
        let core = self
            .acd
            .poll_timeout()
            .map(|ms| self.origin + Duration::from_millis(ms));
        let away = self.away.values().min().copied();
        core.into_iter().chain(away).min()
    }

    fn expire_away(&mut self, now: u64) {
        let due: Vec<String> = self
            .away
            .iter()
            .filter(|(_, t)| **t <= Instant::now())
            .map(|(a, _)| a.clone())
            .collect();
        for agent in due {
            self.away.remove(&agent);
            match self.acd.logout(&agent, now) {
                Ok(()) => {
                    info!(%agent, "logged out: the agent's screen did not come back");
                    self.agents.remove(&agent);
                }
                // Mid-call: stays logged in; looked at again later.
                Err(_) => {
                    self.away
                        .insert(agent, Instant::now() + self.reconnect_grace);
                }
            }
        }
    }

    fn handle(&mut self, command: Command) {
        let now = self.now();
        match command {
            Command::Enqueue {
                request,
                events,
                reply,
            } => {
                let id = request.id.clone();
                self.calls.insert(id.clone(), events);
                let result = self.acd.enqueue(request, now);
                if result.is_err() {
                    self.calls.remove(&id);
                }
                let _ = reply.send(result);
            }
            Command::Abandon { entry } => {
                self.acd.abandon(&entry, now);
                self.calls.remove(&entry);
                self.customers.remove(&entry);
            }
            Command::Answered { entry, agent } => {
                if let Err(e) = self.acd.answered(&entry, &agent, now) {
                    warn!(error = %e, "an answer the ACD did not expect");
                } else {
                    let customer = self.customers.get(&entry).cloned().flatten();
                    self.last_call
                        .insert(agent.clone(), (entry.clone(), customer));
                    self.tell(&agent, AgentEvent::Connected { call_id: entry });
                }
            }
            Command::Missed { entry, agent, how } => {
                if self.acd.missed(&entry, &agent, how, now).is_ok() {
                    self.tell(
                        &agent,
                        AgentEvent::Withdrawn {
                            call_id: entry,
                            reason: how.reason(),
                        },
                    );
                }
            }
            Command::Ended { entry } => {
                let agent = self.agent_on(&entry);
                self.acd.ended(&entry, now);
                self.calls.remove(&entry);
                self.customers.remove(&entry);
                if let Some(agent) = agent {
                    self.tell(&agent, AgentEvent::Ended { call_id: entry });
                }
            }
            Command::Estimate { entry, reply } => {
                let _ = reply.send(self.acd.estimate(&entry));
            }
            Command::ToCallback {
                entry,
                callback,
                number,
                events,
                reply,
            } => {
                let done = self.acd.to_callback(&entry, &callback, number);
                if done {
                    self.calls.remove(&entry);
                    self.calls.insert(callback.clone(), events);
                    if let Some(customer) = self.customers.remove(&entry) {
                        self.customers.insert(callback, customer);
                    }
                }
                let _ = reply.send(done);
            }
            Command::Attach {
                agent,
                skills,
                sip_uri,
                session,
                outbox,
                reply,
            } => {
                self.away.remove(&agent);
                let device = match (sip_uri, self.agents.remove(&agent)) {
                    (Some(uri), _) => Device::Sip(uri),
                    // Every session of a browser agent shares one station.
                    (None, Some(Device::Browser(station))) => Device::Browser(station),
                    (None, _) => {
                        Device::Browser(Station::spawn(&agent, Arc::clone(&self.softphone)))
                    }
                };
                let station = match &device {
                    Device::Browser(station) => Some(station.clone()),
                    Device::Sip(_) => None,
                };
                self.agents.insert(agent.clone(), device);
                self.sessions
                    .entry(agent.clone())
                    .or_default()
                    .push((session, outbox));
                self.acd.login(&agent, skills, now);
                // A callback connects the agent before dialling the
                // customer: their softphone can; a SIP phone not yet.
                self.acd.set_softphone(&agent, station.is_some());
                let (status, reason) = self
                    .acd
                    .agent_status(&agent)
                    .map(|(s, r)| (s, r.map(str::to_owned)))
                    .unwrap_or((AgentStatus::Offline, None));
                let call_id = self.acd.agent_entry(&agent).map(str::to_owned);
                let pop = call_id.as_deref().and_then(|c| self.acd.entry_pop(c));
                let _ = reply.send(Attached {
                    status,
                    reason,
                    call_id,
                    pop,
                    station,
                });
            }
            Command::Detach { agent, session } => {
                let empty = match self.sessions.get_mut(&agent) {
                    Some(list) => {
                        list.retain(|(s, _)| *s != session);
                        list.is_empty()
                    }
                    None => false,
                };
                if empty {
                    self.sessions.remove(&agent);
                    self.acd.set_connected(&agent, false, now);
                    self.away
                        .insert(agent, Instant::now() + self.reconnect_grace);
                }
            }
            Command::SetAvailable { agent, reply } => {
                let _ = reply.send(self.acd.set_available(&agent, now));
            }
            Command::SetNotReady {
                agent,
                reason,
                reply,
            } => {
                let _ = reply.send(self.acd.set_not_ready(&agent, &reason, now));
            }
            Command::Logout { agent, reply } => {
                let result = self.acd.logout(&agent, now);
                if result.is_ok() {
                    self.agents.remove(&agent);
                    self.away.remove(&agent);
                }
                let _ = reply.send(result);
            }
            Command::Reject {
                agent,
                entry,
                reply,
            } => {
                let result = self.acd.missed(&entry, &agent, Missed::Rejected, now);
                if result.is_ok() {
                    self.tell_call(&entry, QueueEvent::Withdrawn { agent });
                }
                let _ = reply.send(result);
            }
            Command::Hangup { agent, reply } => {
                let result = match self.acd.agent_status(&agent) {
                    Some((AgentStatus::OnCall, _)) => {
                        if let Some(entry) = self.acd.agent_entry(&agent).map(str::to_owned) {
                            self.tell_call(&entry, QueueEvent::AgentHangup);
                        }
                        Ok(())
                    }
                    Some((status, _)) => Err(AgentError::WrongState {
                        agent: agent.clone(),
                        state: status.as_str(),
                    }),
                    None => Err(AgentError::NotLoggedIn(agent.clone())),
                };
                let _ = reply.send(result);
            }
            Command::Answer {
                agent,
                entry,
                reply,
            } => {
                let result = self
                    .agent_in(&agent, &entry, AgentStatus::Offered)
                    .map(|()| self.tell_call(&entry, QueueEvent::AgentAnswer { agent }));
                let _ = reply.send(result);
            }
            Command::Merge { from, into } => match self.acd.merge(&from, &into) {
                Ok(agent) => {
                    if let Some(events) = self.calls.remove(&from) {
                        self.calls.insert(into.clone(), events);
                    }
                    let customer = self.customers.remove(&from).flatten();
                    self.customers.insert(into.clone(), customer.clone());
                    self.last_call
                        .insert(agent.clone(), (into.clone(), customer));
                    self.tell(&agent, AgentEvent::Connected { call_id: into });
                }
                Err(e) => warn!(error = %e, "a consult could not be completed"),
            },
            Command::Tell { agent, event } => self.tell(&agent, event),
            Command::Control {
                agent,
                entry,
                control,
                reply,
            } => {
                let result = self
                    .agent_in(&agent, &entry, AgentStatus::OnCall)
                    .and_then(|()| self.check_control(&agent, &control))
                    .map(|()| self.tell_call(&entry, QueueEvent::Control(control)));
                let _ = reply.send(result);
            }
            Command::HandledBy {
                agent,
                entry,
                reply,
            } => {
                let _ = reply.send(self.handled_by(&agent, &entry));
            }
        }
    }

    /// Whether `agent` is in `status` for `entry` (offered it, or on it).
    fn agent_in(&self, agent: &str, entry: &str, status: AgentStatus) -> Result<(), AgentError> {
        match self.acd.agent_status(agent) {
            Some((s, _)) if s == status && self.acd.agent_entry(agent) == Some(entry) => Ok(()),
            Some((s, _)) if s == status => Err(AgentError::NotTheirs {
                agent: agent.to_owned(),
                entry: entry.to_owned(),
            }),
            Some((s, _)) => Err(AgentError::WrongState {
                agent: agent.to_owned(),
                state: s.as_str(),
            }),
            None => Err(AgentError::NotLoggedIn(agent.to_owned())),
        }
    }

    /// Whether a connected agent's control can be carried out: a consult
    /// is between browser softphones; a transfer needs a queue that
    /// exists or another agent who is logged in.
    fn check_control(&self, agent: &str, control: &CallControl) -> Result<(), AgentError> {
        let consulting = matches!(
            control,
            CallControl::Consult(_) | CallControl::CompleteConsult | CallControl::CancelConsult
        );
        if consulting && !matches!(self.agents.get(agent), Some(Device::Browser(_))) {
            return Err(AgentError::Refused(
                "a consult is for calls taken in the browser".into(),
            ));
        }
        match control {
            CallControl::Transfer(TransferTarget::Queue(queue))
                if !self.acd.queue_names().any(|q| q == queue) =>
            {
                Err(AgentError::Refused(format!("no queue is named `{queue}`")))
            }
            CallControl::Transfer(TransferTarget::Agent(to)) if to == agent => Err(
                AgentError::Refused("a call cannot be transferred to yourself".into()),
            ),
            CallControl::Transfer(TransferTarget::Agent(to)) if !matches!(self.acd.agent_status(to), Some((s, _)) if s != AgentStatus::Offline) => {
                Err(AgentError::Refused(format!(
                    "agent `{to}` is not logged in"
                )))
            }
            CallControl::Consult(TransferTarget::Queue(queue))
                if !self.acd.queue_names().any(|q| q == queue) =>
            {
                Err(AgentError::Refused(format!("no queue is named `{queue}`")))
            }
            CallControl::Consult(TransferTarget::Agent(to)) if to == agent => {
                Err(AgentError::Refused("you cannot consult yourself".into()))
            }
            // The consulted agent talks through their softphone: an agent
            // on a SIP phone (or not logged in) cannot be consulted yet.
            CallControl::Consult(TransferTarget::Agent(to))
                if !matches!(self.agents.get(to), Some(Device::Browser(_))) =>
            {
                Err(AgentError::Refused(format!(
                    "agent `{to}` is not taking calls in the browser"
                )))
            }
            _ => Ok(()),
        }
    }

    fn handled_by(&self, agent: &str, entry: &str) -> Option<Option<String>> {
        self.last_call
            .get(agent)
            .filter(|(e, _)| e == entry)
            .map(|(_, c)| c.clone())
    }

    /// The agent offered or connected to `entry` (not one still in
    /// wrap-up after it: a transferred call has had several).
    fn agent_on(&self, entry: &str) -> Option<String> {
        self.agents
            .keys()
            .find(|a| {
                self.acd.agent_entry(a) == Some(entry)
                    && matches!(
                        self.acd.agent_status(a),
                        Some((AgentStatus::Offered | AgentStatus::OnCall, _))
                    )
            })
            .cloned()
    }

    /// Carries out what the core decided.
    fn drain(&mut self) {
        while let Some(action) = self.acd.poll_action() {
            match action {
                Action::Offer {
                    entry,
                    agent,
                    queue,
                    kind,
                    pop,
                    waited_ms,
                } => {
                    let Some(device) = self.agents.get(&agent).cloned() else {
                        warn!(%agent, "offered to an agent with no device");
                        let now = self.now();
                        let _ = self.acd.missed(&entry, &agent, Missed::DeviceFailed, now);
                        continue;
                    };
                    let ring_seconds = self.extras.get(&queue).map_or(15, |e| e.ring_seconds);
                    let (kind_name, callback_number) = match kind {
                        super::EntryKind::Call => ("call", None),
                        super::EntryKind::Callback { number } => ("callback", Some(number)),
                        super::EntryKind::Consult => ("consult", None),
                    };
                    info!(call = %entry, %agent, %queue, waited_ms, "offered");
                    let customer = pop
                        .pointer("/customer/id")
                        .and_then(|v| v.as_str())
                        .map(str::to_owned);
                    self.customers.insert(entry.clone(), customer);
                    self.tell(
                        &agent,
                        AgentEvent::Offered {
                            call_id: entry.clone(),
                            queue,
                            waited_seconds: waited_ms / 1000,
                            kind: kind_name,
                            callback_number,
                            ring_seconds,
                            offered_at_us: epoch_us(),
                            pop,
                        },
                    );
                    self.tell_call(&entry, QueueEvent::Offered { agent, device });
                }
                Action::Withdraw { entry, agent, why } => {
                    let reason = match why {
                        Withdrawn::RangOut => "ring_no_answer",
                        Withdrawn::CallerLeft => "caller_left",
                    };
                    self.tell(
                        &agent,
                        AgentEvent::Withdrawn {
                            call_id: entry.clone(),
                            reason,
                        },
                    );
                    if why == Withdrawn::RangOut {
                        self.tell_call(&entry, QueueEvent::Withdrawn { agent });
                    }
                }
                Action::Left { entry, reason } => {
                    self.tell_call(
                        &entry,
                        QueueEvent::Left {
                            reason: reason.as_str(),
                        },
                    );
                    self.calls.remove(&entry);
                }
                Action::Moved { entry, from, to } => {
                    info!(call = %entry, %from, %to, "overflowed");
                    self.tell_call(&entry, QueueEvent::Moved { to });
                }
                Action::AgentState {
                    agent,
                    status,
                    reason,
                    entry,
                } => {
                    self.record_state(&agent, status, reason.clone(), entry.clone());
                    self.tell(
                        &agent,
                        AgentEvent::State {
                            status,
                            reason,
                            call_id: entry,
                        },
                    );
                }
            }
        }
    }

    fn record_state(
        &self,
        agent: &str,
        status: AgentStatus,
        reason: Option<String>,
        entry: Option<String>,
    ) {
        debug!(%agent, status = status.as_str(), ?reason, ?entry, "agent state");
        if let Some(records) = &self.records {
            records.send(RecordEvent::AgentState(crate::store::AgentStateChange {
                id: uuid::Uuid::new_v4().to_string(),
                node_id: self.node_id.clone(),
                username: agent.to_owned(),
                status,
                reason,
                call_id: entry,
                at_ms: crate::store::now_ms(),
            }));
        }
    }

    /// Pushes `event` to every session of `agent`; a full or closed
    /// outbox drops it (the session resyncs on reconnect).
    fn tell(&mut self, agent: &str, event: AgentEvent) {
        if let Some(list) = self.sessions.get_mut(agent) {
            list.retain(|(_, tx)| match tx.try_send(event.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    warn!(%agent, "an agent session is not reading: event dropped");
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
        }
    }

    fn tell_call(&mut self, entry: &str, event: QueueEvent) {
        if let Some(tx) = self.calls.get(entry) {
            if tx.try_send(event).is_err() {
                warn!(call = %entry, "a queued call is not reading its events");
            }
        }
    }
}

fn epoch_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::acd::core::{Enqueue, EntryKind, QueueSettings};

    fn settings() -> QueueSettings {
        QueueSettings {
            name: "q".into(),
            skills: Vec::new(),
            sla_ms: 20_000,
            ring_ms: 5_000,
            wrap_up_ms: 0,
            max_wait_ms: None,
            overflow: None,
            wait_without_agents: false,
            default_handle_ms: 60_000,
        }
    }

    /// The ACD task with the queue `q`, no store, a 60 s reconnect grace.
    fn acd_of_one_queue() -> AcdHandle {
        spawn(
            Acd::new([settings()]),
            HashMap::new(),
            None,
            "n1".into(),
            Duration::from_secs(60),
            Arc::new(SoftphoneConfig::loopback()),
        )
    }

    async fn attach(acd: &AcdHandle, agent: &str, session: u64) -> mpsc::Receiver<AgentEvent> {
        let (outbox, events) = mpsc::channel(64);
        acd.ask(|reply| Command::Attach {
            agent: agent.into(),
            skills: HashMap::new(),
            sip_uri: Some(format!("sip:{agent}@127.0.0.1:5999")),
            session,
            outbox,
            reply,
        })
        .await
        .unwrap();
        events
    }

    /// An agent whose calls ring their browser (their station is spawned
    /// at attach).
    async fn attach_browser(acd: &AcdHandle, agent: &str) -> mpsc::Receiver<AgentEvent> {
        let (outbox, events) = mpsc::channel(64);
        acd.ask(|reply| Command::Attach {
            agent: agent.into(),
            skills: HashMap::new(),
            sip_uri: None,
            session: 1,
            outbox,
            reply,
        })
        .await
        .unwrap();
        events
    }

    async fn next_offer(events: &mut mpsc::Receiver<AgentEvent>) -> AgentEvent {
        loop {
            let e = events.recv().await.unwrap();
            if matches!(e, AgentEvent::Offered { .. }) {
                return e;
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_pop_goes_to_the_agent_and_the_offer_to_the_call() {
        let acd = acd_of_one_queue();
        let mut ann = attach(&acd, "ann", 1).await;
        acd.ask(|reply| Command::SetAvailable {
            agent: "ann".into(),
            reply,
        })
        .await
        .unwrap()
        .unwrap();
        let (events, mut call) = mpsc::channel(8);
        let pop = Arc::new(serde_json::json!({"customer": {"id": "c1", "name": "Hanako"}}));
        acd.ask(|reply| Command::Enqueue {
            request: Enqueue {
                id: "call-1".into(),
                queue: "q".into(),
                priority: 0,
                skills: Vec::new(),
                kind: EntryKind::Call,
                pop,
                agent: None,
            },
            events,
            reply,
        })
        .await
        .unwrap()
        .unwrap();
        match next_offer(&mut ann).await {
            AgentEvent::Offered { call_id, pop, .. } => {
                assert_eq!(call_id, "call-1");
                assert_eq!(pop["customer"]["name"], "Hanako");
            }
            other => panic!("{other:?}"),
        }
        match call.recv().await.unwrap() {
            QueueEvent::Offered { agent, device } => {
                assert_eq!(agent, "ann");
                assert_eq!(device, Device::Sip("sip:ann@127.0.0.1:5999".into()));
            }
            other => panic!("{other:?}"),
        }
        acd.send(Command::Answered {
            entry: "call-1".into(),
            agent: "ann".into(),
        })
        .await
        .unwrap();
        // The wrap-up may name the call (and its customer) once it ends.
        acd.send(Command::Ended {
            entry: "call-1".into(),
        })
        .await
        .unwrap();
        let handled = acd
            .ask(|reply| Command::HandledBy {
                agent: "ann".into(),
                entry: "call-1".into(),
                reply,
            })
            .await
            .unwrap();
        assert_eq!(handled, Some(Some("c1".to_owned())));
        let other = acd
            .ask(|reply| Command::HandledBy {
                agent: "bob".into(),
                entry: "call-1".into(),
                reply,
            })
            .await
            .unwrap();
        assert_eq!(other, None);
    }

    #[tokio::test]
    async fn a_consult_is_refused_up_front_unless_the_colleague_is_in_the_browser() {
        let acd = acd_of_one_queue();
        let mut ann = attach_browser(&acd, "ann").await;
        acd.ask(|reply| Command::SetAvailable {
            agent: "ann".into(),
            reply,
        })
        .await
        .unwrap()
        .unwrap();
        let (events, _call) = mpsc::channel(8);
        acd.ask(|reply| Command::Enqueue {
            request: Enqueue {
                id: "call-1".into(),
                queue: "q".into(),
                priority: 0,
                skills: Vec::new(),
                kind: EntryKind::Call,
                pop: Arc::new(serde_json::Value::Null),
                agent: None,
            },
            events,
            reply,
        })
        .await
        .unwrap()
        .unwrap();
        next_offer(&mut ann).await;
        acd.send(Command::Answered {
            entry: "call-1".into(),
            agent: "ann".into(),
        })
        .await
        .unwrap();
        // bob takes calls on a SIP phone, cleo in the browser; dan is
        // not logged in.
        let _bob = attach(&acd, "bob", 2).await;
        let _cleo = attach_browser(&acd, "cleo").await;
        let consult = |to: &str| {
            let to = to.to_owned();
            let acd = acd.clone();
            async move {
                acd.ask(|reply| Command::Control {
                    agent: "ann".into(),
                    entry: "call-1".into(),
                    control: CallControl::Consult(TransferTarget::Agent(to)),
                    reply,
                })
                .await
                .unwrap()
            }
        };
        for (to, reason) in [
            ("ann", "yourself"),
            ("bob", "not taking calls in the browser"),
            ("dan", "not taking calls in the browser"),
        ] {
            match consult(to).await {
                Err(AgentError::Refused(why)) => assert!(why.contains(reason), "{to}: {why}"),
                other => panic!("a consult to {to}: {other:?}"),
            }
        }
        let to_queue = acd
            .ask(|reply| Command::Control {
                agent: "ann".into(),
                entry: "call-1".into(),
                control: CallControl::Consult(TransferTarget::Queue("nope".into())),
                reply,
            })
            .await
            .unwrap();
        assert!(
            matches!(&to_queue, Err(AgentError::Refused(why)) if why.contains("no queue")),
            "{to_queue:?}"
        );
        consult("cleo").await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn an_agent_whose_screen_went_away_is_logged_out_after_the_grace() {
        let acd = acd_of_one_queue();
        let events = attach(&acd, "ann", 1).await;
        drop(events);
        acd.send(Command::Detach {
            agent: "ann".into(),
            session: 1,
        })
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        // Back within the grace: still logged in, state kept.
        let mut again = attach(&acd, "ann", 2).await;
        acd.ask(|reply| Command::SetAvailable {
            agent: "ann".into(),
            reply,
        })
        .await
        .unwrap()
        .unwrap();
        match again.recv().await.unwrap() {
            AgentEvent::State { status, .. } => assert_eq!(status, AgentStatus::Available),
            other => panic!("{other:?}"),
        }
        acd.send(Command::Detach {
            agent: "ann".into(),
            session: 2,
        })
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_secs(61)).await;
        let refused = acd
            .ask(|reply| Command::SetAvailable {
                agent: "ann".into(),
                reply,
            })
            .await
            .unwrap();
        assert!(
            matches!(refused, Err(AgentError::NotLoggedIn(_))),
            "{refused:?}"
        );
    }
}
