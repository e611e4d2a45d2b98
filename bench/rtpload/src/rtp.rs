//! What the load tool puts on the wire as media: G.711 tone frames and the
//! RTP packets that carry them, plus the few header fields it reads back.
//!
//! Each side sends a steady sine (the caller 400 Hz, the callee 1 kHz) so
//! that a recording is non-silent on both channels and a missing packet
//! shows as a run of digital silence: a whole number of periods fits in
//! one 20 ms frame (8 and 20), so one precomputed frame repeats without a
//! click. The encoders are the G.711 segment rules written out (the
//! server's tables are not reused on purpose: the tool checks the server,
//! it should not share its code paths).

/// Samples in one 20 ms frame at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;
/// RTP fixed header length (no CSRC, no extension).
pub const HEADER_LEN: usize = 12;
/// A whole packet: header and one G.711 frame.
pub const PACKET_LEN: usize = HEADER_LEN + FRAME_SAMPLES;
/// Peak amplitude of the tones (about −12 dBFS).
const TONE_AMPLITUDE: f64 = 8000.0;

/// The G.711 law of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Law {
    /// PCMU, static payload type 0.
    Ulaw,
    /// PCMA, static payload type 8.
    Alaw,
}

impl Law {
    /// The static RTP payload type.
    pub fn payload_type(self) -> u8 {
        match self {
            Law::Ulaw => 0,
            Law::Alaw => 8,
        }
    }

    /// The law of a static payload type.
    pub fn from_payload_type(pt: u8) -> Option<Law> {
        match pt {
            0 => Some(Law::Ulaw),
            8 => Some(Law::Alaw),
            _ => None,
        }
    }

    /// The SDP encoding name.
    pub fn name(self) -> &'static str {
        match self {
            Law::Ulaw => "PCMU",
            Law::Alaw => "PCMA",
        }
    }

    /// One linear sample encoded.
    pub fn encode(self, sample: i16) -> u8 {
        match self {
            Law::Ulaw => ulaw_encode(sample),
            Law::Alaw => alaw_encode(sample),
        }
    }
}

/// µ-law: bias, find the segment from the top bit, keep four mantissa bits,
/// invert every bit.
fn ulaw_encode(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32635;
    let value = i32::from(sample);
    let sign: u8 = if value < 0 { 0x80 } else { 0 };
    let magnitude = value.abs().min(CLIP) + BIAS;
    // The top set bit is between bit 7 (the bias) and bit 14.
    let top = 31 - magnitude.leading_zeros() as i32;
    let exponent = (top - 7).clamp(0, 7);
    let mantissa = (magnitude >> (exponent + 3)) & 0x0F;
    !(sign | ((exponent as u8) << 4) | mantissa as u8)
}

/// A-law: 13-bit magnitude (one's complement for negatives), segment by
/// the top bit, four mantissa bits, even bits inverted (0x55).
fn alaw_encode(sample: i16) -> u8 {
    let value = i32::from(sample) >> 3;
    let (mask, magnitude) = if value >= 0 {
        (0xD5u8, value)
    } else {
        (0x55u8, -value - 1)
    };
    if magnitude > 0xFFF {
        return 0x7F ^ mask;
    }
    let segment = if magnitude < 0x20 {
        0
    } else {
        (31 - magnitude.leading_zeros() as i32) - 4
    };
    let mantissa = if segment < 2 {
        (magnitude >> 1) & 0x0F
    } else {
        (magnitude >> segment) & 0x0F
    };
    (((segment as u8) << 4) | mantissa as u8) ^ mask
}

/// One 20 ms frame of a sine at `hz` (a whole number of periods per frame
/// for 400 Hz and 1 kHz), starting a quarter-step off zero so no sample is
/// exactly silent.
pub fn tone_frame(law: Law, hz: f64) -> [u8; FRAME_SAMPLES] {
    let mut frame = [0u8; FRAME_SAMPLES];
    for (i, byte) in frame.iter_mut().enumerate() {
        let t = (i as f64 + 0.25) / 8000.0;
        let value = TONE_AMPLITUDE * (2.0 * std::f64::consts::PI * hz * t).sin();
        *byte = law.encode(value.round() as i16);
    }
    frame
}

