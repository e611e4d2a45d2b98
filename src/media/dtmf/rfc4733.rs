//! RFC 4733 telephone-events: DTMF digits as RTP packets of their own
//! payload type (negotiated as `telephone-event/8000`).
//!
//! A digit travels as a series of packets that all carry the RTP
//! timestamp of the digit's start: the first with the marker bit, updates
//! every packet time with the duration so far, and (usually) three copies
//! of the final packet with the E (end) bit. Packets get lost, duplicated
//! and reordered; [`Rfc4733Receiver`] turns whatever arrives into exactly
//! one [`DtmfEvent`] per digit, and [`Rfc4733Sender`] produces the series
//! for a digit Hibiki sends.
//!
//! ## Driving the receiver (sans-IO)
//! Media time is a `u64` of microseconds on the call's monotonic media
//! clock, as elsewhere in `media`. After each
//! [`handle_packet`](Rfc4733Receiver::handle_packet) or
//! [`handle_timeout`](Rfc4733Receiver::handle_timeout), drain
//! [`poll_event`](Rfc4733Receiver::poll_event); then wake at
//! [`poll_timeout`](Rfc4733Receiver::poll_timeout) if it is `Some`.
//!
//! ## When a digit is reported
//! At its end, so that its duration is known: on the first E-bit packet
//! (its retransmissions are swallowed), or, when every end packet was lost,
//! on the next event's first packet (a new timestamp) or after
//! [`DEFAULT_EVENT_TIMEOUT_US`] without packets. For barge-in, which should
//! not wait for the end, [`Rfc4733Receiver::in_progress`] tells the digit
//! being pressed as soon as its first packet arrives.
//!
//! Flash (event 16) and events above 16 (tones, RFC 4734) are tracked, so
//! their retransmissions do not disturb anything, but never reported.
//! Packets older than the latest event (by RTP timestamp, modulo 2³²) are
//! ignored. Long events split into segments (RFC 4733 §2.5.1.3: a new
//! timestamp, no marker, same event, after a segment of more than 4 s) are
//! joined into one digit.
//!
//! Hibiki's telephone-event clock is 8000 Hz (it offers PCMU and PCMA
//! only), so durations in samples are also eighths of a millisecond.

use super::{digit_from_event, event_from_digit, DtmfError};

/// Samples per millisecond of the telephone-event clock.
const SAMPLES_PER_MS: u32 = 8;

/// How long an event may go without packets before it is taken as ended
/// (every end packet lost): 500 ms, ten times the usual update interval.
pub const DEFAULT_EVENT_TIMEOUT_US: u64 = 500_000;

/// A segment at least this long may be continued by a new segment.
const LONG_SEGMENT: u16 = 0x8000;

/// One telephone-event payload (RFC 4733 §2.3), 4 bytes on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code: 0–15 for DTMF (see [`digit_from_event`]), 16 flash.
    pub event: u8,
    /// The E bit: this packet ends the event.
    pub end: bool,
    /// Power level of the tone in −dBm0 (0–63), ignored on receipt.
    pub volume: u8,
    /// Duration so far, in timestamp units (samples at 8 kHz).
    pub duration: u16,
}

impl TelephoneEvent {
    /// Payload size on the wire.
    pub const LEN: usize = 4;

    /// Parses the first 4 bytes of a payload (the reserved R bit is
    /// ignored, as are any bytes after the first four).
    pub fn parse(payload: &[u8]) -> Result<TelephoneEvent, DtmfError> {
        match payload {
            [event, flags, d0, d1, ..] => Ok(TelephoneEvent {
                event: *event,
                end: flags & 0x80 != 0,
                volume: flags & 0x3F,
                duration: u16::from_be_bytes([*d0, *d1]),
            }),
            _ => Err(DtmfError::ShortPayload(payload.len())),
        }
    }

    /// The 4 payload bytes (R bit zero, volume masked to 6 bits).
    pub fn to_bytes(&self) -> [u8; 4] {
        let [d0, d1] = self.duration.to_be_bytes();
        let flags = (u8::from(self.end) << 7) | (self.volume & 0x3F);
        [self.event, flags, d0, d1]
    }

    /// Writes the payload into `buf`; returns the 4 bytes written.
    pub fn write(&self, buf: &mut [u8]) -> Result<usize, DtmfError> {
        let len = buf.len();
        let out = buf
            .get_mut(..Self::LEN)
            .ok_or(DtmfError::BufferTooSmall(len))?;
        out.copy_from_slice(&self.to_bytes());
        Ok(Self::LEN)
    }
}

