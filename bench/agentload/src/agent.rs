//! One simulated agent on the agent websocket (`docs/agent-protocol.md`).
//!
//! [`Script`] is what the agent does, without IO: after `welcome` it
//! becomes available; a `call.offered` is a latency sample; a
//! `call.connected` starts the hold time, after which it sends
//! `call.hangup`; a `call.ended` is wrapped up (`call.wrapup`, disposition
//! `resolved`, which also makes it available again). An offer lost to
//! ring-no-answer or an unreachable phone leaves the agent `not_ready`:
//! it is counted and the agent becomes available again. When the run
//! winds down the agent finishes its call, goes `not_ready` and is done.
//!
//! [`run`] drives a script over a real socket; the frame's arrival time
//! is taken as soon as the frame is read, before any parsing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::cancel::Cancel;
use crate::stats::Offer;

/// What one agent counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub offered: u64,
    pub connected: u64,
    pub ended: u64,
    pub hangups: u64,
    pub wrapups_ok: u64,
    /// `call.withdrawn` (ring-no-answer, unreachable phone, caller left).
    pub withdrawn: u64,
    /// `not_ready` forced by the server (`ring_no_answer`,
    /// `device_unreachable`, `rejected`).
    pub forced_not_ready: u64,
    /// `error` replies to our requests.
    pub error_replies: u64,
    /// Frames that are not JSON or have no known `type`.
    pub unknown_frames: u64,
    /// The socket failed or closed before the agent was done.
    pub socket_errors: u64,
    /// The first error messages, for the report.
    pub first_errors: Vec<String>,
}

/// How many error texts each agent keeps.
const KEPT_ERRORS: usize = 3;

/// The agent's behaviour, IO-free. Times are µs on any monotonic clock.
#[derive(Debug)]
pub struct Script {
    hold_us: u64,
    next_id: u64,
    /// The call offered or in progress.
    call: Option<String>,
    hangup_at: Option<u64>,
    /// The `id` of our `state.available` request, while unanswered.
    available_id: Option<String>,
    ready: bool,
    winding_down: bool,
    /// The `id` of our final `state.not_ready`, while unanswered.
    leaving_id: Option<String>,
    done: bool,
    pub counters: Counters,
}

/// What a frame from the server made the agent do.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reaction {
    /// Text frames to send, in order.
    pub send: Vec<String>,
    /// A screen pop's timing.
    pub offer: Option<Offer>,
}

impl Script {
    pub fn new(hold: Duration) -> Script {
        Script {
            hold_us: hold.as_micros() as u64,
            next_id: 1,
            call: None,
            hangup_at: None,
            available_id: None,
            ready: false,
            winding_down: false,
            leaving_id: None,
            done: false,
            counters: Counters::default(),
        }
    }

    /// Available at least once since the session began.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// Offered or on a call.
    pub fn is_busy(&self) -> bool {
        self.call.is_some()
    }

    /// Wound down: not ready and idle; the socket may close.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// When [`Script::on_time`] hangs up.
    pub fn hangup_at(&self) -> Option<u64> {
        self.hangup_at
    }

