//! Relaying one leg's RTP packet onto another leg, sans-IO.
//!
//! A bridged call receives a packet on one leg and sends it on the other.
//! The packet is copied once into the sending leg's buffer and rewritten
//! there: its payload type becomes the one the far leg negotiated, its
//! payload is converted between µ-law and A-law when the legs' codecs
//! differ (a byte table, no PCM round trip), and its SSRC, sequence and
//! timestamp continue the far leg's outgoing stream
//! ([`OutgoingStream::relay`]), so prompts before and after the bridge and
//! the relayed audio look like one stream to the far end.
//!
//! RFC 4733 telephone-events are relayed the same way under the far leg's
//! telephone-event payload type; when the far leg negotiated none, they
//! are not relayed (see [`Target::event_pt`]) and the digit is carried by
//! the tones the far end never hears: the bridge reports that case.

use super::g711::Law;
use super::rtp::outgoing::OutgoingStream;
use super::rtp::RtpPacket;

/// What a received packet carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// G.711 audio in this law.
    Audio(Law),
    /// An RFC 4733 telephone-event.
    Event,
}

/// What the sending leg negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub law: Law,
    /// The payload type the far end expects the codec in.
    pub payload_type: u8,
    /// Its telephone-event payload type, if it negotiated one.
    pub event_pt: Option<u8>,
}

/// Why a packet was not relayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotRelayed {
    /// A telephone-event toward a leg that negotiated none.
    NoEventType,
    /// The packet does not fit the buffer or is not RTP.
    Malformed,
}

