//! The event loop: four sockets shared by every call (SIP and RTP for the
//! calling side, SIP and RTP for the answering side), one thread, and the
//! phases of a run.
//!
//! ## Phases
//! 1. **ramp**: calls are placed at `rate` per second; each leg starts
//!    its RTP once it is up (the caller after sending ACK, the answerer
//!    on receiving ACK). The ramp ends when every call is answered or
//!    has failed.
//! 2. **steady** (`duration`): every established leg sends one packet per
//!    20 ms. Figures "per second" and the server's CPU per packet are
//!    measured over this window only (a snapshot at each end).
//! 3. **drain**: all RTP stops at once; what is in flight arrives.
//!    Stopping every stream before any BYE means the end-to-end loss
//!    (sent on one leg, received on the other) has no edge effect.
//! 4. **teardown**: the hanging-up side sends BYE (paced at `bye_rate`),
//!    until every dialog is closed or `teardown_timeout` passes.
//!
//! A hard deadline (ramp + setup timeout + duration + drain + teardown
//! + 5 s) ends the run whatever the server does.
//!
//! ## Driving rule
//! Each turn: read SIP, read RTP, advance the phase (placing calls,
//! sending BYEs), send what the pacer says is due, run SIP retransmission
//! timers, then sleep in `ppoll` until the nearest deadline or a socket
//! is readable.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::{SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::ivr::{GapHistogram, KeyCursor, KeyStart, PromptStream, PromptTotals};
use crate::pacer::{Due, Pacer};
use crate::procfs::{self, MachineCpu, UdpCounters};
use crate::rtp::{self, Law, EVENT_PACKET_LEN, FRAME_SAMPLES, PACKET_LEN};
use crate::stream::{RecvStream, StreamTotals};
use crate::sys::{self, RecvBatch, SendBatch};
use crate::uac::UacCall;
use crate::uas::UasLeg;

/// What a run does (from the command line).
#[derive(Debug, Clone)]
pub struct Config {
    pub target: SocketAddrV4,
    pub number: String,
    pub calls: u32,
    pub rate: f64,
    pub duration: Duration,
    pub uas_listen: SocketAddrV4,
    pub uas_codec: Law,
    pub uac_codec: Law,
    pub hangup: Side,
    pub server_pid: Option<u32>,
    /// `--loop`: the tool calls its own answering side (no server).
    pub loop_mode: bool,
    pub setup_timeout: Duration,
    pub drain: Duration,
    pub teardown_timeout: Duration,
    pub bye_rate: f64,
    pub slots: u32,
    pub socket_buffer: usize,
    /// IVR mode: the keys every caller sends (from its first packet), and
    /// prompt gaps measured on what the server sends the caller.
    pub ivr: Option<Vec<KeyStart>>,
}

/// The calling (UAC) or answering (UAS) side of the tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Uac = 0,
    Uas = 1,
}

impl Side {
    pub fn leg_id(self, index: usize) -> u32 {
        (index as u32) * 2 + self as u32
    }
}

/// One leg's outgoing RTP.
#[derive(Debug, Clone)]
struct MediaLeg {
    side: Side,
    dst: SocketAddrV4,
    payload_type: u8,
    payload: [u8; FRAME_SAMPLES],
    ssrc: u32,
    seq0: u16,
    ts0: u32,
    active: bool,
    /// The peer's telephone-event payload type (IVR keys go with it).
    event_pt: Option<u8>,
    keys: KeyCursor,
}

/// Counters of everything that is not per stream.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub rtp_sent: [u64; 2],
    pub rtp_received: [u64; 2],
    /// Datagrams on an RTP socket that were not RTP.
    pub rtp_ignored: [u64; 2],
    pub rtp_truncated: u64,
    pub send_failed: u64,
    pub send_waits: u64,
    pub sip_unparsed: u64,
    pub invite_retransmits: u64,
    pub ok_retransmits: u64,
    pub bye_retransmits: u64,
    /// INVITE → 2xx (µs), per established call.
    pub setup_us: Vec<u64>,
    pub failed_by_status: BTreeMap<u16, u64>,
    pub setup_timeouts: u64,
    pub bad_answers: u64,
    pub late_answers: u64,
    pub established: u64,
    /// Calls the server hung up before the tool's teardown.
    pub ended_by_server: u64,
    pub closed: u64,
    pub bye_failed: u64,
    pub uas_invites: u64,
    pub uas_refused: u64,
    pub uas_confirmed: u64,
    pub uas_ack_timeouts: u64,
    pub uas_ended_early: u64,
    pub uas_closed: u64,
    pub unknown_dialog: u64,
    /// IVR mode: keys sent whole (last end packet sent).
    pub keys_sent: u64,
    /// IVR mode: telephone-event packets sent (counted in `rtp_sent` too).
    pub event_packets: u64,
    /// IVR mode: answers without telephone-event (no keys sent there).
    pub answers_without_events: u64,
}

