//! `hibiki ivr simulate`: runs a flow without a phone, on a virtual clock,
//! and tells what a caller would hear and which path the call would take.
//!
//! The script: the caller's number, the dialled number, the instant the
//! call starts, and the keys the caller presses, as groups delivered one
//! group each time the flow listens (a menu or gather whose prompt has
//! ended, or a voicemail recording): `1` answers a menu, `1234#` fills a
//! gather, `_` lets the step time out. With the groups used up, the caller
//! stays silent. Prompts take their real length (read from the WAV
//! header; one second when a file is missing), keys come 300 ms apart.
//!
//! Lookups, transfers and queues are answered from `results`, by step
//! name (`lookup_caller=not_found`, `lookup_caller={"name":"Hanako"}`,
//! `dip=timeout`, `to_sales=failed`); a lookup with no scripted result is
//! asked of the `lookup` callback (the real database or HTTP service in
//! `hibiki ivr simulate`), a transfer without one is answered, and a
//! queue always leaves without an agent until the ACD exists.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::run::{
    value_text, Action, Ending, Flows, Input, LookupRequest, LookupResult, Millis, PathEntry,
    PromptRef, Session,
};
use super::Flow;

/// Gap between the keys of one group.
const KEY_GAP_MS: Millis = 300;
/// A simulation stops after this much virtual time.
const MAX_MS: Millis = 4 * 3600 * 1000;

/// What the caller does, and what the outside world answers.
#[derive(Clone, Debug, Default)]
pub struct Script {
    pub caller: String,
    pub dialled: String,
    pub at: DateTime<Utc>,
    /// Key groups, one per time the flow listens; `_` or empty: silence.
    pub keys: Vec<String>,
    /// Scripted outcomes by step name.
    pub results: BTreeMap<String, Scripted>,
}

/// A scripted outcome of a lookup, transfer or queue step.
#[derive(Clone, Debug, PartialEq)]
pub enum Scripted {
    /// A lookup finds this document.
    Found(serde_json::Value),
    /// A lookup finds nothing.
    NotFound,
    /// A lookup fails, or a transfer is not answered.
    Failed(String),
    /// A lookup never answers (its timeout runs out).
    Timeout,
    /// A transfer is answered.
    Answered,
}

impl std::str::FromStr for Scripted {
    type Err = String;
    /// `not_found`, `error`, `timeout`, `failed`, `answered`, or a JSON
    /// document (a lookup's result).
    fn from_str(text: &str) -> Result<Scripted, String> {
        Ok(match text {
            "not_found" => Scripted::NotFound,
            "error" => Scripted::Failed("scripted error".into()),
            "failed" => Scripted::Failed("scripted failure".into()),
            "timeout" => Scripted::Timeout,
            "answered" => Scripted::Answered,
            json => Scripted::Found(serde_json::from_str(json).map_err(|e| {
                format!("`{json}` is not not_found, error, timeout, failed, answered or JSON: {e}")
            })?),
        })
    }
}

/// One thing that happened, in order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    pub at_ms: Millis,
    /// The step it happened in (`flow:step`).
    pub step: String,
    /// `play en/main-menu, en/digit-1`, `key 1`, `lookup customer …`.
    pub what: String,
}

/// What a simulation found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub flow: String,
    pub caller: String,
    pub dialled: String,
    pub at: String,
    pub path: Vec<PathEntry>,
    pub events: Vec<Event>,
    /// Every prompt played, in order (also in `events`).
    pub played: Vec<String>,
    pub ending: Ending,
    pub vars: BTreeMap<String, String>,
    pub duration_ms: Millis,
}