/// Copies `packet` into `out`, rewritten for `target` and continuing
/// `outgoing` at media time `now_us`; returns the length to send.
pub fn prepare(
    packet: &[u8],
    payload: Payload,
    target: &Target,
    outgoing: &mut OutgoingStream,
    now_us: u64,
    out: &mut [u8],
) -> Result<usize, NotRelayed> {
    let len = packet.len();
    let (start, end) = {
        let parsed = RtpPacket::parse(packet).map_err(|_| NotRelayed::Malformed)?;
        (
            parsed.header_len(),
            len.saturating_sub(parsed.padding_len()),
        )
    };
    let buf = out.get_mut(..len).ok_or(NotRelayed::Malformed)?;
    buf.copy_from_slice(packet);
    let payload_type = match payload {
        Payload::Audio(law) => {
            if law != target.law {
                if let Some(body) = buf.get_mut(start..end) {
                    law.transcode_in_place(target.law, body);
                }
            }
            target.payload_type
        }
        Payload::Event => target.event_pt.ok_or(NotRelayed::NoEventType)?,
    };
    if let Some(second) = buf.get_mut(1) {
        *second = (*second & 0x80) | (payload_type & 0x7f);
    }
    outgoing
        .relay(buf, now_us)
        .map_err(|_| NotRelayed::Malformed)?;
    Ok(len)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::media::g711::linear_to_alaw;
    use crate::media::rtp::RtpHeader;

    fn packet(pt: u8, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
        let header = RtpHeader {
            marker: false,
            payload_type: pt,
            sequence: seq,
            timestamp: ts,
            ssrc: 0xdead_beef,
        };
        let mut buf = vec![0u8; 12 + payload.len()];
        let n = header.write_packet(payload, &mut buf).unwrap();
        buf.truncate(n);
        buf
    }

    const PCMU: Target = Target {
        law: Law::Ulaw,
        payload_type: 0,
        event_pt: Some(101),
    };

    #[test]
    fn same_codec_passes_the_payload_through_under_our_ssrc() {
        let payload: Vec<u8> = (0..160u16).map(|i| (i % 256) as u8).collect();
        let mut outgoing = OutgoingStream::new(7, 1000, 5000, 8000);
        let mut out = [0u8; 512];
        let mut sent = Vec::new();
        for i in 0..3u16 {
            let p = packet(0, 40 + i, 900 + 160 * u32::from(i), &payload);
            let n = prepare(
                &p,
                Payload::Audio(Law::Ulaw),
                &PCMU,
                &mut outgoing,
                u64::from(i) * 20_000,
                &mut out,
            )
            .unwrap();
            let got = RtpPacket::parse(&out[..n]).unwrap();
            assert_eq!(got.payload(), &payload[..]);
            assert_eq!(got.payload_type(), 0);
            assert_eq!(got.ssrc(), 7);
            sent.push((got.sequence(), got.timestamp(), got.marker()));
        }
        assert_eq!(
            sent[0],
            (1000, 5000, true),
            "a new source starts a talkspurt"
        );
        assert_eq!(sent[1], (1001, 5160, false));
        assert_eq!(sent[2], (1002, 5320, false));
    }

    #[test]
    fn alaw_is_converted_to_ulaw_for_a_pcmu_leg() {
        let pcm: Vec<i16> = (0..160)
            .map(|i| ((i * 397) % 20_000 - 10_000) as i16)
            .collect();
        let alaw: Vec<u8> = pcm.iter().map(|s| linear_to_alaw(*s)).collect();
        let p = packet(8, 1, 0, &alaw);
        let mut outgoing = OutgoingStream::new(1, 1, 1, 8000);
        let mut out = [0u8; 512];
        let n = prepare(
            &p,
            Payload::Audio(Law::Alaw),
            &PCMU,
            &mut outgoing,
            0,
            &mut out,
        )
        .unwrap();
        let got = RtpPacket::parse(&out[..n]).unwrap();
        assert_eq!(got.payload_type(), 0);
        // Each µ-law code stands for the A-law code's value within one
        // µ-law quantisation step (1/16 of the magnitude, 16 near zero).
        for (code, a) in got.payload().iter().zip(&alaw) {
            let want = i32::from(Law::Alaw.decode_sample(*a));
            let relayed = i32::from(Law::Ulaw.decode_sample(*code));
            assert!(
                (want - relayed).abs() <= want.abs() / 16 + 16,
                "{want} relayed as {relayed}"
            );
        }
    }

    #[test]
    fn events_take_the_far_legs_payload_type_or_are_held_back() {
        let event = [5u8, 0x0a, 0x00, 0xa0];
        let p = packet(96, 3, 100, &event);
        let mut outgoing = OutgoingStream::new(1, 1, 1, 8000);
        let mut out = [0u8; 64];
        let n = prepare(&p, Payload::Event, &PCMU, &mut outgoing, 0, &mut out).unwrap();
        let got = RtpPacket::parse(&out[..n]).unwrap();
        assert_eq!(got.payload_type(), 101);
        assert_eq!(got.payload(), &event);

        let no_events = Target {
            event_pt: None,
            ..PCMU
        };
        assert_eq!(
            prepare(&p, Payload::Event, &no_events, &mut outgoing, 0, &mut out),
            Err(NotRelayed::NoEventType)
        );
    }

    #[test]
    fn garbage_and_oversized_packets_are_refused() {
        let mut outgoing = OutgoingStream::new(1, 1, 1, 8000);
        let mut small = [0u8; 16];
        let p = packet(0, 1, 1, &[0u8; 160]);
        assert_eq!(
            prepare(
                &p,
                Payload::Audio(Law::Ulaw),
                &PCMU,
                &mut outgoing,
                0,
                &mut small
            ),
            Err(NotRelayed::Malformed)
        );
        let mut out = [0u8; 512];
        assert_eq!(
            prepare(
                &[1, 2, 3],
                Payload::Audio(Law::Ulaw),
                &PCMU,
                &mut outgoing,
                0,
                &mut out
            ),
            Err(NotRelayed::Malformed)
        );
    }

    /// What kernel forwarding relies on: relaying a packet's 12-byte
    /// header alone moves the outgoing stream exactly as relaying the
    /// whole packet does (ParkedLeg::note_relayed).
    #[test]
    fn relaying_the_header_alone_moves_the_stream_as_the_packet_does() {
        let payload = [0x55u8; 160];
        let mut whole = OutgoingStream::new(7, 1000, 5000, 8000);
        let mut header_only = whole.clone();
        let mut a = [0u8; 512];
        let mut b = [0u8; 512];
        for (i, seq) in [40u16, 41, 43, 42, 44, 9000, 9001].into_iter().enumerate() {
            let p = packet(0, seq, 900 + 160 * u32::from(seq), &payload);
            let now = i as u64 * 20_000;
            let n = prepare(
                &p,
                Payload::Audio(Law::Ulaw),
                &PCMU,
                &mut whole,
                now,
                &mut a,
            )
            .unwrap();
            let h = prepare(
                &p[..12],
                Payload::Audio(Law::Ulaw),
                &PCMU,
                &mut header_only,
                now,
                &mut b,
            )
            .unwrap();
            assert_eq!((n, h), (172, 12));
            assert_eq!(a[..12], b[..12], "packet {i}: the same header out");
            assert_eq!(whole.next_sequence(), header_only.next_sequence());
            assert_eq!(whole.last_timestamp(), header_only.last_timestamp());
            assert_eq!(whole.relay_mapping(), header_only.relay_mapping());
        }
    }
}