/// Resource figures at one instant.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub at_us: u64,
    pub tool_cpu_s: f64,
    pub server_cpu_s: Option<f64>,
    pub server_rss_kb: Option<u64>,
    /// The whole machine's CPU time (`/proc/stat`).
    pub machine_cpu: Option<MachineCpu>,
    pub rtp_sent: [u64; 2],
    pub rtp_received: [u64; 2],
    pub udp: Option<UdpCounters>,
    pub softnet_dropped: Option<u64>,
    pub tool_socket_drops: Option<u64>,
    pub server_sockets: Option<(u64, u64)>,
    pub load: Option<f64>,
}

/// Everything a report needs.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub cfg: Config,
    pub stats: Stats,
    pub attempted: u64,
    pub before: Snapshot,
    pub steady_start: Option<Snapshot>,
    pub steady_end: Option<Snapshot>,
    pub after: Snapshot,
    /// Received streams on the caller side (server → caller) and on the
    /// answering side (server → callee).
    pub received: [StreamTotals; 2],
    pub max_send_late_us: u64,
    pub rcvbuf_granted: usize,
    pub unclosed_calls: u64,
    pub unclosed_uas: u64,
    pub aborted: Option<String>,
    /// IVR mode: the prompts the callers received.
    pub prompts: Option<PromptTotals>,
}

/// A multiplicative hash for the stream map's `u64` keys (port << 32 |
/// SSRC): SipHash would cost more than the rest of a packet's accounting.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ (n >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    }
}

/// The socket-drop part of a snapshot: it reads every descriptor of the
/// server and all of `/proc/net/udp`, tens of milliseconds with thousands
/// of sockets, so inside the run it goes to a helper thread (at normal
/// priority) instead of stalling the send schedule.
struct DropScan(std::thread::JoinHandle<ScannedDrops>);

/// The tool's socket drops, and the server's (sockets, drops).
type ScannedDrops = (Option<u64>, Option<(u64, u64)>);

impl DropScan {
    fn start(pid: Option<u32>) -> DropScan {
        DropScan(std::thread::spawn(move || {
            sys::normal_priority();
            let tool = procfs::udp_socket_drops(None).ok().map(|(_, d)| d);
            let server = pid.and_then(|p| procfs::udp_socket_drops(Some(p)).ok());
            (tool, server)
        }))
    }

