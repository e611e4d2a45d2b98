use super::*;

const T0: u64 = 1_234_567; // an arbitrary media-clock origin

/// A frame whose samples encode where they belong: `tag + i`.
fn ramp(tag: i16, n: usize) -> Vec<i16> {
    (0..n).map(|i| tag.wrapping_add(i as i16)).collect()
}

/// Drains every due frame into (left, right) sample vectors.
fn drain(t: &mut Timeline, now: u64, left: &mut Vec<i16>, right: &mut Vec<i16>) -> usize {
    let mut n = 0;
    while let Some(f) = t.poll_frame(now) {
        assert_eq!(f.len(), 2 * FRAME_SAMPLES);
        for pair in f.chunks_exact(2) {
            left.push(pair[0]);
            right.push(pair[1]);
        }
        n += 1;
    }
    n
}

fn slot_at(k: u64) -> u64 {
    T0 + k * FRAME_US
}

#[test]
fn both_sides_land_in_their_own_channel_and_slot() {
    let mut t = Timeline::new(T0);
    t.push(Side::Caller, slot_at(0), &ramp(1000, 160));
    t.push(Side::Other, slot_at(1), &ramp(-3000, 160));
    let (mut l, mut r) = (vec![], vec![]);
    assert_eq!(
        drain(&mut t, slot_at(2) + DEFAULT_JITTER_US, &mut l, &mut r),
        2
    );
    assert_eq!(&l[..160], &ramp(1000, 160)[..]);
    assert!(
        r[..160].iter().all(|&s| s == 0),
        "right of slot 0 is silence"
    );
    assert!(
        l[160..].iter().all(|&s| s == 0),
        "left of slot 1 is silence"
    );
    assert_eq!(&r[160..], &ramp(-3000, 160)[..]);
    assert_eq!(t.stats().silent_slots, [1, 1]);
}

#[test]
fn a_slot_is_due_only_after_the_jitter_allowance() {
    let mut t = Timeline::new(T0);
    t.push(Side::Caller, slot_at(0), &ramp(7, 160));
    assert!(t.poll_frame(slot_at(1) + DEFAULT_JITTER_US - 1).is_none());
    assert!(t.poll_frame(slot_at(1) + DEFAULT_JITTER_US).is_some());
    assert!(t.poll_frame(slot_at(1) + DEFAULT_JITTER_US).is_none());
    assert_eq!(t.position_ms(), 20);
}

#[test]
fn a_missing_frame_is_silence_between_its_neighbours() {
    let mut t = Timeline::new(T0);
    for k in [0u64, 1, 3] {
        t.push(Side::Caller, slot_at(k), &ramp(100 * (k as i16 + 1), 160));
    }
    let (mut l, mut r) = (vec![], vec![]);
    assert_eq!(
        drain(&mut t, slot_at(4) + DEFAULT_JITTER_US, &mut l, &mut r),
        4
    );
    assert_eq!(&l[160..320], &ramp(200, 160)[..]);
    assert!(l[320..480].iter().all(|&s| s == 0));
    assert_eq!(&l[480..], &ramp(400, 160)[..]);
    assert_eq!(t.stats().silent_slots, [1, 4]);
}

#[test]
fn a_frame_late_within_the_allowance_still_lands() {
    let mut t = Timeline::new(T0);
    let (mut l, mut r) = (vec![], vec![]);
    // Slots 1.. arrive on time and are polled; slot 0 arrives 59 ms late.
    for k in 1..3 {
        t.push(Side::Caller, slot_at(k), &ramp(50, 160));
        drain(&mut t, slot_at(k) + 1000, &mut l, &mut r);
    }
    assert!(l.is_empty(), "nothing due yet");
    let now = slot_at(1) + 59_000;
    t.push(Side::Caller, slot_at(0), &ramp(9, 160));
    drain(&mut t, now, &mut l, &mut r);
    drain(&mut t, slot_at(3) + DEFAULT_JITTER_US, &mut l, &mut r);
    assert_eq!(&l[..160], &ramp(9, 160)[..]);
    assert_eq!(t.stats().late_frames, 0);
}

#[test]
fn a_frame_later_than_the_allowance_is_dropped_and_counted() {
    let mut t = Timeline::new(T0);
    let (mut l, mut r) = (vec![], vec![]);
    drain(&mut t, slot_at(1) + DEFAULT_JITTER_US, &mut l, &mut r);
    assert_eq!(l.len(), 160, "slot 0 read out (silent)");
    t.push(Side::Caller, slot_at(0), &ramp(9, 160));
    t.push(Side::Caller, slot_at(1), &ramp(77, 160));
    drain(&mut t, slot_at(2) + DEFAULT_JITTER_US, &mut l, &mut r);
    assert!(l[..160].iter().all(|&s| s == 0));
    assert_eq!(&l[160..], &ramp(77, 160)[..], "the next slot is untouched");
    assert_eq!(t.stats().late_frames, 1);
}

