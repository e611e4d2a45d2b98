//! The ACD's decisions, sans-IO: which waiting call goes to which agent,
//! and when. No sockets, no clock, no tasks: inputs are method calls that
//! carry `now` (milliseconds on a monotonic clock the driver chooses),
//! outputs are [`Action`]s drained with [`Acd::poll_action`], and the one
//! timer is [`Acd::poll_timeout`]. The driving rule: after every input,
//! drain `poll_action`, then sleep until `poll_timeout` and call
//! [`Acd::handle_timeout`].
//!
//! Routing:
//! - A waiting entry (a caller on the line, or a callback keeping its
//!   place) needs every skill of its queue and of its queue step at the
//!   step's or queue's minimum level (the higher of the two).
//! - Entries are served by priority (higher first), then by their place:
//!   the order they entered (a call that overflows keeps its place; a call
//!   an agent did not answer goes back to the front).
//! - Of the agents who qualify and are `available`, connected and not
//!   already offered this entry, the one idle longest (available since the
//!   earliest instant) gets the offer.
//! - An offer rings for the queue's `ring_ms` (the device reports its
//!   ring-out; the ACD's own timer adds [`RING_GRACE_MS`]); unanswered, the agent goes
//!   `not_ready` with reason `ring_no_answer` and the entry goes back to
//!   the front. A rejected offer or a failed device does the same with
//!   its own reason.
//! - A waiting entry moves to the queue's overflow queue after its
//!   `overflow_after_ms` (keeping its place by time), and leaves with
//!   [`LeftReason::MaxWait`] after `max_wait_ms`, so the flow goes on
//!   (voicemail, say). With no agent logged in who could ever take it,
//!   an entry leaves at once with [`LeftReason::NoAgents`] unless the queue
//!   is configured to keep callers waiting anyway.
//! - After a handled call the agent is in `wrap_up` for the queue's
//!   `wrap_up_ms` (or until they end it), then `available`.
//!
//! The estimated wait ([`Acd::estimate`]) is the entry's position over the
//! agents staffing the queue (logged in, qualified, not offline), times
//! the queue's average handle time of its last calls (a configured
//! default until it has some).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use crate::store::AgentStatus;

/// How many handled calls the average handle time looks back on.
const AHT_WINDOW: usize = 20;

/// How much longer than the queue's ring time the ACD waits for an offer
/// to be answered or reported missed: a device rung by the call (a SIP
/// phone) reports its own ring-out at `ring_ms`; this timer is the
/// backstop for a report that never comes.
pub const RING_GRACE_MS: u64 = 2_000;

/// A skill a queue or a call requires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkillNeed {
    pub skill: String,
    pub min_level: u8,
}

/// How a queue behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSettings {
    pub name: String,
    /// Skills every call of the queue needs.
    pub skills: Vec<SkillNeed>,
    /// The service level threshold: calls answered within it count as in
    /// service level (reported, not used for routing).
    pub sla_ms: u64,
    /// How long an offer rings before ring-no-answer.
    pub ring_ms: u64,
    /// After-call work before the agent is available again.
    pub wrap_up_ms: u64,
    /// The longest a call waits before it leaves with `max_wait`.
    pub max_wait_ms: Option<u64>,
    /// Move waiting calls to another queue after some time.
    pub overflow: Option<Overflow>,
    /// Keep callers waiting when no qualified agent is logged in.
    pub wait_without_agents: bool,
    /// The handle time assumed until the queue has handled calls.
    pub default_handle_ms: u64,
}

/// Where and when a queue overflows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overflow {
    pub after_ms: u64,
    pub queue: String,
}

/// Our handle on a waiting entry: the call id for callers on the line,
/// the callback id for callbacks.
pub type EntryId = String;

