//! `floor`: what the server's relay system-call pattern costs per packet
//! on this machine, with none of Hibiki's logic around it.
//!
//! Hibiki's media plane relays a bridged call's RTP like this: a worker
//! thread wakes on a fixed 1 ms grid (`std::thread::sleep` to the next
//! millisecond), asks a level-triggered epoll which leg sockets have a
//! datagram (`epoll_wait` with timeout 0), reads **one** datagram per
//! ready socket (`recvfrom`; more only while they come from a stranger),
//! latches the sender's address on the first one, rewrites the RTP header
//! into an out buffer and sends it (`sendto`) from the other leg's socket
//! to that leg's latched address. This module runs exactly that in one
//! thread (the **relay**), and in another (the **peer**) what the load
//! tool does: two shared sockets (callers, callees) that send one 172-byte
//! packet per leg every 20 ms in `sendmmsg` batches spread over 1 ms
//! phases ([`Pacer`]) and read everything back with `recvmmsg`.
//!
//! The figure is the relay thread's own CPU time (`getrusage
//! (RUSAGE_THREAD)`, user and system) over a steady window, divided by
//! the packets it relayed in that window: the floor under the server's
//! CPU per relayed packet for this pattern.
//!
//! ## Figures
//! - **relay µs per relayed packet**: the relay thread's CPU (user +
//!   system) between its two window samples over the packets it relayed
//!   between them. The total is the scheduler's precise on-CPU time (also
//!   shown from `/proc/thread-self/schedstat`); the user/system split is
//!   the kernel's tick sampling (250 Hz here) scaled to that total, so
//!   it is an estimate, and since the relay's passes and the tick share
//!   one clock, it samples the same phase of every pass. Without
//!   `CONFIG_IRQ_TIME_ACCOUNTING` the loopback delivery done in softirq
//!   on a sender's behalf is charged to the sender: the relay pays the
//!   delivery of what it sends (and, with `--peer-wait socket`, the
//!   wake-up of the peer), the peer pays the delivery of what it sends.
//! - **peer µs per packet**: the peer's CPU over the packets it received
//!   in its own window (it sent as many).
//! - **other CPU on the machine**: `/proc/stat` busy time in the relay's
//!   window minus the two threads' own: a rough sign of other work
//!   (tick-sampled, with the same phase bias as the split above; it can
//!   read 0 when the ticks miss the threads).
//! - **loss**: sent by the peer, minus the packets the relay could not
//!   route yet (a caller's first packet, before its callee latched),
//!   against received back, over the whole run.
//!
//! ## Timeline
//! Both threads start at `t0`; the peer sends from `t0` (the first packet
//! of each caller is not relayed: its callee has not latched yet, counted
//! as *unroutable*), the window is `[t0 + warmup, t0 + warmup +
//! duration)`, sampled by each thread at its first pass at or after each
//! end. The peer stops sending at the window's end; the relay runs
//! [`RELAY_DRAIN`] longer, the peer reads [`PEER_DRAIN`] longer, so the
//! loss (sent against received, whole run) has no edge effect.
//!
//! ## Variants
//! - `--peer-wait socket`: the peer sleeps in `ppoll` on its sockets (as
//!   `run` does), so the relay's sends wake it (the wake-up is charged to
//!   the relay's system time); `timer`: the peer sleeps only until its
//!   next send deadline (at most 1 ms) and reads without waiting, so no
//!   one waits on its sockets.
//! - `--connected`: once a leg has latched, its socket is `connect()`ed to
//!   the peer; the relay then reads it with `recv` and sends with `send`
//!   (the kernel keeps the route and drops strangers itself).
//! - `--recv-batch`: one `recvmmsg` of up to [`RECV_BATCH`] datagrams per
//!   ready socket instead of one `recvfrom`; every datagram read is
//!   relayed.

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};

use crate::pacer::{Due, Pacer};
use crate::procfs;
use crate::report::{Report, Value};
use crate::rtp::{self, FRAME_SAMPLES, HEADER_LEN, PACKET_LEN};
use crate::sys::{self, Epoll, RecvBatch, SendBatch, ThreadUsage};

/// The relay's pass period.
const PASS: Duration = Duration::from_millis(1);
/// A pass that begins later than this after its millisecond is late
/// (the server's `media_plane_late_passes_total` threshold).
const LATE: Duration = Duration::from_millis(5);
/// Most datagrams read from one socket in one pass while they are
/// strangers' (the server's bound).
const MAX_READS: usize = 64;
/// Readiness events per `epoll_wait` (the server's).
const EVENTS: usize = 1024;
/// Datagrams per `recvmmsg` with `--recv-batch`.
pub const RECV_BATCH: usize = 8;
/// Receive and out buffers of the relay (the largest datagram it takes).
const DATAGRAM: usize = 2048;
/// How long the relay runs after the peer stops sending.
pub const RELAY_DRAIN: Duration = Duration::from_millis(200);
/// How long the peer reads after it stops sending.
pub const PEER_DRAIN: Duration = Duration::from_millis(400);
/// The time given to both threads to get ready before `t0`.
const START_MARGIN: Duration = Duration::from_millis(100);

