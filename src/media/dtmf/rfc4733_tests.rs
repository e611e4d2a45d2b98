use super::*;

/// 20 ms in microseconds.
const PTIME_US: u64 = 20_000;

fn drain(rx: &mut Rfc4733Receiver) -> Vec<DtmfEvent> {
    std::iter::from_fn(|| rx.poll_event()).collect()
}

fn te(event: u8, end: bool, duration: u16) -> [u8; 4] {
    TelephoneEvent {
        event,
        end,
        volume: 10,
        duration,
    }
    .to_bytes()
}

/// Feeds a sender's packets for `digit` at timestamp `ts` starting at
/// `t0_us`, keeping those `keep` accepts (by index); returns the time
/// after the last packet.
fn send(
    rx: &mut Rfc4733Receiver,
    digit: char,
    ms: u32,
    ts: u32,
    t0_us: u64,
    mut keep: impl FnMut(usize) -> bool,
) -> u64 {
    let mut t = t0_us;
    for (i, p) in Rfc4733Sender::new(digit, ms, 20, 10).unwrap().enumerate() {
        t = t0_us + u64::from(p.send_offset) * 125;
        if keep(i) {
            rx.handle_packet(t, ts, p.marker, &p.payload).unwrap();
        }
    }
    t
}

#[test]
fn payload_parse_and_write() {
    // RFC 4733 §2.3 layout: event, E|R|volume, duration (big endian).
    let bytes = [0x05, 0x8A, 0x03, 0x20];
    let ev = TelephoneEvent::parse(&bytes).unwrap();
    assert_eq!(
        ev,
        TelephoneEvent {
            event: 5,
            end: true,
            volume: 10,
            duration: 800
        }
    );
    assert_eq!(ev.to_bytes(), bytes);
    // R bit ignored; trailing bytes ignored
    let ev2 = TelephoneEvent::parse(&[0x0B, 0x4A, 0x00, 0xA0, 0xFF]).unwrap();
    assert_eq!(
        (ev2.event, ev2.end, ev2.volume, ev2.duration),
        (11, false, 10, 160)
    );
    assert_eq!(ev2.to_bytes(), [0x0B, 0x0A, 0x00, 0xA0]);
    for n in 0..4 {
        assert_eq!(
            TelephoneEvent::parse(&bytes[..n]),
            Err(DtmfError::ShortPayload(n))
        );
    }
    let mut buf = [0u8; 6];
    assert_eq!(ev.write(&mut buf), Ok(4));
    assert_eq!(&buf[..4], &bytes);
    assert_eq!(ev.write(&mut buf[..3]), Err(DtmfError::BufferTooSmall(3)));
}

#[test]
fn sender_series_shape() {
    let pkts: Vec<DtmfPacket> = Rfc4733Sender::new('7', 100, 20, 10).unwrap().collect();
    assert_eq!(pkts.len(), 5 + 3);
    for (i, p) in pkts.iter().enumerate() {
        let ev = TelephoneEvent::parse(&p.payload).unwrap();
        assert_eq!(ev.event, 7);
        assert_eq!(ev.volume, 10);
        assert_eq!(p.marker, i == 0, "marker only on the first packet");
        assert_eq!(p.send_offset, 160 * i as u32, "one packet per 20 ms");
        if i < 5 {
            assert!(!ev.end);
            assert_eq!(u32::from(ev.duration), 160 * (i as u32 + 1));
        } else {
            assert!(ev.end);
            assert_eq!(ev.duration, 800);
        }
    }
    // rounding up to a whole packet; other ptimes
    let s = Rfc4733Sender::new('#', 90, 30, 80).unwrap();
    assert_eq!(s.total_samples(), 720);
    assert_eq!(s.size_hint(), (6, Some(6)));
    let last = s.last().unwrap();
    let ev = TelephoneEvent::parse(&last.payload).unwrap();
    assert_eq!(
        (ev.event, ev.end, ev.volume, ev.duration),
        (11, true, 63, 720)
    );
    assert_eq!(
        Rfc4733Sender::new('x', 100, 20, 10).err(),
        Some(DtmfError::NotADigit('x'))
    );
    assert!(Rfc4733Sender::new('1', 0, 20, 10).is_err());
    assert!(Rfc4733Sender::new('1', 100, 0, 10).is_err());
    assert!(Rfc4733Sender::new('1', 8000, 20, 10).is_ok());
    assert!(Rfc4733Sender::new('1', 8200, 20, 10).is_err());
}

#[test]
fn every_digit_once_through_sender() {
    let mut rx = Rfc4733Receiver::new();
    let digits = "0123456789*#ABCD";
    let mut t = 0;
    let mut got = Vec::new();
    for (i, d) in digits.chars().enumerate() {
        let ts = 1000 + 4000 * i as u32;
        t = send(&mut rx, d, 100, ts, t + 100_000, |_| true);
        got.extend(drain(&mut rx));
        assert_eq!(rx.poll_timeout(), None, "closed by the end bit");
    }
    let s: String = got.iter().map(|e| e.digit).collect();
    assert_eq!(s, digits);
    for (i, e) in got.iter().enumerate() {
        assert_eq!(e.duration_samples, 800);
        assert_eq!(e.started_at_ts, 1000 + 4000 * i as u32);
        assert_eq!(e.ended_by, EndedBy::EndBit);
    }
}