/// What waits in a queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A caller on the line.
    Call,
    /// A caller who took the callback offer: when their place comes up an
    /// agent is connected first, then `number` is dialled.
    Callback { number: String },
    /// An agent's consult: the agent who takes it talks to the consulting
    /// agent first (softphone to softphone), while the caller holds.
    Consult,
}

/// A request to queue something.
#[derive(Clone, Debug)]
pub struct Enqueue {
    pub id: EntryId,
    pub queue: String,
    pub priority: u32,
    /// Skills of the queue step, on top of the queue's.
    pub skills: Vec<SkillNeed>,
    pub kind: EntryKind,
    /// What the agent's screen shows (opaque to the ACD).
    pub pop: Arc<serde_json::Value>,
    /// Only this agent may take it (a transfer to an agent): the skills
    /// are not asked, and it waits for that agent like any other entry.
    pub agent: Option<String>,
}

/// Why an entry left its queue without an agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeftReason {
    /// It waited the queue's `max_wait`.
    MaxWait,
    /// No agent who could take it is logged in.
    NoAgents,
}

impl LeftReason {
    /// The stable code flows and call records carry.
    pub fn as_str(self) -> &'static str {
        match self {
            LeftReason::MaxWait => "max_wait",
            LeftReason::NoAgents => "no_agents",
        }
    }
}

/// Why an enqueue was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EnqueueError {
    #[error("no queue is named `{0}`")]
    UnknownQueue(String),
    #[error("`{0}` is already queued")]
    AlreadyQueued(EntryId),
}

/// Why an agent command was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    #[error("agent `{0}` is not logged in")]
    NotLoggedIn(String),
    #[error("agent `{agent}` cannot do that while {state}")]
    WrongState { agent: String, state: &'static str },
    #[error("agent `{agent}` has no offer or call `{entry}`")]
    NotTheirs { agent: String, entry: EntryId },
    /// A request this agent or target cannot have (why in the text).
    #[error("{0}")]
    Refused(String),
}

/// How an offer ended without the agent taking the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missed {
    /// It rang out (the ACD's timer or the device's own).
    NoAnswer,
    /// The agent refused it.
    Rejected,
    /// The agent's device could not be reached or was busy.
    DeviceFailed,
}

impl Missed {
    /// The not-ready reason code the agent is put in.
    pub fn reason(self) -> &'static str {
        match self {
            Missed::NoAnswer => "ring_no_answer",
            Missed::Rejected => "rejected",
            Missed::DeviceFailed => "device_unreachable",
        }
    }
}

/// What the driver must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Offer `entry` to `agent`: pop their screen, ring their device.
    Offer {
        entry: EntryId,
        agent: String,
        queue: String,
        kind: EntryKind,
        pop: Arc<serde_json::Value>,
        /// How long the entry has waited, in ms.
        waited_ms: u64,
    },
    /// The offer of `entry` to `agent` is over (rang out, or the caller
    /// left): stop ringing, take the pop down.
    Withdraw {
        entry: EntryId,
        agent: String,
        why: Withdrawn,
    },
    /// `entry` left its queue without an agent: the flow goes on.
    Left { entry: EntryId, reason: LeftReason },
    /// `entry` moved from one queue to another.
    Moved {
        entry: EntryId,
        from: String,
        to: String,
    },
    /// An agent's state changed (store it, tell their screens).
    AgentState {
        agent: String,
        status: AgentStatus,
        reason: Option<String>,
        entry: Option<EntryId>,
    },
}

/// Why an offer was withdrawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Withdrawn {
    RangOut,
    CallerLeft,
}

/// Position and estimated wait of a waiting entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Estimate {
    /// 1 for the next to be served.
    pub position: usize,
    /// Qualified agents logged in (not offline).
    pub staffed: usize,
    pub ewt_ms: u64,
}