/// How the peer waits between its sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerWait {
    /// In `ppoll` on its two sockets (the relay's sends wake it).
    Socket,
    /// Until its next send deadline only (nothing waits on its sockets).
    Timer,
}

impl PeerWait {
    fn name(self) -> &'static str {
        match self {
            PeerWait::Socket => "socket",
            PeerWait::Timer => "timer",
        }
    }
}

/// What a `floor` run does.
#[derive(Debug, Clone)]
pub struct Config {
    pub calls: u32,
    pub warmup: Duration,
    pub duration: Duration,
    pub peer_wait: PeerWait,
    pub connected: bool,
    pub recv_batch: bool,
    /// Receive and send buffer of the peer's two sockets (the relay's
    /// leg sockets keep the kernel's default, as the server's do).
    pub peer_buffer: usize,
}

// ---------------------------------------------------------------------
// The header rewrite.

/// The outgoing RTP stream of one leg: what the relay writes over the
/// headers of the packets it sends out of that leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutStream {
    pub ssrc: u32,
    /// The sequence number of the next packet.
    pub next_seq: u16,
    /// The timestamp the first relayed packet gets.
    pub ts_base: u32,
    /// Added to incoming timestamps (set by the first packet).
    ts_offset: Option<u32>,
}

impl OutStream {
    pub fn new(ssrc: u32, first_seq: u16, ts_base: u32) -> OutStream {
        OutStream {
            ssrc,
            next_seq: first_seq,
            ts_base,
            ts_offset: None,
        }
    }
}

/// Copies `packet` into `out` with a new SSRC, the stream's next sequence
/// number and its timestamp moved onto the stream's base (the rest of the
/// header, payload type and marker included, is kept). Returns the length
/// written; `None` for what is not RTP version 2 or does not fit.
pub fn rewrite(packet: &[u8], out: &mut [u8], stream: &mut OutStream) -> Option<usize> {
    let len = packet.len();
    if len < HEADER_LEN || packet[0] >> 6 != 2 || len > out.len() {
        return None;
    }
    let out = &mut out[..len];
    out.copy_from_slice(packet);
    let in_ts = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
    let offset = *stream
        .ts_offset
        .get_or_insert(stream.ts_base.wrapping_sub(in_ts));
    out[2..4].copy_from_slice(&stream.next_seq.to_be_bytes());
    out[4..8].copy_from_slice(&in_ts.wrapping_add(offset).to_be_bytes());
    out[8..12].copy_from_slice(&stream.ssrc.to_be_bytes());
    stream.next_seq = stream.next_seq.wrapping_add(1);
    Some(len)
}

// ---------------------------------------------------------------------
// Shared timing.

/// When things happen (the same for both threads).
#[derive(Debug, Clone, Copy)]
struct Timeline {
    t0: Instant,
    window_start: Instant,
    window_end: Instant,
    relay_stop: Instant,
    peer_stop: Instant,
}

impl Timeline {
    fn new(t0: Instant, warmup: Duration, duration: Duration) -> Timeline {
        let window_start = t0 + warmup;
        let window_end = window_start + duration;
        Timeline {
            t0,
            window_start,
            window_end,
            relay_stop: window_end + RELAY_DRAIN,
            peer_stop: window_end + PEER_DRAIN,
        }
    }

    fn us(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.t0).as_micros() as u64
    }
}

/// One thread's figures at one end of the window.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    at: Option<Instant>,
    usage: ThreadUsage,
    /// (run, run-queue wait) ns, when the kernel has schedstats.
    sched: Option<(u64, u64)>,
    /// The thread's main count: packets relayed (relay) or received (peer).
    packets: u64,
    /// The peer: packets sent.
    sent: u64,
    /// Machine-wide CPU (the relay's samples only).
    machine: Option<procfs::MachineCpu>,
}

impl Sample {
    fn take(at: Instant, packets: u64, sent: u64) -> Sample {
        Sample {
            at: Some(at),
            usage: sys::thread_usage().unwrap_or_default(),
            sched: procfs::thread_schedstat(),
            packets,
            sent,
            machine: None,
        }
    }
}

/// Samples at the window's two ends (each once, at the first check at or
/// after its instant).
#[derive(Debug, Clone, Copy, Default)]
struct Window {
    start: Sample,
    end: Sample,
}

impl Window {
    /// Takes the sample due at `now`, if one is (with the machine's CPU
    /// when `machine`).
    fn check(&mut self, tl: &Timeline, now: Instant, packets: u64, sent: u64, machine: bool) {
        let slot = if self.start.at.is_none() && now >= tl.window_start {
            &mut self.start
        } else if self.start.at.is_some() && self.end.at.is_none() && now >= tl.window_end {
            &mut self.end
        } else {
            return;
        };
        *slot = Sample::take(now, packets, sent);
        if machine {
            slot.machine = procfs::machine_cpu();
        }
    }

    fn inside(&self) -> bool {
        self.start.at.is_some() && self.end.at.is_none()
    }
}