/// Why a reported digit was taken as ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndedBy {
    /// An E-bit packet.
    EndBit,
    /// The next event began before any end packet arrived.
    NextEvent,
    /// No packet for the receiver's timeout.
    Timeout,
}

/// One digit received, reported once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DtmfEvent {
    /// `0`–`9`, `*`, `#`, `A`–`D`.
    pub digit: char,
    /// The longest duration seen, in samples (all segments together).
    pub duration_samples: u32,
    /// The RTP timestamp of the event's start (its packets' timestamp).
    pub started_at_ts: u32,
    /// What ended it.
    pub ended_by: EndedBy,
}

/// The event being received.
#[derive(Clone, Copy, Debug)]
struct Open {
    event: u8,
    started_at_ts: u32,
    /// Timestamp of the current segment (= `started_at_ts` unless long).
    seg_ts: u32,
    /// Longest duration seen in the current segment.
    seg_duration: u16,
    /// Durations of the finished segments before this one.
    before: u32,
    last_seen_us: u64,
}

/// Reports each RFC 4733 digit once; see the module doc for the driving
/// rule. Holds a few dozen bytes and never allocates.
#[derive(Clone, Debug)]
pub struct Rfc4733Receiver {
    timeout_us: u64,
    open: Option<Open>,
    /// Timestamp of the latest event (open or ended).
    latest_ts: Option<u32>,
    /// Up to four events waiting for `poll_event`, oldest first.
    queue: [Option<DtmfEvent>; 4],
}

impl Default for Rfc4733Receiver {
    fn default() -> Self {
        Rfc4733Receiver::new()
    }
}

impl Rfc4733Receiver {
    /// A receiver with the default timeout.
    pub fn new() -> Rfc4733Receiver {
        Rfc4733Receiver::with_timeout(DEFAULT_EVENT_TIMEOUT_US)
    }

    /// A receiver that ends an event after `timeout_us` without packets.
    pub fn with_timeout(timeout_us: u64) -> Rfc4733Receiver {
        Rfc4733Receiver {
            timeout_us,
            open: None,
            latest_ts: None,
            queue: [None; 4],
        }
    }

    /// Feeds one telephone-event packet: its RTP timestamp, marker bit and
    /// payload, at media time `now_us`. A short payload is an error (and
    /// changes nothing).
    pub fn handle_packet(
        &mut self,
        now_us: u64,
        rtp_timestamp: u32,
        marker: bool,
        payload: &[u8],
    ) -> Result<(), DtmfError> {
        let te = TelephoneEvent::parse(payload)?;
        if let Some(latest) = self.latest_ts {
            // Serial-number comparison: older timestamps are late packets
            // of events already done.
            if (rtp_timestamp.wrapping_sub(latest) as i32) < 0 {
                return Ok(());
            }
        }
        match self.open {
            Some(ref mut o) if o.seg_ts == rtp_timestamp => {
                o.seg_duration = o.seg_duration.max(te.duration);
                o.last_seen_us = now_us;
            }
            Some(ref mut o)
                if !marker
                    && te.event == o.event
                    && o.seg_duration >= LONG_SEGMENT
                    && rtp_timestamp.wrapping_sub(o.seg_ts)
                        <= u32::from(o.seg_duration) + 2 * u32::from(u16::MAX - LONG_SEGMENT) =>
            {
                // RFC 4733 §2.5.1.3: the next segment of a long event.
                o.before = o.before.saturating_add(u32::from(o.seg_duration));
                o.seg_ts = rtp_timestamp;
                o.seg_duration = te.duration;
                o.last_seen_us = now_us;
                self.latest_ts = Some(rtp_timestamp);
            }
            _ => {
                if self.open.is_none() && self.latest_ts == Some(rtp_timestamp) {
                    // A retransmitted end packet (or a late update) of
                    // the event just reported.
                    return Ok(());
                }
                self.close(EndedBy::NextEvent);
                self.latest_ts = Some(rtp_timestamp);
                self.open = Some(Open {
                    event: te.event,
                    started_at_ts: rtp_timestamp,
                    seg_ts: rtp_timestamp,
                    seg_duration: te.duration,
                    before: 0,
                    last_seen_us: now_us,
                });
            }
        }
        if te.end {
            self.close(EndedBy::EndBit);
        }
        Ok(())
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be
    /// called: only while an event is open.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.open
            .map(|o| o.last_seen_us.saturating_add(self.timeout_us))
    }

    /// Ends an open event that has had no packet for the timeout.
    pub fn handle_timeout(&mut self, now_us: u64) {
        if self.poll_timeout().is_some_and(|t| now_us >= t) {
            self.close(EndedBy::Timeout);
        }
    }