    fn finish(self, into: &mut Snapshot) {
        if let Ok((tool, server)) = self.0.join() {
            into.tool_socket_drops = tool;
            into.server_sockets = server;
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Ramp,
    Steady { end_us: u64 },
    Drain { end_us: u64 },
    Teardown { deadline_us: u64 },
    Done,
}

pub struct Engine {
    pub(crate) cfg: Config,
    pub(crate) run_id: String,
    t0: Instant,
    pub(crate) uac_sip: UdpSocket,
    pub(crate) uas_sip: UdpSocket,
    uac_rtp: UdpSocket,
    uas_rtp: UdpSocket,
    pub(crate) uac_sip_addr: SocketAddrV4,
    pub(crate) uac_rtp_addr: SocketAddrV4,
    pub(crate) uas_rtp_addr: SocketAddrV4,
    pub(crate) calls: Vec<UacCall>,
    pub(crate) pending_calls: u64,
    pub(crate) uas: Vec<UasLeg>,
    pub(crate) uas_by_call_id: HashMap<String, usize>,
    legs: Vec<Option<MediaLeg>>,
    pacer: Pacer,
    due: Vec<Due>,
    batches: [SendBatch; 2],
    recv: RecvBatch,
    streams: Vec<(Side, RecvStream)>,
    /// IVR mode: per stream (same index as `streams`), prompt timing.
    prompt_streams: Vec<PromptStream>,
    prompt_gaps: GapHistogram,
    stream_index: HashMap<u64, u32, BuildHasherDefault<KeyHasher>>,
    pub(crate) stats: Stats,
    pub(crate) phase: Phase,
    next_timer_scan_us: u64,
    next_bye_us: u64,
    bye_cursor: usize,
    rcvbuf_granted: usize,
    clock_ticks: u64,
}

fn bind(addr: SocketAddrV4, buffer: usize) -> Result<(UdpSocket, SocketAddrV4, usize)> {
    let sock = UdpSocket::bind(addr).with_context(|| format!("binding UDP {addr}"))?;
    sock.set_nonblocking(true)?;
    let granted = sys::set_buffers(&sock, buffer).context("setting socket buffers")?;
    let local = match sock.local_addr()? {
        std::net::SocketAddr::V4(a) => a,
        other => anyhow::bail!("bound to {other}, not IPv4"),
    };
    Ok((sock, local, granted))
}

impl Engine {
    pub fn new(cfg: Config) -> Result<Engine> {
        let any = SocketAddrV4::new(*cfg.target.ip(), 0);
        let (uac_sip, uac_sip_addr, _) = bind(any, cfg.socket_buffer)?;
        let (uas_sip, _, _) = bind(cfg.uas_listen, cfg.socket_buffer)?;
        let (uac_rtp, uac_rtp_addr, g1) = bind(any, cfg.socket_buffer)?;
        let (uas_rtp, uas_rtp_addr, g2) = bind(any, cfg.socket_buffer)?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let run_id = format!("{:x}", std::process::id() ^ nanos);
        Ok(Engine {
            pacer: Pacer::new(cfg.slots),
            calls: Vec::with_capacity(cfg.calls as usize),
            cfg,
            run_id,
            t0: Instant::now(),
            uac_sip,
            uas_sip,
            uac_rtp,
            uas_rtp,
            uac_sip_addr,
            uac_rtp_addr,
            uas_rtp_addr,
            pending_calls: 0,
            uas: Vec::new(),
            uas_by_call_id: HashMap::new(),
            legs: Vec::new(),
            due: Vec::new(),
            batches: [SendBatch::new(PACKET_LEN), SendBatch::new(PACKET_LEN)],
            recv: RecvBatch::new(1500),
            streams: Vec::new(),
            prompt_streams: Vec::new(),
            prompt_gaps: GapHistogram::default(),
            stream_index: HashMap::default(),
            stats: Stats::default(),
            phase: Phase::Ramp,
            next_timer_scan_us: 0,
            next_bye_us: 0,
            bye_cursor: 0,
            rcvbuf_granted: g1.min(g2),
            clock_ticks: sys::clock_ticks(),
        })
    }

    pub(crate) fn now_us(&self) -> u64 {
        self.t0.elapsed().as_micros() as u64
    }

    /// Sends a SIP datagram (errors are counted, not fatal: a load tool
    /// reports them).
    pub(crate) fn send_sip(&mut self, side: Side, bytes: &[u8], to: SocketAddrV4) {
        let sock = match side {
            Side::Uac => &self.uac_sip,
            Side::Uas => &self.uas_sip,
        };
        if sock.send_to(bytes, to).is_err() {
            self.stats.send_failed += 1;
        }
    }

    /// Starts a leg's RTP to `dst` in `law` (`event_pt`: the peer's
    /// telephone-event payload type, for IVR keys).
    pub(crate) fn start_media(
        &mut self,
        side: Side,
        index: usize,
        dst: SocketAddrV4,
        law: Law,
        event_pt: Option<u8>,
    ) {
        let id = side.leg_id(index);
        let hz = match side {
            Side::Uac => rtp::CALLER_HZ,
            Side::Uas => rtp::CALLEE_HZ,
        };
        let tag: u32 = match side {
            Side::Uac => 0x5A00_0000,
            Side::Uas => 0xA500_0000,
        };
        let slot = id as usize;
        if self.legs.len() <= slot {
            self.legs.resize(slot + 1, None);
        }
        if self.legs[slot].as_ref().is_some_and(|l| l.active) {
            return;
        }
        self.legs[slot] = Some(MediaLeg {
            side,
            dst,
            payload_type: law.payload_type(),
            payload: rtp::tone_frame(law, hz),
            ssrc: tag | (index as u32 & 0x00FF_FFFF),
            seq0: (index as u32).wrapping_mul(7919) as u16,
            ts0: (index as u32).wrapping_mul(1_000_003),
            active: true,
            event_pt,
            keys: KeyCursor::default(),
        });
        let now = self.now_us();
        if !matches!(
            self.phase,
            Phase::Drain { .. } | Phase::Teardown { .. } | Phase::Done
        ) {
            self.pacer.add(id, now);
        }
    }

    /// Stops a leg's RTP.
    pub(crate) fn stop_media(&mut self, side: Side, index: usize) {
        let id = side.leg_id(index);
        if let Some(Some(leg)) = self.legs.get_mut(id as usize) {
            if leg.active {
                leg.active = false;
                self.pacer.remove(id);
            }
        }
    }

    fn send_due_media(&mut self, now_us: u64) {
        let mut due = std::mem::take(&mut self.due);
        due.clear();
        self.pacer.poll(now_us, |d| due.push(d));
        for d in &due {
            let Some(Some(leg)) = self.legs.get(d.leg as usize) else {
                continue;
            };
            if !leg.active {
                continue;
            }
            let side = leg.side as usize;
            if leg.side == Side::Uac && self.send_key(d) {
                continue;
            }
            if self.batches[side].is_full() {
                self.flush(side);
            }
            let Some(Some(leg)) = self.legs.get(d.leg as usize) else {
                continue;
            };
            let buf = self.batches[side].push(leg.dst);
            if let Ok(packet) = <&mut [u8; PACKET_LEN]>::try_from(buf) {
                rtp::write_packet(
                    packet,
                    leg.payload_type,
                    d.index == 0,
                    leg.seq0.wrapping_add(d.index as u16),
                    leg.ts0
                        .wrapping_add((d.index as u32).wrapping_mul(FRAME_SAMPLES as u32)),
                    leg.ssrc,
                    &leg.payload,
                );
            }
        }
        self.due = due;
        self.flush(0);
        self.flush(1);
    }

    /// IVR mode: sends the caller's key event due instead of the audio
    /// frame `d`, if one is; returns whether it did. Events are rare
    /// (8 packets a key), so they go one by one, not batched.
    fn send_key(&mut self, d: &Due) -> bool {
        let Some(keys) = self.cfg.ivr.as_deref() else {
            return false;
        };
        let Some(Some(leg)) = self.legs.get_mut(d.leg as usize) else {
            return false;
        };
        let Some(pt) = leg.event_pt else {
            return false;
        };
        let Some(slot) = leg.keys.slot(keys, d.index) else {
            return false;
        };
        let mut packet = [0u8; EVENT_PACKET_LEN];
        rtp::write_event(
            &mut packet,
            pt,
            slot.first,
            leg.seq0.wrapping_add(d.index as u16),
            leg.ts0
                .wrapping_add((slot.start as u32).wrapping_mul(FRAME_SAMPLES as u32)),
            leg.ssrc,
            slot.event,
        );
        let dst = leg.dst;
        if self.uac_rtp.send_to(&packet, dst).is_ok() {
            self.stats.rtp_sent[Side::Uac as usize] += 1;
            self.stats.event_packets += 1;
            if slot.last {
                self.stats.keys_sent += 1;
            }
        } else {
            self.stats.send_failed += 1;
        }
        true
    }

    fn flush(&mut self, side: usize) {
        let sock = if side == 0 {
            &self.uac_rtp
        } else {
            &self.uas_rtp
        };
        let out = self.batches[side].flush(sock);
        self.stats.rtp_sent[side] += out.sent;
        self.stats.send_failed += out.failed;
        self.stats.send_waits += out.waits;
    }

    fn read_rtp(&mut self, side: Side) -> Result<()> {
        // Bounded per turn so a flood cannot starve the sending.
        for _ in 0..32 {
            let sock = match side {
                Side::Uac => &self.uac_rtp,
                Side::Uas => &self.uas_rtp,
            };
            let n = self.recv.recv(sock).context("receiving RTP")?;
            if n == 0 {
                break;
            }
            let now = self.now_us();
            for i in 0..n {
                let (data, src, truncated) = self.recv.get(i);
                if truncated {
                    self.stats.rtp_truncated += 1;
                }
                let Some(h) = rtp::read_header(data) else {
                    self.stats.rtp_ignored[side as usize] += 1;
                    continue;
                };
                let key = (u64::from(src.port()) << 32) | u64::from(h.ssrc);
                let next = self.streams.len() as u32;
                let idx = *self.stream_index.entry(key).or_insert(next);
                if idx == next {
                    self.streams.push((side, RecvStream::default()));
                    self.prompt_streams.push(PromptStream::default());
                }
                self.streams[idx as usize].1.on_packet(h.seq, now);
                if side == Side::Uac && self.cfg.ivr.is_some() {
                    self.prompt_streams[idx as usize].on_packet(
                        h.marker,
                        h.seq,
                        h.timestamp,
                        now,
                        &mut self.prompt_gaps,
                    );
                }
                self.stats.rtp_received[side as usize] += 1;
            }
            if n < sys::MAX_BATCH {
                break;
            }
        }
        Ok(())
    }

    fn read_sip(&mut self, side: Side) {
        let mut buf = [0u8; 8192];
        for _ in 0..256 {
            let sock = match side {
                Side::Uac => &self.uac_sip,
                Side::Uas => &self.uas_sip,
            };
            let (len, src) = match sock.recv_from(&mut buf) {
                Ok((len, std::net::SocketAddr::V4(src))) => (len, src),
                Ok(_) => continue,
                Err(_) => break, // WouldBlock (or an ICMP error): nothing more now
            };
            let Some(msg) = crate::sip::parse(&buf[..len]) else {
                self.stats.sip_unparsed += 1;
                continue;
            };
            match side {
                Side::Uac => self.on_uac_message(msg, src),
                Side::Uas => self.on_uas_message(msg, src),
            }
        }
    }

    /// Everything but the socket-drop scans: cheap reads, taken on the
    /// loop's thread at the instant that matters.
    fn snapshot_fast(&self) -> Snapshot {
        let pid = self.cfg.server_pid;
        Snapshot {
            at_us: self.now_us(),
            tool_cpu_s: procfs::cpu_seconds(None, self.clock_ticks).unwrap_or(0.0),
            server_cpu_s: pid.and_then(|p| procfs::cpu_seconds(Some(p), self.clock_ticks).ok()),
            server_rss_kb: pid.and_then(|p| procfs::status_kb(p, "VmRSS").ok()),
            machine_cpu: procfs::machine_cpu(),
            rtp_sent: self.stats.rtp_sent,
            rtp_received: self.stats.rtp_received,
            udp: procfs::udp_counters().ok(),
            softnet_dropped: procfs::softnet_dropped().ok(),
            tool_socket_drops: None,
            server_sockets: None,
            load: procfs::load_average(),
        }
    }

    /// A whole snapshot, on this thread (outside the steady window).
    pub(crate) fn snapshot(&self) -> Snapshot {
        let mut s = self.snapshot_fast();
        DropScan::start(self.cfg.server_pid).finish(&mut s);
        s
    }

    fn hard_deadline_us(&self) -> u64 {
        let ramp = f64::from(self.cfg.calls) / self.cfg.rate;
        let total = ramp
            + self.cfg.setup_timeout.as_secs_f64()
            + self.cfg.duration.as_secs_f64()
            + self.cfg.drain.as_secs_f64()
            + self.cfg.teardown_timeout.as_secs_f64()
            + 5.0;
        (total * 1e6) as u64
    }

    /// Runs the whole benchmark and returns its figures.
    pub fn run(mut self) -> Result<RunResult> {
        let before = self.snapshot();
        self.t0 = Instant::now();
        let hard_deadline = self.hard_deadline_us();
        let pid = self.cfg.server_pid;
        let mut steady_start: Option<Snapshot> = None;
        let mut steady_end: Option<Snapshot> = None;
        let mut scans: Vec<(DropScan, bool)> = Vec::new(); // (scan, for the end snapshot)
        let mut aborted = None;
        let mut placed: u32 = 0;
        loop {
            self.read_sip(Side::Uac);
            self.read_sip(Side::Uas);
            self.read_rtp(Side::Uac)?;
            self.read_rtp(Side::Uas)?;
            let now = self.now_us();
            if now >= hard_deadline && self.phase != Phase::Done {
                aborted = Some(format!("hard deadline reached in phase {:?}", self.phase));
                if steady_start.is_some() && steady_end.is_none() {
                    steady_end = Some(self.snapshot_fast());
                    scans.push((DropScan::start(pid), true));
                }
                break;
            }
            match self.phase {
                Phase::Ramp => {
                    let interval = 1e6 / self.cfg.rate;
                    while placed < self.cfg.calls && (f64::from(placed) * interval) as u64 <= now {
                        self.place_call(placed as usize);
                        placed += 1;
                    }
                    if placed == self.cfg.calls && self.pending_calls == 0 {
                        if self.stats.established == 0 {
                            self.begin_teardown(now);
                        } else {
                            steady_start = Some(self.snapshot_fast());
                            scans.push((DropScan::start(pid), false));
                            self.phase = Phase::Steady {
                                end_us: now + self.cfg.duration.as_micros() as u64,
                            };
                        }
                    }
                }
                Phase::Steady { end_us } if now >= end_us => {
                    steady_end = Some(self.snapshot_fast());
                    scans.push((DropScan::start(pid), true));
                    self.pacer.stop_at(now);
                    self.phase = Phase::Drain {
                        end_us: now + self.cfg.drain.as_micros() as u64,
                    };
                }
                Phase::Drain { end_us } if now >= end_us => self.begin_teardown(now),
                Phase::Teardown { deadline_us } => {
                    self.send_byes(now);
                    if (now >= self.next_timer_scan_us && self.all_closed()) || now >= deadline_us {
                        self.phase = Phase::Done;
                    }
                }
                _ => {}
            }
            if self.phase == Phase::Done {
                break;
            }
            self.send_due_media(now);
            if now >= self.next_timer_scan_us {
                self.uac_timers(now);
                self.uas_timers(now);
                self.next_timer_scan_us = now + 10_000;
            }
            // Sleep until the nearest deadline.
            let mut wake = self.next_timer_scan_us.min(hard_deadline);
            if let Some(d) = self.pacer.next_deadline() {
                wake = wake.min(d);
            }
            if self.phase == Phase::Ramp && placed < self.cfg.calls {
                wake = wake.min((f64::from(placed) * 1e6 / self.cfg.rate) as u64);
            }
            match self.phase {
                Phase::Steady { end_us } | Phase::Drain { end_us } => wake = wake.min(end_us),
                Phase::Teardown { .. } => wake = wake.min(self.next_bye_us.max(now + 1000)),
                _ => {}
            }
            let now = self.now_us();
            let timeout = Duration::from_micros(wake.saturating_sub(now));
            sys::wait_readable(
                &[&self.uac_sip, &self.uas_sip, &self.uac_rtp, &self.uas_rtp],
                timeout,
            )
            .context("waiting on the sockets")?;
        }
        for (scan, end) in scans {
            let target = if end {
                steady_end.as_mut()
            } else {
                steady_start.as_mut()
            };
            if let Some(snapshot) = target {
                scan.finish(snapshot);
            }
        }
        let after = self.snapshot();
        let mut received = [StreamTotals::default(), StreamTotals::default()];
        for (side, s) in &self.streams {
            received[*side as usize].add(s);
        }
        let (unclosed_calls, unclosed_uas) = self.open_dialogs();
        let prompts = self.cfg.ivr.is_some().then(|| {
            let caller_streams: Vec<PromptStream> = self
                .streams
                .iter()
                .zip(&self.prompt_streams)
                .filter(|((side, _), _)| *side == Side::Uac)
                .map(|(_, p)| *p)
                .collect();
            PromptTotals::new(&caller_streams, self.prompt_gaps.clone())
        });
        Ok(RunResult {
            attempted: u64::from(placed),
            stats: self.stats.clone(),
            cfg: self.cfg.clone(),
            before,
            steady_start,
            steady_end,
            after,
            received,
            max_send_late_us: self.pacer.max_late_us,
            rcvbuf_granted: self.rcvbuf_granted,
            unclosed_calls,
            unclosed_uas,
            aborted,
            prompts,
        })
    }

    fn begin_teardown(&mut self, now: u64) {
        self.pacer.stop_at(now);
        self.phase = Phase::Teardown {
            deadline_us: now + self.cfg.teardown_timeout.as_micros() as u64,
        };
        self.next_bye_us = now;
        self.bye_cursor = 0;
    }

    /// Sends the BYEs that fell due (paced at `bye_rate`).
    fn send_byes(&mut self, now: u64) {
        let interval = (1e6 / self.cfg.bye_rate) as u64;
        let count = match self.cfg.hangup {
            Side::Uac => self.calls.len(),
            Side::Uas => self.uas.len(),
        };
        while self.bye_cursor < count && self.next_bye_us <= now {
            let sent = match self.cfg.hangup {
                Side::Uac => self.uac_bye(self.bye_cursor, now),
                Side::Uas => self.uas_bye(self.bye_cursor, now),
            };
            self.bye_cursor += 1;
            if sent {
                self.next_bye_us += interval;
            }
        }
    }

    fn all_closed(&self) -> bool {
        self.bye_cursor
            >= match self.cfg.hangup {
                Side::Uac => self.calls.len(),
                Side::Uas => self.uas.len(),
            }
            && self.open_dialogs() == (0, 0)
    }

    fn open_dialogs(&self) -> (u64, u64) {
        let calls = self.calls.iter().filter(|c| c.is_open()).count() as u64;
        let uas = self.uas.iter().filter(|l| l.is_open()).count() as u64;
        (calls, uas)
    }
}
