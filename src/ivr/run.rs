//! The IVR interpreter: walks one call through a flow, sans-IO.
//!
//! A [`Session`] takes what happens on the call ([`Input`]: a key pressed,
//! a prompt list finished, a lookup's answer, the caller gone) and the
//! time, and returns what should happen next ([`Action`]: play these
//! prompts, stop playing, look this up, record a message, transfer, hang
//! up). It never touches a socket, a file or the clock: the call actor
//! (`call::ivr`) moves media and bytes, `hibiki ivr simulate` drives it
//! with a virtual clock, and the unit tests script both.
//!
//! Time is milliseconds since the session began ([`Millis`]); the wall
//! clock that `hours` steps read is the session's start instant plus that
//! offset, so a simulation at `--at 2026-11-23T09:00+09:00` is exact.
//!
//! The rules a caller notices:
//! - Every prompt can be interrupted by a key (barge-in). A key pressed
//!   while a `play` step (or anything but an input step) runs is kept and
//!   consumed by the next `menu` or `gather`: callers who know the menu
//!   can type ahead.
//! - `menu`: the prompt, then `timeout_seconds` for a key. A key with no
//!   option plays `invalid_prompt`, no key plays `timeout_prompt`; either
//!   counts as a failed attempt, and the menu repeats (its prompt again)
//!   until `retries` repeats are used up, then `fallback`.
//! - `gather`: digits until `max_digits`, the terminator (not stored) or
//!   the inter-digit timeout; fewer than `min_digits` or no match of
//!   `pattern` is a failed attempt like a menu's (`invalid_prompt`, then
//!   the prompt again; `fallback` when retries run out).
//! - `lookup` gives up after `timeout_ms` (both sources) and goes to
//!   `error`; an answer arriving later is ignored.
//! - Expressions that fail at run time (a variable never set, a type
//!   mismatch) do not end the call: a `set` leaves that variable unset, a
//!   `branch` case counts as false, a `transfer` fails to `next`; each
//!   failure is written in the path.
//! - A flow that runs [`STEP_BUDGET`] steps without waiting for anything
//!   is stopped (validation refuses such loops; this is the backstop).
//!
//! Every step visited appends a [`PathEntry`] (flow, step, type, start,
//! duration, outcome, next step) to the call's IVR path, stored with its
//! call record.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::expr::Value;
use super::flow::{self, CallerIdRule, Destination, LookupSource, PromptItem, SayKind, Step};
use super::Flow;

/// Milliseconds since the session began.
pub type Millis = u64;

/// Steps run in a row without waiting before the flow is stopped.
pub const STEP_BUDGET: usize = 200;

/// Where a session finds flows by name (`goto` with `flow`).
pub trait Flows: Send + Sync {
    /// The flow called `name`.
    fn flow(&self, name: &str) -> Option<Arc<Flow>>;
}

impl Flows for BTreeMap<String, Arc<Flow>> {
    fn flow(&self, name: &str) -> Option<Arc<Flow>> {
        self.get(name).cloned()
    }
}

/// A prompt to play: `<prompts_dir>/<language>/<name>.wav`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PromptRef {
    pub language: String,
    pub name: String,
}

impl std::fmt::Display for PromptRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.language, self.name)
    }
}

/// Something that happened on the call.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// A key (`0`-`9`, `*`, `#`, `A`-`D`), however it arrived.
    Digit(char),
    /// The prompts of [`Action::Play`] `op` were played to the end (not
    /// sent when they were stopped by [`Action::StopPlay`] or replaced).
    PlayDone { op: u64 },
    /// The answer to [`Action::Lookup`] `op`.
    LookupDone { op: u64, result: LookupResult },
    /// [`Action::Queue`] `op` ended without an agent.
    QueueLeft { op: u64, reason: String },
    /// The message of [`Action::Record`] `op` is saved.
    RecordDone { op: u64, duration_ms: u64 },
    /// [`Action::Transfer`] `op`: `Ok` when the far end answered (the
    /// flow ends, the call goes on bridged), `Err` with the reason.
    TransferDone { op: u64, result: Result<(), String> },
    /// [`Action::Queue`] `op` reached `agent`: the flow ends, the call
    /// goes on with the agent.
    QueueConnected { op: u64, agent: String },
    /// The caller waiting in [`Action::Queue`] `op` took the callback
    /// offer: their place is kept as call `callback`, and the flow ends
    /// (the driver hangs up once the caller heard the confirmation).
    QueueCallback { op: u64, callback: String },
    /// The caller hung up.
    Hangup,
}

