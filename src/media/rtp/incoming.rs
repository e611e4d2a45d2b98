//! Receive-side bookkeeping for one leg: which SSRC is talking, the
//! extended sequence number, loss, duplicates, reordering, and the
//! interarrival jitter of RFC 3550 A.8. Pure: packets and media time in,
//! a verdict per packet and counters out.
//!
//! A new SSRC on the leg is noted and accepted (a phone restarting its
//! stream, or SIPp, whose calls share one media port and differ only by
//! SSRC: this state lives per leg, so each leg follows its own stream);
//! the counters of the previous source are folded into the totals.
//!
//! Sequence validation follows RFC 3550 A.1 without the probation period:
//! a jump of more than `MAX_DROPOUT` ahead or `MAX_MISORDER` behind is
//! taken as a restart only when the next packet confirms it (seq + 1);
//! the lone packet is reported as [`Reception::Jump`].

use super::RtpPacket;

const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;
/// How far back duplicates are told from late packets.
const WINDOW: u16 = 128;

/// What one received packet was, for the caller's play-out and recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reception {
    /// The next packet, or ahead of it with `missing` packets skipped.
    InOrder {
        /// Extended (wrap-counting) sequence number.
        extended_seq: u64,
        /// Packets skipped since the previous highest (0 when in order).
        missing: u16,
    },
    /// Older than the highest seen and not seen before.
    Late {
        /// Extended sequence number.
        extended_seq: u64,
    },
    /// Seen already: drop it.
    Duplicate,
    /// A big sequence jump not yet confirmed by a following packet.
    Jump,
    /// The first packet of a new SSRC (or of the first one), or a confirmed
    /// sequence restart.
    NewSource {
        /// The source's SSRC.
        ssrc: u32,
    },
}

/// Counters of one leg's reception, over all its sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IncomingStats {
    /// Packets accepted (not duplicates, not unconfirmed jumps).
    pub received: u64,
    /// Packets expected by sequence but never received (RFC 3550 A.3,
    /// late arrivals subtracted).
    pub lost: u64,
    /// Duplicate packets.
    pub duplicates: u64,
    /// Packets that arrived after a later one.
    pub reordered: u64,
    /// Packets of unconfirmed sequence jumps.
    pub jumps: u64,
    /// Times the SSRC changed after the first one.
    pub ssrc_changes: u64,
    /// Interarrival jitter of the current source, in timestamp units.
    pub jitter: u32,
}

/// The sequence state of the current source.
#[derive(Debug, Clone, Copy)]
struct SeqState {
    ssrc: u32,
    /// Extended sequence number of the first packet.
    base: u64,
    /// Highest extended sequence number seen.
    max: u64,
    /// Bit i set: sequence `max - i` was received.
    seen: u128,
    received: u64,
    /// Sequence number a jump must be followed by to be confirmed.
    bad_seq: Option<u16>,
    /// Previous transit time (A.8), `None` before the first packet.
    transit: Option<u32>,
    /// Jitter scaled by 16 (A.8's integer form).
    jitter16: u32,
}

impl SeqState {
    fn new(ssrc: u32, seq: u16) -> SeqState {
        // Start a cycle up so late packets of the first cycle stay positive.
        let ext = (1u64 << 16) + u64::from(seq);
        SeqState {
            ssrc,
            base: ext,
            max: ext,
            seen: 1,
            received: 1,
            bad_seq: None,
            transit: None,
            jitter16: 0,
        }
    }

    fn expected(&self) -> u64 {
        self.max - self.base + 1
    }

    fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.received)
    }
}

/// The receive state of one leg.
#[derive(Debug, Clone)]
pub struct IncomingStream {
    clock_rate: u32,
    event_payload_type: Option<u8>,
    current: Option<SeqState>,
    /// Counters of earlier sources, folded in at each SSRC change.
    past: IncomingStats,
    duplicates: u64,
    reordered: u64,
    jumps: u64,
}

impl IncomingStream {
    /// A stream at `clock_rate` Hz. Packets of `event_payload_type`
    /// (telephone-event) are counted but kept out of the jitter figure,
    /// since all packets of an event share one timestamp.
    pub fn new(clock_rate: u32, event_payload_type: Option<u8>) -> IncomingStream {
        IncomingStream {
            clock_rate,
            event_payload_type,
            current: None,
            past: IncomingStats::default(),
            duplicates: 0,
            reordered: 0,
            jumps: 0,
        }
    }