#[test]
fn retransmitted_end_packets_count_once() {
    let mut rx = Rfc4733Receiver::new();
    rx.handle_packet(0, 500, true, &te(1, false, 160)).unwrap();
    assert_eq!(rx.in_progress(), Some('1'));
    assert!(drain(&mut rx).is_empty(), "reported at the end, not before");
    for i in 0..3 {
        rx.handle_packet(20_000 * (i + 1), 500, false, &te(1, true, 480))
            .unwrap();
    }
    let got = drain(&mut rx);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].duration_samples, 480);
    assert_eq!(rx.in_progress(), None);
    // A late update (same timestamp, after the end) is no new digit.
    rx.handle_packet(100_000, 500, false, &te(1, false, 320))
        .unwrap();
    rx.handle_packet(100_000, 500, true, &te(1, false, 160))
        .unwrap();
    assert!(drain(&mut rx).is_empty());
    assert_eq!(rx.poll_timeout(), None);
}

#[test]
fn lost_end_packets_next_event_closes() {
    let mut rx = Rfc4733Receiver::new();
    // '5' loses all three end packets; '6' follows with a new timestamp.
    let t = send(&mut rx, '5', 100, 8000, 0, |i| i < 5);
    assert!(drain(&mut rx).is_empty());
    send(&mut rx, '6', 60, 9600, t + 60_000, |_| true);
    let got = drain(&mut rx);
    assert_eq!(got.len(), 2);
    assert_eq!((got[0].digit, got[0].ended_by), ('5', EndedBy::NextEvent));
    assert_eq!(got[0].duration_samples, 800, "longest duration seen");
    assert_eq!((got[1].digit, got[1].ended_by), ('6', EndedBy::EndBit));
}

#[test]
fn same_digit_twice_is_two_digits() {
    let mut rx = Rfc4733Receiver::new();
    let t = send(&mut rx, '9', 80, 100, 0, |_| true);
    send(&mut rx, '9', 80, 100 + 1600, t + 60_000, |_| true);
    let got = drain(&mut rx);
    assert_eq!(got.iter().map(|e| e.digit).collect::<String>(), "99");
}

#[test]
fn lost_end_timeout_closes() {
    let mut rx = Rfc4733Receiver::with_timeout(300_000);
    let t = send(&mut rx, '*', 100, 7, 1_000_000, |i| i < 5);
    let deadline = rx.poll_timeout().unwrap();
    assert_eq!(deadline, t - 3 * PTIME_US + 300_000);
    rx.handle_timeout(deadline - 1);
    assert!(drain(&mut rx).is_empty());
    rx.handle_timeout(deadline);
    let got = drain(&mut rx);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].digit, got[0].ended_by), ('*', EndedBy::Timeout));
    assert_eq!(rx.poll_timeout(), None);
    // its late end packet afterwards is not a second digit
    rx.handle_packet(deadline + 1, 7, false, &te(10, true, 800))
        .unwrap();
    assert!(drain(&mut rx).is_empty());
}

#[test]
fn only_end_packets_arrive() {
    let mut rx = Rfc4733Receiver::new();
    send(&mut rx, 'B', 100, 42, 0, |i| i >= 5);
    let got = drain(&mut rx);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].digit, got[0].duration_samples), ('B', 800));
}

#[test]
fn old_and_reordered_packets_ignored() {
    let mut rx = Rfc4733Receiver::new();
    send(&mut rx, '1', 60, 10_000, 0, |_| true);
    send(&mut rx, '2', 60, 12_000, 200_000, |_| true);
    // a stray update of '1' arrives late: older timestamp, ignored
    rx.handle_packet(400_000, 10_000, false, &te(1, false, 160))
        .unwrap();
    rx.handle_packet(400_000, 10_000, true, &te(1, true, 480))
        .unwrap();
    assert_eq!(rx.poll_timeout(), None);
    let got: String = drain(&mut rx).iter().map(|e| e.digit).collect();
    assert_eq!(got, "12");
}

#[test]
fn timestamps_wrap() {
    let mut rx = Rfc4733Receiver::new();
    let t = send(&mut rx, '3', 60, u32::MAX - 100, 0, |_| true);
    send(&mut rx, '4', 60, 1500, t + 60_000, |_| true);
    // and a late packet from before the wrap is still "older"
    rx.handle_packet(t + 200_000, u32::MAX - 100, true, &te(3, false, 160))
        .unwrap();
    let got: String = drain(&mut rx).iter().map(|e| e.digit).collect();
    assert_eq!(got, "34");
}

