//! Tests of the RTP wire format, the outgoing stream, the incoming
//! bookkeeping and the latch.

use std::net::SocketAddr;

use super::*;

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// A packet with 2 CSRCs, a one-word extension, 160 bytes of payload and
/// 4 bytes of padding, built by hand from RFC 3550 §5.1.
fn rich_packet() -> Vec<u8> {
    let mut p = vec![
        0b1011_0010, // V=2, P=1, X=1, CC=2
        0x80 | 8,    // M=1, PT=8
        0x12,
        0x34, // seq
        0xde,
        0xad,
        0xbe,
        0xef, // ts
        0x01,
        0x02,
        0x03,
        0x04, // ssrc
    ];
    p.extend_from_slice(&[0, 0, 0, 0xaa, 0, 0, 0, 0xbb]); // CSRCs
    p.extend_from_slice(&[0xbe, 0xde, 0, 1, 0x10, 0x20, 0x30, 0x40]); // extension
    p.extend((0..160).map(|i| i as u8));
    p.extend_from_slice(&[0, 0, 0, 4]); // padding
    p
}

fn audio_packet(seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
    let header = RtpHeader {
        marker: false,
        payload_type: 0,
        sequence: seq,
        timestamp: ts,
        ssrc,
    };
    let mut buf = vec![0u8; 172];
    let len = header.write_packet(&[0x55; 160], &mut buf).unwrap();
    buf.truncate(len);
    buf
}

#[test]
fn header_write_parse_round_trip() {
    let mut rng = Rng(7);
    for _ in 0..1000 {
        let r = rng.next();
        let header = RtpHeader {
            marker: r & 1 == 1,
            payload_type: (r >> 1) as u8 & 0x7f,
            sequence: (r >> 8) as u16,
            timestamp: (r >> 24) as u32,
            ssrc: rng.next() as u32,
        };
        if RTCP_SECOND_OCTET.contains(&((u8::from(header.marker) << 7) | header.payload_type)) {
            continue; // PT 64–95 with M=1 collides with RTCP (RFC 5761 §4)
        }
        let payload: Vec<u8> = (0..(r % 200) as usize).map(|i| i as u8).collect();
        let mut buf = [0u8; 256];
        let len = header.write_packet(&payload, &mut buf).unwrap();
        assert_eq!(len, 12 + payload.len());
        let packet = RtpPacket::parse(&buf[..len]).unwrap();
        assert_eq!(packet.header(), header);
        assert_eq!(packet.payload(), &payload[..]);
        assert_eq!(packet.header_len(), 12);
        assert_eq!(packet.csrc_count(), 0);
        assert!(packet.extension().is_none());
        assert!(!packet.has_padding());
        // And the bytes are what to_bytes says.
        assert_eq!(&buf[..12], &header.to_bytes());
    }
}

#[test]
fn parses_csrcs_extension_and_padding() {
    let bytes = rich_packet();
    let p = RtpPacket::parse(&bytes).unwrap();
    assert!(p.marker());
    assert_eq!(p.payload_type(), 8);
    assert_eq!(p.sequence(), 0x1234);
    assert_eq!(p.timestamp(), 0xdead_beef);
    assert_eq!(p.ssrc(), 0x0102_0304);
    assert_eq!(p.csrcs().collect::<Vec<_>>(), vec![0xaa, 0xbb]);
    let ext = p.extension().unwrap();
    assert_eq!(ext.profile, 0xbede);
    assert_eq!(ext.data, &[0x10, 0x20, 0x30, 0x40]);
    assert_eq!(p.header_len(), 12 + 8 + 8);
    assert_eq!(p.padding_len(), 4);
    assert_eq!(p.payload().len(), 160);
    assert_eq!(p.payload()[0], 0);
    assert_eq!(p.payload()[159], 159);
    assert_eq!(p.as_bytes().len(), bytes.len());
}