/// Runs `flow` with `script`. `prompt_ms` gives a prompt's length;
/// `lookup` answers lookups the script does not.
pub fn simulate(
    flows: Arc<dyn Flows>,
    flow: Arc<Flow>,
    script: &Script,
    prompt_ms: &mut dyn FnMut(&PromptRef) -> Millis,
    lookup: &mut dyn FnMut(&LookupRequest) -> LookupResult,
) -> Report {
    let name = flow.name.clone();
    let mut s = Session::new(flows, flow, &script.caller, &script.dialled, script.at);
    let mut now: Millis = 0;
    let mut events: Vec<Event> = Vec::new();
    let mut played: Vec<String> = Vec::new();
    // The prompt list playing: its op and when it ends.
    let mut playing: Option<(u64, Millis)> = None;
    let mut recording: Option<(u64, Millis)> = None;
    let mut keys = script.keys.iter();
    let note = |s: &Session, at: Millis, what: String, events: &mut Vec<Event>| {
        let (flow, step) = s.position();
        events.push(Event {
            at_ms: at,
            step: format!("{flow}:{step}"),
            what,
        });
    };
    s.start(0);
    loop {
        while let Some(action) = s.poll_action() {
            match action {
                Action::Play { op, prompts } => {
                    let length: Millis = prompts.iter().map(&mut *prompt_ms).sum();
                    let names: Vec<String> = prompts.iter().map(ToString::to_string).collect();
                    note(&s, now, format!("play {}", names.join(", ")), &mut events);
                    played.extend(names);
                    playing = Some((op, now + length));
                }
                Action::StopPlay => {
                    if playing.take().is_some() {
                        note(&s, now, "prompt stopped by a key".into(), &mut events);
                    }
                }
                Action::Lookup { op, request } => {
                    let (_, step) = s.position();
                    let scripted = script.results.get(step).cloned();
                    note(&s, now, describe(&request), &mut events);
                    let result = match scripted {
                        Some(Scripted::Found(doc)) => Some(LookupResult::Found(doc)),
                        Some(Scripted::NotFound) => Some(LookupResult::NotFound),
                        Some(Scripted::Failed(reason)) => Some(LookupResult::Failed(reason)),
                        Some(Scripted::Timeout) => None,
                        Some(Scripted::Answered) | None => Some(lookup(&request)),
                    };
                    if let Some(result) = result {
                        s.handle(Input::LookupDone { op, result }, now);
                    }
                }
                Action::Queue {
                    op,
                    queue,
                    priority,
                    skills,
                } => {
                    let skills: Vec<String> =
                        skills.iter().map(|(n, l)| format!("{n}≥{l}")).collect();
                    note(
                        &s,
                        now,
                        format!(
                            "queue {queue} (priority {priority}{}{})",
                            if skills.is_empty() { "" } else { ", skills " },
                            skills.join(" ")
                        ),
                        &mut events,
                    );
                    let reason = "no agents in a simulation".to_owned();
                    s.handle(Input::QueueLeft { op, reason }, now);
                }
                Action::Record { op, max_ms } => {
                    note(
                        &s,
                        now,
                        format!("record a message (at most {} s)", max_ms / 1000),
                        &mut events,
                    );
                    recording = Some((op, now));
                }
                Action::StopRecord { op } => {
                    if let Some((rec, since)) = recording.take() {
                        debug_assert_eq!(rec, op);
                        note(&s, now, "message saved".into(), &mut events);
                        let duration_ms = now - since;
                        s.handle(Input::RecordDone { op, duration_ms }, now);
                    }
                }
                Action::Transfer {
                    op,
                    trunk,
                    to,
                    caller_id,
                } => {
                    let (_, step) = s.position();
                    let result = match script.results.get(step) {
                        Some(Scripted::Failed(reason)) => Err(reason.clone()),
                        _ => Ok(()),
                    };
                    note(
                        &s,
                        now,
                        format!(
                            "transfer to {to} through {trunk}, showing {}",
                            caller_id.as_deref().unwrap_or("the trunk's number")
                        ),
                        &mut events,
                    );
                    s.handle(Input::TransferDone { op, result }, now);
                }
                Action::Hangup => note(&s, now, "hang up".into(), &mut events),
            }
        }
        if s.ending().is_some() || now > MAX_MS {
            break;
        }
        if let Some((op, end)) = playing {
            // Let the prompt finish, unless a deadline comes first (it
            // cannot: input steps start their timers after the prompt).
            now = now.max(end);
            playing = None;
            s.handle(Input::PlayDone { op }, now);
            continue;
        }
        if s.wants_input() {
            if let Some(group) = keys.next() {
                let group = group.trim();
                if group.is_empty() || group == "_" {
                    note(&s, now, "silence".into(), &mut events);
                } else {
                    for (i, key) in group.chars().enumerate() {
                        now += if i == 0 { 500 } else { KEY_GAP_MS };
                        note(&s, now, format!("key {key}"), &mut events);
                        s.handle(Input::Digit(key), now);
                        if !s.wants_input() {
                            // Handled before the rest of the group: keep
                            // the rest as keys typed ahead.
                            for later in group.chars().skip(i + 1) {
                                now += KEY_GAP_MS;
                                note(&s, now, format!("key {later}"), &mut events);
                                s.handle(Input::Digit(later), now);
                            }
                            break;
                        }
                    }
                    continue;
                }
            }
        }
        match s.poll_timeout() {
            Some(at) => {
                now = now.max(at);
                s.handle_timeout(now);
            }
            None => {
                // Nothing scripted and nothing to wait for (cannot happen
                // with a validated flow).
                break;
            }
        }
    }
    let ending = s.ending().cloned().unwrap_or(Ending::Failed {
        reason: "the simulation stopped with the flow still waiting".into(),
    });
    Report {
        flow: name,
        caller: script.caller.clone(),
        dialled: script.dialled.clone(),
        at: script.at.to_rfc3339(),
        path: s.path().to_vec(),
        events,
        played,
        ending,
        vars: s
            .vars()
            .iter()
            .map(|(k, v)| (k.clone(), value_text(v)))
            .collect(),
        duration_ms: now,
    }
}

