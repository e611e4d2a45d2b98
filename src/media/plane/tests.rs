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

    let plane = MediaPlane::start(1, Some(Duration::from_millis(400))).unwrap();
    let media = BridgeMedia {
        caller: a.park().unwrap(),
        callee: b.park().unwrap(),
        recorder: Some(recorder),
        media_since: Instant::now(),
    };
    let Ok(mut parked) = plane.park(Media::Bridge(media), tracing::Span::none()) else {
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

    let Some((Media::Bridge(back), _)) = parked.unpark().await else {
        panic!("the bridge comes back");
    };
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
    let plane = MediaPlane::start(1, None).unwrap();
    let mut seq = 0u16;
    let (mut by_plane, mut by_task) = (0usize, 0usize);
    for round in 0..20 {
        let media = BridgeMedia {
            caller: a.park().unwrap(),
            callee: b.park().unwrap(),
            recorder: None,
            media_since: Instant::now(),
        };
        let Ok(parked) = plane.park(Media::Bridge(media), tracing::Span::none()) else {
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
