//! The plane with real sockets on 127.0.0.1: a parked bridge relays both
//! ways (passthrough and µ-law → A-law), records both sides, drops a
//! stranger's packets, reports a media timeout, and comes back intact.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use hibiki_sip::sdp::{Codec, Direction, Negotiated};

use super::*;
use crate::media::g711::Law;
use crate::media::leg::RtpLeg;
use crate::media::ports::PortPool;
use crate::media::recording::{Recorder, RecordingFile, Timeline};
use crate::media::rtp::{RtpHeader, RtpPacket};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn peer() -> UdpSocket {
    let s = UdpSocket::bind((LOCALHOST, 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    s
}

fn negotiated(codec: Codec, remote: SocketAddr) -> Negotiated {
    Negotiated {
        codec,
        payload_type: if codec == Codec::Pcmu { 0 } else { 8 },
        telephone_event_pt: Some(101),
        remote,
        direction: Direction::SendRecv,
        ptime: 20,
    }
}

/// A leg on a free port of a range of our own (another test may hold
/// some of it).
async fn leg(pool: &PortPool, codec: Codec, remote: SocketAddr, t0: Instant) -> RtpLeg {
    loop {
        let lease = pool.lease().expect("a free port in the test's range");
        if let Ok(leg) = RtpLeg::bind(lease, LOCALHOST, negotiated(codec, remote), t0).await {
            return leg;
        }
    }
}

/// A 20 ms packet of a constant `level` in `law`.
fn packet(law: Law, ssrc: u32, seq: u16, level: i16) -> Vec<u8> {
    let mut payload = [0u8; 160];
    law.encode(&[level; 160], &mut payload);
    let header = RtpHeader {
        marker: seq == 0,
        payload_type: if law == Law::Ulaw { 0 } else { 8 },
        sequence: seq,
        timestamp: u32::from(seq) * 160,
        ssrc,
    };
    let mut buf = vec![0u8; 172];
    let n = header.write_packet(&payload, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// Packets waiting on `socket` now (each: payload type, payload).
fn drain(socket: &UdpSocket) -> Vec<(u8, Vec<u8>)> {
    socket.set_nonblocking(true).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    while let Ok(n) = socket.recv(&mut buf) {
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        got.push((p.payload_type(), p.payload().to_vec()));
    }
    socket.set_nonblocking(false).unwrap();
    got
}

#[tokio::test]
async fn a_parked_bridge_relays_records_and_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let pool = PortPool::new(46_000, 46_998);
    let t0 = Instant::now();
    let (caller_peer, callee_peer, stranger) = (peer(), peer(), peer());
    // The caller speaks µ-law, the callee A-law: the plane transcodes.
    let a = leg(&pool, Codec::Pcmu, caller_peer.local_addr().unwrap(), t0).await;
    let b = leg(&pool, Codec::Pcma, callee_peer.local_addr().unwrap(), t0).await;
    let (a_addr, b_addr) = (a.local_addr(), b.local_addr());
    let file = RecordingFile::create(dir.path().join("call.wav"), "call").unwrap();
    let recorder = Recorder::new(Timeline::new(a.media_us(Instant::now())), file);

    let metrics = crate::telemetry::Metrics::new().media_plane;
    let plane = MediaPlane::start(1, Some(Duration::from_millis(400)), &metrics).unwrap();
    let media = BridgeMedia {
        caller: a.park().unwrap(),
        callee: b.park().unwrap(),
        recorder: Some(recorder),
        media_since: Instant::now(),
    };
    let Ok(mut parked) = plane.park(Media::Bridge(Box::new(media)), tracing::Span::none()) else {
        panic!("the plane refused the bridge");
    };

    let start = Instant::now();
    for seq in 0..25u16 {
        caller_peer
            .send_to(&packet(Law::Ulaw, 0xaaaa, seq, 8000), a_addr)
            .unwrap();
        callee_peer
            .send_to(&packet(Law::Alaw, 0xbbbb, seq, -4000), b_addr)
            .unwrap();
        if seq == 10 {
            // Not the latched caller: dropped, not relayed, not recorded.
            stranger
                .send_to(&packet(Law::Ulaw, 0xcccc, 0, 0), a_addr)
                .unwrap();
        }
        let due = start + Duration::from_millis(20 * (u64::from(seq) + 1));
        tokio::time::sleep_until(due.into()).await;
    }
    tokio::time::sleep(Duration::from_millis(30)).await;
    let to_callee = drain(&callee_peer);
    let to_caller = drain(&caller_peer);
    assert_eq!(
        to_callee.len(),
        25,
        "every caller packet relayed, the stranger's not"
    );
    assert_eq!(to_caller.len(), 25, "every callee packet relayed");
    let converted = |payload: &[u8], law: Law, want: i16| {
        payload
            .iter()
            .all(|&c| (law.decode_sample(c) - want).abs() < want.abs() / 20)
    };
    assert!(to_callee
        .iter()
        .all(|(pt, p)| *pt == 8 && converted(p, Law::Alaw, 8000)));
    assert!(to_caller
        .iter()
        .all(|(pt, p)| *pt == 0 && converted(p, Law::Ulaw, -4000)));

    // Silence from both parties: the timeout comes once.
    let event = tokio::time::timeout(Duration::from_secs(10), parked.event())
        .await
        .expect("a media timeout within 10 s");
    assert!(matches!(event, Some(PlaneEvent::MediaTimeout)), "{event:?}");

    assert_eq!(metrics.calls.get(), 1, "one call on the plane");
    let Some((Media::Bridge(back), _)) = parked.unpark().await else {
        panic!("the bridge comes back");
    };
    assert_eq!(metrics.calls.get(), 0);
    // 25 from each party and the stranger's.
    assert_eq!(metrics.datagrams.get(), 51);
    let caller = back.caller.unpark().unwrap();
    let callee = back.callee.unpark().unwrap();
    assert_eq!(caller.stats().received, 25);
    assert_eq!(caller.stats().rejected_source, 1);
    assert_eq!(callee.stats().sent, 25);
    assert_eq!(caller.stats().sent, 25);
    let end = caller.media_us(Instant::now());
    let summary = back.recorder.expect("still recording").finish(end).unwrap();
    assert!(summary.duration_ms >= 500, "{summary:?}");

    let mut wav = hound::WavReader::open(&summary.path).unwrap();
    let samples: Vec<i16> = wav.samples::<i16>().map(Result::unwrap).collect();
    let (left, right): (Vec<i16>, Vec<i16>) = samples.chunks(2).map(|f| (f[0], f[1])).unzip();
    let near = |s: &[i16], want: i16| {
        s.iter()
            .filter(|&&x| (x - want).abs() < want.abs() / 20)
            .count()
    };
    // 25 packets of 160 samples on each side, none lost, none from the
    // stranger (whose level is 0).
    assert_eq!(near(&left, 8000), 25 * 160, "the caller on the left");
    assert_eq!(near(&right, -4000), 25 * 160, "the callee on the right");
}

#[tokio::test]
async fn no_datagram_is_stranded_when_a_bridge_comes_back() {
    let pool = PortPool::new(46_000, 46_998);
    let t0 = Instant::now();
    let (caller_peer, callee_peer) = (peer(), peer());
    let mut a = leg(&pool, Codec::Pcmu, caller_peer.local_addr().unwrap(), t0).await;
    let mut b = leg(&pool, Codec::Pcmu, callee_peer.local_addr().unwrap(), t0).await;
    let a_addr = a.local_addr();
    let plane = MediaPlane::start(1, None, &crate::telemetry::Metrics::new().media_plane).unwrap();
    let mut seq = 0u16;
    let (mut by_plane, mut by_task) = (0usize, 0usize);
    for round in 0..20 {
        let media = BridgeMedia {
            caller: a.park().unwrap(),
            callee: b.park().unwrap(),
            recorder: None,
            media_since: Instant::now(),
        };
        let Ok(parked) = plane.park(Media::Bridge(Box::new(media)), tracing::Span::none()) else {
            panic!("refused");
        };
        // Some rounds give the worker a pass or two first.
        tokio::time::sleep(Duration::from_millis(round % 3)).await;
        for _ in 0..3 {
            caller_peer
                .send_to(&packet(Law::Ulaw, 0xaaaa, seq, 8000), a_addr)
                .unwrap();
            seq += 1;
        }
        let Some((Media::Bridge(back), _)) = parked.unpark().await else {
            panic!("lost");
        };
        a = back.caller.unpark().unwrap();
        b = back.callee.unpark().unwrap();
        // What the plane did not read, the task reads now.
        while let Ok(r) = tokio::time::timeout(Duration::from_millis(50), a.recv()).await {
            if matches!(r.unwrap(), Received::Audio { .. }) {
                by_task += 1;
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    by_plane += drain(&callee_peer).len();
    assert_eq!(by_plane + by_task, 60, "plane {by_plane}, task {by_task}");
    assert_eq!(a.stats().received, 60);
}

/// An RFC 4733 packet of key `event` (payload type 101).
fn key_packet(ssrc: u32, seq: u16, ts: u32, event: u8, end: bool, duration: u16) -> Vec<u8> {
    use crate::media::dtmf::rfc4733::TelephoneEvent;
    let payload = TelephoneEvent {
        event,
        end,
        volume: 10,
        duration,
    }
    .to_bytes();
    let header = RtpHeader {
        marker: duration == 160,
        payload_type: 101,
        sequence: seq,
        timestamp: ts,
        ssrc,
    };
    let mut buf = vec![0u8; 16];
    let n = header.write_packet(&payload, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

#[tokio::test]
async fn a_parked_flow_plays_its_prompt_records_and_reports_keys_and_the_end() {
    use crate::media::prompt::player::Player;
    use crate::media::prompt::Prompt;
    let dir = tempfile::tempdir().unwrap();
    let pool = PortPool::new(46_000, 46_998);
    let t0 = Instant::now();
    let caller = peer();
    let leg = leg(&pool, Codec::Pcmu, caller.local_addr().unwrap(), t0).await;
    let leg_addr = leg.local_addr();
    let now_us = leg.media_us(Instant::now());
    // A 0.4 s prompt of a constant level: 20 frames.
    let prompt = std::sync::Arc::new(Prompt::from_pcm(vec![6000; 3200]));
    let player = Player::new(vec![prompt], now_us + 20_000);
    let file = RecordingFile::create(dir.path().join("flow.wav"), "flow").unwrap();
    let recorder = Recorder::new(Timeline::new(now_us), file);
    let message_file = RecordingFile::create(dir.path().join("msg.wav"), "msg").unwrap();
    let message = Recorder::new(Timeline::new(now_us), message_file);

    let plane = MediaPlane::start(1, None, &crate::telemetry::Metrics::new().media_plane).unwrap();
    let flow = FlowMedia {
        leg: leg.park().unwrap(),
        player,
        source: 7,
        send_ahead_us: 2_000,
        notify_finish: true,
        recorder: Some(recorder),
        message: Some(message),
        media_since: Instant::now(),
    };
    let Ok(mut parked) = plane.park(Media::Flow(Box::new(flow)), tracing::Span::none()) else {
        panic!("refused");
    };
    // The caller talks for 0.3 s, then presses 5.
    let start = Instant::now();
    for seq in 0..15u16 {
        caller
            .send_to(&packet(Law::Ulaw, 0xaaaa, seq, -3000), leg_addr)
            .unwrap();
        let due = start + Duration::from_millis(20 * (u64::from(seq) + 1));
        tokio::time::sleep_until(due.into()).await;
    }
    for (i, (end, duration)) in [(false, 160), (false, 320), (true, 480), (true, 480)]
        .into_iter()
        .enumerate()
    {
        let seq = 15 + u16::try_from(i).unwrap();
        caller
            .send_to(&key_packet(0xaaaa, seq, 2400, 5, end, duration), leg_addr)
            .unwrap();
    }
    let mut events = Vec::new();
    while events.len() < 2 {
        let event = tokio::time::timeout(Duration::from_secs(10), parked.event())
            .await
            .expect("the plane speaks within 10 s")
            .expect("the plane is there");
        events.push(event);
    }
    let digit = events.iter().find_map(|e| match e {
        PlaneEvent::Digit { digit, via, .. } => Some((*digit, *via)),
        _ => None,
    });
    assert_eq!(digit, Some(('5', "rfc4733")), "{events:?}");
    assert!(
        events.iter().any(|e| matches!(e, PlaneEvent::PlayFinished)),
        "{events:?}"
    );
    let Some((Media::Flow(back), unread)) = parked.unpark().await else {
        panic!("the flow comes back");
    };
    assert!(
        unread
            .iter()
            .all(|e| !matches!(e, PlaneEvent::Digit { .. })),
        "the key is reported once: {unread:?}"
    );
    assert!(back.player.finished().is_some());

    // The prompt reached the caller: 20 frames of it, as µ-law of 6000.
    let got = drain(&caller);
    assert_eq!(got.len(), 20, "every prompt frame sent");
    assert!(got.iter().all(|(pt, p)| *pt == 0
        && p.iter()
            .all(|&c| (Law::Ulaw.decode_sample(c) - 6000).abs() < 300)));

    let leg = back.leg.unpark().unwrap();
    let end = leg.media_us(Instant::now());
    let summary = back.recorder.unwrap().finish(end).unwrap();
    let message = back.message.unwrap().finish(end).unwrap();
    let stereo = |path: &std::path::Path| -> (Vec<i16>, Vec<i16>) {
        let mut wav = hound::WavReader::open(path).unwrap();
        let samples: Vec<i16> = wav.samples::<i16>().map(Result::unwrap).collect();
        samples.chunks(2).map(|f| (f[0], f[1])).unzip()
    };
    let count = |s: &[i16], want: i16| s.iter().filter(|&&x| (x - want).abs() < 300).count();
    let (left, right) = stereo(&summary.path);
    assert_eq!(count(&left, -3000), 15 * 160, "the caller on the left");
    assert_eq!(count(&right, 6000), 20 * 160, "the prompt on the right");
    let (message_left, message_right) = stereo(&message.path);
    assert_eq!(
        count(&message_left, -3000),
        15 * 160,
        "the caller in the message"
    );
    assert_eq!(count(&message_right, 6000), 0, "no prompt in the message");
}

#[tokio::test]
async fn media_taken_back_the_moment_it_is_parked_comes_back() {
    let pool = PortPool::new(46_000, 46_998);
    let t0 = Instant::now();
    let peers = [peer(), peer(), peer(), peer()];
    let remote = |i: usize| peers[i].local_addr().unwrap();
    let mut a = leg(&pool, Codec::Pcmu, remote(0), t0).await;
    let mut b = leg(&pool, Codec::Pcmu, remote(1), t0).await;
    let plane = MediaPlane::start(1, None, &crate::telemetry::Metrics::new().media_plane).unwrap();
    // Another call keeps the worker passing every millisecond.
    let other = BridgeMedia {
        caller: leg(&pool, Codec::Pcmu, remote(2), t0).await.park().unwrap(),
        callee: leg(&pool, Codec::Pcmu, remote(3), t0).await.park().unwrap(),
        recorder: None,
        media_since: Instant::now(),
    };
    let Ok(_other) = plane.park(Media::Bridge(Box::new(other)), tracing::Span::none()) else {
        panic!("refused");
    };
    // Parks taken back at every point of the worker's pass (a park and
    // its unpark may reach it in the same pass, the unpark seen first):
    // every round must find its media.
    for round in 0..600u64 {
        let media = BridgeMedia {
            caller: a.park().unwrap(),
            callee: b.park().unwrap(),
            recorder: None,
            media_since: Instant::now(),
        };
        let Ok(parked) = plane.park(Media::Bridge(Box::new(media)), tracing::Span::none()) else {
            panic!("refused");
        };
        std::thread::sleep(Duration::from_micros(round * 7 % 1000));
        let Some((Media::Bridge(back), _)) = parked.unpark().await else {
            panic!("round {round}: the media did not come back");
        };
        a = back.caller.unpark().unwrap();
        b = back.callee.unpark().unwrap();
    }
}