/// An agent as the ACD sees it.
#[derive(Clone, Debug)]
struct Agent {
    skills: HashMap<String, u8>,
    status: AgentStatus,
    reason: Option<String>,
    /// Since when the agent is available (longest idle first).
    idle_since: u64,
    connected: bool,
    /// The entry offered to or handled by the agent.
    entry: Option<EntryId>,
    /// When the wrap-up ends, while in `wrap_up`.
    wrap_up_until: Option<u64>,
    /// Whether the agent takes calls on the page's softphone: callbacks
    /// and consults go only to them (see [`Acd::set_softphone`]).
    softphone: bool,
}

/// A waiting entry.
#[derive(Clone, Debug)]
struct Entry {
    queue: String,
    priority: u32,
    needs: Vec<SkillNeed>,
    step_skills: Vec<SkillNeed>,
    kind: EntryKind,
    pop: Arc<serde_json::Value>,
    /// Only this agent may take it.
    for_agent: Option<String>,
    /// The place: lower is served first (within a priority).
    place: i64,
    entered_at: u64,
    entered_queue_at: u64,
    state: EntryState,
    /// Agents whose offer of this entry was missed (not offered again
    /// while others could take it).
    missed_by: HashSet<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum EntryState {
    Waiting,
    Offered { agent: String, until: u64 },
    Connected { agent: String, at: u64 },
}

/// The ACD state machine. See the module doc.
#[derive(Debug, Default)]
pub struct Acd {
    queues: BTreeMap<String, QueueSettings>,
    handle_times: HashMap<String, VecDeque<u64>>,
    agents: BTreeMap<String, Agent>,
    entries: HashMap<EntryId, Entry>,
    next_place: i64,
    front_place: i64,
    actions: VecDeque<Action>,
}

impl Acd {
    /// An ACD serving `queues`.
    pub fn new(queues: impl IntoIterator<Item = QueueSettings>) -> Acd {
        Acd {
            queues: queues.into_iter().map(|q| (q.name.clone(), q)).collect(),
            ..Acd::default()
        }
    }

    /// The queues' names.
    pub fn queue_names(&self) -> impl Iterator<Item = &str> {
        self.queues.keys().map(String::as_str)
    }

    /// The next thing to do, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Acd::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<u64> {
        let offers = self.entries.values().filter_map(|e| match &e.state {
            EntryState::Offered { until, .. } => Some(*until),
            _ => None,
        });
        let waits = self
            .entries
            .values()
            .filter(|e| !matches!(e.state, EntryState::Connected { .. }))
            .filter_map(|e| self.wait_deadline(e));
        let wraps = self.agents.values().filter_map(|a| a.wrap_up_until);
        offers.chain(waits).chain(wraps).min()
    }

    /// The earliest of an entry's overflow and max-wait deadlines.
    fn wait_deadline(&self, e: &Entry) -> Option<u64> {
        let q = self.queues.get(&e.queue)?;
        let overflow = q
            .overflow
            .as_ref()
            .filter(|o| self.queues.contains_key(&o.queue))
            .map(|o| e.entered_queue_at.saturating_add(o.after_ms));
        // A callback is no caller on the line: it waits for an agent
        // however long it takes.
        let max_wait = q
            .max_wait_ms
            .filter(|_| e.kind == EntryKind::Call)
            .map(|m| e.entered_at.saturating_add(m));
        overflow.into_iter().chain(max_wait).min()
    }

    // ----- agents -----

    /// Logs `agent` in with `skills`, `not_ready` (reason `login`): they
    /// choose when to take calls. A second login (another tab) keeps the
    /// agent's state and refreshes the skills.
    pub fn login(&mut self, agent: &str, skills: HashMap<String, u8>, now: u64) {
        if let Some(a) = self.agents.get_mut(agent) {
            a.skills = skills;
            a.connected = true;
            self.dispatch(now);
            return;
        }
        self.agents.insert(
            agent.to_owned(),
            Agent {
                skills,
                status: AgentStatus::Offline,
                reason: None,
                idle_since: now,
                connected: true,
                entry: None,
                wrap_up_until: None,
                softphone: true,
            },
        );
        self.set_status(agent, AgentStatus::NotReady, Some("login".into()), now);
    }

