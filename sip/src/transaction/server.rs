//! Server transactions: INVITE (§17.2.1, with RFC 6026's Accepted state)
//! and non-INVITE (§17.2.2).

use std::time::Instant;

use bytes::Bytes;

use crate::message::Response;
use crate::write::write_response;

use super::{due, earliest, Action, Retransmit, Timers, TxError};

/// States of an INVITE server transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerInviteState {
    Proceeding,
    /// A 3xx–6xx was sent; waiting for the ACK (Timers G and H).
    Completed,
    /// The ACK arrived; absorbing its retransmissions (Timer I).
    Confirmed,
    /// RFC 6026: a 2xx was sent; retransmitting it until the ACK, absorbing
    /// INVITE retransmissions until Timer L.
    Accepted,
    Terminated,
}

/// What an ACK matched by branch meant to an INVITE server transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckOutcome {
    /// ACK for our non-2xx (or a duplicate): absorbed.
    Absorbed,
    /// The first ACK for our 2xx: the TU must hear of it.
    AckFor2xx,
}

/// An INVITE server transaction.
#[derive(Debug)]
pub struct ServerInvite {
    state: ServerInviteState,
    reliable: bool,
    timers: Timers,
    /// The `100 Trying` to send if the TU is slow; dropped once any
    /// provisional went out.
    trying: Option<Box<Response>>,
    trying_at: Option<Instant>,
    /// The last response sent: resent on retransmitted INVITEs.
    last: Option<Bytes>,
    /// Timer G, and in Accepted the 2xx retransmission timer.
    timer_g: Option<Retransmit>,
    timer_h: Option<Instant>,
    timer_i: Option<Instant>,
    timer_l: Option<Instant>,
    acked: bool,
}

impl ServerInvite {
    /// Starts the transaction for a new INVITE. `trying` is the
    /// `100 Trying` to send after [`Timers::trying_delay`] (at once when
    /// that is zero) unless the TU answers first.
    pub fn new(
        now: Instant,
        trying: Response,
        reliable: bool,
        timers: Timers,
        out: &mut Vec<Action>,
    ) -> Self {
        let mut tx = ServerInvite {
            state: ServerInviteState::Proceeding,
            reliable,
            timers,
            trying: Some(Box::new(trying)),
            trying_at: Some(now + timers.trying_delay),
            last: None,
            timer_g: None,
            timer_h: None,
            timer_i: None,
            timer_l: None,
            acked: false,
        };
        if timers.trying_delay.is_zero() {
            tx.send_trying(out);
        }
        tx
    }

    /// The current state.
    pub fn state(&self) -> ServerInviteState {
        self.state
    }

    /// Whether the machine is done and may be dropped.
    pub fn is_terminated(&self) -> bool {
        self.state == ServerInviteState::Terminated
    }

    /// Whether the TU may still send a final response.
    pub fn is_proceeding(&self) -> bool {
        self.state == ServerInviteState::Proceeding
    }

    fn send_trying(&mut self, out: &mut Vec<Action>) {
        self.trying_at = None;
        if let Some(trying) = self.trying.take() {
            let bytes = write_response(&trying);
            out.push(Action::Send(bytes.clone()));
            self.last = Some(bytes);
        }
    }

    /// A retransmission of the INVITE arrived.
    pub fn on_retransmission(&mut self, out: &mut Vec<Action>) {
        match self.state {
            ServerInviteState::Proceeding => match &self.last {
                Some(last) => out.push(Action::Retransmit(last.clone())),
                // The peer is retransmitting and has heard nothing: answer now.
                None => self.send_trying(out),
            },
            ServerInviteState::Completed => {
                if let Some(last) = &self.last {
                    out.push(Action::Retransmit(last.clone()));
                }
            }
            _ => {}
        }
    }

    /// An ACK matched this transaction by branch.
    pub fn on_ack(&mut self, now: Instant) -> AckOutcome {
        match self.state {
            ServerInviteState::Completed => {
                self.timer_g = None;
                self.timer_h = None;
                self.last = None;
                if self.reliable {
                    self.state = ServerInviteState::Terminated;
                } else {
                    self.state = ServerInviteState::Confirmed;
                    self.timer_i = Some(now + self.timers.t4);
                }
                AckOutcome::Absorbed
            }
            ServerInviteState::Accepted => self.on_ack_for_2xx(),
            _ => AckOutcome::Absorbed,
        }
    }

    /// An ACK for our 2xx was matched by dialog (its branch is new).
    pub fn on_ack_for_2xx(&mut self) -> AckOutcome {
        if self.state != ServerInviteState::Accepted || self.acked {
            return AckOutcome::Absorbed;
        }
        self.acked = true;
        self.timer_g = None;
        self.last = None;
        AckOutcome::AckFor2xx
    }

