//! What Hibiki sends on one leg: one SSRC for the leg's life, and sequence
//! numbers and timestamps that stay continuous whatever feeds the leg.
//!
//! A leg hears a prompt, then the bridged agent, then another prompt. To
//! the far end's jitter buffer this must look like one stream (RFC 3550
//! §5.1, RFC 3551 §4.1): sequence +1 per packet, timestamps that advance
//! with media time, and the marker bit on the first packet of each new
//! talkspurt. Rules:
//!
//! - **Within a source**, a locally generated packet's timestamp is the
//!   previous one plus the previous packet's sample count, and a relayed
//!   packet's timestamp and sequence are the source's own plus fixed
//!   offsets (so the source's gaps, reordering and DTMF timestamps pass
//!   through unchanged).
//! - **At a switch** (another [`Source`], a relayed SSRC change, a relayed
//!   sequence jump, or [`OutgoingStream::new_talkspurt`]), the timestamp
//!   continues from the last one sent plus the media time elapsed since,
//!   but never less than the last packet's duration (packets must not
//!   overlap); the sequence continues at +1; the marker is set.
//! - **DTMF** (RFC 4733): every packet of one event carries the event's
//!   start timestamp ([`OutgoingStream::send_event`]); relayed events keep
//!   their shared timestamp through the offset. Audio after a local event
//!   continues from the event's start plus the elapsed time.
//!
//! Nothing here allocates; [`OutgoingStream::relay`] rewrites the packet
//! in the caller's buffer.

use super::{rewrite_in_place, RtpError, RtpHeader, RtpPacket};

/// Relayed sequence jumps beyond these (RFC 3550 A.1's MAX_DROPOUT and
/// MAX_MISORDER) are a restart of the source, handled as a switch.
const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;

/// Where the packets of a leg come from, as far as continuity goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Audio Hibiki generates (a prompt, silence, a tone), named by the
    /// caller: a different number is a switch.
    Local(u32),
    /// Packets relayed from another leg, by their SSRC.
    Relay(u32),
}

/// The rewriting of a relayed source: out = source + offset (wrapping),
/// for the packets after `last_src_seq` (within RFC 3550's dropout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayMapping {
    pub src_ssrc: u32,
    pub seq_offset: u16,
    pub ts_offset: u32,
    pub last_src_seq: u16,
}

/// The sending state of one leg. See the module doc for the rules.
#[derive(Debug, Clone)]
pub struct OutgoingStream {
    ssrc: u32,
    clock_rate: u32,
    next_seq: u16,
    /// The newest timestamp sent and the media time it was sent at.
    anchor_ts: u32,
    anchor_us: u64,
    /// Samples covered by the newest audio packet.
    last_duration: u32,
    /// Whether anything was sent yet.
    started: bool,
    source: Option<Source>,
    /// Relay mapping: out = source + offset (wrapping).
    seq_offset: u16,
    ts_offset: u32,
    last_src_seq: u16,
    last_src_pt: u8,
    /// Start timestamp of the local DTMF event in progress.
    event_ts: Option<u32>,
    packets: u64,
}

impl OutgoingStream {
    /// A stream with the caller's (random) SSRC, first sequence number and
    /// first timestamp, at `clock_rate` Hz (8000 for G.711).
    pub fn new(ssrc: u32, first_seq: u16, first_ts: u32, clock_rate: u32) -> OutgoingStream {
        OutgoingStream {
            ssrc,
            clock_rate,
            next_seq: first_seq,
            anchor_ts: first_ts,
            anchor_us: 0,
            // Until a packet says otherwise: 20 ms, the usual ptime.
            last_duration: clock_rate / 50,
            started: false,
            source: None,
            seq_offset: 0,
            ts_offset: 0,
            last_src_seq: 0,
            last_src_pt: 0,
            event_ts: None,
            packets: 0,
        }
    }

    /// This leg's SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The sequence number the next packet will carry.
    pub fn next_sequence(&self) -> u16 {
        self.next_seq
    }

    /// The newest timestamp sent (the first timestamp before any packet).
    pub fn last_timestamp(&self) -> u32 {
        self.anchor_ts
    }

    /// The source of the last packet sent.
    pub fn source(&self) -> Option<Source> {
        self.source
    }

    /// How relayed packets of the current source are rewritten (`None`
    /// unless a relayed packet was the last sent): what kernel forwarding
    /// applies to the source's next packets.
    pub fn relay_mapping(&self) -> Option<RelayMapping> {
        match self.source {
            Some(Source::Relay(src_ssrc)) => Some(RelayMapping {
                src_ssrc,
                seq_offset: self.seq_offset,
                ts_offset: self.ts_offset,
                last_src_seq: self.last_src_seq,
            }),
            _ => None,
        }
    }

    /// Packets sent so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Makes the next packet start a talkspurt (continuity from elapsed
    /// time, marker set) even from the same source, e.g. after a pause.
    pub fn new_talkspurt(&mut self) {
        self.source = None;
    }