#[test]
fn every_prefix_of_a_valid_packet_errors_without_panic() {
    let bytes = rich_packet();
    for len in 0..bytes.len() {
        let result = RtpPacket::parse(&bytes[..len]);
        // Cutting the padding's last octet leaves a packet whose "padding
        // count" is a payload byte: either an error or a (wrong but safe)
        // parse is acceptable only when the header itself is complete.
        if len < 28 {
            assert!(
                matches!(result, Err(RtpError::Truncated { .. })),
                "prefix {len}: {result:?}"
            );
        } else if let Ok(p) = result {
            assert!(p.header_len() + p.payload().len() + p.padding_len() == len);
        }
    }
    // The full packet parses.
    assert!(RtpPacket::parse(&bytes).is_ok());
}

#[test]
fn malformed_packets_are_errors() {
    let good = audio_packet(1, 2, 3);
    let mut bad = good.clone();
    bad[0] = 0x40; // version 1
    assert_eq!(RtpPacket::parse(&bad), Err(RtpError::BadVersion(1)));
    let mut bad = good.clone();
    bad[0] |= 0x20; // padding bit, last octet 0x55 = 85 is fine...
    assert_eq!(RtpPacket::parse(&bad).unwrap().padding_len(), 0x55);
    let last = bad.len() - 1;
    bad[last] = 0; // ...padding count 0 is not
    assert!(matches!(
        RtpPacket::parse(&bad),
        Err(RtpError::BadPadding { padding: 0, .. })
    ));
    bad[last] = 161; // runs into the header
    assert!(matches!(
        RtpPacket::parse(&bad),
        Err(RtpError::BadPadding { padding: 161, .. })
    ));
    let mut bad = good.clone();
    bad[0] |= 0x0f; // 15 CSRCs = 60 bytes, fine in 172
    assert_eq!(RtpPacket::parse(&bad).unwrap().csrc_count(), 15);
    let mut bad = good[..40].to_vec();
    bad[0] |= 0x0f; // but not in 40
    assert_eq!(
        RtpPacket::parse(&bad),
        Err(RtpError::Truncated { len: 40, need: 72 })
    );
    let mut bad = good.clone();
    bad[0] |= 0x10; // extension claiming 0x5555 words
    assert!(matches!(
        RtpPacket::parse(&bad),
        Err(RtpError::Truncated { .. })
    ));
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x5eed);
    let mut buf = [0u8; 64];
    for round in 0..200_000 {
        let len = (rng.next() % 65) as usize;
        for b in buf.iter_mut() {
            *b = rng.next() as u8;
        }
        if round % 2 == 0 {
            buf[0] = (buf[0] & 0x3f) | 0x80; // mostly version 2, to go deeper
        }
        let data = &buf[..len];
        match classify(data) {
            Ok(Datagram::Rtp(p)) => {
                assert!(p.header_len() + p.payload().len() + p.padding_len() == len);
                let _ = p.csrcs().count();
                let _ = p.extension();
            }
            Ok(Datagram::Rtcp { packet_type }) => {
                assert!((192..=223).contains(&packet_type))
            }
            Err(_) => {}
        }
    }
}

#[test]
fn rtcp_is_recognised_not_malformed() {
    // A receiver report: V=2, RC=0, PT=201, length 1, SSRC.
    let rr = [0x80, 201, 0, 1, 0, 0, 0, 9];
    assert_eq!(classify(&rr), Ok(Datagram::Rtcp { packet_type: 201 }));
    for pt in 200..=204u8 {
        let mut sr = [0u8; 28];
        sr[0] = 0x81;
        sr[1] = pt;
        assert_eq!(rtcp_packet_type(&sr), Some(pt));
        assert_eq!(RtpPacket::parse(&sr), Err(RtpError::Rtcp(pt)));
    }
    // RTP with PT 0 and PT 101 (telephone-event) with the marker: RTP.
    assert!(matches!(
        classify(&audio_packet(1, 1, 1)),
        Ok(Datagram::Rtp(_))
    ));
    let mut event = audio_packet(1, 1, 1);
    event[1] = 0x80 | 101;
    assert!(matches!(classify(&event), Ok(Datagram::Rtp(_))));
    assert_eq!(rtcp_packet_type(&[0x80, 200]), None); // too short
}

