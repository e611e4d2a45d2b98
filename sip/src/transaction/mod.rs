//! RFC 3261 §17 transactions: the four state machines (INVITE and
//! non-INVITE, client and server) with timers A–M, plus the matching keys
//! and the message builders they need.
//!
//! Each machine is plain data driven by three kinds of input, every one
//! carrying `now`: a message from the network, a message from the TU, and
//! [`on_timeout`](ClientInvite::on_timeout) once its
//! [`next_deadline`](ClientInvite::next_deadline) has passed. Every input
//! appends [`Action`]s to a caller-owned `Vec` (no allocation per step
//! once it has grown); the [`crate::endpoint`] turns those into transmits
//! and events, keeps the timers in one ordered map and removes a machine
//! as soon as it reports [`is_terminated`](ClientInvite::is_terminated).
//!
//! Choices, per RFC 6026: a 2xx moves the INVITE client to *Accepted*
//! (Timer M = 64·T1, later 2xx passed up so the TU can re-ACK them), and
//! the INVITE server to *Accepted* (it retransmits the 2xx itself at T1
//! doubling to T2 over unreliable transports until the ACK is matched, and
//! reports [`Action::AckTimeout`] if Timer L = 64·T1 fires first). A
//! client timeout (B, F, or 64·T1 after a CANCEL with no final answer) is
//! reported as [`Action::Timeout`]; the endpoint turns it into a
//! synthesized 408.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod build;
mod client;
pub mod key;
mod server;

pub use server::AckOutcome;

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::message::Response;

pub use client::{ClientInvite, ClientInviteState, ClientNonInvite, ClientNonInviteState};
pub use server::{ServerInvite, ServerInviteState, ServerNonInvite, ServerNonInviteState};

/// The protocol timers (RFC 3261 §17.1.1.1 and Table 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// RTT estimate, 500 ms by default.
    pub t1: Duration,
    /// Cap on non-INVITE and response retransmission intervals, 4 s.
    pub t2: Duration,
    /// Maximum time a message stays in the network, 5 s.
    pub t4: Duration,
    /// How long an INVITE server transaction waits for the TU's first
    /// provisional before sending `100 Trying` itself (§17.2.1: 200 ms).
    /// `Duration::ZERO` sends it at once.
    pub trying_delay: Duration,
    /// Timer D over unreliable transports (at least 32 s).
    pub timer_d: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            trying_delay: Duration::from_millis(200),
            timer_d: Duration::from_secs(32),
        }
    }
}

impl Timers {
    /// 64·T1: Timers B, F, H, J (unreliable), L and M.
    pub fn t1x64(&self) -> Duration {
        self.t1.saturating_mul(64)
    }
}

/// What a state machine asks of its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send these bytes to the transaction's peer (a first send or a
    /// retransmission; see [`Action::Retransmit`]).
    Send(Bytes),
    /// The same, counted as a retransmission.
    Retransmit(Bytes),
    /// Client: pass this response to the TU.
    Deliver(Box<Response>),
    /// Client: Timer B/F (or the CANCEL guard) fired with no final
    /// response. Server INVITE: Timer H fired with no ACK for our non-2xx.
    Timeout,
    /// Server INVITE: Timer L fired and the 2xx was never ACKed.
    AckTimeout,
}

/// A retransmission timer: fires at `at`, then again after an interval
/// that doubles each time up to `cap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Retransmit {
    at: Instant,
    interval: Duration,
    cap: Option<Duration>,
}

impl Retransmit {
    fn start(now: Instant, first: Duration, cap: Option<Duration>) -> Self {
        Retransmit {
            at: now + first,
            interval: first,
            cap,
        }
    }

    /// Called when it fires at `now`: schedules the next firing.
    fn fired(&mut self, now: Instant) {
        let doubled = self.interval.saturating_mul(2);
        self.interval = match self.cap {
            Some(cap) => doubled.min(cap),
            None => doubled,
        };
        self.at = now + self.interval;
    }
}

/// Whether an optional deadline has passed.
fn due(deadline: Option<Instant>, now: Instant) -> bool {
    deadline.is_some_and(|d| d <= now)
}

/// The earliest of some optional deadlines.
fn earliest<const N: usize>(deadlines: [Option<Instant>; N]) -> Option<Instant> {
    deadlines.into_iter().flatten().min()
}

/// Why the TU's response was refused by a server transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// The transaction already sent its final response (or is gone).
    #[error("the transaction has already sent a final response")]
    AlreadyFinal,
    /// A status outside 100–699.
    #[error("status {0} is not a valid SIP status")]
    BadStatus(u16),
}

#[cfg(test)]
pub(crate) mod tests;