/// What a lookup found.
#[derive(Clone, Debug, PartialEq)]
pub enum LookupResult {
    /// A JSON document: the customer's fields as an object, or the HTTP
    /// response body. `map` keys are JSON pointers (`/customer/name`) or,
    /// for the customer source, field names (`name`).
    Found(serde_json::Value),
    /// No such customer, or HTTP 404.
    NotFound,
    /// Anything else (a database error, a bad status, bad JSON).
    Failed(String),
}

/// What the session asks its driver to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Play `prompts` in order, replacing anything playing; report
    /// [`Input::PlayDone`] with `op` at the end. Keys interrupt it.
    Play { op: u64, prompts: Vec<PromptRef> },
    /// Stop playing now (a key barged in).
    StopPlay,
    /// Look something up; report [`Input::LookupDone`] (the session
    /// enforces the timeout itself).
    Lookup { op: u64, request: LookupRequest },
    /// Queue the call; report [`Input::QueueLeft`] if it leaves the queue
    /// without an agent.
    Queue {
        op: u64,
        queue: String,
        priority: u32,
        skills: Vec<(String, u32)>,
    },
    /// Record the caller's message (voicemail) until [`Action::StopRecord`];
    /// then save it, create the callback request and report
    /// [`Input::RecordDone`]. If the caller hangs up first, save it all
    /// the same.
    Record { op: u64, max_ms: u64 },
    /// End the recording of `op`.
    StopRecord { op: u64 },
    /// Blind transfer through `trunk`; report [`Input::TransferDone`].
    Transfer {
        op: u64,
        trunk: String,
        to: String,
        /// The number to present; `None`: the trunk's own.
        caller_id: Option<String>,
    },
    /// The flow is over: hang up.
    Hangup,
}

/// What a lookup asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum LookupRequest {
    /// The customer whose number is `caller`.
    Customer { caller: String },
    /// An HTTP data dip.
    Http {
        method: flow::HttpMethod,
        /// With `{var}` placeholders filled in (percent-encoded).
        url: String,
        headers: Vec<(String, String)>,
        /// For `POST`: the call's variables as a JSON object.
        body: Option<serde_json::Value>,
        timeout_ms: u64,
    },
}

/// One step of the IVR path.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PathEntry {
    pub flow: String,
    pub step: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// When the step began, ms since the call entered the flow.
    pub at_ms: Millis,
    pub duration_ms: Millis,
    /// What happened: `key 1`, `open`, `found`, `timeout`…
    pub outcome: String,
    /// The step it went to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// How a session ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "ended")]
pub enum Ending {
    /// A `hangup` step, or a top flow's `return`.
    HungUp,
    /// The caller hung up during the flow.
    CallerHungUp,
    /// A `transfer` was answered; the call goes on bridged.
    Transferred { to: String },
    /// A `queue` step reached an agent; the call goes on with them.
    Connected { queue: String, agent: String },
    /// The caller took a queue's callback offer: call `callback` will
    /// dial them back when an agent takes it.
    Callback { queue: String, callback: String },
    /// The flow could not go on (see the path).
    Failed { reason: String },
}

/// A failed attempt at a menu or gather.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Miss {
    NoInput,
    Invalid,
}

/// Whether an input step's prompt is still playing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Prompt { op: u64 },
    Listening,
}

/// What the session waits for.
#[derive(Clone, Debug, PartialEq)]
enum Wait {
    /// Between steps (never observed outside `advance`).
    Nothing,
    Play {
        op: u64,
        next: String,
    },
    Menu {
        attempt: u32,
        phase: Phase,
        misses: Vec<String>,
    },
    Gather {
        attempt: u32,
        phase: Phase,
        digits: String,
        misses: Vec<String>,
    },
    Lookup {
        op: u64,
    },
    Queue {
        op: u64,
    },
    VoicemailPrompt {
        op: u64,
    },
    Recording {
        op: u64,
        stopping: bool,
    },
    Transfer {
        op: u64,
        to: String,
    },
    Done,
}

/// One flow on the stack: sub-flows push, `return` pops.
#[derive(Clone, Debug)]
struct Frame {
    flow: Arc<Flow>,
    /// The calling flow's step to go on with after `return`.
    return_to: Option<String>,
}

/// One call's walk through its flow.
pub struct Session {
    flows: Arc<dyn Flows>,
    stack: Vec<Frame>,
    step: String,
    wait: Wait,
    vars: BTreeMap<String, Value>,
    typeahead: VecDeque<char>,
    wall_start: DateTime<Utc>,
    now: Millis,
    deadline: Option<Millis>,
    next_op: u64,
    actions: VecDeque<Action>,
    path: Vec<PathEntry>,
    /// The current step's start and the notes its outcome will carry.
    step_start: Millis,
    notes: Vec<String>,
    ending: Option<Ending>,
}

