//! Fuzz target: a short run of datagrams arriving on an RTP leg, through
//! the server's own sans-IO leg (`media::leg::LegState`: parse, latch,
//! incoming stream, RFC 4733 receiver, G.711 decode, in-band DTMF
//! detector, the stream clock), into a recording timeline, and relayed
//! by two far `LegState`s as a bridge does (same law and the other law;
//! one with a telephone-event type, one without), with local prompt audio
//! sent on them in between. Every datagram is also parsed on its own and
//! its accessors checked.
//!
//! Input: a 4-byte preamble, then records of
//! `[step lo, step hi, flags, len, len bytes of datagram]`:
//!
//! - preamble[0]: bit 0 this leg's law (µ-law/A-law), bit 1 this leg
//!   takes telephone-events (pt 101; else in-band detection runs), bit 2
//!   far leg A takes events; preamble[1]: the negotiated payload type
//!   when bit 7 is set (else the law's static one); preamble[2..4]: the
//!   recording's start (ms) and jitter.
//! - step: time since the previous datagram, in units of 10 µs (up to
//!   655 ms; flags bit 7 makes it units of 100 µs: up to 6.5 s).
//! - flags: bits 0-1 the source address (two hosts, two ports), bit 2
//!   local audio is sent on both far legs before the relay (a prompt
//!   between bridged packets), bit 4 pause/resume the recording, bit 5
//!   poll digits, bit 6 close the recording (it keeps its frames until
//!   the end).
//!
//! Nothing may panic; what the relay writes must parse as RTP with the
//! far leg's payload type and the datagram's length.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use hibiki::media::g711::Law;
use hibiki::media::leg::{LegState, Received};
use hibiki::media::ports::PortPool;
use hibiki::media::recording::{Side, Timeline};
use hibiki::media::relay::Payload;
use hibiki::media::rtp::{self, Datagram, RtpPacket, FIXED_HEADER_LEN};
use hibiki_sip::sdp::{Codec, Direction, Negotiated};
use libfuzzer_sys::fuzz_target;

/// As in `media::leg`.
const DATAGRAM: usize = 2048;
const MAX_SAMPLES: usize = 2000;
/// Records per input: enough for sequence wraps and DTMF ends.
const MAX_RECORDS: usize = 256;
const EVENT_PT: u8 = 101;

/// What SDP would have negotiated for a leg of `law` whose peer is at
/// `remote`.
fn negotiated(law: Law, payload_type: u8, events: Option<u8>, remote: SocketAddr) -> Negotiated {
    Negotiated {
        codec: match law {
            Law::Ulaw => Codec::Pcmu,
            Law::Alaw => Codec::Pcma,
        },
        payload_type,
        telephone_event_pt: events,
        remote,
        direction: Direction::SendRecv,
        ptime: 20,
    }
}

/// One far leg a bridged packet is relayed onto.
struct Far {
    leg: LegState,
    law: Law,
    payload_type: u8,
    event_pt: Option<u8>,
    out: Vec<u8>,
}

impl Far {
    /// `RtpLeg::relay`'s packet, checked.
    fn relay(&mut self, packet: &[u8], payload: Payload, now: Instant) {
        let Some((len, _to)) = self.leg.prepare_relay(packet, payload, now, &mut self.out) else {
            assert!(
                payload == Payload::Event && self.event_pt.is_none()
                    || RtpPacket::parse(packet).is_err(),
                "only an event without a type, or garbage, is not relayed"
            );
            return;
        };
        assert_eq!(len, packet.len(), "the relay keeps the length");
        let sent = RtpPacket::parse(&self.out[..len]).expect("a relayed packet parses");
        let want_pt = match payload {
            Payload::Audio(_) => self.payload_type & 0x7f,
            Payload::Event => self.event_pt.unwrap_or(0) & 0x7f,
        };
        assert_eq!(sent.payload_type(), want_pt);
        let src = RtpPacket::parse(packet).expect("relayed from a packet that parsed");
        assert_eq!(sent.payload().len(), src.payload().len());
        if payload == Payload::Event || payload == Payload::Audio(self.law) {
            assert_eq!(sent.payload(), src.payload());
        }
    }

    /// `RtpLeg::send_pcm`'s packet: a frame of local audio.
    fn send_pcm(&mut self, source: u32, pcm: &[i16], now: Instant) {
        let (len, _to) = self
            .leg
            .prepare_pcm(source, pcm, now, &mut self.out)
            .expect("a sending leg with a peer sends");
        let sent = RtpPacket::parse(&self.out[..len]).expect("our packet parses");
        assert_eq!(sent.payload_type(), self.payload_type & 0x7f);
        assert_eq!(sent.payload().len(), pcm.len().min(MAX_SAMPLES));
    }
}

/// Every accessor of a parsed packet, and what they promise together.
fn check_packet(datagram: &[u8], packet: &RtpPacket<'_>) {
    assert_eq!(packet.as_bytes(), datagram);
    let header = packet.header();
    assert_eq!(header.payload_type, packet.payload_type());
    assert_eq!(header.marker, packet.marker());
    assert_eq!(header.sequence, packet.sequence());
    assert_eq!(header.timestamp, packet.timestamp());
    assert_eq!(header.ssrc, packet.ssrc());
    assert_eq!(packet.csrcs().count(), packet.csrc_count());
    assert!(packet.header_len() >= FIXED_HEADER_LEN + 4 * packet.csrc_count());
    if let Some(ext) = packet.extension() {
        assert_eq!(ext.data.len() % 4, 0);
        let _ = ext.profile;
    }
    assert_eq!(packet.has_padding(), packet.padding_len() > 0);
    assert_eq!(
        packet.header_len() + packet.payload().len() + packet.padding_len(),
        datagram.len()
    );
    assert!(matches!(rtp::classify(datagram), Ok(Datagram::Rtp(p)) if p == *packet));

    // Rewriting the header in place keeps it a packet with the same body
    // (with the same marker: a marker on payload types 64-95 makes the
    // second octet RTCP's, RFC 5761 §4).
    let mut copy = datagram.to_vec();
    rtp::rewrite_in_place(&mut copy, header.marker, 1, 2, 3)
        .expect("a parsed packet is long enough");
    let again = RtpPacket::parse(&copy).expect("a rewritten packet parses");
    assert_eq!(again.payload(), packet.payload());
    assert_eq!(
        (again.sequence(), again.timestamp(), again.ssrc()),
        (1, 2, 3)
    );
}