    /// A text frame from the server, read at `now_us` (monotonic) and
    /// `arrived_at_us` (µs since the epoch).
    pub fn on_text(&mut self, text: &str, now_us: u64, arrived_at_us: u64) -> Reaction {
        let mut r = Reaction::default();
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            self.counters.unknown_frames += 1;
            return r;
        };
        let call_id = v.get("call_id").and_then(Value::as_str).map(str::to_owned);
        match v.get("type").and_then(Value::as_str) {
            Some("welcome") => {
                let status = v.get("status").and_then(Value::as_str);
                if status == Some("available") {
                    self.ready = true;
                } else if status == Some("not_ready") {
                    self.ask_available(&mut r);
                }
            }
            Some("agent.state") => self.on_state(&v, &mut r),
            Some("call.offered") => {
                self.counters.offered += 1;
                self.call = call_id;
                r.offer = Some(Offer {
                    offered_at_us: v.get("offered_at_us").and_then(Value::as_u64).unwrap_or(0),
                    arrived_at_us,
                    waited_seconds: v.get("waited_seconds").and_then(Value::as_u64).unwrap_or(0),
                });
            }
            Some("call.connected") => {
                self.counters.connected += 1;
                if self.call.is_none() {
                    self.call = call_id;
                }
                self.hangup_at = Some(now_us.saturating_add(self.hold_us));
            }
            Some("call.withdrawn") => {
                self.counters.withdrawn += 1;
                let reason = v.get("reason").and_then(Value::as_str).unwrap_or("?");
                self.keep_error(format!("call.withdrawn: {reason}"));
                self.call = None;
                self.hangup_at = None;
            }
            Some("call.ended") => {
                self.counters.ended += 1;
                self.call = None;
                self.hangup_at = None;
                if let Some(call_id) = call_id {
                    let id = self.id("w");
                    r.send.push(
                        json!({"type": "call.wrapup", "id": id, "call_id": call_id,
                               "disposition": "resolved"})
                        .to_string(),
                    );
                }
            }
            Some("ok") => {
                let id = v.get("id").and_then(Value::as_str);
                if id.is_some_and(|i| i.starts_with('w')) {
                    self.counters.wrapups_ok += 1;
                }
                if id.is_some() && id == self.available_id.as_deref() {
                    self.available_id = None;
                    self.ready = true;
                }
                if id.is_some() && id == self.leaving_id.as_deref() {
                    self.done = true;
                }
            }
            Some("error") => {
                self.counters.error_replies += 1;
                let id = v.get("id").and_then(Value::as_str);
                let code = v.get("code").and_then(Value::as_str).unwrap_or("?");
                let message = v.get("message").and_then(Value::as_str).unwrap_or("");
                self.keep_error(format!("error {code}: {message}"));
                if id.is_some() && id == self.available_id.as_deref() {
                    self.available_id = None;
                }
                if id.is_some() && id == self.leaving_id.as_deref() {
                    // An offer raced our leaving: handle it, leave after.
                    self.leaving_id = None;
                }
            }
            Some("pong") => {}
            Some("session.replaced") => {
                self.counters.socket_errors += 1;
                self.keep_error("session.replaced".into());
            }
            _ => self.counters.unknown_frames += 1,
        }
        self.maybe_leave(&mut r);
        r
    }

    fn on_state(&mut self, v: &Value, r: &mut Reaction) {
        let status = v.get("status").and_then(Value::as_str);
        let reason = v.get("reason").and_then(Value::as_str);
        match status {
            Some("available") => self.ready = true,
            Some("not_ready") if self.leaving_id.is_none() && !self.done => {
                if matches!(
                    reason,
                    Some("ring_no_answer" | "device_unreachable" | "rejected")
                ) {
                    self.counters.forced_not_ready += 1;
                    self.keep_error(format!("not_ready: {}", reason.unwrap_or("?")));
                }
                self.call = None;
                self.hangup_at = None;
                if !self.winding_down {
                    self.ask_available(r);
                }
            }
            _ => {}
        }
    }

    /// The hold time is over: hang up.
    pub fn on_time(&mut self, now_us: u64) -> Vec<String> {
        if !matches!(self.hangup_at, Some(t) if now_us >= t) {
            return Vec::new();
        }
        self.hangup_at = None;
        let Some(call_id) = self.call.clone() else {
            return Vec::new();
        };
        self.counters.hangups += 1;
        let id = self.id("h");
        vec![json!({"type": "call.hangup", "id": id, "call_id": call_id}).to_string()]
    }

    /// The run is ending: finish the call in progress, then go not ready.
    pub fn wind_down(&mut self) -> Vec<String> {
        self.winding_down = true;
        let mut r = Reaction::default();
        self.maybe_leave(&mut r);
        r.send
    }

    fn maybe_leave(&mut self, r: &mut Reaction) {
        if self.winding_down && !self.done && self.leaving_id.is_none() && self.call.is_none() {
            let id = self.id("n");
            r.send.push(
                json!({"type": "state.not_ready", "id": id, "reason": "end_of_run"}).to_string(),
            );
            self.leaving_id = Some(id);
        }
    }

    fn ask_available(&mut self, r: &mut Reaction) {
        if self.available_id.is_some() {
            return;
        }
        let id = self.id("a");
        r.send
            .push(json!({"type": "state.available", "id": id}).to_string());
        self.available_id = Some(id);
    }

    fn id(&mut self, prefix: &str) -> String {
        let id = format!("{prefix}{}", self.next_id);
        self.next_id += 1;
        id
    }

    fn keep_error(&mut self, e: String) {
        if self.counters.first_errors.len() < KEPT_ERRORS {
            self.counters.first_errors.push(e);
        }
    }
}

/// What every agent task shares with the run.
#[derive(Debug, Default)]
pub struct Shared {
    pub offers: Mutex<Vec<Offer>>,
    pub ready: AtomicUsize,
    pub busy: AtomicUsize,
    pub busy_peak: AtomicUsize,
    /// Sessions that have ended.
    pub exited: AtomicUsize,
}

