//! Client transactions: INVITE (§17.1.1, with RFC 6026's Accepted state)
//! and non-INVITE (§17.1.2).

use std::time::Instant;

use bytes::Bytes;

use crate::message::{Request, Response};
use crate::write::write_request;

use super::build::ack_for_non_2xx;
use super::{due, earliest, Action, Retransmit, Timers};

/// States of an INVITE client transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientInviteState {
    Calling,
    Proceeding,
    /// RFC 6026: a 2xx arrived; later 2xx are passed up until Timer M.
    Accepted,
    Completed,
    Terminated,
}

/// An INVITE client transaction.
#[derive(Debug)]
pub struct ClientInvite {
    state: ClientInviteState,
    reliable: bool,
    timers: Timers,
    request: Request,
    /// The INVITE on the wire, kept while it may be retransmitted.
    bytes: Option<Bytes>,
    /// Our ACK for the non-2xx final response, resent on its retransmissions.
    ack: Option<Bytes>,
    timer_a: Option<Retransmit>,
    timer_b: Option<Instant>,
    timer_d: Option<Instant>,
    timer_m: Option<Instant>,
    /// 64·T1 after a CANCEL: give up on a final response (§9.1).
    cancel_guard: Option<Instant>,
}

impl ClientInvite {
    /// Starts the transaction: sends the INVITE (already written as
    /// `bytes`) and arms Timer A (unreliable only) and Timer B.
    pub fn new(
        now: Instant,
        request: Request,
        bytes: Bytes,
        reliable: bool,
        timers: Timers,
        out: &mut Vec<Action>,
    ) -> Self {
        out.push(Action::Send(bytes.clone()));
        ClientInvite {
            state: ClientInviteState::Calling,
            reliable,
            timers,
            request,
            bytes: (!reliable).then_some(bytes),
            ack: None,
            timer_a: (!reliable).then(|| Retransmit::start(now, timers.t1, None)),
            timer_b: Some(now + timers.t1x64()),
            timer_d: None,
            timer_m: None,
            cancel_guard: None,
        }
    }

    /// The current state.
    pub fn state(&self) -> ClientInviteState {
        self.state
    }

    /// The INVITE this transaction sent.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// Whether the machine is done and may be dropped.
    pub fn is_terminated(&self) -> bool {
        self.state == ClientInviteState::Terminated
    }

    /// Whether no final response has arrived yet (a CANCEL still makes sense).
    pub fn is_pending(&self) -> bool {
        matches!(
            self.state,
            ClientInviteState::Calling | ClientInviteState::Proceeding
        )
    }

    /// Records that a CANCEL was sent for this INVITE: if no final response
    /// arrives within 64·T1, the transaction times out (§9.1).
    pub fn cancel_sent(&mut self, now: Instant) {
        if self.is_pending() {
            self.cancel_guard = Some(now + self.timers.t1x64());
        }
    }

    /// A response matched this transaction.
    pub fn on_response(&mut self, now: Instant, resp: Response, out: &mut Vec<Action>) {
        use ClientInviteState::*;
        match (self.state, resp.status) {
            (Calling | Proceeding, 100..=199) => {
                self.state = Proceeding;
                self.timer_a = None;
                self.timer_b = None;
                self.bytes = None;
                out.push(Action::Deliver(Box::new(resp)));
            }
            (Calling | Proceeding, 200..=299) => {
                self.stop_calling();
                self.state = Accepted;
                self.timer_m = Some(now + self.timers.t1x64());
                out.push(Action::Deliver(Box::new(resp)));
            }
            (Calling | Proceeding, 300..=699) => {
                self.stop_calling();
                let ack = write_request(&ack_for_non_2xx(&self.request, &resp));
                out.push(Action::Send(ack.clone()));
                out.push(Action::Deliver(Box::new(resp)));
                if self.reliable {
                    self.state = Terminated;
                } else {
                    self.state = Completed;
                    self.ack = Some(ack);
                    self.timer_d = Some(now + self.timers.timer_d);
                }
            }
            (Accepted, 200..=299) => out.push(Action::Deliver(Box::new(resp))),
            (Completed, 300..=699) => {
                if let Some(ack) = &self.ack {
                    out.push(Action::Retransmit(ack.clone()));
                }
            }
            _ => {}
        }
    }

    fn stop_calling(&mut self) {
        self.timer_a = None;
        self.timer_b = None;
        self.cancel_guard = None;
        self.bytes = None;
    }