impl Session {
    /// A session for a call from `caller` to `dialled`, beginning at
    /// `wall_start`, in `flow`. Nothing happens until [`Session::start`].
    pub fn new(
        flows: Arc<dyn Flows>,
        flow: Arc<Flow>,
        caller: &str,
        dialled: &str,
        wall_start: DateTime<Utc>,
    ) -> Session {
        let vars = BTreeMap::from([
            ("caller".to_owned(), Value::String(caller.to_owned())),
            ("dialled".to_owned(), Value::String(dialled.to_owned())),
        ]);
        let step = flow.start.clone();
        Session {
            flows,
            stack: vec![Frame {
                flow,
                return_to: None,
            }],
            step,
            wait: Wait::Nothing,
            vars,
            typeahead: VecDeque::new(),
            wall_start,
            now: 0,
            deadline: None,
            next_op: 0,
            actions: VecDeque::new(),
            path: Vec::new(),
            step_start: 0,
            notes: Vec::new(),
            ending: None,
        }
    }

    /// Enters the flow's first step.
    pub fn start(&mut self, now: Millis) {
        self.now = now;
        let first = self.step.clone();
        self.enter(first);
    }

    /// The next thing to do, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Session::handle_timeout`] wants to be called.
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.deadline
    }

    /// The IVR path so far.
    pub fn path(&self) -> &[PathEntry] {
        &self.path
    }

    /// How the session ended, once it has.
    pub fn ending(&self) -> Option<&Ending> {
        self.ending.as_ref()
    }

    /// The call's variables.
    pub fn vars(&self) -> &BTreeMap<String, Value> {
        &self.vars
    }

    /// Whether the session listens for keys now: a menu or gather whose
    /// prompt has ended, or a message being recorded.
    pub fn wants_input(&self) -> bool {
        matches!(
            self.wait,
            Wait::Menu {
                phase: Phase::Listening,
                ..
            } | Wait::Gather {
                phase: Phase::Listening,
                ..
            } | Wait::Recording {
                stopping: false,
                ..
            }
        )
    }

    /// The flow and step the session is in.
    pub fn position(&self) -> (&str, &str) {
        (self.flow().name.as_str(), self.step.as_str())
    }

    /// Handles something that happened at `now`.
    pub fn handle(&mut self, input: Input, now: Millis) {
        self.now = self.now.max(now);
        if self.ending.is_some() {
            return;
        }
        match input {
            Input::Hangup => self.caller_gone(),
            Input::Digit(d) => self.on_digit(d),
            Input::PlayDone { op } => self.on_play_done(op),
            Input::LookupDone { op, result } => {
                if self.wait == (Wait::Lookup { op }) {
                    self.on_lookup(result);
                }
            }
            Input::QueueLeft { op, reason } => {
                if self.wait == (Wait::Queue { op }) {
                    if let Some(Step::Queue(q)) = self.current() {
                        let fallback = q.fallback.clone();
                        self.leave(format!("left the queue: {reason}"), &fallback);
                    }
                }
            }
            Input::RecordDone { op, duration_ms } => {
                if matches!(self.wait, Wait::Recording { op: o, .. } if o == op) {
                    if let Some(Step::Voicemail(v)) = self.current() {
                        let next = v.next.clone();
                        let outcome = format!("recorded {:.1} s", duration_ms as f64 / 1000.0);
                        self.leave(outcome, &next);
                    }
                }
            }
            Input::QueueConnected { op, agent } => {
                if self.wait != (Wait::Queue { op }) {
                    return;
                }
                if let Some(Step::Queue(q)) = self.current() {
                    let queue = q.queue.clone();
                    self.close_entry(format!("answered by agent {agent}"), None);
                    self.end(Ending::Connected { queue, agent });
                }
            }
            Input::QueueCallback { op, callback } => {
                if self.wait != (Wait::Queue { op }) {
                    return;
                }
                if let Some(Step::Queue(q)) = self.current() {
                    let queue = q.queue.clone();
                    self.close_entry(format!("callback requested (call {callback})"), None);
                    self.end(Ending::Callback { queue, callback });
                }
            }
            Input::TransferDone { op, result } => {
                let Wait::Transfer { op: waiting, to } = &self.wait else {
                    return;
                };
                if *waiting != op {
                    return;
                }
                let to = to.clone();
                match result {
                    Ok(()) => {
                        self.close_entry(format!("answered by {to}"), None);
                        self.end(Ending::Transferred { to });
                    }
                    Err(reason) => {
                        if let Some(Step::Transfer(t)) = self.current() {
                            let next = t.next.clone();
                            self.leave(format!("failed: {reason}"), &next);
                        }
                    }
                }
            }
        }
    }

    /// Handles the deadline of [`Session::poll_timeout`] having passed.
    pub fn handle_timeout(&mut self, now: Millis) {
        self.now = self.now.max(now);
        match self.deadline {
            Some(at) if at <= self.now => self.deadline = None,
            _ => return,
        }
        if self.ending.is_some() {
            return;
        }
        match self.wait.clone() {
            Wait::Menu { .. } => self.menu_miss(Miss::NoInput, "no input".into()),
            Wait::Gather { .. } => self.gather_finish(),
            Wait::Lookup { .. } => {
                if let Some(Step::Lookup(l)) = self.current() {
                    let error = l.error.clone();
                    let outcome = format!("error: no answer in {} ms", l.timeout_ms);
                    self.leave(outcome, &error);
                }
            }
            Wait::Recording {
                op,
                stopping: false,
            } => {
                self.notes.push("reached max_seconds".into());
                self.wait = Wait::Recording { op, stopping: true };
                self.actions.push_back(Action::StopRecord { op });
            }
            _ => {}
        }
    }

    // ---- the steps ----

    fn flow(&self) -> &Flow {
        &self
            .stack
            .last()
            .expect("a session always has a frame")
            .flow
    }

    fn current(&self) -> Option<&Step> {
        self.flow().step(&self.step)
    }

    fn op(&mut self) -> u64 {
        self.next_op += 1;
        self.next_op
    }

    /// Runs steps from `name` until one waits for something.
    fn enter(&mut self, name: String) {
        let mut next = Some(name);
        let mut budget = STEP_BUDGET;
        while let Some(name) = next.take() {
            if self.ending.is_some() {
                return;
            }
            if budget == 0 {
                self.fail(format!(
                    "stopped after {STEP_BUDGET} steps without waiting for the caller"
                ));
                return;
            }
            budget -= 1;
            self.step = name;
            self.step_start = self.now;
            self.notes.clear();
            self.wait = Wait::Nothing;
            self.deadline = None;
            let Some(step) = self.current().cloned() else {
                let reason = format!("no step `{}` in flow `{}`", self.step, self.flow().name);
                self.fail(reason);
                return;
            };
            next = self.run(&step);
        }
    }

    /// Starts `step`; returns the step to go on to at once, if any.
    fn run(&mut self, step: &Step) -> Option<String> {
        match step {
            Step::Play(p) => {
                let prompts = self.prompts(&p.prompts);
                if !self.typeahead.is_empty() || prompts.is_empty() {
                    let outcome = if prompts.is_empty() {
                        "nothing to play"
                    } else {
                        "skipped: keys typed ahead"
                    };
                    return self.go(outcome.into(), &p.next);
                }
                let op = self.play(prompts);
                self.wait = Wait::Play {
                    op,
                    next: p.next.clone(),
                };
                None
            }
            Step::Menu(m) => {
                self.wait = Wait::Menu {
                    attempt: 0,
                    phase: Phase::Listening,
                    misses: Vec::new(),
                };
                if let Some(d) = self.typeahead.pop_front() {
                    self.menu_key(d);
                } else {
                    let prompts = self.prompts(&m.prompt);
                    self.menu_prompt(prompts);
                }
                None
            }
            Step::Gather(g) => {
                self.wait = Wait::Gather {
                    attempt: 0,
                    phase: Phase::Listening,
                    digits: String::new(),
                    misses: Vec::new(),
                };
                if self.typeahead.is_empty() {
                    let prompts = self.prompts(&g.prompt);
                    self.gather_prompt(prompts);
                } else {
                    self.deadline = Some(self.now + ms(g.inter_digit_timeout_seconds));
                    while let Some(d) = self.typeahead.pop_front() {
                        self.gather_key(d);
                        if !matches!(self.wait, Wait::Gather { .. }) {
                            break;
                        }
                    }
                }
                None
            }
            Step::Set(s) => {
                let mut set = Vec::new();
                for (name, expr) in &s.vars {
                    match expr.eval(&self.vars) {
                        Ok(value) => {
                            set.push(format!("{name} = {value}"));
                            self.vars.insert(name.clone(), value);
                        }
                        Err(e) => {
                            set.push(format!("{name} unset ({e})"));
                        }
                    }
                }
                self.go(set.join(", "), &s.next)
            }
            Step::Branch(b) => {
                for (i, case) in b.cases.iter().enumerate() {
                    match case.when.eval_bool(&self.vars) {
                        Ok(true) => {
                            return self.go(format!("case {i}: {}", case.when.source()), &case.goto)
                        }
                        Ok(false) => {}
                        Err(e) => self.notes.push(format!("case {i} taken as false ({e})")),
                    }
                }
                self.go("else".into(), &b.otherwise)
            }
            Step::Hours(h) => {
                let at = self.wall_now();
                let Some(schedule) = self.flow().schedules.get(&h.schedule) else {
                    self.fail(format!("no schedule `{}`", h.schedule));
                    return None;
                };
                let state = schedule.state_at(at);
                let outcome = format!("{} at {}", state_name(state), at.to_rfc3339());
                let target = h.target(state).to_owned();
                self.go(outcome, &target)
            }
            Step::Lookup(l) => {
                let request = match l.source {
                    LookupSource::Customer => LookupRequest::Customer {
                        caller: self.text("caller").unwrap_or_default(),
                    },
                    LookupSource::Http => {
                        let method = l.method.unwrap_or(flow::HttpMethod::Get);
                        let url = self.fill_url(l.url.as_deref().unwrap_or_default());
                        let body = (method == flow::HttpMethod::Post).then(|| self.vars_json());
                        LookupRequest::Http {
                            method,
                            url,
                            headers: l
                                .headers
                                .iter()
                                .map(|(k, v)| (k.clone(), v.clone()))
                                .collect(),
                            body,
                            timeout_ms: u64::from(l.timeout_ms),
                        }
                    }
                };
                let op = self.op();
                self.wait = Wait::Lookup { op };
                self.deadline = Some(self.now + u64::from(l.timeout_ms));
                self.actions.push_back(Action::Lookup { op, request });
                None
            }
            Step::Queue(q) => {
                let op = self.op();
                self.wait = Wait::Queue { op };
                self.actions.push_back(Action::Queue {
                    op,
                    queue: q.queue.clone(),
                    priority: q.priority,
                    skills: q
                        .skills
                        .iter()
                        .map(|s| (s.name.clone(), s.min_level))
                        .collect(),
                });
                None
            }
            Step::Voicemail(v) => {
                // Keys typed ahead skip the greeting, as a key during it does.
                self.typeahead.clear();
                let mut prompts = self.prompts(&v.prompt);
                prompts.push(PromptRef {
                    language: self.flow().language.clone(),
                    name: "beep".into(),
                });
                let op = self.play(prompts);
                self.wait = Wait::VoicemailPrompt { op };
                None
            }
            Step::Transfer(t) => {
                let to = match &t.to {
                    Destination::Number(n) => Ok(n.clone()),
                    Destination::Expr(e) => match e.eval(&self.vars) {
                        Ok(Value::String(s)) if flow::is_number(&s) => Ok(s),
                        Ok(Value::Int(i)) if i >= 0 => Ok(i.to_string()),
                        Ok(other) => Err(format!("`{}` gave {other}, not a number", e.source())),
                        Err(e) => Err(e.to_string()),
                    },
                };
                let to = match to {
                    Ok(to) => to,
                    Err(reason) => return self.go(format!("failed: {reason}"), &t.next),
                };
                let caller_id = match &t.caller_id {
                    CallerIdRule::Keep => self.text("caller"),
                    CallerIdRule::Trunk => None,
                    CallerIdRule::Fixed(n) => Some(n.clone()),
                };
                let op = self.op();
                self.wait = Wait::Transfer { op, to: to.clone() };
                self.actions.push_back(Action::Transfer {
                    op,
                    trunk: t.trunk.clone(),
                    to,
                    caller_id,
                });
                None
            }
            Step::Goto(g) => {
                if let Some(step) = &g.step {
                    return self.go("goto".into(), step);
                }
                let Some(name) = g.flow.as_deref() else {
                    self.fail("goto with neither step nor flow".into());
                    return None;
                };
                let Some(flow) = self.flows.flow(name) else {
                    self.fail(format!("no flow `{name}`"));
                    return None;
                };
                let start = flow.start.clone();
                let frame = Frame {
                    flow,
                    return_to: g.next.clone(),
                };
                let outcome = match &g.next {
                    Some(_) => format!("sub-flow {name}"),
                    None => format!("flow {name}"),
                };
                self.close_entry(outcome, Some(format!("{name}:{start}")));
                if g.next.is_some() {
                    self.stack.push(frame);
                } else if let Some(top) = self.stack.last_mut() {
                    // Replaces the current flow; a `return` of the new
                    // flow goes back where this one would have.
                    top.flow = frame.flow;
                }
                Some(start)
            }
            Step::Return(_) => {
                if self.stack.len() > 1 {
                    let back = self.stack[self.stack.len() - 1]
                        .return_to
                        .clone()
                        .unwrap_or_default();
                    let caller_flow = self.stack[self.stack.len() - 2].flow.name.clone();
                    self.close_entry("return".into(), Some(format!("{caller_flow}:{back}")));
                    self.stack.pop();
                    Some(back)
                } else {
                    self.close_entry("return from the top flow: hang up".into(), None);
                    self.hang_up();
                    None
                }
            }
            Step::Hangup(_) => {
                self.close_entry("hang up".into(), None);
                self.hang_up();
                None
            }
        }
    }

    fn on_digit(&mut self, digit: char) {
        match self.wait.clone() {
            Wait::Menu { phase, .. } => {
                if let Phase::Prompt { .. } = phase {
                    self.actions.push_back(Action::StopPlay);
                }
                self.menu_key(digit);
            }
            Wait::Gather { phase, .. } => {
                if let Phase::Prompt { .. } = phase {
                    self.actions.push_back(Action::StopPlay);
                    self.set_phase(Phase::Listening);
                }
                self.gather_key(digit);
            }
            Wait::Play { next, .. } => {
                self.actions.push_back(Action::StopPlay);
                self.typeahead.push_back(digit);
                self.leave(format!("interrupted by key {digit}"), &next);
            }
            Wait::VoicemailPrompt { .. } => {
                self.actions.push_back(Action::StopPlay);
                self.notes.push(format!("greeting skipped by key {digit}"));
                self.record();
            }
            Wait::Recording {
                op,
                stopping: false,
            } if digit == '#' => {
                self.notes.push("ended by #".into());
                self.wait = Wait::Recording { op, stopping: true };
                self.actions.push_back(Action::StopRecord { op });
            }
            Wait::Recording { .. } => {}
            _ => self.typeahead.push_back(digit),
        }
    }

    fn on_play_done(&mut self, op: u64) {
        match self.wait.clone() {
            Wait::Play { op: o, next } if o == op => self.leave("played".into(), &next),
            Wait::Menu {
                phase: Phase::Prompt { op: o },
                ..
            } if o == op => {
                self.set_phase(Phase::Listening);
                if let Some(Step::Menu(m)) = self.current() {
                    self.deadline = Some(self.now + ms(m.timeout_seconds));
                }
            }
            Wait::Gather {
                phase: Phase::Prompt { op: o },
                ..
            } if o == op => {
                self.set_phase(Phase::Listening);
                if let Some(Step::Gather(g)) = self.current() {
                    self.deadline = Some(self.now + ms(g.first_digit_timeout_seconds));
                }
            }
            Wait::VoicemailPrompt { op: o } if o == op => self.record(),
            _ => {}
        }
    }

    fn set_phase(&mut self, new: Phase) {
        match &mut self.wait {
            Wait::Menu { phase, .. } | Wait::Gather { phase, .. } => *phase = new,
            _ => {}
        }
    }

    fn menu_prompt(&mut self, prompts: Vec<PromptRef>) {
        self.deadline = None;
        if prompts.is_empty() {
            // Nothing to say: start listening at once.
            self.set_phase(Phase::Listening);
            if let Some(Step::Menu(m)) = self.current() {
                self.deadline = Some(self.now + ms(m.timeout_seconds));
            }
            return;
        }
        let op = self.play(prompts);
        self.set_phase(Phase::Prompt { op });
    }

    fn menu_key(&mut self, digit: char) {
        let Some(Step::Menu(m)) = self.current() else {
            return;
        };
        match m.options.get(&digit.to_string()) {
            Some(target) => {
                let target = target.clone();
                let outcome = match &self.wait {
                    Wait::Menu { misses, .. } if !misses.is_empty() => {
                        format!("key {digit} (after {})", misses.join(", "))
                    }
                    _ => format!("key {digit}"),
                };
                self.leave(outcome, &target);
            }
            None => self.menu_miss(Miss::Invalid, format!("invalid key {digit}")),
        }
    }

    fn menu_miss(&mut self, miss: Miss, what: String) {
        let Some(Step::Menu(m)) = self.current().cloned() else {
            return;
        };
        let Wait::Menu {
            attempt, misses, ..
        } = &mut self.wait
        else {
            return;
        };
        *attempt += 1;
        misses.push(what);
        if *attempt > m.retries {
            let outcome = format!("fallback after {}", misses.join(", "));
            self.leave(outcome, &m.fallback);
            return;
        }
        // Keys typed after the miss answer the repeated menu.
        if let Some(d) = self.typeahead.pop_front() {
            self.menu_key(d);
            return;
        }
        let first = match miss {
            Miss::NoInput => &m.timeout_prompt,
            Miss::Invalid => &m.invalid_prompt,
        };
        let mut prompts = self.prompts(first);
        prompts.extend(self.prompts(&m.prompt));
        self.menu_prompt(prompts);
    }

    fn gather_prompt(&mut self, prompts: Vec<PromptRef>) {
        self.deadline = None;
        if prompts.is_empty() {
            self.set_phase(Phase::Listening);
            if let Some(Step::Gather(g)) = self.current() {
                self.deadline = Some(self.now + ms(g.first_digit_timeout_seconds));
            }
            return;
        }
        let op = self.play(prompts);
        self.set_phase(Phase::Prompt { op });
    }

    fn gather_key(&mut self, digit: char) {
        let Some(Step::Gather(g)) = self.current().cloned() else {
            return;
        };
        if g.terminator.starts_with(digit) {
            self.gather_finish();
            return;
        }
        let Wait::Gather { digits, .. } = &mut self.wait else {
            return;
        };
        digits.push(digit);
        if digits.len() >= g.max_digits as usize {
            self.gather_finish();
        } else {
            self.deadline = Some(self.now + ms(g.inter_digit_timeout_seconds));
        }
    }

    fn gather_finish(&mut self) {
        let Some(Step::Gather(g)) = self.current().cloned() else {
            return;
        };
        let Wait::Gather {
            attempt,
            digits,
            misses,
            ..
        } = &mut self.wait
        else {
            return;
        };
        let input = std::mem::take(digits);
        let problem = if input.is_empty() {
            Some("no input".to_owned())
        } else if input.len() < g.min_digits as usize {
            Some(format!("too short `{input}`"))
        } else if g.pattern.as_ref().is_some_and(|p| !p.matches(&input)) {
            Some(format!("no match `{input}`"))
        } else {
            None
        };
        let Some(problem) = problem else {
            let outcome = match misses.is_empty() {
                true => format!("{} = {input}", g.var),
                false => format!("{} = {input} (after {})", g.var, misses.join(", ")),
            };
            self.vars.insert(g.var.clone(), Value::String(input));
            self.leave(outcome, &g.next);
            return;
        };
        *attempt += 1;
        misses.push(problem);
        if *attempt > g.retries {
            let outcome = format!("fallback after {}", misses.join(", "));
            self.leave(outcome, &g.fallback);
            return;
        }
        if !self.typeahead.is_empty() {
            self.deadline = Some(self.now + ms(g.inter_digit_timeout_seconds));
            while let Some(d) = self.typeahead.pop_front() {
                self.gather_key(d);
                if !matches!(self.wait, Wait::Gather { .. }) {
                    break;
                }
            }
            return;
        }
        let mut prompts = self.prompts(&g.invalid_prompt);
        prompts.extend(self.prompts(&g.prompt));
        self.gather_prompt(prompts);
    }

    fn on_lookup(&mut self, result: LookupResult) {
        let Some(Step::Lookup(l)) = self.current().cloned() else {
            return;
        };
        match result {
            LookupResult::Found(doc) => {
                let mut set = Vec::new();
                for (from, var) in &l.map {
                    let pointer = match from.starts_with('/') {
                        true => from.clone(),
                        false => format!("/{from}"),
                    };
                    match doc.pointer(&pointer).and_then(json_value) {
                        Some(value) => {
                            set.push(format!("{var} = {value}"));
                            self.vars.insert(var.clone(), value);
                        }
                        None => set.push(format!("{var} unset (no {from})")),
                    }
                }
                let outcome = match set.is_empty() {
                    true => "found".to_owned(),
                    false => format!("found: {}", set.join(", ")),
                };
                self.leave(outcome, &l.next);
            }
            LookupResult::NotFound => {
                let target = l.not_found_step().to_owned();
                self.leave("not found".into(), &target);
            }
            LookupResult::Failed(reason) => self.leave(format!("error: {reason}"), &l.error),
        }
    }

    fn record(&mut self) {
        let Some(Step::Voicemail(v)) = self.current() else {
            return;
        };
        let max_ms = ms(v.max_seconds);
        let op = self.op();
        self.wait = Wait::Recording {
            op,
            stopping: false,
        };
        self.deadline = Some(self.now + max_ms);
        self.actions.push_back(Action::Record { op, max_ms });
    }

    fn caller_gone(&mut self) {
        if let Wait::Recording { op, stopping } = self.wait {
            // The message is saved all the same (the driver does it).
            if !stopping {
                self.actions.push_back(Action::StopRecord { op });
            }
        }
        self.close_entry("caller hung up".into(), None);
        self.finish(Ending::CallerHungUp);
    }

    // ---- helpers ----

    /// Closes the current step with `outcome` and goes to `next` now.
    fn leave(&mut self, outcome: String, next: &str) {
        self.close_entry(outcome, Some(next.to_owned()));
        self.enter(next.to_owned());
    }

    /// Closes the current step with `outcome`; returns `next` for
    /// [`Session::enter`]'s loop.
    fn go(&mut self, outcome: String, next: &str) -> Option<String> {
        self.close_entry(outcome, Some(next.to_owned()));
        Some(next.to_owned())
    }

    fn close_entry(&mut self, outcome: String, next: Option<String>) {
        let kind = self.current().map_or("unknown", Step::kind);
        let outcome = match self.notes.is_empty() {
            true => outcome,
            false => format!("{outcome} [{}]", self.notes.join("; ")),
        };
        self.notes.clear();
        self.path.push(PathEntry {
            flow: self.flow().name.clone(),
            step: self.step.clone(),
            kind,
            at_ms: self.step_start,
            duration_ms: self.now.saturating_sub(self.step_start),
            outcome,
            next,
        });
        self.wait = Wait::Nothing;
        self.deadline = None;
    }

    fn hang_up(&mut self) {
        self.actions.push_back(Action::Hangup);
        self.finish(Ending::HungUp);
    }

    fn fail(&mut self, reason: String) {
        self.close_entry(format!("failed: {reason}"), None);
        self.actions.push_back(Action::Hangup);
        self.finish(Ending::Failed { reason });
    }

    fn end(&mut self, ending: Ending) {
        self.finish(ending);
    }

    fn finish(&mut self, ending: Ending) {
        self.wait = Wait::Done;
        self.deadline = None;
        self.ending = Some(ending);
    }

    fn play(&mut self, prompts: Vec<PromptRef>) -> u64 {
        let op = self.op();
        self.actions.push_back(Action::Play { op, prompts });
        op
    }

    fn wall_now(&self) -> DateTime<Utc> {
        self.wall_start + chrono::Duration::milliseconds(i64::try_from(self.now).unwrap_or(0))
    }

    /// A variable as text, if set.
    fn text(&self, name: &str) -> Option<String> {
        self.vars.get(name).map(value_text)
    }

    /// The prompts a list of items resolves to now. Items that cannot be
    /// said (a variable unset, a value the language cannot read) are left
    /// out, with a note in the path.
    fn prompts(&mut self, items: &[PromptItem]) -> Vec<PromptRef> {
        let language = self.flow().language.clone();
        let mut out = Vec::new();
        for item in items {
            match item {
                PromptItem::Name(name) => out.push(PromptRef {
                    language: language.clone(),
                    name: name.clone(),
                }),
                PromptItem::Say(say) => {
                    let Some(value) = self.text(&say.var) else {
                        self.notes.push(format!("{} unset: not said", say.var));
                        continue;
                    };
                    match say_item(say.say, &value, &language) {
                        Ok(names) => out.extend(names.into_iter().map(|name| PromptRef {
                            language: language.clone(),
                            name,
                        })),
                        Err(e) => self.notes.push(format!("{} not said: {e}", say.var)),
                    }
                }
            }
        }
        out
    }

    /// `url` with each `{var}` replaced by the variable's value,
    /// percent-encoded (an unset variable gives an empty string).
    fn fill_url(&self, url: &str) -> String {
        let mut out = String::with_capacity(url.len());
        let mut rest = url;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            match after.find('}') {
                Some(close) => {
                    let name = &after[..close];
                    out.push_str(&percent_encode(&self.text(name).unwrap_or_default()));
                    rest = &after[close + 1..];
                }
                None => {
                    out.push_str(&rest[open..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// The flow's variables as a JSON object (the screen pop shows them).
    pub fn vars_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.vars
                .iter()
                .map(|(k, v)| (k.clone(), value_json(v)))
                .collect(),
        )
    }
}

/// The names to say `value` as `kind` in `language`.
fn say_item(kind: SayKind, value: &str, language: &str) -> Result<Vec<String>, String> {
    super::say::say(kind, value, language).map_err(|e| e.to_string())
}

fn ms(seconds: u32) -> Millis {
    u64::from(seconds) * 1000
}

fn state_name(state: super::HoursState) -> &'static str {
    match state {
        super::HoursState::Open => "open",
        super::HoursState::Closed => "closed",
        super::HoursState::Holiday => "holiday",
    }
}

/// A value as text: strings as they are, numbers and booleans printed.
pub fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn value_json(value: &Value) -> serde_json::Value {
    match value {
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::Float(f) => serde_json::Value::from(*f),
        Value::Boolean(b) => serde_json::Value::Bool(*b),
        other => serde_json::Value::String(other.to_string()),
    }
}

/// A JSON value as a variable: strings, numbers and booleans as such;
/// arrays and objects as their JSON text; null as unset.
fn json_value(json: &serde_json::Value) -> Option<Value> {
    Some(match json {
        serde_json::Value::Null => return None,
        serde_json::Value::Bool(b) => Value::Boolean(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64()?),
        },
        serde_json::Value::String(s) => Value::String(s.clone()),
        other => Value::String(other.to_string()),
    })
}

/// RFC 3986 unreserved characters stay; every other byte is `%XX`.
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