#[test]
fn write_refuses_small_buffers() {
    let header = RtpHeader::default();
    let mut small = [0u8; 11];
    assert_eq!(
        header.write(&mut small),
        Err(RtpError::BufferTooSmall { len: 11, need: 12 })
    );
    let mut buf = [0u8; 20];
    assert_eq!(
        header.write_packet(&[0; 9], &mut buf),
        Err(RtpError::BufferTooSmall { len: 20, need: 21 })
    );
    assert_eq!(header.write(&mut buf), Ok(12));
    assert_eq!(buf[0], 0x80);
}

// ---- OutgoingStream ----

const PROMPT_A: u32 = 1;
const PROMPT_B: u32 = 2;

#[test]
fn continuity_across_three_source_switches() {
    let mut out = OutgoingStream::new(0xcafe, 1000, 50_000, 8000);
    let mut sent: Vec<(RtpHeader, u64)> = Vec::new();
    let mut now = 1_000_000u64;
    // Prompt A: 10 frames.
    for _ in 0..10 {
        sent.push((out.send(PROMPT_A, 0, 160, now), now));
        now += 20_000;
    }
    // 7 ms later than the next frame would be, the bridge starts; the
    // agent's stream has its own SSRC, sequence and timestamps.
    now += 7_000;
    let (agent_seq, agent_ts) = (60_000u16, 3_000_000_000u32);
    for i in 0..10u16 {
        let mut buf = audio_packet(
            agent_seq.wrapping_add(i),
            agent_ts.wrapping_add(160 * u32::from(i)),
            0xa9e47,
        );
        let h = out.relay(&mut buf, now).unwrap();
        // The rewrite happened in the buffer, payload untouched.
        let p = RtpPacket::parse(&buf).unwrap();
        assert_eq!(p.header(), h);
        assert_eq!(p.payload(), &[0x55; 160]);
        sent.push((h, now));
        now += 20_000;
    }
    // Prompt B after 45 ms of silence, then back to the bridge.
    now += 45_000;
    for _ in 0..5 {
        sent.push((out.send(PROMPT_B, 0, 160, now), now));
        now += 20_000;
    }
    for i in 10..15u16 {
        let mut buf = audio_packet(
            agent_seq.wrapping_add(i),
            agent_ts.wrapping_add(160 * u32::from(i)),
            0xa9e47,
        );
        sent.push((out.relay(&mut buf, now).unwrap(), now));
        now += 20_000;
    }
    let switches = [0usize, 10, 20, 25];
    for (i, pair) in sent.windows(2).enumerate() {
        let ((a, at), (b, bt)) = (pair[0], pair[1]);
        assert_eq!(b.ssrc, 0xcafe);
        assert_eq!(b.sequence, a.sequence.wrapping_add(1), "packet {}", i + 1);
        let dts = b.timestamp.wrapping_sub(a.timestamp);
        if switches.contains(&(i + 1)) {
            assert!(b.marker, "marker on packet {}", i + 1);
            // Elapsed media time, in samples.
            assert_eq!(
                u64::from(dts),
                (bt - at) * 8000 / 1_000_000,
                "packet {}",
                i + 1
            );
        } else {
            assert!(!b.marker, "no marker on packet {}", i + 1);
            assert_eq!(dts, 160, "packet {}", i + 1);
        }
    }
    assert!(sent[0].0.marker);
    assert_eq!(sent[0].0.sequence, 1000);
    assert_eq!(sent[0].0.timestamp, 50_000);
    // 27 ms after a 20 ms frame: 216 samples; 65 ms: 520 samples.
    assert_eq!(sent[10].0.timestamp - sent[9].0.timestamp, 216);
    assert_eq!(sent[20].0.timestamp - sent[19].0.timestamp, 520);
    assert_eq!(out.packets(), 30);
}