#[test]
fn a_frame_straddling_the_read_out_point_keeps_its_unread_part() {
    let mut t = Timeline::new(T0);
    let (mut l, mut r) = (vec![], vec![]);
    drain(&mut t, slot_at(1) + DEFAULT_JITTER_US, &mut l, &mut r);
    // 30 ms starting 10 ms into slot 0 (already out): 80 samples lost.
    t.push(Side::Caller, T0 + 10_000, &ramp(0, 240));
    t.close(slot_at(2));
    drain(&mut t, 0, &mut l, &mut r);
    assert_eq!(&l[160..320], &ramp(80, 160)[..]);
    assert_eq!(t.stats().late_frames, 1);
}

#[test]
fn thirty_ms_packets_stay_sample_contiguous() {
    let mut t = Timeline::new(T0);
    let (mut l, mut r) = (vec![], vec![]);
    let signal: Vec<i16> = (0..2400).map(|i| (i * 7 % 20011 - 10000) as i16).collect();
    for (k, chunk) in signal.chunks(240).enumerate() {
        let at = T0 + k as u64 * 30_000;
        t.push(Side::Other, at, chunk);
        drain(&mut t, at + 30_000, &mut l, &mut r);
    }
    t.close(T0 + 300_000);
    drain(&mut t, 0, &mut l, &mut r);
    assert_eq!(r, signal);
    assert_eq!(t.stats().early_frames + t.stats().late_frames, 0);
}

#[test]
fn a_gap_of_seconds_is_silence_in_real_time() {
    let mut t = Timeline::new(T0);
    let (mut l, mut r) = (vec![], vec![]);
    // Audio in [0, 1 s) and [4 s, 5 s); a tick every 20 ms throughout.
    for k in 0..250u64 {
        if !(50..200).contains(&k) {
            t.push(Side::Caller, slot_at(k), &[1000; 160]);
            t.push(Side::Other, slot_at(k), &[-1000; 160]);
        }
        drain(&mut t, slot_at(k + 1), &mut l, &mut r);
    }
    t.close(slot_at(250));
    drain(&mut t, 0, &mut l, &mut r);
    assert_eq!(l.len(), 250 * 160);
    assert!(l[..8000].iter().all(|&s| s == 1000));
    assert!(l[8000..32_000].iter().all(|&s| s == 0));
    assert!(r[8000..32_000].iter().all(|&s| s == 0));
    assert!(l[32_000..].iter().all(|&s| s == 1000));
    assert!(r[32_000..].iter().all(|&s| s == -1000));
    assert_eq!(t.stats().silent_slots, [150, 150]);
}

#[test]
fn frames_too_far_ahead_are_dropped_and_counted() {
    let mut t = Timeline::new(T0);
    t.push(Side::Caller, slot_at(SLOTS as u64), &[5; 160]);
    assert_eq!(t.stats().early_frames, 1);
    t.push(Side::Caller, slot_at(SLOTS as u64 - 1), &[5; 160]);
    assert_eq!(
        t.stats().early_frames,
        1,
        "the last slot of the ring is fine"
    );
}

#[test]
fn samples_before_the_start_are_dropped() {
    let mut t = Timeline::new(T0);
    t.push(Side::Caller, T0 - 10_000, &ramp(0, 160));
    t.close(slot_at(1));
    let (mut l, mut r) = (vec![], vec![]);
    drain(&mut t, 0, &mut l, &mut r);
    assert_eq!(&l[..80], &ramp(80, 80)[..]);
    assert!(l[80..].iter().all(|&s| s == 0));
}

#[test]
fn an_hour_with_a_start_offset_is_exactly_an_hour_of_samples() {
    let start = 987_654_321;
    let mut t = Timeline::new(start);
    let frames = 3600 * 50u64;
    let mut out_frames = 0u64;
    let check = |f: &[i16], j: u64| {
        let tag = (j % 30_000) as i16 + 1;
        assert!(
            f.chunks_exact(2).all(|p| p[0] == tag && p[1] == -tag),
            "frame {j} holds frame {j}'s audio"
        );
    };
    for k in 0..frames {
        let tag = (k % 30_000) as i16 + 1;
        let at = start + k * FRAME_US;
        // Arrivals jitter by up to 30 ms; the frames' media time does not.
        let now = at + (k % 4) * 10_000;
        t.push(Side::Other, at, &[-tag; 160]);
        t.push(Side::Caller, at, &[tag; 160]);
        while let Some(f) = t.poll_frame(now) {
            check(f, out_frames);
            out_frames += 1;
        }
    }
    t.close(start + 3_600_000_000);
    while let Some(f) = t.poll_frame(0) {
        check(f, out_frames);
        out_frames += 1;
    }
    assert_eq!(out_frames * FRAME_SAMPLES as u64, 3600 * 8000);
    assert_eq!(t.position_ms(), 3_600_000);
    let s = t.stats();
    assert_eq!(
        (s.late_frames, s.early_frames, s.silent_slots),
        (0, 0, [0, 0])
    );
}

