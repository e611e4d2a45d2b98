//! Fuzz target: a short run of datagrams arriving on an RTP leg, through
//! the chain `media::leg::LegState::handle` and `prepare_relay` run per
//! datagram (a `LegState` needs a port lease, so the chain is rebuilt
//! here from the same public blocks): parse, latch, incoming stream,
//! RFC 4733 receiver, G.711 decode, in-band DTMF detector, the stream
//! clock and the recording timeline, and the relay onto two far legs
//! (same law and the other law; one with a telephone-event type, one
//! without), with local prompt audio and events interleaved on them.
//!
//! Input: a 4-byte preamble, then records of
//! `[step lo, step hi, flags, len, len bytes of datagram]`:
//!
//! - preamble[0]: bit 0 this leg's law (µ-law/A-law), bit 1 this leg
//!   takes telephone-events (pt 101; else in-band detection runs), bit 2
//!   far leg A takes events, bits 3-4 latch mode; preamble[1]: the
//!   negotiated payload type when bit 7 is set (else the law's static
//!   one); preamble[2..4]: the recording's start (ms) and jitter.
//! - step: time since the previous datagram, in units of 10 µs (up to
//!   655 ms; flags bit 7 makes it units of 100 µs: up to 6.5 s).
//! - flags: bits 0-1 the source address (two hosts, two ports), bit 2
//!   local audio is sent on both far legs before the relay (a prompt
//!   between bridged packets), bit 3 a local event instead, bit 4
//!   pause/resume the recording, bit 5 poll digits, bit 6 close the
//!   recording (it keeps its frames until the end).
//!
//! Nothing may panic; what the relay writes must parse as RTP with the
//! far leg's SSRC and payload type and the datagram's length.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use hibiki::media::dtmf::inband::InbandDetector;
use hibiki::media::dtmf::rfc4733::Rfc4733Receiver;
use hibiki::media::g711::Law;
use hibiki::media::recording::{Side, StreamClock, Timeline};
use hibiki::media::relay::{self, NotRelayed, Payload, Target};
use hibiki::media::rtp::incoming::{IncomingStream, Reception};
use hibiki::media::rtp::latch::{Latch, LatchMode, LatchVerdict};
use hibiki::media::rtp::outgoing::OutgoingStream;
use hibiki::media::rtp::{self, Datagram, RtpError, RtpPacket, FIXED_HEADER_LEN};
use libfuzzer_sys::fuzz_target;

/// As in `media::leg`.
const DATAGRAM: usize = 2048;
const MAX_SAMPLES: usize = 2000;
/// Records per input: enough for sequence wraps and DTMF ends.
const MAX_RECORDS: usize = 256;
const EVENT_PT: u8 = 101;

/// One far leg a bridged packet is relayed onto.
struct Far {
    target: Target,
    outgoing: OutgoingStream,
    out: Vec<u8>,
}

impl Far {
    fn new(target: Target, ssrc: u32) -> Far {
        Far {
            target,
            outgoing: OutgoingStream::new(ssrc, 65_530, u32::MAX - 500, 8000),
            out: vec![0; DATAGRAM],
        }
    }

    /// `LegState::prepare_relay`, checked.
    fn relay(&mut self, packet: &[u8], payload: Payload, now_us: u64) {
        match relay::prepare(
            packet,
            payload,
            &self.target,
            &mut self.outgoing,
            now_us,
            &mut self.out,
        ) {
            Ok(len) => {
                assert_eq!(len, packet.len(), "the relay keeps the length");
                let sent = RtpPacket::parse(&self.out[..len]).expect("a relayed packet parses");
                assert_eq!(sent.ssrc(), self.outgoing.ssrc());
                let want_pt = match payload {
                    Payload::Audio(_) => self.target.payload_type & 0x7f,
                    Payload::Event => self.target.event_pt.unwrap_or(0) & 0x7f,
                };
                assert_eq!(sent.payload_type(), want_pt);
                let src = RtpPacket::parse(packet).expect("relayed from a packet that parsed");
                assert_eq!(sent.payload().len(), src.payload().len());
                if payload == Payload::Event || payload == Payload::Audio(self.target.law) {
                    assert_eq!(sent.payload(), src.payload());
                }
            }
            Err(NotRelayed::NoEventType) => {
                assert!(payload == Payload::Event && self.target.event_pt.is_none());
            }
            Err(NotRelayed::Malformed) => {}
        }
    }

    /// `LegState::prepare_pcm`: a frame of local audio.
    fn send_pcm(&mut self, source: u32, pcm: &[i16], now_us: u64) {
        let n = pcm.len().min(MAX_SAMPLES);
        let samples = u32::try_from(n).unwrap_or(0);
        let header = self
            .outgoing
            .send(source, self.target.payload_type, samples, now_us);
        let mut payload = [0u8; MAX_SAMPLES];
        self.target.law.encode(&pcm[..n], &mut payload);
        let len = header
            .write_packet(&payload[..n], &mut self.out)
            .expect("fits the buffer");
        let sent = RtpPacket::parse(&self.out[..len]).expect("our packet parses");
        assert_eq!(sent.header(), header);
    }