#[test]
fn switch_sooner_than_a_frame_does_not_overlap() {
    let mut out = OutgoingStream::new(1, 0, 0, 8000);
    let a = out.send(PROMPT_A, 0, 160, 0);
    let mut buf = audio_packet(5, 777, 42);
    let b = out.relay(&mut buf, 3_000).unwrap(); // 3 ms later
    assert_eq!(b.timestamp - a.timestamp, 160);
    assert!(b.marker);
}

#[test]
fn sequence_and_timestamp_wrap() {
    let mut out = OutgoingStream::new(9, u16::MAX - 2, u32::MAX - 320, 8000);
    let mut last: Option<RtpHeader> = None;
    for i in 0..8u64 {
        let h = out.send(PROMPT_A, 0, 160, i * 20_000);
        if let Some(prev) = last {
            assert_eq!(h.sequence, prev.sequence.wrapping_add(1));
            assert_eq!(h.timestamp, prev.timestamp.wrapping_add(160));
        }
        last = Some(h);
    }
    assert_eq!(out.next_sequence(), 5); // 65533 + 8, wrapped
    assert_eq!(out.last_timestamp(), (u32::MAX - 320).wrapping_add(7 * 160));

    // A relayed source wrapping its own numbers maps through.
    let mut out = OutgoingStream::new(9, 100, 1000, 8000);
    let mut prev: Option<RtpHeader> = None;
    for i in 0..6u32 {
        let seq = (u16::MAX - 2).wrapping_add(i as u16);
        let ts = (u32::MAX - 300).wrapping_add(160 * i);
        let mut buf = audio_packet(seq, ts, 77);
        let h = out.relay(&mut buf, u64::from(i) * 20_000).unwrap();
        if let Some(p) = prev {
            assert_eq!(h.sequence, p.sequence.wrapping_add(1));
            assert_eq!(h.timestamp, p.timestamp.wrapping_add(160));
            assert!(!h.marker);
        }
        prev = Some(h);
    }
}

#[test]
fn relay_maps_source_gaps_and_reordering() {
    let mut out = OutgoingStream::new(3, 500, 8000, 8000);
    let mut buf = audio_packet(10, 1600, 77);
    let first = out.relay(&mut buf, 0).unwrap();
    // Packet 11 lost; 13 before 12.
    let mut p13 = audio_packet(13, 1600 + 3 * 160, 77);
    let h13 = out.relay(&mut p13, 60_000).unwrap();
    let mut p12 = audio_packet(12, 1600 + 2 * 160, 77);
    let h12 = out.relay(&mut p12, 61_000).unwrap();
    assert_eq!(h13.sequence, first.sequence + 3);
    assert_eq!(h13.timestamp, first.timestamp + 480);
    assert_eq!(h12.sequence, first.sequence + 2);
    assert_eq!(h12.timestamp, first.timestamp + 320);
    assert!(!h12.marker && !h13.marker);
    // The next local packet continues after the highest, not the late one.
    let h = out.send(PROMPT_A, 0, 160, 80_000);
    assert_eq!(h.sequence, first.sequence + 4);
    assert_eq!(h.timestamp, first.timestamp + 480 + 160);
}

#[test]
fn relay_source_restart_is_a_switch() {
    let mut out = OutgoingStream::new(3, 0, 0, 8000);
    let mut a = audio_packet(10, 1600, 77);
    let ha = out.relay(&mut a, 0).unwrap();
    // Same SSRC, sequence jumps by 30000: treated as a new talkspurt.
    let mut b = audio_packet(30_010, 999_999, 77);
    let hb = out.relay(&mut b, 20_000).unwrap();
    assert!(hb.marker);
    assert_eq!(hb.sequence, ha.sequence + 1);
    assert_eq!(hb.timestamp, ha.timestamp + 160);
}