/// The caller's tone (left channel of a recording).
pub const CALLER_HZ: f64 = 400.0;
/// The callee's tone (right channel).
pub const CALLEE_HZ: f64 = 1000.0;

/// Writes one packet (header + payload) into `dst`, which must be
/// [`PACKET_LEN`] bytes long.
pub fn write_packet(
    dst: &mut [u8; PACKET_LEN],
    payload_type: u8,
    marker: bool,
    seq: u16,
    timestamp: u32,
    ssrc: u32,
    payload: &[u8; FRAME_SAMPLES],
) {
    dst[0] = 0x80; // version 2, no padding, no extension, no CSRC
    dst[1] = (payload_type & 0x7F) | if marker { 0x80 } else { 0 };
    dst[2..4].copy_from_slice(&seq.to_be_bytes());
    dst[4..8].copy_from_slice(&timestamp.to_be_bytes());
    dst[8..12].copy_from_slice(&ssrc.to_be_bytes());
    dst[HEADER_LEN..].copy_from_slice(payload);
}

/// An RFC 4733 telephone-event packet: header and the 4-byte event.
pub const EVENT_PACKET_LEN: usize = HEADER_LEN + 4;
/// The volume sent with events (RFC 4733: -dBm0, 0..=63).
const EVENT_VOLUME: u8 = 10;

/// One RFC 4733 event payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// The event code (0-9, `*` 10, `#` 11, A-D 12-15).
    pub code: u8,
    /// The E bit: the event has ended.
    pub end: bool,
    /// Samples since the event's timestamp.
    pub duration: u16,
}

/// The RFC 4733 event code of a DTMF key.
pub fn event_code(key: char) -> Option<u8> {
    match key.to_ascii_uppercase() {
        d @ '0'..='9' => Some(d as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        l @ 'A'..='D' => Some(l as u8 - b'A' + 12),
        _ => None,
    }
}

/// Writes one telephone-event packet into `dst`.
pub fn write_event(
    dst: &mut [u8; EVENT_PACKET_LEN],
    payload_type: u8,
    marker: bool,
    seq: u16,
    timestamp: u32,
    ssrc: u32,
    event: Event,
) {
    dst[0] = 0x80;
    dst[1] = (payload_type & 0x7F) | if marker { 0x80 } else { 0 };
    dst[2..4].copy_from_slice(&seq.to_be_bytes());
    dst[4..8].copy_from_slice(&timestamp.to_be_bytes());
    dst[8..12].copy_from_slice(&ssrc.to_be_bytes());
    dst[12] = event.code;
    dst[13] = if event.end { 0x80 } else { 0 } | EVENT_VOLUME;
    dst[14..16].copy_from_slice(&event.duration.to_be_bytes());
}

/// The header fields the receiver accounts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub payload_type: u8,
    /// The marker bit (the first packet of a talk spurt).
    pub marker: bool,
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
}

