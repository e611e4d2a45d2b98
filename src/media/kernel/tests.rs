use std::net::UdpSocket;
use std::time::Duration;

use super::*;

fn v4(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

fn flow() -> Flow {
    Flow {
        peer: v4("192.0.2.7:4000"),
        in_pt: 0,
        out_pt: 8,
        out_src: v4("127.0.0.1:20002"),
        out_dst: v4("127.0.0.1:5004"),
        src_ssrc: 0x1122_3344,
        out_ssrc: 0xaabb_ccdd,
        seq_offset: 500,
        ts_offset: 1000,
        last_src_seq: 99,
        cookie: 0x0102_0304_0506_0708,
    }
}

#[test]
fn a_flow_is_laid_out_as_the_program_reads_it() {
    let v = flow().encode();
    assert_eq!(&v[0..4], &[192, 0, 2, 7]);
    assert_eq!(&v[4..6], &4000u16.to_be_bytes());
    assert_eq!(&v[6..8], &[0, 8]);
    assert_eq!(&v[8..12], &[127, 0, 0, 1]);
    assert_eq!(&v[12..14], &20002u16.to_be_bytes());
    assert_eq!(&v[14..16], &5004u16.to_be_bytes());
    assert_eq!(&v[16..20], &[127, 0, 0, 1]);
    assert_eq!(&v[20..24], &0x1122_3344u32.to_ne_bytes());
    assert_eq!(&v[24..28], &0xaabb_ccddu32.to_ne_bytes());
    assert_eq!(&v[28..32], &1000u32.to_ne_bytes());
    assert_eq!(&v[32..34], &500u16.to_ne_bytes());
    assert_eq!(&v[34..36], &99u16.to_ne_bytes());
    assert_eq!(v[36], 1, "a loopback peer is delivered locally");
    assert_eq!(&v[40..48], &0x0102_0304_0506_0708u64.to_ne_bytes());
    assert_eq!(&v[48..], &[0; 16], "the counters start at zero");
    assert_eq!(key(v4("10.1.2.3:20000")), [10, 1, 2, 3, 0x4e, 0x20, 0, 0]);

    let remote = Flow {
        out_src: v4("10.0.0.5:20002"),
        out_dst: v4("198.51.100.9:6000"),
        ..flow()
    };
    assert_eq!(remote.encode()[36], 0, "a remote peer is routed");
}

#[test]
fn only_a_changed_route_is_a_change() {
    let a = flow();
    assert!(a.same_route(&Flow {
        last_src_seq: 4242,
        ..a
    }));
    assert!(!a.same_route(&Flow {
        seq_offset: 501,
        ..a
    }));
    assert!(!a.same_route(&Flow {
        out_dst: v4("127.0.0.1:5006"),
        ..a
    }));
}

#[test]
fn an_event_gives_its_packet_and_a_short_one_nothing() {
    let mut e = vec![0u8; EVENT_HEADER];
    e[0..8].copy_from_slice(&7u64.to_ne_bytes());
    e[8..16].copy_from_slice(&123_456u64.to_ne_bytes());
    e[16..18].copy_from_slice(&3u16.to_ne_bytes());
    e.extend_from_slice(&[9, 8, 7, 0, 0]);
    let f = Forwarded::decode(&e).unwrap();
    assert_eq!((f.cookie, f.ns, f.packet), (7, 123_456, &[9u8, 8, 7][..]));
    e[16..18].copy_from_slice(&300u16.to_ne_bytes());
    assert_eq!(Forwarded::decode(&e), None);
    assert_eq!(Forwarded::decode(&e[..10]), None);
}

#[test]
fn the_loopback_address_is_on_lo() {
    let names = interfaces_for("127.0.0.1".parse().unwrap()).unwrap();
    assert_eq!(names, vec!["lo".to_string()]);
    assert!(interfaces_for("::1".parse().unwrap()).is_err());
}

fn rtp(seq: u16, ts: u32, ssrc: u32, pt: u8) -> Vec<u8> {
    let mut p = vec![0x80, pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend((0..160u8).map(|i| i.wrapping_mul(3)));
    p
}

fn bound() -> (UdpSocket, SocketAddrV4) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let std::net::SocketAddr::V4(a) = s.local_addr().unwrap() else {
        panic!("not v4")
    };
    (s, a)
}

/// The program in the kernel, on loopback: what a bridge relies on.
/// Needs root (CAP_BPF, CAP_NET_ADMIN), as the test suite runs in CI;
/// elsewhere it says why it did not run.
#[test]
fn the_kernel_forwards_rewrites_and_copies_only_the_latched_stream() {
    let mut fw = match Forwarder::start(&["lo".to_string()]) {
        Ok(fw) => fw,
        Err(e) if !nix::unistd::Uid::effective().is_root() => {
            eprintln!("SKIPPED: kernel forwarding needs root here: {e}");
            return;
        }
        Err(e) => panic!("kernel forwarding does not start as root: {e}"),
    };
    let (caller, caller_at) = bound();
    let (leg_a, leg_a_at) = bound();
    let (_leg_b, leg_b_at) = bound();
    let (callee, callee_at) = bound();
    let (stranger, _) = bound();
    let f = Flow {
        peer: caller_at,
        out_src: leg_b_at,
        out_dst: callee_at,
        ..flow()
    };
    fw.install(leg_a_at, &f).unwrap();

    // In sequence: forwarded, rewritten, and copied as it arrived.
    for (seq, ts) in [(100u16, 16_000u32), (101, 16_160)] {
        let sent = rtp(seq, ts, 0x1122_3344, 0);
        caller.send_to(&sent, leg_a_at).unwrap();
        let mut buf = [0u8; 512];
        let (n, from) = callee.recv_from(&mut buf).unwrap();
        assert_eq!(
            from,
            std::net::SocketAddr::V4(leg_b_at),
            "sent from the other leg"
        );
        assert_eq!(n, sent.len());
        assert_eq!(buf[0], 0x80);
        assert_eq!(buf[1], 8, "the other leg's payload type");
        assert_eq!(u16::from_be_bytes([buf[2], buf[3]]), seq + 500);
        assert_eq!(
            u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
            ts + 1000
        );
        assert_eq!(
            u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
            0xaabb_ccdd
        );
        assert_eq!(&buf[12..n], &sent[12..], "the payload untouched");
        let mut copies = Vec::new();
        fw.drain(|c| copies.push((c.cookie, c.packet.to_vec())));
        assert_eq!(
            copies,
            vec![(f.cookie, sent)],
            "the copy is the packet as received"
        );
    }

    // Not forwarded, left to the leg's socket: a duplicate, a stranger, a
    // new source, another payload type (a DTMF event).
    leg_a
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    callee
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let others = [
        (&caller, rtp(101, 16_160, 0x1122_3344, 0)),
        (&stranger, rtp(102, 16_320, 0x1122_3344, 0)),
        (&caller, rtp(102, 16_320, 0x5555_5555, 0)),
        (&caller, rtp(102, 16_320, 0x1122_3344, 101)),
    ];
    for (from, packet) in others {
        from.send_to(&packet, leg_a_at).unwrap();
        let mut buf = [0u8; 512];
        let (n, _) = leg_a.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], &packet[..], "reaches the leg's socket untouched");
        assert!(callee.recv_from(&mut buf).is_err(), "and is not forwarded");
    }
    assert_eq!(fw.drain(|_| {}), 0, "no copy of what was not forwarded");

    let counters = fw.remove(leg_a_at).unwrap();
    assert_eq!(counters.packets, 2);
    assert_eq!(counters.ring_full, 0);
    caller
        .send_to(&rtp(102, 16_320, 0x1122_3344, 0), leg_a_at)
        .unwrap();
    let mut buf = [0u8; 512];
    assert!(
        leg_a.recv_from(&mut buf).is_ok(),
        "withdrawn: to the socket"
    );
    assert_eq!(fw.remove(leg_a_at), None);

    // A forwarder that goes away (as with its process, even on kill -9:
    // the kernel closes its descriptors) leaves no forwarding behind.
    fw.install(leg_a_at, &f).unwrap();
    caller
        .send_to(&rtp(103, 16_480, 0x1122_3344, 0), leg_a_at)
        .unwrap();
    assert!(
        callee.recv_from(&mut buf).is_ok(),
        "installed again: forwarded"
    );
    drop(fw);
    caller
        .send_to(&rtp(104, 16_640, 0x1122_3344, 0), leg_a_at)
        .unwrap();
    assert!(leg_a.recv_from(&mut buf).is_ok(), "detached: to the socket");
    assert!(callee.recv_from(&mut buf).is_err(), "and not forwarded");
}