fn address(flags: u8) -> SocketAddr {
    let host = if flags & 1 == 0 {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))
    } else {
        IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7))
    };
    let port = if flags & 2 == 0 { 4000 } else { 4002 };
    SocketAddr::new(host, port)
}

fuzz_target!(|data: &[u8]| {
    let Some((preamble, mut rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let [config, pt_byte, start_ms, jitter] = *preamble;
    let ports = PortPool::new(20_000, 20_011);
    let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 20_000);
    let t0 = Instant::now();
    let at = |us: u64| t0 + Duration::from_micros(us);

    // This leg, as SDP negotiated it.
    let law = if config & 1 == 0 {
        Law::Ulaw
    } else {
        Law::Alaw
    };
    let payload_type = if pt_byte & 0x80 != 0 {
        pt_byte & 0x7f
    } else {
        law.payload_type()
    };
    let event_pt = (config & 2 != 0).then_some(EVENT_PT);
    let lease = ports.lease().expect("a port");
    let mut leg = LegState::new(
        lease,
        local,
        negotiated(law, payload_type, event_pt, address(0)),
        t0,
    );
    let mut pcm = vec![0i16; MAX_SAMPLES];
    let mut timeline = Timeline::with_jitter(u64::from(start_ms) * 1000, u64::from(jitter) * 1000);
    let other = if law == Law::Ulaw {
        Law::Alaw
    } else {
        Law::Ulaw
    };
    // Far leg A: the same law, events when configured; far leg B: the
    // other law (transcoding), no events.
    let mut far = [
        (law, (config & 4 != 0).then_some(96), 5060),
        (other, None, 5062),
    ]
    .map(|(far_law, far_events, port)| {
        let remote = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5)), port);
        Far {
            leg: LegState::new(
                ports.lease().expect("a port"),
                local,
                negotiated(far_law, far_law.payload_type(), far_events, remote),
                t0,
            ),
            law: far_law,
            payload_type: far_law.payload_type(),
            event_pt: far_events,
            out: vec![0; DATAGRAM],
        }
    });

    let mut now_us: u64 = 0;
    let mut prompt: u32 = 0;
    for _ in 0..MAX_RECORDS {
        let Some((head, tail)) = rest.split_first_chunk::<4>() else {
            break;
        };
        let [lo, hi, flags, len] = *head;
        let len = usize::from(len).min(tail.len());
        let (datagram, tail) = tail.split_at(len);
        rest = tail;
        let step = u64::from(u16::from_le_bytes([lo, hi]));
        now_us += if flags & 0x80 != 0 {
            step * 100
        } else {
            step * 10
        };
        let now = at(now_us);

        if flags & 0x04 != 0 {
            prompt = prompt.wrapping_add(u32::from(flags >> 3));
            let frame = [i16::from(lo) * 100; 160];
            for f in &mut far {
                f.send_pcm(prompt, &frame, now);
            }
            timeline.push(Side::Other, now_us, &frame);
        }
        if flags & 0x10 != 0 {
            if timeline.is_paused() {
                let _ = timeline.resume(now_us);
            } else {
                timeline.pause(now_us);
            }
        }

        // The parser on its own: what it promises.
        match RtpPacket::parse(datagram) {
            Ok(packet) => check_packet(datagram, &packet),
            Err(e) => {
                let _ = e.to_string();
                assert!(!matches!(rtp::classify(datagram), Ok(Datagram::Rtp(_))));
            }
        }

        // The leg, as the server drives it per datagram.
        let (received, accepted) = leg.handle(datagram, address(flags), now, &mut pcm);
        match received {
            Received::Audio { at_us, len } => {
                assert!(matches!(accepted, Some(Payload::Audio(_))));
                timeline.push(Side::Caller, at_us, &pcm[..len]);
            }
            Received::Event => assert_eq!(accepted, Some(Payload::Event)),
            Received::Ignored => assert_eq!(accepted, None),
        }
        // A bridge relays what the leg accepted onto the other leg.
        if let Some(payload) = accepted {
            for f in &mut far {
                f.relay(datagram, payload, now);
            }
        }

        if flags & 0x20 != 0 {
            while leg.poll_digit(now).is_some() {}
        }
        if flags & 0x40 != 0 {
            timeline.close(now_us);
        }
        while let Some(frame) = timeline.poll_frame(now_us) {
            assert_eq!(frame.len(), 320);
        }
        let _ = leg.stats();
    }
    // The call ends: digits time out, the timeline lets its last frames out.
    while leg.poll_digit(at(now_us + 10_000_000)).is_some() {}
    timeline.close(now_us.saturating_add(1_000_000));
    let mut frames = 0;
    while timeline.poll_frame(u64::MAX).is_some() {
        frames += 1;
        assert!(frames <= 1 << 20, "a closed timeline drains");
    }
    let _ = timeline.stats();
});