    /// The next instant [`on_timeout`](Self::on_timeout) must be called.
    pub fn next_deadline(&self) -> Option<Instant> {
        earliest([
            self.timer_a.map(|t| t.at),
            self.timer_b,
            self.timer_d,
            self.timer_m,
            self.cancel_guard,
        ])
    }

    /// Fires every timer due at `now`.
    pub fn on_timeout(&mut self, now: Instant, out: &mut Vec<Action>) {
        use ClientInviteState::*;
        if due(self.timer_b, now) || due(self.cancel_guard, now) {
            self.stop_calling();
            self.state = Terminated;
            out.push(Action::Timeout);
            return;
        }
        if let Some(a) = self.timer_a.as_mut().filter(|a| a.at <= now) {
            a.fired(now);
            if let Some(bytes) = &self.bytes {
                out.push(Action::Retransmit(bytes.clone()));
            }
        }
        if due(self.timer_d, now) || due(self.timer_m, now) {
            self.timer_d = None;
            self.timer_m = None;
            self.ack = None;
            self.state = Terminated;
        }
    }
}

/// States of a non-INVITE client transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientNonInviteState {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

/// A non-INVITE client transaction.
#[derive(Debug)]
pub struct ClientNonInvite {
    state: ClientNonInviteState,
    reliable: bool,
    timers: Timers,
    request: Request,
    bytes: Option<Bytes>,
    timer_e: Option<Retransmit>,
    timer_f: Option<Instant>,
    timer_k: Option<Instant>,
}

impl ClientNonInvite {
    /// Starts the transaction: sends the request and arms Timer E
    /// (unreliable only) and Timer F.
    pub fn new(
        now: Instant,
        request: Request,
        bytes: Bytes,
        reliable: bool,
        timers: Timers,
        out: &mut Vec<Action>,
    ) -> Self {
        out.push(Action::Send(bytes.clone()));
        ClientNonInvite {
            state: ClientNonInviteState::Trying,
            reliable,
            timers,
            request,
            bytes: (!reliable).then_some(bytes),
            timer_e: (!reliable).then(|| Retransmit::start(now, timers.t1, Some(timers.t2))),
            timer_f: Some(now + timers.t1x64()),
            timer_k: None,
        }
    }

    /// The current state.
    pub fn state(&self) -> ClientNonInviteState {
        self.state
    }

    /// The request this transaction sent.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// Whether the machine is done and may be dropped.
    pub fn is_terminated(&self) -> bool {
        self.state == ClientNonInviteState::Terminated
    }

    /// A response matched this transaction.
    pub fn on_response(&mut self, now: Instant, resp: Response, out: &mut Vec<Action>) {
        use ClientNonInviteState::*;
        match (self.state, resp.status) {
            (Trying | Proceeding, 100..=199) => {
                self.state = Proceeding;
                out.push(Action::Deliver(Box::new(resp)));
            }
            (Trying | Proceeding, 200..=699) => {
                self.timer_e = None;
                self.timer_f = None;
                self.bytes = None;
                out.push(Action::Deliver(Box::new(resp)));
                if self.reliable {
                    self.state = Terminated;
                } else {
                    self.state = Completed;
                    self.timer_k = Some(now + self.timers.t4);
                }
            }
            _ => {}
        }
    }

    /// The next instant [`on_timeout`](Self::on_timeout) must be called.
    pub fn next_deadline(&self) -> Option<Instant> {
        earliest([self.timer_e.map(|t| t.at), self.timer_f, self.timer_k])
    }

    /// Fires every timer due at `now`.
    pub fn on_timeout(&mut self, now: Instant, out: &mut Vec<Action>) {
        use ClientNonInviteState::*;
        if due(self.timer_f, now) {
            self.timer_e = None;
            self.timer_f = None;
            self.bytes = None;
            self.state = Terminated;
            out.push(Action::Timeout);
            return;
        }
        if let Some(e) = self.timer_e.as_mut().filter(|e| e.at <= now) {
            e.fired(now);
            if self.state == Proceeding {
                // §17.1.2.2: in Proceeding, Timer E is reset to T2.
                e.interval = self.timers.t2;
                e.at = now + self.timers.t2;
            }
            if let Some(bytes) = &self.bytes {
                out.push(Action::Retransmit(bytes.clone()));
            }
        }
        if due(self.timer_k, now) {
            self.timer_k = None;
            self.state = Terminated;
        }
    }
}