/// µs since the Unix epoch, now.
pub fn epoch_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// One agent's session: connects with `token`, runs the script until it
/// is done after `wind_down` fires, or until `abort`.
pub async fn run(
    url: String,
    hold: Duration,
    shared: Arc<Shared>,
    wind_down: Cancel,
    abort: Cancel,
) -> Counters {
    let mut script = Script::new(hold);
    let mut ws = match tokio_tungstenite::connect_async(url.as_str()).await {
        Ok((ws, _)) => ws,
        Err(e) => {
            script.counters.socket_errors += 1;
            script.keep_error(format!("connect: {e}"));
            shared.exited.fetch_add(1, Ordering::SeqCst);
            return script.counters;
        }
    };
    let t0 = Instant::now();
    let now_us = || t0.elapsed().as_micros() as u64;
    let mut was_ready = false;
    let mut winding = false;
    loop {
        let hangup_in = script
            .hangup_at()
            .map(|t| Duration::from_micros(t.saturating_sub(now_us())));
        let send = tokio::select! {
            frame = ws.next() => {
                let arrived = epoch_us();
                match frame {
                    Some(Ok(Message::Text(text))) => {
                        let busy_before = script.is_busy();
                        let r = script.on_text(text.as_str(), now_us(), arrived);
                        if let Some(offer) = r.offer {
                            if let Ok(mut offers) = shared.offers.lock() {
                                offers.push(offer);
                            }
                        }
                        track_busy(&shared, busy_before, script.is_busy());
                        r.send
                    }
                    Some(Ok(Message::Close(_))) | None => {
                        if !script.is_done() {
                            script.counters.socket_errors += 1;
                            script.keep_error("the server closed the socket".into());
                        }
                        break;
                    }
                    Some(Ok(_)) => Vec::new(), // ping/pong frames: tungstenite answers
                    Some(Err(e)) => {
                        script.counters.socket_errors += 1;
                        script.keep_error(format!("socket: {e}"));
                        break;
                    }
                }
            }
            _ = tokio::time::sleep(hangup_in.unwrap_or(Duration::ZERO)), if hangup_in.is_some() => {
                script.on_time(now_us())
            }
            _ = wind_down.cancelled(), if !winding => {
                winding = true;
                script.wind_down()
            }
            _ = abort.cancelled() => break,
        };
        if script.is_ready() && !was_ready {
            was_ready = true;
            shared.ready.fetch_add(1, Ordering::SeqCst);
        }
        for text in send {
            if let Err(e) = ws.send(Message::Text(text.into())).await {
                script.counters.socket_errors += 1;
                script.keep_error(format!("send: {e}"));
                break;
            }
        }
        if script.is_done() {
            let _ = ws.close(None).await;
            break;
        }
    }
    if script.is_busy() {
        shared.busy.fetch_sub(1, Ordering::SeqCst);
    }
    shared.exited.fetch_add(1, Ordering::SeqCst);
    script.counters
}