    /// Whether a logged-in `agent` takes calls on the page's softphone
    /// (yes by default; no for an agent on a SIP phone, who is offered
    /// callers only: callbacks and consults connect the agent first, which
    /// a SIP phone cannot yet).
    pub fn set_softphone(&mut self, agent: &str, softphone: bool) {
        if let Some(a) = self.agents.get_mut(agent) {
            a.softphone = softphone;
        }
    }

    /// Logs `agent` out. Refused while they have an offer or a call.
    pub fn logout(&mut self, agent: &str, now: u64) -> Result<(), AgentError> {
        let a = self.agent(agent)?;
        if a.entry.is_some() && a.status != AgentStatus::WrapUp {
            return Err(wrong_state(agent, a.status));
        }
        self.set_status(agent, AgentStatus::Offline, None, now);
        self.agents.remove(agent);
        Ok(())
    }

    /// The agent's screen went away (`false`) or came back (`true`). A
    /// disconnected agent gets no new offers; their call goes on.
    pub fn set_connected(&mut self, agent: &str, connected: bool, now: u64) {
        if let Some(a) = self.agents.get_mut(agent) {
            a.connected = connected;
            if connected {
                self.dispatch(now);
            }
        }
    }

    /// `available` (from not ready, or ending wrap-up early).
    pub fn set_available(&mut self, agent: &str, now: u64) -> Result<(), AgentError> {
        let a = self.agent(agent)?;
        match a.status {
            AgentStatus::Available => return Ok(()),
            AgentStatus::NotReady | AgentStatus::WrapUp => {}
            other => return Err(wrong_state(agent, other)),
        }
        self.make_available(agent, now);
        Ok(())
    }

    /// `not_ready` with a reason code (from available, or ending wrap-up).
    pub fn set_not_ready(&mut self, agent: &str, reason: &str, now: u64) -> Result<(), AgentError> {
        let a = self.agent(agent)?;
        match a.status {
            AgentStatus::Available | AgentStatus::NotReady | AgentStatus::WrapUp => {}
            other => return Err(wrong_state(agent, other)),
        }
        if let Some(a) = self.agents.get_mut(agent) {
            a.wrap_up_until = None;
            a.entry = None;
        }
        self.set_status(agent, AgentStatus::NotReady, Some(reason.to_owned()), now);
        Ok(())
    }

    /// The agent's status and reason, if logged in.
    pub fn agent_status(&self, agent: &str) -> Option<(AgentStatus, Option<&str>)> {
        self.agents
            .get(agent)
            .map(|a| (a.status, a.reason.as_deref()))
    }

    /// The entry the agent was offered or is handling (or wrapping up).
    pub fn agent_entry(&self, agent: &str) -> Option<&str> {
        self.agents.get(agent).and_then(|a| a.entry.as_deref())
    }

    /// The screen pop of a queued, offered or connected entry.
    pub fn entry_pop(&self, entry: &str) -> Option<Arc<serde_json::Value>> {
        self.entries.get(entry).map(|e| Arc::clone(&e.pop))
    }

    fn agent(&self, agent: &str) -> Result<&Agent, AgentError> {
        self.agents
            .get(agent)
            .ok_or_else(|| AgentError::NotLoggedIn(agent.to_owned()))
    }

    fn make_available(&mut self, agent: &str, now: u64) {
        if let Some(a) = self.agents.get_mut(agent) {
            a.idle_since = now;
            a.wrap_up_until = None;
            a.entry = None;
        }
        self.set_status(agent, AgentStatus::Available, None, now);
    }