#[test]
fn a_pause_is_silence_on_both_sides_and_a_marker() {
    let mut t = Timeline::new(T0);
    let (mut l, mut r) = (vec![], vec![]);
    for k in 0..100u64 {
        let now = slot_at(k);
        if k == 25 {
            assert!(t.pause(now + 3_000)); // 503 ms
            assert!(!t.pause(now + 5_000), "already paused");
        }
        if k == 56 {
            let p = t.resume(now + 10_000).unwrap(); // 1130 ms
            assert_eq!(
                p,
                Pause {
                    start_ms: 503,
                    end_ms: 1130
                }
            );
            assert_eq!(t.resume(now + 11_000), None, "not paused");
        }
        t.push(Side::Caller, now, &[300; 160]);
        t.push(Side::Other, now, &[-300; 160]);
        drain(&mut t, now, &mut l, &mut r);
    }
    t.close(slot_at(100));
    drain(&mut t, 0, &mut l, &mut r);
    assert_eq!(l.len(), 100 * 160);
    let (a, b) = (503 * 8, 1130 * 8);
    for (i, (&x, &y)) in l.iter().zip(&r).enumerate() {
        let expected = if (a..b).contains(&i) {
            (0, 0)
        } else {
            (300, -300)
        };
        assert_eq!((x, y), expected, "sample {i}");
    }
    assert_eq!(
        t.pauses(),
        &[Pause {
            start_ms: 503,
            end_ms: 1130
        }]
    );
}

#[test]
fn closing_while_paused_ends_the_pause_at_the_end() {
    let mut t = Timeline::with_jitter(T0, 60_000);
    let (mut l, mut r) = (vec![], vec![]);
    for k in 0..10u64 {
        t.push(Side::Caller, slot_at(k), &[1; 160]);
        drain(&mut t, slot_at(k), &mut l, &mut r);
    }
    assert_eq!(t.position_ms(), 120);
    assert!(t.pause(slot_at(8)));
    t.close(slot_at(10) - 5_000); // rounded up to 200 ms
    assert!(!t.is_paused());
    assert!(t.is_closed());
    drain(&mut t, 0, &mut l, &mut r);
    assert_eq!(l.len(), 10 * 160);
    assert!(l[..1280].iter().all(|&s| s == 1));
    assert!(l[1280..].iter().all(|&s| s == 0));
    assert_eq!(
        t.pauses(),
        &[Pause {
            start_ms: 160,
            end_ms: 200
        }]
    );
    t.push(Side::Caller, slot_at(10), &[1; 160]);
    assert!(t.poll_frame(u64::MAX).is_none(), "closed: nothing more");
}

#[test]
fn a_pause_cannot_reach_back_into_audio_already_written() {
    let mut t = Timeline::new(T0);
    let (mut l, mut r) = (vec![], vec![]);
    drain(&mut t, slot_at(5) + DEFAULT_JITTER_US, &mut l, &mut r);
    assert!(t.pause(slot_at(2)));
    assert_eq!(
        t.resume(slot_at(8)),
        Some(Pause {
            start_ms: 100,
            end_ms: 160
        })
    );
}

#[test]
fn stream_clock_hides_arrival_jitter() {
    let mut c = StreamClock::default();
    let ts0 = u32::MAX - 50_000; // wraps past 2^32 after about 6 s
    let t0 = 5_000_000u64;
    for k in 0..1000u64 {
        let ts = ts0.wrapping_add((k * 160) as u32);
        let jitter = (k * 7919 % 30) * 1000; // 0..29 ms late
        let at = c.media_time(ts, t0 + k * FRAME_US + jitter);
        assert_eq!(at, t0 + k * FRAME_US, "packet {k}");
    }
}

#[test]
fn stream_clock_keeps_its_anchor_through_a_late_first_packet() {
    let mut c = StreamClock::default();
    // The first packet was 10 ms slow: later ones arrive "early" against
    // the prediction, and the stream stays in one piece, 10 ms late.
    assert_eq!(c.media_time(0, 100_000), 100_000);
    assert_eq!(c.media_time(160, 110_000), 120_000);
    assert_eq!(c.media_time(320, 130_000), 140_000);
    // Bursts after a stall: late and early within 100 ms, all in place.
    assert_eq!(c.media_time(480, 195_000), 160_000);
    assert_eq!(c.media_time(640, 195_100), 180_000);
    assert_eq!(c.media_time(800, 195_200), 200_000);
}

#[test]
fn stream_clock_reanchors_outside_its_window() {
    let mut c = StreamClock::default();
    assert_eq!(c.media_time(0, 100_000), 100_000);
    // A timestamp jump far ahead of the arrival time re-anchors.
    assert_eq!(c.media_time(80_000, 150_000), 150_000);
    assert_eq!(c.media_time(80_160, 171_000), 170_000);
    // Arriving more than 100 ms after the prediction re-anchors too.
    assert_eq!(c.media_time(80_320, 300_000), 300_000);
    // And more than 100 ms before it (a sender clock running fast).
    assert_eq!(c.media_time(80_480, 214_000), 214_000);
    c.reset();
    assert_eq!(c.media_time(7, 300_000), 300_000);
}