// ---------------------------------------------------------------------
// The relay.

/// One leg as the relay holds it.
#[derive(Debug)]
struct Leg {
    sock: UdpSocket,
    /// The latched remote address.
    peer: Option<SocketAddr>,
    /// What goes out of this leg.
    out: OutStream,
}

/// The relay's counters (whole run unless said).
#[derive(Debug, Clone, Copy, Default)]
struct RelayCounts {
    received: u64,
    relayed: u64,
    /// Read before the other leg had latched (the first packets).
    unroutable: u64,
    strangers: u64,
    malformed: u64,
    send_failed: u64,
    recv_errors: u64,
    connect_failed: u64,
    passes: u64,
    /// In the window: passes, and passes later than [`LATE`].
    window_passes: u64,
    late_passes: u64,
    max_late: Duration,
    /// In the window: the most sockets ready in one pass.
    max_ready: usize,
}

/// What the relay thread hands back (its legs too: their sockets stay
/// open until the drop counters are read).
#[derive(Debug)]
struct RelayResult {
    counts: RelayCounts,
    window: Window,
    legs: Vec<Leg>,
}

/// What to do after one datagram.
enum Next {
    /// It was a stranger's: read on.
    ReadOn,
    Done,
}

struct Relay {
    legs: Vec<Leg>,
    cfg: Config,
    counts: RelayCounts,
    out: Vec<u8>,
}

impl Relay {
    /// One datagram read on leg `i` from `from`: latch, reject or relay.
    fn datagram(&mut self, i: usize, from: SocketAddr, data: &[u8]) -> Next {
        self.counts.received += 1;
        let leg = &mut self.legs[i];
        match leg.peer {
            None => {
                leg.peer = Some(from);
                if self.cfg.connected && leg.sock.connect(from).is_err() {
                    self.counts.connect_failed += 1;
                }
            }
            Some(p) if p != from => {
                self.counts.strangers += 1;
                return Next::ReadOn;
            }
            Some(_) => {}
        }
        let other = &mut self.legs[i ^ 1];
        let Some(to) = other.peer else {
            self.counts.unroutable += 1;
            return Next::Done;
        };
        let Some(len) = rewrite(data, &mut self.out, &mut other.out) else {
            self.counts.malformed += 1;
            return Next::Done;
        };
        let bytes = &self.out[..len];
        let sent = if self.cfg.connected {
            other.sock.send(bytes)
        } else {
            other.sock.send_to(bytes, to)
        };
        match sent {
            Ok(_) => self.counts.relayed += 1,
            Err(_) => self.counts.send_failed += 1,
        }
        Next::Done
    }

    /// The server's way: one `recvfrom` (`recv` once connected) per
    /// ready socket, more while strangers'.
    fn readable(&mut self, i: usize, buf: &mut [u8]) {
        for _ in 0..MAX_READS {
            let leg = &self.legs[i];
            let got = match leg.peer {
                Some(p) if self.cfg.connected => leg.sock.recv(buf).map(|n| (n, p)),
                _ => leg.sock.recv_from(buf),
            };
            let (len, from) = match got {
                Ok(x) => x,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.counts.recv_errors += 1;
                    return;
                }
            };
            if let Next::Done = self.datagram(i, from, &buf[..len]) {
                return;
            }
        }
    }

    /// `--recv-batch`: one `recvmmsg` per ready socket, every datagram
    /// relayed.
    fn readable_batch(&mut self, i: usize, batch: &mut RecvBatch) {
        let n = match batch.recv_max(&self.legs[i].sock, RECV_BATCH) {
            Ok(n) => n,
            Err(_) => {
                self.counts.recv_errors += 1;
                return;
            }
        };
        for k in 0..n {
            let (data, from, _truncated) = batch.get(k);
            let _ = self.datagram(i, SocketAddr::V4(from), data);
        }
    }

    fn run(mut self, mut epoll: Epoll, tl: Timeline) -> RelayResult {
        let mut ready = Vec::with_capacity(EVENTS);
        let mut buf = vec![0u8; DATAGRAM];
        let mut batch = self.cfg.recv_batch.then(|| RecvBatch::new(DATAGRAM));
        let mut window = Window::default();
        if let Some(wait) = tl.t0.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        let mut next = tl.t0;
        loop {
            let now = Instant::now();
            window.check(&tl, now, self.counts.relayed, 0, true);
            if now >= tl.relay_stop {
                break;
            }
            let in_window = window.inside();
            if in_window {
                let late = now.saturating_duration_since(next);
                self.counts.max_late = self.counts.max_late.max(late);
                if late > LATE {
                    self.counts.late_passes += 1;
                }
                self.counts.window_passes += 1;
            }
            if epoll.poll_now(&mut ready).is_err() {
                ready.clear();
            }
            if in_window {
                self.counts.max_ready = self.counts.max_ready.max(ready.len());
            }
            for &token in &ready {
                let i = token as usize;
                if i >= self.legs.len() {
                    continue;
                }
                match batch.as_mut() {
                    Some(b) => self.readable_batch(i, b),
                    None => self.readable(i, &mut buf),
                }
            }
            self.counts.passes += 1;
            next += PASS;
            let now = Instant::now();
            match next.checked_duration_since(now) {
                Some(wait) => thread::sleep(wait),
                // Late by more than a frame: start the grid again (the
                // server does the same).
                None if now.duration_since(next) > PASS * 20 => next = now,
                None => {}
            }
        }
        RelayResult {
            counts: self.counts,
            window,
            legs: self.legs,
        }
    }
}