/// A network namespace joined to this one by a veth pair: a second host
/// for the test, removed on drop.
struct PeerHost {
    netns: String,
    link: String,
}

impl PeerHost {
    /// `198.18.<n>.1` here on `link`, `.2` in the namespace.
    fn new(tag: u32) -> PeerHost {
        let netns = format!("hibiki-kt-{tag}");
        let link = format!("hkt{}", tag % 100_000);
        let host = PeerHost {
            netns: netns.clone(),
            link: link.clone(),
        };
        let peer = format!("{link}p");
        let (here, there) = host.addrs();
        for args in [
            vec!["netns", "add", &netns],
            vec!["link", "add", &link, "type", "veth", "peer", "name", &peer],
            vec!["link", "set", &peer, "netns", &netns],
            vec!["addr", "add", &format!("{here}/24"), "dev", &link],
            vec!["link", "set", &link, "up"],
            vec![
                "-n",
                &netns,
                "addr",
                "add",
                &format!("{there}/24"),
                "dev",
                &peer,
            ],
            vec!["-n", &netns, "link", "set", &peer, "up"],
        ] {
            let status = std::process::Command::new("ip")
                .args(&args)
                .status()
                .unwrap();
            assert!(status.success(), "ip {args:?}: {status}");
        }
        // The FIB lookup the program makes needs forwarding on the
        // receiving interface.
        std::fs::write(format!("/proc/sys/net/ipv4/conf/{link}/forwarding"), "1").unwrap();
        host
    }