    /// The header for the next locally generated audio packet of `source`,
    /// carrying `samples` samples, sent at media time `now_us`.
    pub fn send(&mut self, source: u32, payload_type: u8, samples: u32, now_us: u64) -> RtpHeader {
        let source = Source::Local(source);
        let switch = self.source != Some(source);
        let timestamp = if switch {
            self.continued_ts(now_us)
        } else {
            self.anchor_ts.wrapping_add(self.last_duration)
        };
        self.source = Some(source);
        self.event_ts = None;
        self.anchor_ts = timestamp;
        self.anchor_us = now_us;
        self.last_duration = samples;
        self.header(switch, payload_type, timestamp)
    }

    /// The header for a locally generated RFC 4733 event packet: `first`
    /// for the event's first packet (its timestamp is taken then, and the
    /// marker set); later packets of the event, including the retransmitted
    /// end packets, share that timestamp and take new sequence numbers.
    pub fn send_event(&mut self, payload_type: u8, first: bool, now_us: u64) -> RtpHeader {
        let (marker, timestamp) = match (first, self.event_ts) {
            (false, Some(ts)) => (false, ts),
            _ => {
                let ts = match self.source {
                    Some(Source::Local(_)) if self.started => {
                        self.anchor_ts.wrapping_add(self.last_duration)
                    }
                    _ => self.continued_ts(now_us),
                };
                self.anchor_ts = ts;
                self.anchor_us = now_us;
                self.last_duration = 0;
                self.event_ts = Some(ts);
                // Audio after the event restarts from elapsed time.
                self.source = None;
                (true, ts)
            }
        };
        self.header(marker, payload_type, timestamp)
    }

    /// Rewrites the relayed RTP packet in `buf` in place (SSRC, sequence,
    /// timestamp, marker) to continue this stream; returns the header as
    /// written. RTCP and malformed packets are refused untouched.
    pub fn relay(&mut self, buf: &mut [u8], now_us: u64) -> Result<RtpHeader, RtpError> {
        let src = RtpPacket::parse(buf)?.header();
        let source = Source::Relay(src.ssrc);
        let ahead = src.sequence.wrapping_sub(self.last_src_seq);
        let behind = self.last_src_seq.wrapping_sub(src.sequence);
        let jump = ahead >= MAX_DROPOUT && behind > MAX_MISORDER;
        let switch = self.source != Some(source) || jump;
        if switch {
            let timestamp = self.continued_ts(now_us);
            self.seq_offset = self.next_seq.wrapping_sub(src.sequence);
            self.ts_offset = timestamp.wrapping_sub(src.timestamp);
            self.source = Some(source);
            self.event_ts = None;
        }
        let sequence = src.sequence.wrapping_add(self.seq_offset);
        let timestamp = src.timestamp.wrapping_add(self.ts_offset);
        let marker = switch || src.marker;
        rewrite_in_place(buf, marker, sequence, timestamp, self.ssrc)?;

        if switch || (ahead != 0 && ahead < MAX_DROPOUT) {
            self.last_src_seq = src.sequence;
            self.next_seq = sequence.wrapping_add(1);
        }
        let advance = timestamp.wrapping_sub(self.anchor_ts);
        if switch || (advance != 0 && advance < self.clock_rate) {
            // A packet's duration: the timestamp advance per sequence step
            // (a gap of lost packets does not make one packet longer).
            // Only between packets of one payload type: the first audio
            // packet after a DTMF event advances by the event's length.
            let same_kind = src.payload_type == self.last_src_pt;
            if !switch && same_kind && advance != 0 && ahead != 0 && ahead < MAX_DROPOUT {
                self.last_duration = advance / u32::from(ahead);
            }
            self.anchor_ts = timestamp;
            self.anchor_us = now_us;
        }
        self.last_src_pt = src.payload_type;
        self.started = true;
        self.packets += 1;
        Ok(RtpHeader {
            marker,
            payload_type: src.payload_type,
            sequence,
            timestamp,
            ssrc: self.ssrc,
        })
    }

    /// The timestamp that continues the stream at `now_us` after a switch.
    fn continued_ts(&self, now_us: u64) -> u32 {
        if !self.started {
            return self.anchor_ts;
        }
        let elapsed_us = now_us.saturating_sub(self.anchor_us);
        let elapsed = elapsed_us.saturating_mul(u64::from(self.clock_rate)) / 1_000_000;
        let elapsed = u32::try_from(elapsed).unwrap_or(u32::MAX);
        self.anchor_ts.wrapping_add(elapsed.max(self.last_duration))
    }

    fn header(&mut self, marker: bool, payload_type: u8, timestamp: u32) -> RtpHeader {
        let sequence = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.started = true;
        self.packets += 1;
        RtpHeader {
            marker,
            payload_type,
            sequence,
            timestamp,
            ssrc: self.ssrc,
        }
    }
}