// ---------------------------------------------------------------------
// The peer.

#[derive(Debug, Clone, Copy, Default)]
struct PeerCounts {
    sent: u64,
    received: u64,
    /// Received datagrams that were not a whole packet of ours.
    odd: u64,
    send_failed: u64,
    send_waits: u64,
    recv_errors: u64,
    /// The pacer's largest lateness (µs).
    max_send_late_us: u64,
}

#[derive(Debug)]
struct PeerResult {
    counts: PeerCounts,
    window: Window,
}

struct Peer {
    /// Callers' socket, callees' socket.
    socks: [UdpSocket; 2],
    /// Leg `2c` (caller of call `c`) sends to `dests[2c]`, the relay's
    /// caller leg of that call; `2c + 1` to its callee leg.
    dests: Vec<SocketAddrV4>,
    wait: PeerWait,
    counts: PeerCounts,
}

impl Peer {
    /// Sends every packet due at `now_us` (µs since `t0`), in one
    /// `sendmmsg` per socket and [`sys::MAX_BATCH`] packets.
    fn send_due(
        &mut self,
        now_us: u64,
        pacer: &mut Pacer,
        due: &mut Vec<Due>,
        batches: &mut [SendBatch; 2],
    ) {
        const PAYLOAD: [u8; FRAME_SAMPLES] = [0xD5; FRAME_SAMPLES]; // A-law silence
        due.clear();
        pacer.poll(now_us, |d| due.push(d));
        for d in due.iter() {
            let side = (d.leg % 2) as usize;
            if batches[side].is_full() {
                self.flush(side, &mut batches[side]);
            }
            let buf = batches[side].push(self.dests[d.leg as usize]);
            if let Ok(packet) = <&mut [u8; PACKET_LEN]>::try_from(buf) {
                rtp::write_packet(
                    packet,
                    8,
                    d.index == 0,
                    d.index as u16,
                    (d.index as u32).wrapping_mul(FRAME_SAMPLES as u32),
                    0x5000_0000 | d.leg,
                    &PAYLOAD,
                );
            }
        }
        for (side, batch) in batches.iter_mut().enumerate() {
            self.flush(side, batch);
        }
    }

    fn flush(&mut self, side: usize, batch: &mut SendBatch) {
        let out = batch.flush(&self.socks[side]);
        self.counts.sent += out.sent;
        self.counts.send_failed += out.failed;
        self.counts.send_waits += out.waits;
    }

    /// Reads what is waiting on both sockets, without waiting.
    fn read_all(&mut self, batch: &mut RecvBatch) {
        for side in 0..2 {
            // Bounded: at 1,000 calls a socket gets about 50 a millisecond.
            for _ in 0..64 {
                match batch.recv(&self.socks[side]) {
                    Ok(0) => break,
                    Ok(n) => {
                        for k in 0..n {
                            let (data, _, truncated) = batch.get(k);
                            if data.len() == PACKET_LEN && !truncated {
                                self.counts.received += 1;
                            } else {
                                self.counts.odd += 1;
                            }
                        }
                    }
                    Err(_) => {
                        self.counts.recv_errors += 1;
                        break;
                    }
                }
            }
        }
    }

    fn run(mut self, tl: Timeline) -> PeerResult {
        let legs = self.dests.len() as u32;
        let mut pacer = Pacer::new(20);
        for leg in 0..legs {
            pacer.add(leg, 0);
        }
        pacer.stop_at(tl.us(tl.window_end));
        let mut due = Vec::with_capacity(legs as usize);
        let mut batches = [SendBatch::new(PACKET_LEN), SendBatch::new(PACKET_LEN)];
        let mut recv = RecvBatch::new(DATAGRAM);
        let mut window = Window::default();
        if let Some(wait) = tl.t0.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        loop {
            let now = Instant::now();
            window.check(&tl, now, self.counts.received, self.counts.sent, false);
            if now >= tl.peer_stop {
                break;
            }
            self.read_all(&mut recv);
            let now_us = tl.us(now);
            self.send_due(now_us, &mut pacer, &mut due, &mut batches);
            // Sleep to the next deadline (at most 1 ms: the drain has none).
            let wake_us = pacer
                .next_deadline()
                .unwrap_or(u64::MAX)
                .min(now_us + 1000)
                .min(tl.us(tl.peer_stop));
            let timeout = Duration::from_micros(wake_us.saturating_sub(tl.us(Instant::now())));
            match self.wait {
                PeerWait::Socket => {
                    if sys::wait_readable(&[&self.socks[0], &self.socks[1]], timeout).is_err() {
                        self.counts.recv_errors += 1;
                        thread::sleep(timeout);
                    }
                }
                PeerWait::Timer => thread::sleep(timeout),
            }
        }
        self.read_all(&mut recv);
        self.counts.max_send_late_us = pacer.max_late_us;
        PeerResult {
            counts: self.counts,
            window,
        }
    }
}