    fn set_status(&mut self, agent: &str, status: AgentStatus, reason: Option<String>, now: u64) {
        let Some(a) = self.agents.get_mut(agent) else {
            return;
        };
        a.status = status;
        a.reason.clone_from(&reason);
        self.actions.push_back(Action::AgentState {
            agent: agent.to_owned(),
            status,
            reason,
            entry: a.entry.clone(),
        });
        if status == AgentStatus::Available {
            self.dispatch(now);
        }
    }

    // ----- entries -----

    /// Queues an entry. With no qualified agent logged in (and the queue
    /// not set to wait anyway) a caller leaves at once: [`Action::Left`]
    /// with [`LeftReason::NoAgents`]; a callback waits.
    pub fn enqueue(&mut self, request: Enqueue, now: u64) -> Result<(), EnqueueError> {
        let Some(q) = self.queues.get(&request.queue) else {
            return Err(EnqueueError::UnknownQueue(request.queue));
        };
        if self.entries.contains_key(&request.id) {
            return Err(EnqueueError::AlreadyQueued(request.id));
        }
        let needs = match request.agent {
            Some(_) => Vec::new(),
            None => merge_needs(&q.skills, &request.skills),
        };
        // A callback has nobody on the line: it waits for an agent.
        let wait_anyway =
            q.wait_without_agents || matches!(request.kind, EntryKind::Callback { .. });
        self.next_place += 1;
        let entry = Entry {
            queue: request.queue,
            priority: request.priority,
            needs,
            step_skills: request.skills,
            kind: request.kind,
            pop: request.pop,
            for_agent: request.agent,
            place: self.next_place,
            entered_at: now,
            entered_queue_at: now,
            state: EntryState::Waiting,
            missed_by: HashSet::new(),
        };
        let staffed = self.staffed(&entry);
        let id = request.id;
        if staffed == 0 && !wait_anyway {
            self.actions.push_back(Action::Left {
                entry: id,
                reason: LeftReason::NoAgents,
            });
            return Ok(());
        }
        self.entries.insert(id, entry);
        self.dispatch(now);
        Ok(())
    }

    /// A waiting caller became a callback request keeping its place,
    /// from now on known as `callback` (the call it will become):
    /// `number` is dialled when an agent takes it. Refused (false) for an
    /// entry that is not a caller waiting, or a `callback` id in use.
    pub fn to_callback(&mut self, entry: &str, callback: &str, number: String) -> bool {
        let waiting = matches!(
            self.entries.get(entry),
            Some(e) if e.state == EntryState::Waiting && e.kind == EntryKind::Call
        );
        if !waiting || self.entries.contains_key(callback) {
            return false;
        }
        let Some(mut e) = self.entries.remove(entry) else {
            return false;
        };
        e.kind = EntryKind::Callback { number };
        self.entries.insert(callback.to_owned(), e);
        true
    }

    /// The caller hung up (or the entry is otherwise gone): forget it;
    /// an agent being offered it is withdrawn the offer and is available
    /// again.
    pub fn abandon(&mut self, entry: &str, now: u64) {
        let Some(e) = self.entries.remove(entry) else {
            return;
        };
        match e.state {
            EntryState::Waiting => {}
            EntryState::Offered { agent, .. } => {
                self.actions.push_back(Action::Withdraw {
                    entry: entry.to_owned(),
                    agent: agent.clone(),
                    why: Withdrawn::CallerLeft,
                });
                self.make_available(&agent, now);
            }
            EntryState::Connected { agent, at } => {
                self.handled(&e.queue, &agent, now.saturating_sub(at), now);
            }
        }
    }

    /// The agent took the offered entry (answered in the browser, or
    /// their phone answered): `on_call`.
    pub fn answered(&mut self, entry: &str, agent: &str, now: u64) -> Result<(), AgentError> {
        let e = self
            .entries
            .get_mut(entry)
            .ok_or_else(|| not_theirs(agent, entry))?;
        match &e.state {
            EntryState::Offered { agent: a, .. } if a == agent => {}
            _ => return Err(not_theirs(agent, entry)),
        }
        e.state = EntryState::Connected {
            agent: agent.to_owned(),
            at: now,
        };
        self.set_status(agent, AgentStatus::OnCall, None, now);
        Ok(())
    }