#[test]
fn flash_and_other_events_not_reported() {
    let mut rx = Rfc4733Receiver::new();
    rx.handle_packet(0, 100, true, &te(EVENT_FLASH_CODE, false, 160))
        .unwrap();
    assert_eq!(rx.in_progress(), None);
    for _ in 0..3 {
        rx.handle_packet(20_000, 100, false, &te(EVENT_FLASH_CODE, true, 800))
            .unwrap();
    }
    rx.handle_packet(40_000, 900, true, &te(70, true, 800))
        .unwrap();
    assert!(drain(&mut rx).is_empty());
    send(&mut rx, '8', 60, 2000, 100_000, |_| true);
    assert_eq!(drain(&mut rx).len(), 1);
}

const EVENT_FLASH_CODE: u8 = crate::media::dtmf::EVENT_FLASH;

#[test]
fn short_payload_is_an_error_and_changes_nothing() {
    let mut rx = Rfc4733Receiver::new();
    rx.handle_packet(0, 100, true, &te(2, false, 160)).unwrap();
    assert_eq!(
        rx.handle_packet(1, 100, false, &[2, 0x80]),
        Err(DtmfError::ShortPayload(2))
    );
    assert_eq!(rx.in_progress(), Some('2'));
    rx.handle_packet(2, 100, false, &te(2, true, 320)).unwrap();
    assert_eq!(drain(&mut rx).len(), 1);
}

#[test]
fn long_event_segments_are_one_digit() {
    let mut rx = Rfc4733Receiver::new();
    // segment 1 grows to 0xFFFF, then segment 2 starts at ts + 0xFFFF
    rx.handle_packet(0, 1000, true, &te(0, false, 160)).unwrap();
    rx.handle_packet(1, 1000, false, &te(0, false, 0xFFFF))
        .unwrap();
    let ts2 = 1000 + 0xFFFF;
    rx.handle_packet(2, ts2, false, &te(0, false, 160)).unwrap();
    rx.handle_packet(3, ts2, false, &te(0, true, 4000)).unwrap();
    let got = drain(&mut rx);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].duration_samples, 0xFFFF + 4000);
    assert_eq!(got[0].started_at_ts, 1000);
}

/// A peer that never ends an event, in full-length segments, for longer
/// than a u32 of samples holds (found by the `rtp` fuzz target's review):
/// the length saturates instead of overflowing.
#[test]
fn an_endless_long_event_saturates_its_length() {
    let mut rx = Rfc4733Receiver::new();
    let mut ts: u32 = 1000;
    rx.handle_packet(0, ts, true, &te(5, false, 0xFFFF))
        .unwrap();
    for i in 1..70_000u64 {
        ts = ts.wrapping_add(0xFFFF);
        rx.handle_packet(i * 1_000, ts, false, &te(5, false, 0xFFFF))
            .unwrap();
    }
    rx.handle_packet(70_000_000, ts, false, &te(5, true, 0xFFFF))
        .unwrap();
    let got = drain(&mut rx);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].digit, '5');
    assert_eq!(got[0].duration_samples, u32::MAX);
}

#[test]
fn queue_keeps_digits_until_drained() {
    let mut rx = Rfc4733Receiver::new();
    for i in 0..3u32 {
        send(
            &mut rx,
            char::from(b'1' + i as u8),
            60,
            1000 * i,
            200_000 * u64::from(i),
            |_| true,
        );
    }
    let got: String = drain(&mut rx).iter().map(|e| e.digit).collect();
    assert_eq!(got, "123");
}

/// A lossy, duplicating link: each digit loses a pseudo-random subset of
/// its packets (at least one survives) and some survivors arrive twice;
/// every digit is still reported exactly once, in order.
#[test]
fn lossy_link_reports_each_digit_once() {
    let mut seed: u32 = 0x1234_5678;
    let mut rand = move || {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        seed >> 8
    };
    let digits: Vec<char> = "0123456789*#ABCD".chars().cycle().take(200).collect();
    let mut rx = Rfc4733Receiver::new();
    let mut got = Vec::new();
    let mut t = 0u64;
    for (n, d) in digits.iter().enumerate() {
        let ts = 10_000u32.wrapping_mul(n as u32);
        let pkts: Vec<DtmfPacket> = Rfc4733Sender::new(*d, 100, 20, 10).unwrap().collect();
        let survivor = rand() as usize % pkts.len();
        for (i, p) in pkts.iter().enumerate() {
            let now = t + u64::from(p.send_offset) * 125;
            if i == survivor || rand() % 3 != 0 {
                rx.handle_packet(now, ts, p.marker, &p.payload).unwrap();
                if rand() % 4 == 0 {
                    rx.handle_packet(now, ts, p.marker, &p.payload).unwrap();
                }
            }
            rx.handle_timeout(now);
            got.extend(drain(&mut rx));
        }
        t += 300_000;
    }
    rx.handle_timeout(t + 1_000_000);
    got.extend(drain(&mut rx));
    let s: Vec<char> = got.iter().map(|e| e.digit).collect();
    assert_eq!(s, digits);
}