#[test]
fn relay_refuses_rtcp_and_garbage_untouched() {
    let mut out = OutgoingStream::new(3, 0, 0, 8000);
    let mut rr = [0x80, 201, 0, 1, 0, 0, 0, 9];
    let before = rr;
    assert_eq!(out.relay(&mut rr, 0), Err(RtpError::Rtcp(201)));
    assert_eq!(rr, before);
    let mut short = [0x80, 0, 0];
    assert!(out.relay(&mut short, 0).is_err());
    assert_eq!(out.packets(), 0);
    assert_eq!(out.next_sequence(), 0);
}

#[test]
fn dtmf_events_share_their_timestamp() {
    let mut out = OutgoingStream::new(3, 0, 0, 8000);
    for i in 0..3u64 {
        out.send(PROMPT_A, 0, 160, i * 20_000);
    }
    // Local event at 60 ms: 4 updates and 3 end packets, 50 ms apart.
    let mut event = Vec::new();
    for i in 0..7u64 {
        event.push(out.send_event(101, i == 0, 60_000 + i * 50_000));
    }
    assert!(event[0].marker);
    assert_eq!(event[0].timestamp, 480);
    for (i, h) in event.iter().enumerate() {
        assert_eq!(h.timestamp, 480, "event packet {i}");
        assert_eq!(h.sequence, 3 + i as u16);
        assert_eq!(h.payload_type, 101);
        assert_eq!(h.marker, i == 0);
    }
    // Audio resumes 400 ms after the event began: 3200 samples later.
    let h = out.send(PROMPT_A, 0, 160, 460_000);
    assert_eq!(h.timestamp, 480 + 3200);
    assert_eq!(h.sequence, 10);
    assert!(h.marker);

    // Relayed events: the source's shared timestamp stays shared.
    let mut out = OutgoingStream::new(3, 0, 0, 8000);
    let mut a = audio_packet(1, 8000, 5);
    let first = out.relay(&mut a, 0).unwrap();
    let mut hs = Vec::new();
    for i in 0..4u16 {
        let mut e = audio_packet(2 + i, 8160, 5);
        e[1] = 101 | if i == 0 { 0x80 } else { 0 };
        hs.push(out.relay(&mut e, 20_000 + u64::from(i) * 50_000).unwrap());
    }
    for (i, h) in hs.iter().enumerate() {
        assert_eq!(h.timestamp, first.timestamp + 160);
        assert_eq!(h.sequence, first.sequence + 1 + i as u16);
        assert_eq!(h.marker, i == 0);
        assert_eq!(h.payload_type, 101);
    }
    // Audio after the 150 ms event, then a switch to a prompt 10 ms later:
    // the switch advances by one packet (160), not by the event's length.
    let mut audio = audio_packet(6, 8160 + 1200, 5);
    let after = out.relay(&mut audio, 190_000).unwrap();
    assert_eq!(after.timestamp, first.timestamp + 160 + 1200);
    let prompt = out.send(PROMPT_A, 0, 160, 200_000);
    assert_eq!(prompt.timestamp, after.timestamp + 160);
    assert_eq!(prompt.sequence, after.sequence + 1);
}

#[test]
fn new_talkspurt_restarts_from_elapsed_time() {
    let mut out = OutgoingStream::new(3, 0, 0, 8000);
    out.send(PROMPT_A, 0, 160, 0);
    out.new_talkspurt();
    let h = out.send(PROMPT_A, 0, 160, 1_000_000);
    assert!(h.marker);
    assert_eq!(h.timestamp, 8000);
}

// ---- IncomingStream ----

fn receive(inc: &mut IncomingStream, seq: u16, ts: u32, ssrc: u32, now_us: u64) -> Reception {
    let bytes = audio_packet(seq, ts, ssrc);
    inc.receive(&RtpPacket::parse(&bytes).unwrap(), now_us)
}