    /// The offer was not taken: the agent goes `not_ready` with the
    /// reason's code, the entry back to the front of its queue.
    pub fn missed(
        &mut self,
        entry: &str,
        agent: &str,
        how: Missed,
        now: u64,
    ) -> Result<(), AgentError> {
        let e = self
            .entries
            .get_mut(entry)
            .ok_or_else(|| not_theirs(agent, entry))?;
        match &e.state {
            EntryState::Offered { agent: a, .. } if a == agent => {}
            _ => return Err(not_theirs(agent, entry)),
        }
        self.front_place -= 1;
        e.place = self.front_place;
        e.state = EntryState::Waiting;
        e.missed_by.insert(agent.to_owned());
        if let Some(a) = self.agents.get_mut(agent) {
            a.entry = None;
        }
        self.set_status(agent, AgentStatus::NotReady, Some(how.reason().into()), now);
        self.dispatch(now);
        Ok(())
    }

    /// The connected call ended (either side hung up): the agent wraps
    /// up.
    pub fn ended(&mut self, entry: &str, now: u64) {
        let Some(e) = self.entries.remove(entry) else {
            return;
        };
        if let EntryState::Connected { agent, at } = e.state {
            self.handled(&e.queue, &agent, now.saturating_sub(at), now);
        }
    }

    /// A consult transfer completes: the agent connected to `from` (the
    /// consult's entry) now handles `into` (the call's, ended for the
    /// consulting agent). The connection keeps its start. Returns that
    /// agent.
    pub fn merge(&mut self, from: &str, into: &str) -> Result<String, AgentError> {
        let agent = match self.entries.get(from).map(|e| &e.state) {
            Some(EntryState::Connected { agent, .. }) => agent.clone(),
            _ => return Err(AgentError::Refused(format!("`{from}` is not connected"))),
        };
        if self.entries.contains_key(into) {
            return Err(AgentError::Refused(format!("`{into}` is still queued")));
        }
        if let Some(e) = self.entries.remove(from) {
            self.entries.insert(into.to_owned(), e);
        }
        if let Some(a) = self.agents.get_mut(&agent) {
            a.entry = Some(into.to_owned());
        }
        Ok(agent)
    }

    /// Position and estimated wait of a waiting entry.
    pub fn estimate(&self, entry: &str) -> Option<Estimate> {
        let e = self.entries.get(entry)?;
        if e.state != EntryState::Waiting {
            return None;
        }
        let position = 1 + self
            .entries
            .values()
            .filter(|o| o.queue == e.queue && !matches!(o.state, EntryState::Connected { .. }))
            .filter(|o| {
                (std::cmp::Reverse(o.priority), o.place) < (std::cmp::Reverse(e.priority), e.place)
            })
            .count();
        let staffed = self.staffed(e);
        let aht = self.average_handle_ms(&e.queue);
        let ewt_ms = aht.saturating_mul(position as u64) / staffed.max(1) as u64;
        Some(Estimate {
            position,
            staffed,
            ewt_ms,
        })
    }

    /// The queue an entry waits in (after overflows) and when it entered.
    pub fn entry_queue(&self, entry: &str) -> Option<&str> {
        self.entries.get(entry).map(|e| e.queue.as_str())
    }

    /// How many entries wait in `queue` (offered ones included).
    pub fn waiting(&self, queue: &str) -> usize {
        self.entries
            .values()
            .filter(|e| e.queue == queue && !matches!(e.state, EntryState::Connected { .. }))
            .count()
    }