fn track_busy(shared: &Shared, before: bool, after: bool) {
    match (before, after) {
        (false, true) => {
            let now = shared.busy.fetch_add(1, Ordering::SeqCst) + 1;
            shared.busy_peak.fetch_max(now, Ordering::SeqCst);
        }
        (true, false) => {
            shared.busy.fetch_sub(1, Ordering::SeqCst);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(texts: &[String]) -> Vec<Value> {
        texts
            .iter()
            .map(|t| serde_json::from_str(t).expect("JSON"))
            .collect()
    }

    fn welcome(status: &str) -> String {
        json!({"type": "welcome", "version": 1, "agent": "agent1", "status": status,
               "reason": "login", "call_id": null, "device": "sip"})
        .to_string()
    }

    #[test]
    fn a_call_from_offer_to_wrap_up() {
        let mut s = Script::new(Duration::from_secs(3));
        let r = s.on_text(&welcome("not_ready"), 0, 0);
        let sent = parsed(&r.send);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0]["type"], "state.available");
        assert!(!s.is_ready());
        let id = sent[0]["id"].as_str().expect("an id").to_owned();
        s.on_text(&json!({"type": "ok", "id": id}).to_string(), 10, 10);
        assert!(s.is_ready());

        let offered = json!({"type": "call.offered", "call_id": "c9", "queue": "bench",
            "waited_seconds": 2, "kind": "call", "ring_seconds": 10,
            "offered_at_us": 1_795_000_000_000_000u64, "pop": {}})
        .to_string();
        let r = s.on_text(&offered, 100, 1_795_000_000_001_500);
        let offer = r.offer.expect("a sample");
        assert_eq!(offer.latency_us(), 1_500);
        assert_eq!(offer.waited_seconds, 2);
        assert!(r.send.is_empty());
        assert!(s.is_busy());

        s.on_text(
            &json!({"type": "call.connected", "call_id": "c9"}).to_string(),
            1_000,
            0,
        );
        assert_eq!(s.hangup_at(), Some(3_001_000));
        assert!(s.on_time(3_000_999).is_empty());
        let sent = parsed(&s.on_time(3_001_000));
        assert_eq!(sent[0]["type"], "call.hangup");
        assert_eq!(sent[0]["call_id"], "c9");
        assert!(s.on_time(9_000_000).is_empty(), "one hangup only");

        let r = s.on_text(
            &json!({"type": "call.ended", "call_id": "c9"}).to_string(),
            3_100_000,
            0,
        );
        let sent = parsed(&r.send);
        assert_eq!(sent[0]["type"], "call.wrapup");
        assert_eq!(sent[0]["call_id"], "c9");
        assert_eq!(sent[0]["disposition"], "resolved");
        assert!(!s.is_busy());
        let id = sent[0]["id"].as_str().expect("an id").to_owned();
        s.on_text(&json!({"type": "ok", "id": id}).to_string(), 3_200_000, 0);
        let c = &s.counters;
        assert_eq!(
            (c.offered, c.connected, c.hangups, c.ended, c.wrapups_ok),
            (1, 1, 1, 1, 1)
        );
        assert_eq!(c.error_replies + c.withdrawn + c.forced_not_ready, 0);
    }

    #[test]
    fn ring_no_answer_is_counted_and_the_agent_comes_back() {
        let mut s = Script::new(Duration::from_secs(1));
        s.on_text(&welcome("available"), 0, 0);
        assert!(s.is_ready());
        s.on_text(
            &json!({"type": "call.offered", "call_id": "c1", "offered_at_us": 5u64}).to_string(),
            0,
            9,
        );
        let r = s.on_text(
            &json!({"type": "call.withdrawn", "call_id": "c1", "reason": "ring_no_answer"})
                .to_string(),
            0,
            0,
        );
        assert!(r.send.is_empty());
        let r = s.on_text(
            &json!({"type": "agent.state", "status": "not_ready", "reason": "ring_no_answer",
                    "call_id": null})
            .to_string(),
            0,
            0,
        );
        let sent = parsed(&r.send);
        assert_eq!(sent[0]["type"], "state.available");
        assert_eq!((s.counters.withdrawn, s.counters.forced_not_ready), (1, 1));
        assert!(!s.is_busy());
        assert_eq!(s.counters.first_errors.len(), 2);
    }

    #[test]
    fn winding_down_waits_for_the_call_then_leaves() {
        let mut s = Script::new(Duration::from_secs(1));
        s.on_text(&welcome("available"), 0, 0);
        s.on_text(
            &json!({"type": "call.offered", "call_id": "c1", "offered_at_us": 5u64}).to_string(),
            0,
            9,
        );
        assert!(s.wind_down().is_empty(), "not while on a call");
        s.on_text(
            &json!({"type": "call.connected", "call_id": "c1"}).to_string(),
            0,
            0,
        );
        s.on_time(1_000_000);
        let r = s.on_text(
            &json!({"type": "call.ended", "call_id": "c1"}).to_string(),
            0,
            0,
        );
        let sent = parsed(&r.send);
        assert_eq!(sent[0]["type"], "call.wrapup");
        assert_eq!(sent[1]["type"], "state.not_ready");
        let leave_id = sent[1]["id"].as_str().expect("id").to_owned();
        // A not_ready we asked for is no reason to come back.
        let r = s.on_text(
            &json!({"type": "agent.state", "status": "not_ready", "reason": "end_of_run"})
                .to_string(),
            0,
            0,
        );
        assert!(r.send.is_empty());
        assert!(!s.is_done());
        s.on_text(&json!({"type": "ok", "id": leave_id}).to_string(), 0, 0);
        assert!(s.is_done());
        assert_eq!(s.counters.forced_not_ready, 0);
    }

    #[test]
    fn a_due_hangup_is_cleared_even_without_a_call() {
        let mut s = Script::new(Duration::from_secs(1));
        s.on_text(&welcome("available"), 0, 0);
        s.on_text(
            &json!({"type": "call.connected", "call_id": "c4"}).to_string(),
            0,
            0,
        );
        let sent = parsed(&s.on_time(1_000_000));
        assert_eq!(sent[0]["call_id"], "c4", "connected names the call");
        s.on_text(
            &json!({"type": "call.ended", "call_id": "c4"}).to_string(),
            0,
            0,
        );
        s.on_text(&json!({"type": "call.connected"}).to_string(), 2_000_000, 0);
        assert!(s.on_time(3_000_000).is_empty());
        assert_eq!(s.hangup_at(), None, "no timer left to spin on");
    }

    #[test]
    fn errors_and_junk_are_counted() {
        let mut s = Script::new(Duration::from_secs(1));
        s.on_text("not json", 0, 0);
        s.on_text(&json!({"type": "mystery"}).to_string(), 0, 0);
        s.on_text(
            &json!({"type": "error", "id": "x", "code": "wrong_state", "message": "no"})
                .to_string(),
            0,
            0,
        );
        assert_eq!(s.counters.unknown_frames, 2);
        assert_eq!(s.counters.error_replies, 1);
        assert_eq!(
            s.counters.first_errors,
            vec!["error wrong_state: no".to_owned()]
        );
    }
}