// ---------------------------------------------------------------------
// The run.

fn bind_loopback() -> Result<UdpSocket> {
    UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
        .context("binding a UDP socket on 127.0.0.1 (out of ports or descriptors? see ulimit -n)")
}

fn local_v4(sock: &UdpSocket) -> Result<SocketAddrV4> {
    match sock.local_addr()? {
        SocketAddr::V4(a) => Ok(a),
        SocketAddr::V6(a) => Err(anyhow!("bound to {a}, not IPv4")),
    }
}

/// Everything a report needs.
#[derive(Debug)]
pub struct FloorResult {
    pub cfg: Config,
    relay: RelayResult,
    peer: PeerResult,
    /// Drops of the process's own UDP sockets (relay legs and peer),
    /// whole run: (sockets found, drops).
    socket_drops: Option<(u64, u64)>,
    /// The machine-wide UDP receive-buffer errors during the run (other
    /// processes move it too).
    rcvbuf_errors: Option<u64>,
    peer_rcvbuf: usize,
}

/// Runs the relay and the peer and returns their figures.
pub fn run(cfg: Config) -> Result<FloorResult> {
    let legs_n = cfg.calls as usize * 2;
    let epoll = Epoll::new(EVENTS).context("creating the relay's epoll")?;
    let mut legs = Vec::with_capacity(legs_n);
    let mut dests = Vec::with_capacity(legs_n);
    for i in 0..legs_n {
        let sock = bind_loopback()?;
        sock.set_nonblocking(true)?;
        dests.push(local_v4(&sock)?);
        epoll
            .add_readable(&sock, i as u64)
            .context("watching a leg socket")?;
        legs.push(Leg {
            sock,
            peer: None,
            out: OutStream::new(0x7000_0000 | i as u32, (i as u16).wrapping_mul(7), 1000),
        });
    }
    let peer_socks = [bind_loopback()?, bind_loopback()?];
    let mut peer_rcvbuf = 0;
    for s in &peer_socks {
        peer_rcvbuf = sys::set_buffers(s, cfg.peer_buffer).context("peer socket buffers")?;
    }
    let udp_before = procfs::udp_counters().ok();

    let tl = Timeline::new(Instant::now() + START_MARGIN, cfg.warmup, cfg.duration);
    let relay = Relay {
        legs,
        cfg: cfg.clone(),
        counts: RelayCounts::default(),
        out: vec![0u8; DATAGRAM],
    };
    let peer = Peer {
        socks: peer_socks,
        dests,
        wait: cfg.peer_wait,
        counts: PeerCounts::default(),
    };
    let relay = thread::Builder::new()
        .name("floor-relay".into())
        .spawn(move || relay.run(epoll, tl))
        .context("starting the relay thread")?;
    let peer = thread::Builder::new()
        .name("floor-peer".into())
        .spawn(move || peer.run(tl))
        .context("starting the peer thread")?;
    let peer = peer
        .join()
        .map_err(|_| anyhow!("the peer thread panicked"))?;
    let relay = relay
        .join()
        .map_err(|_| anyhow!("the relay thread panicked"))?;
    // Every socket is still open (the relay handed its legs back).
    let socket_drops = procfs::udp_socket_drops(None).ok();
    let rcvbuf_errors = match (udp_before, procfs::udp_counters().ok()) {
        (Some(a), Some(b)) => Some(b.rcvbuf_errors.saturating_sub(a.rcvbuf_errors)),
        _ => None,
    };
    Ok(FloorResult {
        cfg,
        relay,
        peer,
        socket_drops,
        rcvbuf_errors,
        peer_rcvbuf,
    })
}

// ---------------------------------------------------------------------
// The report.

/// A thread's figures over its window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct ThreadFigures {
    /// Wall seconds between its two samples.
    seconds: f64,
    user_s: f64,
    system_s: f64,
    /// Its main count over the window.
    packets: u64,
    involuntary_switches: u64,
    /// Run-queue wait, ms (schedstats).
    runq_wait_ms: Option<f64>,
    /// On-CPU seconds by the scheduler's clock (schedstats): the same
    /// clock `getrusage` scales its tick-sampled user/system split to.
    run_s: Option<f64>,
}