#[test]
fn incoming_counts_loss_duplicates_and_reordering() {
    let mut inc = IncomingStream::new(8000, Some(101));
    let order: [u16; 12] = [1, 2, 3, 5, 4, 4, 7, 8, 8, 10, 6, 11];
    let mut verdicts = Vec::new();
    for (i, seq) in order.iter().enumerate() {
        verdicts.push(receive(
            &mut inc,
            *seq,
            u32::from(*seq) * 160,
            7,
            i as u64 * 20_000,
        ));
    }
    assert_eq!(verdicts[0], Reception::NewSource { ssrc: 7 });
    assert!(matches!(verdicts[3], Reception::InOrder { missing: 1, .. }));
    assert!(matches!(verdicts[4], Reception::Late { .. }));
    assert_eq!(verdicts[5], Reception::Duplicate);
    assert!(matches!(verdicts[6], Reception::InOrder { missing: 1, .. }));
    assert_eq!(verdicts[8], Reception::Duplicate);
    assert!(matches!(verdicts[10], Reception::Late { .. }));
    let s = inc.stats();
    assert_eq!(s.received, 10); // 1..=8, 10, 11 less 9 = 10 distinct
    assert_eq!(s.lost, 1); // 9
    assert_eq!(s.duplicates, 2);
    assert_eq!(s.reordered, 2); // 4 and 6
    assert_eq!(s.ssrc_changes, 0);
}