    fn addrs(&self) -> (std::net::Ipv4Addr, std::net::Ipv4Addr) {
        // RFC 2544's benchmarking range: no real network uses it.
        let n: u32 = self.link.trim_start_matches("hkt").parse().unwrap();
        let (a, b) = (
            u8::try_from(n / 250 % 2).unwrap(),
            u8::try_from(n % 250).unwrap(),
        );
        ([198, 18 + a, b, 1].into(), [198, 18 + a, b, 2].into())
    }

    /// Runs `f` on a thread inside the namespace (its sockets live there).
    fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.netns);
        std::thread::spawn(move || {
            let ns = std::fs::File::open(&path).unwrap();
            nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            f()
        })
        .join()
        .unwrap()
    }
}

impl Drop for PeerHost {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.link])
            .status();
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
    }
}

/// Peers on another host: the rewritten packet is routed (FIB lookup)
/// and redirected out of the interface toward the peer, here a veth
/// into a second network namespace. Root only, as above.
#[test]
fn the_kernel_routes_to_a_peer_on_another_host() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("SKIPPED: kernel forwarding and network namespaces need root here");
        return;
    }
    let host = PeerHost::new(std::process::id());
    let (here, there) = host.addrs();
    let mut fw = Forwarder::start(std::slice::from_ref(&host.link)).unwrap();
    let bind = |ip: std::net::Ipv4Addr| {
        let s = UdpSocket::bind((ip, 0)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let std::net::SocketAddr::V4(a) = s.local_addr().unwrap() else {
            panic!("not v4")
        };
        (s, a)
    };
    let (leg_a, leg_a_at) = bind(here);
    let (leg_b, leg_b_at) = bind(here);
    // The peer's two sockets, made in its namespace, used from here.
    let (caller, callee) = host.run(move || {
        let caller = UdpSocket::bind((there, 0)).unwrap();
        let callee = UdpSocket::bind((there, 0)).unwrap();
        (caller, callee)
    });
    callee
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let (std::net::SocketAddr::V4(caller_at), std::net::SocketAddr::V4(callee_at)) =
        (caller.local_addr().unwrap(), callee.local_addr().unwrap())
    else {
        panic!("not v4")
    };
    // The peer's link-layer address, as the first RTP a leg sends learns
    // it: without it the kernel leaves packets to the socket.
    leg_b.send_to(b"hello", callee_at).unwrap();
    let mut buf = [0u8; 512];
    assert_eq!(callee.recv_from(&mut buf).unwrap().0, 5);

    let f = Flow {
        peer: caller_at,
        out_src: leg_b_at,
        out_dst: callee_at,
        ..flow()
    };
    assert_eq!(f.encode()[36], 0, "routed, not local");
    fw.install(leg_a_at, &f).unwrap();
    for (seq, ts) in [(100u16, 16_000u32), (101, 16_160), (102, 16_320)] {
        let sent = rtp(seq, ts, 0x1122_3344, 0);
        caller.send_to(&sent, leg_a_at).unwrap();
        let (n, from) = callee.recv_from(&mut buf).unwrap();
        assert_eq!(
            from,
            std::net::SocketAddr::V4(leg_b_at),
            "from the other leg"
        );
        assert_eq!(buf[1], 8);
        assert_eq!(u16::from_be_bytes([buf[2], buf[3]]), seq + 500);
        assert_eq!(
            u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
            ts + 1000
        );
        assert_eq!(&buf[12..n], &sent[12..]);
    }
    leg_a
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    assert!(
        leg_a.recv_from(&mut buf).is_err(),
        "nothing left to the socket"
    );
    assert_eq!(fw.drain(|_| {}), 3, "each one copied");
    assert_eq!(fw.remove(leg_a_at).unwrap().packets, 3);
}