    /// The average handle time of `queue`'s recent calls, or its default.
    pub fn average_handle_ms(&self, queue: &str) -> u64 {
        match self.handle_times.get(queue) {
            Some(times) if !times.is_empty() => times.iter().sum::<u64>() / times.len() as u64,
            _ => self.queues.get(queue).map_or(0, |q| q.default_handle_ms),
        }
    }

    fn handled(&mut self, queue: &str, agent: &str, talk_ms: u64, now: u64) {
        let times = self.handle_times.entry(queue.to_owned()).or_default();
        let wrap = self.queues.get(queue).map_or(0, |q| q.wrap_up_ms);
        times.push_back(talk_ms.saturating_add(wrap));
        while times.len() > AHT_WINDOW {
            times.pop_front();
        }
        if wrap == 0 {
            self.make_available(agent, now);
            return;
        }
        if let Some(a) = self.agents.get_mut(agent) {
            a.wrap_up_until = Some(now.saturating_add(wrap));
        }
        self.set_status(agent, AgentStatus::WrapUp, None, now);
    }

    /// Agents logged in (not offline) who may take `e`.
    fn staffed(&self, e: &Entry) -> usize {
        self.agents
            .iter()
            .filter(|(name, a)| a.status != AgentStatus::Offline && may_take(name, a, e))
            .count()
    }

    // ----- time -----

    /// Runs what is due at `now`: ring-no-answer, wrap-up ends, overflows,
    /// max waits.
    pub fn handle_timeout(&mut self, now: u64) {
        let rang_out: Vec<(EntryId, String)> = self
            .entries
            .iter()
            .filter_map(|(id, e)| match &e.state {
                EntryState::Offered { agent, until } if *until <= now => {
                    Some((id.clone(), agent.clone()))
                }
                _ => None,
            })
            .collect();
        for (entry, agent) in rang_out {
            self.actions.push_back(Action::Withdraw {
                entry: entry.clone(),
                agent: agent.clone(),
                why: Withdrawn::RangOut,
            });
            let _ = self.missed(&entry, &agent, Missed::NoAnswer, now);
        }
        let wrapped: Vec<String> = self
            .agents
            .iter()
            .filter(|(_, a)| a.wrap_up_until.is_some_and(|t| t <= now))
            .map(|(name, _)| name.clone())
            .collect();
        for agent in wrapped {
            self.make_available(&agent, now);
        }
        let mut due: Vec<(i64, EntryId)> = self
            .entries
            .iter()
            .filter(|(_, e)| e.state == EntryState::Waiting)
            .filter(|(_, e)| self.wait_deadline(e).is_some_and(|t| t <= now))
            .map(|(id, e)| (e.place, id.clone()))
            .collect();
        due.sort();
        for (_, id) in due {
            self.wait_due(&id, now);
        }
        self.dispatch(now);
    }

    /// An entry's overflow or max wait came.
    fn wait_due(&mut self, id: &str, now: u64) {
        let Some(e) = self.entries.get(id) else {
            return;
        };
        let Some(q) = self.queues.get(&e.queue) else {
            return;
        };
        if e.kind == EntryKind::Call
            && q.max_wait_ms
                .is_some_and(|m| e.entered_at.saturating_add(m) <= now)
        {
            self.entries.remove(id);
            self.actions.push_back(Action::Left {
                entry: id.to_owned(),
                reason: LeftReason::MaxWait,
            });
            return;
        }
        // An entry for one agent waits for them, wherever it is.
        if e.for_agent.is_some() {
            return;
        }
        let Some(to) = q.overflow.as_ref().map(|o| o.queue.clone()) else {
            return;
        };
        let Some(target) = self.queues.get(&to) else {
            return;
        };
        let needs = merge_needs(&target.skills, &e.step_skills);
        if let Some(e) = self.entries.get_mut(id) {
            let from = std::mem::replace(&mut e.queue, to.clone());
            e.needs = needs;
            e.entered_queue_at = now;
            self.actions.push_back(Action::Moved {
                entry: id.to_owned(),
                from,
                to,
            });
        }
    }