#[test]
fn incoming_extended_sequence_across_wrap() {
    let mut inc = IncomingStream::new(8000, None);
    let mut exts = Vec::new();
    for i in 0..10u16 {
        let seq = 65_530u16.wrapping_add(i);
        match receive(&mut inc, seq, u32::from(i) * 160, 1, u64::from(i) * 20_000) {
            Reception::InOrder { extended_seq, .. } => exts.push(extended_seq),
            Reception::NewSource { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    for pair in exts.windows(2) {
        assert_eq!(pair[1], pair[0] + 1);
    }
    // A late packet from before the wrap still counts as late.
    assert!(matches!(
        receive(&mut inc, 65_529, 0, 1, 300_000),
        Reception::Late { .. }
    ));
    let s = inc.stats();
    assert_eq!((s.received, s.lost, s.reordered), (11, 0, 1));
}

#[test]
fn incoming_new_ssrc_is_accepted_and_counted() {
    let mut inc = IncomingStream::new(8000, None);
    for i in 0..5u16 {
        receive(&mut inc, 100 + i * 2, 0, 1, 0); // every other: 4 lost
    }
    assert_eq!(
        receive(&mut inc, 9, 0, 2, 0),
        Reception::NewSource { ssrc: 2 }
    );
    assert!(matches!(
        receive(&mut inc, 10, 160, 2, 20_000),
        Reception::InOrder { missing: 0, .. }
    ));
    assert_eq!(inc.ssrc(), Some(2));
    let s = inc.stats();
    assert_eq!(s.ssrc_changes, 1);
    assert_eq!(s.received, 7);
    assert_eq!(s.lost, 4);
}

#[test]
fn incoming_sequence_jump_needs_confirmation() {
    let mut inc = IncomingStream::new(8000, None);
    receive(&mut inc, 10, 0, 1, 0);
    receive(&mut inc, 11, 160, 1, 20_000);
    assert_eq!(receive(&mut inc, 40_000, 0, 1, 40_000), Reception::Jump);
    assert_eq!(
        receive(&mut inc, 40_001, 160, 1, 60_000),
        Reception::NewSource { ssrc: 1 }
    );
    assert!(matches!(
        receive(&mut inc, 40_002, 320, 1, 80_000),
        Reception::InOrder { missing: 0, .. }
    ));
    let s = inc.stats();
    assert_eq!((s.jumps, s.ssrc_changes, s.lost), (1, 0, 0));
}

#[test]
fn incoming_jitter_follows_rfc3550() {
    // Perfectly paced packets: zero jitter.
    let mut inc = IncomingStream::new(8000, None);
    for i in 0..100u32 {
        receive(&mut inc, i as u16, i * 160, 1, u64::from(i) * 20_000);
    }
    assert_eq!(inc.stats().jitter, 0);
    // Alternating ±5 ms (40 samples): |D| is 80 samples each time after
    // the first, so J converges to 80 (it approaches from below).
    let mut inc = IncomingStream::new(8000, None);
    for i in 0..400u32 {
        let wobble = if i % 2 == 0 { 0 } else { 10_000 };
        receive(
            &mut inc,
            i as u16,
            i * 160,
            1,
            u64::from(i) * 20_000 + wobble,
        );
    }
    let j = inc.stats().jitter;
    assert!((75..=80).contains(&j), "jitter {j}");
    assert_eq!(inc.jitter_us(), u64::from(j) * 125);
    // Telephone-event packets (shared timestamp) do not count.
    let mut inc = IncomingStream::new(8000, Some(101));
    for i in 0..50u16 {
        let mut bytes = audio_packet(i, 8000, 1);
        bytes[1] = 101;
        inc.receive(&RtpPacket::parse(&bytes).unwrap(), u64::from(i) * 50_000);
    }
    assert_eq!(inc.stats().jitter, 0);
}

// ---- Latch ----

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn latch_learns_then_rejects_others() {
    let mut latch = Latch::new(Some(addr("192.168.1.20:4000")), LatchMode::Learn);
    assert_eq!(latch.send_to(), Some(addr("192.168.1.20:4000")));
    let nat = addr("203.0.113.5:61000");
    assert_eq!(latch.check(nat), LatchVerdict::Latched(nat));
    assert_eq!(latch.send_to(), Some(nat));
    assert_eq!(latch.check(nat), LatchVerdict::Accepted);
    assert_eq!(
        latch.check(addr("198.51.100.1:61000")),
        LatchVerdict::Rejected
    );
    assert_eq!(
        latch.check(addr("203.0.113.5:61001")),
        LatchVerdict::Rejected
    );
    assert_eq!(
        latch.check(addr("192.168.1.20:4000")),
        LatchVerdict::Rejected
    );
    assert_eq!(
        latch.stats(),
        LatchStats {
            accepted: 2,
            rejected: 3,
            latches: 1
        }
    );
}

#[test]
fn latch_on_signalled_address_only() {
    let sdp = addr("198.51.100.7:30000");
    let mut exact = Latch::new(Some(sdp), LatchMode::Signalled);
    assert_eq!(
        exact.check(addr("198.51.100.7:30002")),
        LatchVerdict::Rejected
    );
    assert_eq!(exact.latched(), None);
    assert_eq!(exact.check(sdp), LatchVerdict::Latched(sdp));

    let mut host = Latch::new(Some(sdp), LatchMode::SignalledHost);
    assert_eq!(
        host.check(addr("198.51.100.8:30000")),
        LatchVerdict::Rejected
    );
    let translated = addr("198.51.100.7:45123");
    assert_eq!(host.check(translated), LatchVerdict::Latched(translated));
    assert_eq!(host.check(sdp), LatchVerdict::Rejected);

    // No SDP address yet: nothing latches in the checking modes.
    let mut none = Latch::new(None, LatchMode::Signalled);
    assert_eq!(none.check(sdp), LatchVerdict::Rejected);
    assert_eq!(none.send_to(), None);
}

#[test]
fn relatch_on_new_address_only() {
    let first = addr("10.0.0.1:5000");
    let mut latch = Latch::new(Some(first), LatchMode::SignalledHost);
    let natted = addr("10.0.0.1:5002");
    assert_eq!(latch.check(natted), LatchVerdict::Latched(natted));
    // Hold/resume re-INVITE with the same address: latch kept.
    latch.relatch(Some(first));
    assert_eq!(latch.latched(), Some(natted));
    assert_eq!(latch.check(natted), LatchVerdict::Accepted);
    // A new address: the old one is refused, the new one latches.
    let moved = addr("10.0.0.9:7000");
    latch.relatch(Some(moved));
    assert_eq!(latch.latched(), None);
    assert_eq!(latch.send_to(), Some(moved));
    assert_eq!(latch.check(natted), LatchVerdict::Rejected);
    assert_eq!(latch.check(moved), LatchVerdict::Latched(moved));
    assert_eq!(latch.stats().latches, 2);
}