fn describe(request: &LookupRequest) -> String {
    match request {
        LookupRequest::Customer { caller } => format!("lookup customer by {caller}"),
        LookupRequest::Http { method, url, .. } => format!("lookup {method:?} {url}"),
    }
}

impl Report {
    /// The report as a person reads it.
    pub fn text(&self) -> String {
        let mut out = format!(
            "flow {}: call from {} to {} at {}\n",
            self.flow, self.caller, self.dialled, self.at
        );
        let secs = |ms: Millis| format!("{:>7.1}s", ms as f64 / 1000.0);
        out.push_str("\nwhat happened:\n");
        for e in &self.events {
            out.push_str(&format!("  {}  {:<28} {}\n", secs(e.at_ms), e.step, e.what));
        }
        out.push_str("\npath:\n");
        for p in &self.path {
            let next = p
                .next
                .as_deref()
                .map(|n| format!(" → {n}"))
                .unwrap_or_default();
            out.push_str(&format!(
                "  {}  {}:{} ({}) {}{}\n",
                secs(p.at_ms),
                p.flow,
                p.step,
                p.kind,
                p.outcome,
                next
            ));
        }
        let ending = match &self.ending {
            Ending::HungUp => "the flow hung up".to_owned(),
            Ending::CallerHungUp => "the caller hung up".to_owned(),
            Ending::Transferred { to } => format!("transferred to {to}"),
            Ending::Connected { queue, agent } => {
                format!("answered by agent {agent} of queue {queue}")
            }
            Ending::Callback { queue, callback } => {
                format!("a callback from queue {queue} (call {callback})")
            }
            Ending::Failed { reason } => format!("failed: {reason}"),
        };
        out.push_str(&format!(
            "\nended: {ending} after {:.1} s\n",
            self.duration_ms as f64 / 1000.0
        ));
        out
    }
}

/// A prompt's length from its WAV header under `prompts_dir`; one second
/// when it cannot be read.
pub fn wav_length_ms(prompts_dir: &std::path::Path, prompt: &PromptRef) -> Millis {
    let path = prompts_dir
        .join(&prompt.language)
        .join(format!("{}.wav", prompt.name));
    match hound::WavReader::open(&path) {
        Ok(r) => {
            let spec = r.spec();
            let frames = u64::from(r.duration());
            frames * 1000 / u64::from(spec.sample_rate.max(1))
        }
        Err(_) => 1000,
    }
}