impl ThreadFigures {
    fn of(w: &Window) -> Option<ThreadFigures> {
        let (a, b) = (w.start.at?, w.end.at?);
        Some(ThreadFigures {
            seconds: b.duration_since(a).as_secs_f64(),
            user_s: w
                .end
                .usage
                .user
                .saturating_sub(w.start.usage.user)
                .as_secs_f64(),
            system_s: w
                .end
                .usage
                .system
                .saturating_sub(w.start.usage.system)
                .as_secs_f64(),
            packets: w.end.packets.saturating_sub(w.start.packets),
            involuntary_switches: w
                .end
                .usage
                .involuntary_switches
                .saturating_sub(w.start.usage.involuntary_switches),
            runq_wait_ms: match (w.start.sched, w.end.sched) {
                (Some((_, a)), Some((_, b))) => Some(b.saturating_sub(a) as f64 / 1e6),
                _ => None,
            },
            run_s: match (w.start.sched, w.end.sched) {
                (Some((a, _)), Some((b, _))) => Some(b.saturating_sub(a) as f64 / 1e9),
                _ => None,
            },
        })
    }

    fn cpu_s(&self) -> f64 {
        self.user_s + self.system_s
    }

    /// µs of CPU per packet of its count.
    fn us_per_packet(&self) -> Option<f64> {
        (self.packets > 0).then(|| self.cpu_s() * 1e6 / self.packets as f64)
    }

    fn cpu_percent(&self) -> Option<f64> {
        (self.seconds > 0.0).then(|| self.cpu_s() * 100.0 / self.seconds)
    }

    fn system_share(&self) -> Option<f64> {
        (self.cpu_s() > 0.0).then(|| self.system_s * 100.0 / self.cpu_s())
    }
}

/// Loss in percent of what should have arrived (`None` when nothing
/// should have).
fn loss_percent(expected: u64, got: u64) -> Option<f64> {
    (expected > 0).then(|| expected.saturating_sub(got) as f64 * 100.0 / expected as f64)
}

