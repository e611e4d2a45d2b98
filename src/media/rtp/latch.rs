//! Symmetric RTP and latching for NAT (RFC 4961; "comedia" in practice):
//! answer to where a leg's packets really come from, not to the address
//! its SDP claims, and once that address is known, accept nothing else.
//!
//! A phone behind NAT puts its private address in SDP; its packets arrive
//! from the NAT's public one. [`LatchMode::Learn`] latches on the first
//! packet from anywhere; [`LatchMode::SignalledHost`] only on one from the
//! SDP's IP (any port, for port-translating NAT); [`LatchMode::Signalled`]
//! only on the exact SDP address. After latching, packets from any other
//! address are rejected and counted ("strict source"): they are neither
//! bridged nor recorded. A re-INVITE with a new address calls
//! [`Latch::relatch`], which unlatches so the next packet latches again.
//!
//! Latch on RTP only: RTCP may come from the next port (RFC 3550 §11).
//! In `Learn` mode the first packet wins, whoever sent it; the modes that
//! check the SDP address trade NAT traversal for that protection.

use std::net::SocketAddr;

/// Which first packet may latch the remote address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatchMode {
    /// Any source (NAT: the SDP address is likely private).
    Learn,
    /// A source with the SDP's IP address, any port.
    SignalledHost,
    /// Exactly the SDP address.
    Signalled,
}

/// What to do with one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatchVerdict {
    /// This packet latched its address: accept it, send there from now.
    Latched(SocketAddr),
    /// From the latched address: accept.
    Accepted,
    /// From elsewhere: drop (counted).
    Rejected,
}

/// Counters of one latch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LatchStats {
    /// Packets accepted (including the latching ones).
    pub accepted: u64,
    /// Packets rejected.
    pub rejected: u64,
    /// Times an address was latched.
    pub latches: u64,
}

/// The remote address of one leg.
#[derive(Debug, Clone)]
pub struct Latch {
    mode: LatchMode,
    signalled: Option<SocketAddr>,
    latched: Option<SocketAddr>,
    stats: LatchStats,
}

impl Latch {
    /// A latch for a leg whose SDP gave `signalled` (none yet for an
    /// offer Hibiki sent and that is still unanswered).
    pub fn new(signalled: Option<SocketAddr>, mode: LatchMode) -> Latch {
        Latch {
            mode,
            signalled,
            latched: None,
            stats: LatchStats::default(),
        }
    }

    /// Judges a packet from `from`.
    pub fn check(&mut self, from: SocketAddr) -> LatchVerdict {
        let verdict = match self.latched {
            Some(latched) if latched == from => LatchVerdict::Accepted,
            Some(_) => LatchVerdict::Rejected,
            None if self.may_latch(from) => {
                self.latched = Some(from);
                self.stats.latches += 1;
                LatchVerdict::Latched(from)
            }
            None => LatchVerdict::Rejected,
        };
        match verdict {
            LatchVerdict::Rejected => self.stats.rejected += 1,
            _ => self.stats.accepted += 1,
        }
        verdict
    }

    /// Where to send: the latched address, else the signalled one.
    pub fn send_to(&self) -> Option<SocketAddr> {
        self.latched.or(self.signalled)
    }

    /// The latched address, if any.
    pub fn latched(&self) -> Option<SocketAddr> {
        self.latched
    }

    /// The address the SDP gave.
    pub fn signalled(&self) -> Option<SocketAddr> {
        self.signalled
    }

    /// The SIP side gave an address (re-INVITE or answer). A new address
    /// unlatches, so the next acceptable packet latches again; the same
    /// address (hold, resume, session refresh) keeps the latch.
    pub fn relatch(&mut self, signalled: Option<SocketAddr>) {
        if signalled != self.signalled {
            self.signalled = signalled;
            self.latched = None;
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> LatchStats {
        self.stats
    }

    fn may_latch(&self, from: SocketAddr) -> bool {
        match (self.mode, self.signalled) {
            (LatchMode::Learn, _) => true,
            (LatchMode::SignalledHost, Some(s)) => s.ip() == from.ip(),
            (LatchMode::Signalled, Some(s)) => s == from,
            (_, None) => false,
        }
    }
}