    // ----- routing -----

    /// Offers waiting entries to available agents while both exist.
    fn dispatch(&mut self, now: u64) {
        loop {
            if !self
                .agents
                .values()
                .any(|a| a.status == AgentStatus::Available && a.connected)
            {
                return;
            }
            let mut waiting: Vec<(&EntryId, &Entry)> = self
                .entries
                .iter()
                .filter(|(_, e)| e.state == EntryState::Waiting)
                .collect();
            waiting.sort_by_key(|(_, e)| (std::cmp::Reverse(e.priority), e.place));
            let mut chosen = None;
            for (id, e) in waiting {
                if let Some(agent) = self.longest_idle(e) {
                    chosen = Some((id.clone(), agent));
                    break;
                }
            }
            let Some((id, agent)) = chosen else {
                return;
            };
            self.offer(&id, &agent, now);
        }
    }

    /// The longest-idle available agent who qualifies for `e`, preferring
    /// agents who have not missed it.
    fn longest_idle(&self, e: &Entry) -> Option<String> {
        let candidates = self
            .agents
            .iter()
            .filter(|(_, a)| a.status == AgentStatus::Available && a.connected)
            .filter(|(name, a)| may_take(name, a, e));
        candidates
            .min_by_key(|(name, a)| (e.missed_by.contains(*name), a.idle_since, (*name).clone()))
            .map(|(name, _)| name.clone())
    }

    fn offer(&mut self, id: &str, agent: &str, now: u64) {
        let Some(e) = self.entries.get_mut(id) else {
            return;
        };
        let ring = self.queues.get(&e.queue).map_or(15_000, |q| q.ring_ms) + RING_GRACE_MS;
        e.state = EntryState::Offered {
            agent: agent.to_owned(),
            until: now.saturating_add(ring),
        };
        let action = Action::Offer {
            entry: id.to_owned(),
            agent: agent.to_owned(),
            queue: e.queue.clone(),
            kind: e.kind.clone(),
            pop: Arc::clone(&e.pop),
            waited_ms: now.saturating_sub(e.entered_at),
        };
        if let Some(a) = self.agents.get_mut(agent) {
            a.entry = Some(id.to_owned());
        }
        self.actions.push_back(action);
        self.set_status(agent, AgentStatus::Offered, None, now);
    }
}

/// The queue's needs with the step's, the higher minimum level winning.
fn merge_needs(queue: &[SkillNeed], step: &[SkillNeed]) -> Vec<SkillNeed> {
    let mut needs: BTreeMap<&str, u8> = BTreeMap::new();
    for n in queue.iter().chain(step) {
        let level = needs.entry(n.skill.as_str()).or_insert(0);
        *level = (*level).max(n.min_level);
    }
    needs
        .into_iter()
        .map(|(skill, min_level)| SkillNeed {
            skill: skill.to_owned(),
            min_level,
        })
        .collect()
}

/// Whether `agent` (named `name`) may take `e`: the one it is for, or
/// anyone with the skills.
fn may_take(name: &str, agent: &Agent, e: &Entry) -> bool {
    e.for_agent.as_deref().is_none_or(|only| only == name)
        && qualifies(agent, &e.needs)
        && (agent.softphone || e.kind == EntryKind::Call)
}

fn qualifies(agent: &Agent, needs: &[SkillNeed]) -> bool {
    needs.iter().all(|n| {
        agent
            .skills
            .get(&n.skill)
            .is_some_and(|l| *l >= n.min_level)
    })
}

fn wrong_state(agent: &str, status: AgentStatus) -> AgentError {
    AgentError::WrongState {
        agent: agent.to_owned(),
        state: status.as_str(),
    }
}

fn not_theirs(agent: &str, entry: &str) -> AgentError {
    AgentError::NotTheirs {
        agent: agent.to_owned(),
        entry: entry.to_owned(),
    }
}