    /// The SSRC being followed.
    pub fn ssrc(&self) -> Option<u32> {
        self.current.map(|s| s.ssrc)
    }

    /// Accounts for `packet`, received at media time `now_us`.
    pub fn receive(&mut self, packet: &RtpPacket<'_>, now_us: u64) -> Reception {
        let ssrc = packet.ssrc();
        let seq = packet.sequence();
        let state = match &mut self.current {
            Some(state) if state.ssrc == ssrc => state,
            _ => return self.restart(packet, now_us, true),
        };
        let max16 = state.max as u16;
        let ahead = seq.wrapping_sub(max16);
        let behind = max16.wrapping_sub(seq);
        let verdict = if ahead == 0 {
            self.duplicates += 1;
            return Reception::Duplicate;
        } else if ahead < MAX_DROPOUT {
            state.max += u64::from(ahead);
            state.seen = if ahead >= WINDOW {
                1
            } else {
                (state.seen << ahead) | 1
            };
            state.received += 1;
            state.bad_seq = None;
            Reception::InOrder {
                extended_seq: state.max,
                missing: ahead - 1,
            }
        } else if behind <= MAX_MISORDER {
            let bit = 1u128 << behind;
            if state.seen & bit != 0 {
                self.duplicates += 1;
                return Reception::Duplicate;
            }
            let ext = state.max - u64::from(behind);
            state.seen |= bit;
            state.received += 1;
            // Earlier than the first packet: the stream began there.
            state.base = state.base.min(ext);
            self.reordered += 1;
            Reception::Late { extended_seq: ext }
        } else if state.bad_seq == Some(seq) {
            // Two packets agree on the new numbering: a restart.
            return self.restart(packet, now_us, false);
        } else {
            state.bad_seq = Some(seq.wrapping_add(1));
            self.jumps += 1;
            return Reception::Jump;
        };
        self.update_jitter(packet, now_us);
        verdict
    }

    /// Counters so far, over all sources of this leg.
    pub fn stats(&self) -> IncomingStats {
        let (received, lost, jitter) = self
            .current
            .map(|s| (s.received, s.lost(), s.jitter16 >> 4))
            .unwrap_or((0, 0, 0));
        IncomingStats {
            received: self.past.received + received,
            lost: self.past.lost + lost,
            duplicates: self.duplicates,
            reordered: self.reordered,
            jumps: self.jumps,
            ssrc_changes: self.past.ssrc_changes,
            jitter,
        }
    }

    /// Jitter of the current source in microseconds.
    pub fn jitter_us(&self) -> u64 {
        let jitter = self.current.map(|s| s.jitter16 >> 4).unwrap_or(0);
        u64::from(jitter) * 1_000_000 / u64::from(self.clock_rate.max(1))
    }

    fn restart(&mut self, packet: &RtpPacket<'_>, now_us: u64, new_ssrc: bool) -> Reception {
        if let Some(old) = self.current.take() {
            self.past.received += old.received;
            self.past.lost += old.lost();
            if new_ssrc {
                self.past.ssrc_changes += 1;
            }
        }
        let ssrc = packet.ssrc();
        self.current = Some(SeqState::new(ssrc, packet.sequence()));
        self.update_jitter(packet, now_us);
        Reception::NewSource { ssrc }
    }

    /// RFC 3550 A.8: J += (|D| - J) / 16, in timestamp units.
    fn update_jitter(&mut self, packet: &RtpPacket<'_>, now_us: u64) {
        if Some(packet.payload_type()) == self.event_payload_type {
            return;
        }
        let Some(state) = &mut self.current else {
            return;
        };
        let arrival = (u128::from(now_us) * u128::from(self.clock_rate) / 1_000_000) as u32;
        let transit = arrival.wrapping_sub(packet.timestamp());
        if let Some(previous) = state.transit {
            let d = (transit.wrapping_sub(previous) as i32).unsigned_abs();
            state.jitter16 = state
                .jitter16
                .saturating_add(d)
                .saturating_sub(state.jitter16.saturating_add(8) >> 4);
        }
        state.transit = Some(transit);
    }
}