/// The figures of a run, as a table and flat JSON.
pub fn report(r: &FloorResult) -> Report {
    let c = &r.relay.counts;
    let p = &r.peer.counts;
    let relay = ThreadFigures::of(&r.relay.window);
    let peer = ThreadFigures::of(&r.peer.window);
    let mut rep = Report::default();
    rep.heading("floor: the relay's system-call pattern alone");
    rep.add(
        "calls",
        "calls (2 legs each)",
        Value::Int(u64::from(r.cfg.calls)),
    );
    rep.add(
        "peer_wait",
        "peer waits on",
        Value::Text(r.cfg.peer_wait.name().into()),
    );
    rep.add(
        "connected",
        "leg sockets connected",
        Value::Bool(r.cfg.connected),
    );
    rep.add(
        "recv_batch",
        "recvmmsg per ready socket",
        Value::Bool(r.cfg.recv_batch),
    );
    rep.add(
        "window_s",
        "steady window, s (relay's)",
        relay.map_or(Value::Missing, |f| Value::Float(f.seconds, 3)),
    );

    rep.heading("relay thread (steady window)");
    let f = |v: Option<f64>, d| v.map_or(Value::Missing, |v| Value::Float(v, d));
    rep.add(
        "relayed_per_s",
        "packets relayed/s",
        f(
            relay.and_then(|x| (x.seconds > 0.0).then(|| x.packets as f64 / x.seconds)),
            0,
        ),
    );
    rep.add(
        "relay_us_per_packet",
        "relay CPU per relayed packet, µs",
        f(relay.and_then(|x| x.us_per_packet()), 3),
    );
    rep.add(
        "relay_user_us_per_packet",
        "  of which user, µs",
        f(
            relay.and_then(|x| (x.packets > 0).then(|| x.user_s * 1e6 / x.packets as f64)),
            3,
        ),
    );
    rep.add(
        "relay_sys_us_per_packet",
        "  of which system, µs",
        f(
            relay.and_then(|x| (x.packets > 0).then(|| x.system_s * 1e6 / x.packets as f64)),
            3,
        ),
    );
    rep.add(
        "relay_run_us_per_packet",
        "  on-CPU per packet by schedstat, µs",
        f(
            relay.and_then(|x| {
                let run = x.run_s?;
                (x.packets > 0).then(|| run * 1e6 / x.packets as f64)
            }),
            3,
        ),
    );
    rep.add(
        "relay_sys_percent",
        "system share of relay CPU, %",
        f(relay.and_then(|x| x.system_share()), 1),
    );
    rep.add(
        "relay_cpu_percent",
        "relay CPU, % of a core",
        f(relay.and_then(|x| x.cpu_percent()), 1),
    );
    rep.add(
        "relay_passes_per_s",
        "passes/s",
        f(
            relay.and_then(|x| (x.seconds > 0.0).then(|| c.window_passes as f64 / x.seconds)),
            1,
        ),
    );
    rep.add(
        "relay_late_passes",
        "passes begun > 5 ms late",
        Value::Int(c.late_passes),
    );
    rep.add(
        "relay_max_late_ms",
        "latest pass start, ms",
        Value::Float(c.max_late.as_secs_f64() * 1e3, 2),
    );
    rep.add(
        "relay_max_ready",
        "most sockets ready in one pass",
        Value::Int(c.max_ready as u64),
    );
    rep.add(
        "relay_involuntary_switches",
        "involuntary context switches",
        relay.map_or(Value::Missing, |x| Value::Int(x.involuntary_switches)),
    );
    rep.add(
        "relay_runq_wait_ms",
        "run-queue wait, ms",
        f(relay.and_then(|x| x.runq_wait_ms), 1),
    );

    rep.heading("peer thread (steady window)");
    rep.add(
        "peer_us_per_packet",
        "peer CPU per packet received, µs",
        f(peer.and_then(|x| x.us_per_packet()), 3),
    );
    rep.add(
        "peer_sys_percent",
        "system share of peer CPU, %",
        f(peer.and_then(|x| x.system_share()), 1),
    );
    rep.add(
        "peer_cpu_percent",
        "peer CPU, % of a core",
        f(peer.and_then(|x| x.cpu_percent()), 1),
    );
    rep.add(
        "peer_received_per_s",
        "packets received/s",
        f(
            peer.and_then(|x| (x.seconds > 0.0).then(|| x.packets as f64 / x.seconds)),
            0,
        ),
    );
    rep.add(
        "peer_sent_per_s",
        "packets sent/s",
        f(
            peer.and_then(|x| {
                let sent = r
                    .peer
                    .window
                    .end
                    .sent
                    .saturating_sub(r.peer.window.start.sent);
                (x.seconds > 0.0).then(|| sent as f64 / x.seconds)
            }),
            0,
        ),
    );
    rep.add(
        "peer_max_send_late_ms",
        "latest send, ms",
        Value::Float(p.max_send_late_us as f64 / 1e3, 2),
    );
    rep.add(
        "peer_involuntary_switches",
        "involuntary context switches",
        peer.map_or(Value::Missing, |x| Value::Int(x.involuntary_switches)),
    );
    rep.add(
        "peer_runq_wait_ms",
        "run-queue wait, ms",
        f(peer.and_then(|x| x.runq_wait_ms), 1),
    );

    rep.heading("packets (whole run)");
    rep.add("sent", "sent by the peer", Value::Int(p.sent));
    rep.add(
        "relay_received",
        "read by the relay",
        Value::Int(c.received),
    );
    rep.add(
        "relay_unroutable",
        "not relayed: other leg not latched yet",
        Value::Int(c.unroutable),
    );
    rep.add("relayed", "relayed", Value::Int(c.relayed));
    rep.add(
        "received",
        "received back by the peer",
        Value::Int(p.received),
    );
    let expected = p.sent.saturating_sub(c.unroutable);
    rep.add(
        "lost",
        "lost (sent − unroutable − received)",
        Value::Int(expected.saturating_sub(p.received)),
    );
    rep.add(
        "loss_percent",
        "loss, %",
        f(loss_percent(expected, p.received), 4),
    );
    rep.add(
        "lost_before_relay",
        "  lost before the relay read them",
        Value::Int(p.sent.saturating_sub(c.received)),
    );
    rep.add(
        "lost_after_relay",
        "  lost after the relay sent them",
        Value::Int(c.relayed.saturating_sub(p.received)),
    );
    let latched = r.relay.legs.iter().filter(|l| l.peer.is_some()).count();
    rep.add(
        "legs_latched",
        "relay legs latched",
        Value::Int(latched as u64),
    );
    rep.add(
        "relay_send_failed",
        "relay sends refused",
        Value::Int(c.send_failed),
    );
    rep.add(
        "relay_strangers",
        "relay: from strangers",
        Value::Int(c.strangers),
    );
    rep.add("relay_malformed", "relay: not RTP", Value::Int(c.malformed));
    rep.add(
        "relay_recv_errors",
        "relay: receive errors",
        Value::Int(c.recv_errors),
    );
    rep.add(
        "relay_connect_failed",
        "relay: connect() failed",
        Value::Int(c.connect_failed),
    );
    rep.add(
        "peer_send_failed",
        "peer sends refused",
        Value::Int(p.send_failed),
    );
    rep.add(
        "peer_send_waits",
        "peer send-buffer waits",
        Value::Int(p.send_waits),
    );
    rep.add("peer_odd", "peer: odd datagrams", Value::Int(p.odd));
    rep.add(
        "peer_recv_errors",
        "peer: receive errors",
        Value::Int(p.recv_errors),
    );
    rep.add(
        "socket_drops",
        "receive-buffer drops, this process's sockets",
        r.socket_drops
            .map_or(Value::Missing, |(_, d)| Value::Int(d)),
    );
    rep.add(
        "udp_rcvbuf_errors",
        "UdpRcvbufErrors, machine-wide",
        r.rcvbuf_errors.map_or(Value::Missing, Value::Int),
    );
    rep.add(
        "peer_rcvbuf",
        "peer receive buffer granted, bytes",
        Value::Int(r.peer_rcvbuf as u64),
    );
    // What the rest of the machine did in the relay's window.
    if let (Some(a), Some(b), Some(rf)) = (
        r.relay.window.start.machine,
        r.relay.window.end.machine,
        relay,
    ) {
        let tick = 1.0 / sys::clock_ticks() as f64;
        let busy = b.busy.saturating_sub(a.busy) as f64 * tick;
        let ours = rf.cpu_s() + peer.map_or(0.0, |p| p.cpu_s());
        rep.add(
            "other_cpu_percent",
            "other CPU on the machine (tick-sampled), % core",
            Value::Float((busy - ours).max(0.0) * 100.0 / rf.seconds, 1),
        );
        rep.add(
            "steal_ms",
            "hypervisor steal in the window, ms",
            Value::Float(b.steal.saturating_sub(a.steal) as f64 * tick * 1e3, 0),
        );
    }
    rep.add(
        "load_average",
        "1-minute load average at the end",
        f(procfs::load_average(), 2),
    );
    rep
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(pt_marker: u8, seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
        let mut p = vec![0x80, pt_marker];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend((0..160).map(|i| i as u8));
        p
    }

    fn header(out: &[u8]) -> (u16, u32, u32) {
        let h = rtp::read_header(out).expect("rtp");
        (h.seq, h.timestamp, h.ssrc)
    }

    #[test]
    fn rewrite_renumbers_and_moves_the_timestamp() {
        let mut s = OutStream::new(0xabcd_0001, 65_535, 1000);
        let mut out = [0u8; DATAGRAM];
        let first = packet(0x80, 17, u32::MAX - 100, 0x1111);
        assert_eq!(rewrite(&first, &mut out, &mut s), Some(172));
        assert_eq!(header(&out), (65_535, 1000, 0xabcd_0001));
        // Marker, payload type and payload kept.
        assert_eq!(out[1], 0x80);
        assert_eq!(&out[12..172], &first[12..]);
        // The next packet: seq wraps, the timestamp keeps its distance
        // (across the input's wrap too).
        let second = packet(0x00, 18, (u32::MAX - 100).wrapping_add(160), 0x1111);
        assert_eq!(rewrite(&second, &mut out, &mut s), Some(172));
        assert_eq!(header(&out), (0, 1160, 0xabcd_0001));
        assert_eq!(out[1], 0x00);
        // A lost input packet leaves no gap in what goes out (the server
        // renumbers too), but the timestamp shows it.
        let fourth = packet(0x00, 20, (u32::MAX - 100).wrapping_add(480), 0x1111);
        rewrite(&fourth, &mut out, &mut s);
        assert_eq!(header(&out), (1, 1480, 0xabcd_0001));
    }

    #[test]
    fn rewrite_refuses_what_is_not_rtp_or_does_not_fit() {
        let mut s = OutStream::new(1, 0, 0);
        let mut out = [0u8; 64];
        assert_eq!(rewrite(&[0x80; 11], &mut out, &mut s), None);
        let mut v1 = packet(0, 1, 1, 1);
        v1[0] = 0x40;
        assert_eq!(rewrite(&v1, &mut [0u8; DATAGRAM], &mut s), None);
        assert_eq!(rewrite(&packet(0, 1, 1, 1), &mut out, &mut s), None); // 172 > 64
        assert_eq!(s, OutStream::new(1, 0, 0)); // nothing consumed
    }

    #[test]
    fn figures_per_packet_and_split() {
        let f = ThreadFigures {
            seconds: 20.0,
            user_s: 2.0,
            system_s: 6.0,
            packets: 2_000_000,
            involuntary_switches: 0,
            runq_wait_ms: None,
            run_s: None,
        };
        assert_eq!(f.us_per_packet(), Some(4.0));
        assert_eq!(f.cpu_percent(), Some(40.0));
        assert_eq!(f.system_share(), Some(75.0));
        assert_eq!(ThreadFigures::default().us_per_packet(), None);
        assert_eq!(loss_percent(1000, 990), Some(1.0));
        assert_eq!(loss_percent(0, 0), None);
    }

    #[test]
    fn a_short_run_relays_everything() {
        let cfg = Config {
            calls: 3,
            warmup: Duration::from_millis(100),
            duration: Duration::from_millis(300),
            peer_wait: PeerWait::Socket,
            connected: false,
            recv_batch: false,
            peer_buffer: 1 << 20,
        };
        for (connected, recv_batch, wait) in [
            (false, false, PeerWait::Socket),
            (true, true, PeerWait::Timer),
        ] {
            let r = run(Config {
                connected,
                recv_batch,
                peer_wait: wait,
                ..cfg.clone()
            })
            .expect("runs");
            let (c, p) = (r.relay.counts, r.peer.counts);
            assert!(p.sent > 0);
            // The first packet of each caller finds its callee unlatched.
            assert!(c.unroutable <= 3, "{c:?}");
            assert_eq!(c.relayed + c.unroutable, p.sent, "{c:?} {p:?}");
            assert_eq!(p.received, c.relayed, "{c:?} {p:?}");
            assert_eq!(c.strangers + c.malformed + c.send_failed, 0);
            let rep = report(&r);
            assert_eq!(rep.get("loss_percent"), Some(&Value::Float(0.0, 4)));
            assert!(matches!(
                rep.get("relay_us_per_packet"),
                Some(Value::Float(..))
            ));
        }
    }
}