    /// The TU sends a response with `status`, written as `bytes`.
    pub fn send_response(
        &mut self,
        now: Instant,
        status: u16,
        bytes: Bytes,
        out: &mut Vec<Action>,
    ) -> Result<(), TxError> {
        use ServerInviteState::*;
        match (self.state, status) {
            (_, s) if !(100..=699).contains(&s) => return Err(TxError::BadStatus(s)),
            (Proceeding, 100..=199) => {
                self.trying = None;
                self.trying_at = None;
                self.last = Some(bytes.clone());
            }
            (Proceeding, 200..=299) => {
                self.stop_trying();
                self.state = Accepted;
                if !self.reliable {
                    self.timer_g =
                        Some(Retransmit::start(now, self.timers.t1, Some(self.timers.t2)));
                    self.last = Some(bytes.clone());
                }
                self.timer_l = Some(now + self.timers.t1x64());
            }
            (Proceeding, _) => {
                self.stop_trying();
                self.state = Completed;
                self.last = Some(bytes.clone());
                if !self.reliable {
                    self.timer_g =
                        Some(Retransmit::start(now, self.timers.t1, Some(self.timers.t2)));
                }
                self.timer_h = Some(now + self.timers.t1x64());
            }
            // RFC 6026 §7.1: the TU may pass 2xx retransmissions down.
            (Accepted, 200..=299) => {}
            _ => return Err(TxError::AlreadyFinal),
        }
        out.push(Action::Send(bytes));
        Ok(())
    }

    fn stop_trying(&mut self) {
        self.trying = None;
        self.trying_at = None;
    }

    /// The next instant [`on_timeout`](Self::on_timeout) must be called.
    pub fn next_deadline(&self) -> Option<Instant> {
        earliest([
            self.trying_at,
            self.timer_g.map(|t| t.at),
            self.timer_h,
            self.timer_i,
            self.timer_l,
        ])
    }

    /// Fires every timer due at `now`.
    pub fn on_timeout(&mut self, now: Instant, out: &mut Vec<Action>) {
        use ServerInviteState::*;
        if due(self.trying_at, now) {
            self.send_trying(out);
        }
        if due(self.timer_h, now) {
            self.timer_g = None;
            self.timer_h = None;
            self.last = None;
            self.state = Terminated;
            out.push(Action::Timeout);
            return;
        }
        if due(self.timer_l, now) {
            self.timer_g = None;
            self.timer_l = None;
            self.last = None;
            self.state = Terminated;
            if !self.acked {
                out.push(Action::AckTimeout);
            }
            return;
        }
        if let Some(g) = self.timer_g.as_mut().filter(|g| g.at <= now) {
            g.fired(now);
            if let Some(last) = &self.last {
                out.push(Action::Retransmit(last.clone()));
            }
        }
        if due(self.timer_i, now) {
            self.timer_i = None;
            self.state = Terminated;
        }
    }
}

/// States of a non-INVITE server transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerNonInviteState {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

/// A non-INVITE server transaction.
#[derive(Debug)]
pub struct ServerNonInvite {
    state: ServerNonInviteState,
    reliable: bool,
    timers: Timers,
    last: Option<Bytes>,
    timer_j: Option<Instant>,
}

impl ServerNonInvite {
    /// Starts the transaction for a new request.
    pub fn new(reliable: bool, timers: Timers) -> Self {
        ServerNonInvite {
            state: ServerNonInviteState::Trying,
            reliable,
            timers,
            last: None,
            timer_j: None,
        }
    }

    /// The current state.
    pub fn state(&self) -> ServerNonInviteState {
        self.state
    }

    /// Whether the machine is done and may be dropped.
    pub fn is_terminated(&self) -> bool {
        self.state == ServerNonInviteState::Terminated
    }

    /// Whether the TU may still send a final response.
    pub fn is_pending(&self) -> bool {
        matches!(
            self.state,
            ServerNonInviteState::Trying | ServerNonInviteState::Proceeding
        )
    }

    /// A retransmission of the request arrived: absorbed in Trying,
    /// answered with the last response afterwards.
    pub fn on_retransmission(&mut self, out: &mut Vec<Action>) {
        if let Some(last) = &self.last {
            out.push(Action::Retransmit(last.clone()));
        }
    }

    /// The TU sends a response with `status`, written as `bytes`.
    pub fn send_response(
        &mut self,
        now: Instant,
        status: u16,
        bytes: Bytes,
        out: &mut Vec<Action>,
    ) -> Result<(), TxError> {
        use ServerNonInviteState::*;
        if !(100..=699).contains(&status) {
            return Err(TxError::BadStatus(status));
        }
        match (self.state, status) {
            (Trying | Proceeding, 100..=199) => {
                self.state = Proceeding;
                self.last = Some(bytes.clone());
            }
            (Trying | Proceeding, _) => {
                if self.reliable {
                    self.state = Terminated;
                } else {
                    self.state = Completed;
                    self.last = Some(bytes.clone());
                    self.timer_j = Some(now + self.timers.t1x64());
                }
            }
            _ => return Err(TxError::AlreadyFinal),
        }
        out.push(Action::Send(bytes));
        Ok(())
    }

    /// The next instant [`on_timeout`](Self::on_timeout) must be called.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timer_j
    }

    /// Fires Timer J if due.
    pub fn on_timeout(&mut self, now: Instant) {
        if due(self.timer_j, now) {
            self.timer_j = None;
            self.last = None;
            self.state = ServerNonInviteState::Terminated;
        }
    }
}