/// Reads an RTP header; `None` for anything that is not RTP version 2
/// or is RTCP multiplexed on the port (payload types 72–76 with the
/// marker, RFC 5761 §4).
pub fn read_header(packet: &[u8]) -> Option<Header> {
    let head = packet.get(..HEADER_LEN)?;
    if head[0] >> 6 != 2 {
        return None;
    }
    if (200..=204).contains(&head[1]) {
        return None; // RTCP SR/RR/SDES/BYE/APP
    }
    Some(Header {
        payload_type: head[1] & 0x7F,
        marker: head[1] & 0x80 != 0,
        seq: u16::from_be_bytes([head[2], head[3]]),
        timestamp: u32::from_be_bytes([head[4], head[5], head[6], head[7]]),
        ssrc: u32::from_be_bytes([head[8], head[9], head[10], head[11]]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference decoders, only to check the encoders.
    fn ulaw_decode(code: u8) -> i32 {
        let u = !code;
        let exponent = i32::from((u >> 4) & 7);
        let mantissa = i32::from(u & 0x0F);
        let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
        if u & 0x80 != 0 {
            -magnitude
        } else {
            magnitude
        }
    }

    fn alaw_decode(code: u8) -> i32 {
        let a = code ^ 0x55;
        let segment = i32::from((a >> 4) & 7);
        let mut t = i32::from(a & 0x0F) << 4;
        t += if segment == 0 { 8 } else { 0x108 };
        if segment > 1 {
            t <<= segment - 1;
        }
        if a & 0x80 != 0 {
            t
        } else {
            -t
        }
    }

    #[test]
    fn g711_known_codes() {
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_encode(-8), 0x55);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
    }

    #[test]
    fn g711_round_trip_stays_within_one_step() {
        for x in (i16::MIN as i32 + 1..=i16::MAX as i32).step_by(7) {
            let s = x as i16;
            let bound = (x.abs() >> 4) + 33;
            let u = ulaw_decode(ulaw_encode(s));
            assert!((u - x).abs() <= bound, "µ-law {x} -> {u}");
            let a = alaw_decode(alaw_encode(s));
            assert!((a - x).abs() <= bound, "A-law {x} -> {a}");
        }
    }

    #[test]
    fn tone_frames_are_loud_and_periodic() {
        for law in [Law::Ulaw, Law::Alaw] {
            for hz in [CALLER_HZ, CALLEE_HZ] {
                let frame = tone_frame(law, hz);
                let decode = |c: u8| match law {
                    Law::Ulaw => ulaw_decode(c),
                    Law::Alaw => alaw_decode(c),
                };
                let peak = frame.iter().map(|&c| decode(c).abs()).max().unwrap_or(0);
                assert!(peak > 7000, "{law:?} {hz}: peak {peak}");
                // No sample near silence (gap detection relies on it).
                assert!(frame.iter().all(|&c| decode(c).abs() > 100), "{law:?} {hz}");
                // Whole periods: the frame starts where the last one ends.
                let period = (8000.0 / hz) as usize;
                assert_eq!(frame[0], frame[FRAME_SAMPLES - period]);
            }
        }
    }

    #[test]
    fn packets_round_trip_their_header() {
        let payload = tone_frame(Law::Ulaw, CALLER_HZ);
        let mut buf = [0u8; PACKET_LEN];
        write_packet(
            &mut buf,
            0,
            true,
            0xFFFE,
            0xDEAD_BEEF,
            0x5A00_0007,
            &payload,
        );
        assert_eq!(buf[0], 0x80);
        assert_eq!(buf[1], 0x80);
        assert_eq!(
            read_header(&buf),
            Some(Header {
                payload_type: 0,
                marker: true,
                seq: 0xFFFE,
                timestamp: 0xDEAD_BEEF,
                ssrc: 0x5A00_0007
            })
        );
        assert_eq!(&buf[HEADER_LEN..], &payload[..]);
        write_packet(&mut buf, 8, false, 1, 160, 1, &payload);
        assert_eq!(
            read_header(&buf).map(|h| (h.payload_type, h.marker)),
            Some((8, false))
        );
    }

    #[test]
    fn event_packets_follow_rfc4733() {
        let mut buf = [0u8; EVENT_PACKET_LEN];
        let ev = Event {
            code: 11, // '#'
            end: true,
            duration: 800,
        };
        write_event(&mut buf, 101, true, 7, 16_000, 0x5A00_0001, ev);
        let h = read_header(&buf).expect("RTP");
        assert_eq!(
            (h.payload_type, h.marker, h.seq, h.timestamp),
            (101, true, 7, 16_000)
        );
        // event 11, E bit + volume 10, duration 800 (0x0320)
        assert_eq!(&buf[HEADER_LEN..], &[11, 0x80 | 10, 0x03, 0x20]);
    }

    #[test]
    fn keys_map_to_event_codes() {
        assert_eq!(event_code('0'), Some(0));
        assert_eq!(event_code('9'), Some(9));
        assert_eq!(event_code('*'), Some(10));
        assert_eq!(event_code('#'), Some(11));
        assert_eq!(event_code('d'), Some(15));
        assert_eq!(event_code('x'), None);
    }

    #[test]
    fn not_rtp_is_refused() {
        assert_eq!(read_header(&[0x80, 0]), None); // short
        let mut buf = [0u8; 12];
        buf[0] = 0x40; // version 1
        assert_eq!(read_header(&buf), None);
        buf[0] = 0x80;
        buf[1] = 200; // RTCP sender report
        assert_eq!(read_header(&buf), None);
    }
}