    /// A local RFC 4733 event packet (SIP INFO relayed as an event).
    fn send_event(&mut self, first: bool, now_us: u64) {
        if let Some(pt) = self.target.event_pt {
            let header = self.outgoing.send_event(pt, first, now_us);
            let mut buf = [0u8; FIXED_HEADER_LEN];
            header.write(&mut buf).expect("fits");
            assert!(RtpPacket::parse(&buf).is_ok());
        }
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

    // This leg, as `LegState::new` sets it up from the negotiation.
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
    let mode = match (config >> 3) & 3 {
        0 | 3 => LatchMode::Learn,
        1 => LatchMode::SignalledHost,
        _ => LatchMode::Signalled,
    };
    let mut latch = Latch::new(Some(address(0)), mode);
    let mut incoming = IncomingStream::new(8000, event_pt);
    let mut dtmf = Rfc4733Receiver::new();
    let mut inband = event_pt.is_none().then(InbandDetector::new);
    let mut clock = StreamClock::default();
    let mut last_ssrc: Option<u32> = None;
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
        Far::new(
            Target {
                law,
                payload_type: law.payload_type(),
                event_pt: (config & 4 != 0).then_some(96),
            },
            0x1111_1111,
        ),
        Far::new(
            Target {
                law: other,
                payload_type: other.payload_type(),
                event_pt: None,
            },
            0x2222_2222,
        ),
    ];

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
        let from = address(flags);

        if flags & 0x04 != 0 {
            prompt = prompt.wrapping_add(u32::from(flags >> 3));
            let frame = [i16::from(lo) * 100; 160];
            for f in &mut far {
                f.send_pcm(prompt, &frame, now_us);
            }
            timeline.push(Side::Other, now_us, &frame);
        }
        if flags & 0x08 != 0 {
            for f in &mut far {
                f.send_event(flags & 0x40 != 0, now_us);
            }
        }
        if flags & 0x10 != 0 {
            if timeline.is_paused() {
                let _ = timeline.resume(now_us);
            } else {
                timeline.pause(now_us);
            }
        }

        // `LegState::handle`.
        let handled = 'handle: {
            let packet = match RtpPacket::parse(datagram) {
                Ok(p) => p,
                Err(RtpError::Rtcp(pt)) => {
                    assert!(matches!(
                        rtp::classify(datagram),
                        Ok(Datagram::Rtcp { packet_type }) if packet_type == pt
                    ));
                    break 'handle None;
                }
                Err(e) => {
                    let _ = e.to_string();
                    assert!(rtp::classify(datagram).is_err());
                    break 'handle None;
                }
            };
            check_packet(datagram, &packet);
            if latch.check(from) == LatchVerdict::Rejected {
                break 'handle None;
            }
            let before = incoming.stats();
            let reception = incoming.receive(&packet, now_us);
            let after = incoming.stats();
            assert!(after.received >= before.received);
            let _ = incoming.jitter_us();
            if matches!(reception, Reception::Duplicate | Reception::Jump) {
                break 'handle None;
            }
            assert_eq!(incoming.ssrc(), Some(packet.ssrc()));
            if last_ssrc != Some(packet.ssrc()) {
                last_ssrc = Some(packet.ssrc());
                clock.reset();
            }
            let pt = packet.payload_type();
            if Some(pt) == event_pt {
                let _ = dtmf.handle_packet(
                    now_us,
                    packet.timestamp(),
                    packet.marker(),
                    packet.payload(),
                );
                let _ = dtmf.in_progress();
                break 'handle Some(Payload::Event);
            }
            let law = if pt == payload_type {
                law
            } else {
                match Law::from_payload_type(pt) {
                    Some(law) => law,
                    None => break 'handle None,
                }
            };
            let payload = packet.payload();
            let n = payload.len().min(pcm.len());
            let dst = &mut pcm[..n];
            assert_eq!(law.decode(&payload[..n], dst), n);
            if let Some(detector) = inband.as_mut() {
                for frame in dst.chunks(160) {
                    let _ = detector.push(frame);
                    while detector.poll_digit().is_some() {}
                    let _ = detector.current();
                }
            }
            let at_us = clock.media_time(packet.timestamp(), now_us);
            timeline.push(Side::Caller, at_us, dst);
            Some(Payload::Audio(law))
        };

        // `RtpLeg::relay` onto both far legs, as a bridge does.
        if let Some(payload) = handled {
            for f in &mut far {
                f.relay(datagram, payload, now_us);
            }
        }

        // `LegState::poll_digit`, and the recorder's drain.
        if flags & 0x20 != 0 {
            dtmf.handle_timeout(now_us);
            while dtmf.poll_event().is_some() {}
        }
        if flags & 0x40 != 0 && flags & 0x08 == 0 {
            timeline.close(now_us);
        }
        while let Some(frame) = timeline.poll_frame(now_us) {
            assert_eq!(frame.len(), 320);
        }
        let _ = latch.stats();
        let _ = latch.send_to();
    }
    // The call ends: the timeline lets its last frames out.
    dtmf.handle_timeout(u64::MAX);
    while dtmf.poll_event().is_some() {}
    timeline.close(now_us.saturating_add(1_000_000));
    let mut frames = 0;
    while timeline.poll_frame(u64::MAX).is_some() {
        frames += 1;
        assert!(frames <= 1 << 20, "a closed timeline drains");
    }
    let _ = timeline.stats();
});