    /// The next digit received, oldest first.
    pub fn poll_event(&mut self) -> Option<DtmfEvent> {
        let first = self.queue.first_mut().and_then(Option::take);
        self.queue.rotate_left(1);
        first
    }

    /// The digit being pressed now (first packet seen, no end yet).
    pub fn in_progress(&self) -> Option<char> {
        self.open.and_then(|o| digit_from_event(o.event))
    }

    fn close(&mut self, ended_by: EndedBy) {
        let Some(o) = self.open.take() else { return };
        let Some(digit) = digit_from_event(o.event) else {
            return; // flash and non-DTMF events: tracked, not reported
        };
        let event = DtmfEvent {
            digit,
            duration_samples: o.before.saturating_add(u32::from(o.seg_duration)),
            started_at_ts: o.started_at_ts,
            ended_by,
        };
        if let Some(slot) = self.queue.iter_mut().find(|s| s.is_none()) {
            *slot = Some(event);
        } else {
            // Nobody drained four digits: keep the newest.
            self.queue.rotate_left(1);
            if let Some(last) = self.queue.last_mut() {
                *last = Some(event);
            }
        }
    }
}

/// One packet of an outgoing digit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DtmfPacket {
    /// When to send it, in samples after the digit's first packet. The RTP
    /// timestamp of every packet is the same: the stream's timestamp when
    /// the digit starts.
    pub send_offset: u32,
    /// The RTP marker bit (set on the first packet only).
    pub marker: bool,
    /// The telephone-event payload.
    pub payload: [u8; 4],
}

/// The packet series of one digit (an [`Iterator`] of [`DtmfPacket`]):
/// an update every packet time, the first with the marker, carrying the
/// duration up to the end of its interval; then three end packets, one per
/// packet time after the tone, all with the total duration. Allocates
/// nothing.
///
/// The caller stamps each packet with the stream's SSRC, the next sequence
/// number and the digit's start timestamp, and sends no audio on that
/// stream meanwhile. Leave a pause (at least 40 ms) before the next digit.
#[derive(Clone, Debug)]
pub struct Rfc4733Sender {
    event: u8,
    volume: u8,
    ptime: u32,
    updates: u32,
    next: u32,
}

/// End packets sent per digit (RFC 4733 §2.5.1.4 recommends three).
const END_PACKETS: u32 = 3;

impl Rfc4733Sender {
    /// The series for `digit` lasting `duration_ms` (rounded up to a whole
    /// number of packets), sent every `ptime_ms`, at `volume` −dBm0
    /// (10 is usual). Durations above 8 s (the 16-bit field) are refused.
    pub fn new(
        digit: char,
        duration_ms: u32,
        ptime_ms: u32,
        volume: u8,
    ) -> Result<Rfc4733Sender, DtmfError> {
        let event = event_from_digit(digit).ok_or(DtmfError::NotADigit(digit))?;
        if !(5..=200).contains(&ptime_ms) {
            return Err(DtmfError::Timing("ptime must be 5 to 200 ms"));
        }
        if duration_ms == 0 || duration_ms > 8000 {
            return Err(DtmfError::Timing("duration must be 1 to 8000 ms"));
        }
        let updates = duration_ms.div_ceil(ptime_ms);
        let ptime = ptime_ms * SAMPLES_PER_MS;
        if updates * ptime > u32::from(u16::MAX) {
            return Err(DtmfError::Timing("duration exceeds the 16-bit field"));
        }
        Ok(Rfc4733Sender {
            event,
            volume: volume.min(63),
            ptime,
            updates,
            next: 0,
        })
    }

    /// The total duration the end packets carry, in samples.
    pub fn total_samples(&self) -> u32 {
        self.updates * self.ptime
    }
}

impl Iterator for Rfc4733Sender {
    type Item = DtmfPacket;

    fn next(&mut self) -> Option<DtmfPacket> {
        if self.next >= self.updates + END_PACKETS {
            return None;
        }
        let k = self.next;
        self.next += 1;
        let end = k >= self.updates;
        let duration = if end {
            self.total_samples()
        } else {
            (k + 1) * self.ptime
        };
        let te = TelephoneEvent {
            event: self.event,
            end,
            volume: self.volume,
            duration: u16::try_from(duration).unwrap_or(u16::MAX),
        };
        Some(DtmfPacket {
            send_offset: k * self.ptime,
            marker: k == 0,
            payload: te.to_bytes(),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.updates + END_PACKETS).saturating_sub(self.next);
        let left = usize::try_from(left).unwrap_or(0);
        (left, Some(left))
    }
}

#[cfg(test)]
#[path = "rfc4733_tests.rs"]
mod tests;
