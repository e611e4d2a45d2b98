//! Kernel forwarding: the latched RTP of bridged calls relayed inside the
//! kernel by an eBPF program, the server keeping a copy of each packet to
//! record it.
//!
//! Why: a relay in user space pays for every packet a `recvfrom` and a
//! `sendto`; measured on a 2-core machine (BENCHMARKS.md, "the floor")
//! those two system calls alone cost 6.4–6.8 µs per relayed packet at
//! 1,000 calls, more than everything Hibiki does with the packet. Relaying
//! in the kernel removes both; it is how the established relays reach
//! their rates (rtpengine's kernel module), done here with eBPF so that it
//! needs no module, only Linux 6.6 or later and `CAP_BPF` +
//! `CAP_NET_ADMIN` (root).
//!
//! How: `forward.bpf.c` is a TCX ingress program on the interfaces RTP
//! arrives on. Its `flows` map, keyed by a leg's local address, says for
//! each direction of a bridge the peer it takes packets from and how to
//! rewrite them for the other leg (addresses, payload type, and the other
//! leg's SSRC, sequence and timestamp offsets, computed here from the
//! legs' state: [`crate::media::leg::LegState::kernel_route`]). A packet
//! that matches is copied, as received, into the `events` ring buffer,
//! rewritten and delivered; everything else (strangers, RTCP, DTMF events,
//! duplicates, a new source, a full ring) reaches the leg's socket as
//! before. The media worker drains the ring every pass and runs each copy
//! through the same code a packet read from the socket goes through
//! (latch, streams, DTMF, decoding, recording, and the other leg's
//! outgoing stream, minus the `sendto`), so the recording, the digits, the
//! media timeout and the counters are the same whichever path a packet
//! took, and a later packet handled in user space continues the same
//! stream. Nothing is forwarded without its copy: when the ring is full
//! the packet goes to the socket.
//!
//! A flow is installed once a bridge has relayed a packet from its source
//! in user space (so the offsets are known), and withdrawn, with the ring
//! drained, before the call takes its media back (re-INVITE, hold,
//! transfer, hang-up). The program is attached with TCX links, which the
//! kernel removes when the process exits, even by `kill -9`: a crashed
//! server leaves no forwarding behind.
//!
//! Hand-written in C (the one C file): the stable Rust toolchain cannot
//! compile to BPF; aya loads it, owns the links, and reads the maps and
//! the ring without unsafe code of ours.

use std::net::{IpAddr, SocketAddrV4};

use aya::maps::{HashMap as BpfHashMap, MapData, RingBuf};
use aya::programs::links::LinkOrder;
use aya::programs::tc::{SchedClassifier, TcAttachOptions, TcAttachType};
use aya::Ebpf;

/// The program, built by build.rs (empty when clang was missing).
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/forward.bpf.o"));

/// Bytes of a flow's key and value (`struct flow_key`, `struct flow`).
const KEY: usize = 8;
const VALUE: usize = 64;
/// Bytes of an event's header before the packet (`struct event`).
const EVENT_HEADER: usize = 24;

/// Why kernel forwarding cannot run.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("this build has no kernel forwarder: clang was missing when it was built (apt-get install clang, then rebuild)")]
    NotBuilt,
    #[error("loading the kernel forwarder: {0} (it needs Linux 6.6 or later and root, or CAP_BPF and CAP_NET_ADMIN)")]
    Load(String),
    #[error("attaching the kernel forwarder to interface `{interface}`: {why} (it needs Linux 6.6 or later for TCX links)")]
    Attach { interface: String, why: String },
    #[error("no interface carries the media address {0}: set media.kernel_interfaces")]
    NoInterface(IpAddr),
    #[error("kernel forwarder map: {0}")]
    Map(String),
}

/// One direction of a bridge as the kernel forwards it: the packets
/// arriving on a leg from its latched `peer` with payload type `in_pt`
/// and source `src_ssrc`, sent on from the other leg (`out_src`) to its
/// peer (`out_dst`) as payload type `out_pt`, SSRC `out_ssrc`, sequence
/// and timestamp shifted by the other leg's offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    pub peer: SocketAddrV4,
    pub in_pt: u8,
    pub out_pt: u8,
    pub out_src: SocketAddrV4,
    pub out_dst: SocketAddrV4,
    pub src_ssrc: u32,
    pub out_ssrc: u32,
    pub seq_offset: u16,
    pub ts_offset: u32,
    /// The newest source sequence number relayed: the kernel forwards
    /// the packets 1 to 2,999 ahead of it (and moves it on).
    pub last_src_seq: u16,
    /// What the ring's copies carry to name the leg.
    pub cookie: u64,
}

impl Flow {
    /// Whether `other` forwards the same way (the kernel moves
    /// `last_src_seq` on by itself: a difference there is no change).
    pub fn same_route(&self, other: &Flow) -> bool {
        Flow {
            last_src_seq: other.last_src_seq,
            ..*self
        } == *other
    }

    /// `struct flow` (see forward.bpf.c): addresses and ports in network
    /// order, the RTP numbers in the host's.
    pub fn encode(&self) -> [u8; VALUE] {
        let mut v = [0u8; VALUE];
        put(&mut v, 0, &self.peer.ip().octets());
        put(&mut v, 4, &self.peer.port().to_be_bytes());
        put(&mut v, 6, &[self.in_pt, self.out_pt]);
        put(&mut v, 8, &self.out_src.ip().octets());
        put(&mut v, 12, &self.out_src.port().to_be_bytes());
        put(&mut v, 14, &self.out_dst.port().to_be_bytes());
        put(&mut v, 16, &self.out_dst.ip().octets());
        put(&mut v, 20, &self.src_ssrc.to_ne_bytes());
        put(&mut v, 24, &self.out_ssrc.to_ne_bytes());
        put(&mut v, 28, &self.ts_offset.to_ne_bytes());
        put(&mut v, 32, &self.seq_offset.to_ne_bytes());
        put(&mut v, 34, &self.last_src_seq.to_ne_bytes());
        // The peer is on this host: up the stack, no route lookup.
        let local = self.out_dst.ip().is_loopback() || self.out_dst.ip() == self.out_src.ip();
        put(&mut v, 36, &[u8::from(local)]);
        put(&mut v, 40, &self.cookie.to_ne_bytes());
        v
    }
}

/// What the kernel counted for a flow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowCounters {
    /// Packets it forwarded.
    pub packets: u64,
    /// Packets it left to the socket because the ring was full.
    pub ring_full: u64,
}

impl FlowCounters {
    fn decode(value: &[u8; VALUE]) -> FlowCounters {
        FlowCounters {
            packets: u64_at(value, 48),
            ring_full: u64_at(value, 56),
        }
    }
}

/// `struct flow_key`: the leg's local address, in network order.
pub fn key(local: SocketAddrV4) -> [u8; KEY] {
    let mut k = [0u8; KEY];
    put(&mut k, 0, &local.ip().octets());
    put(&mut k, 4, &local.port().to_be_bytes());
    k
}

/// One packet the kernel forwarded, as it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forwarded<'a> {
    pub cookie: u64,
    /// Its arrival, `CLOCK_MONOTONIC` nanoseconds (the clock of
    /// `std::time::Instant`).
    pub ns: u64,
    pub packet: &'a [u8],
}

impl<'a> Forwarded<'a> {
    /// `struct event` (see forward.bpf.c); `None` if it is cut short.
    pub fn decode(event: &'a [u8]) -> Option<Forwarded<'a>> {
        let header: &[u8; EVENT_HEADER] = event.get(..EVENT_HEADER)?.try_into().ok()?;
        let len = u16::from_ne_bytes([header[16], header[17]]);
        let packet = event.get(EVENT_HEADER..EVENT_HEADER + usize::from(len))?;
        Some(Forwarded {
            cookie: u64_at(header, 0),
            ns: u64_at(header, 8),
            packet,
        })
    }
}

/// The loaded program of one media worker: attached to its interfaces
/// while this lives, its flows and its ring.
pub struct Forwarder {
    flows: BpfHashMap<MapData, [u8; KEY], [u8; VALUE]>,
    events: RingBuf<MapData>,
    /// Owns the program and its links: dropping it detaches them.
    _ebpf: Ebpf,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder").finish_non_exhaustive()
    }
}

impl Forwarder {
    /// Loads the program and attaches it to the ingress of `interfaces`.
    pub fn start(interfaces: &[String]) -> Result<Forwarder, KernelError> {
        if OBJECT.is_empty() {
            return Err(KernelError::NotBuilt);
        }
        let mut ebpf = Ebpf::load(OBJECT).map_err(|e| KernelError::Load(e.to_string()))?;
        let program: &mut SchedClassifier = ebpf
            .program_mut("hibiki_forward")
            .ok_or_else(|| KernelError::Load("no program `hibiki_forward` in the object".into()))?
            .try_into()
            .map_err(|e: aya::programs::ProgramError| KernelError::Load(e.to_string()))?;
        program
            .load()
            .map_err(|e| KernelError::Load(e.to_string()))?;
        for interface in interfaces {
            // TCX only (no netlink fallback): a netlink filter would
            // outlive a crashed server.
            program
                .attach_with_options(
                    interface,
                    TcAttachType::Ingress,
                    TcAttachOptions::TcxOrder(LinkOrder::default()),
                )
                .map_err(|e| KernelError::Attach {
                    interface: interface.clone(),
                    why: e.to_string(),
                })?;
        }
        let flows = ebpf
            .take_map("flows")
            .ok_or_else(|| KernelError::Map("no map `flows`".into()))?;
        let flows = BpfHashMap::try_from(flows).map_err(|e| KernelError::Map(e.to_string()))?;
        let events = ebpf
            .take_map("events")
            .ok_or_else(|| KernelError::Map("no map `events`".into()))?;
        let events = RingBuf::try_from(events).map_err(|e| KernelError::Map(e.to_string()))?;
        Ok(Forwarder {
            flows,
            events,
            _ebpf: ebpf,
        })
    }

    /// Forwards the packets arriving at `local` as `flow` says (a new flow
    /// or a changed one).
    pub fn install(&mut self, local: SocketAddrV4, flow: &Flow) -> Result<(), KernelError> {
        self.flows
            .insert(key(local), flow.encode(), 0)
            .map_err(|e| KernelError::Map(e.to_string()))
    }

    /// Stops forwarding what arrives at `local`; what the kernel counted
    /// for it, if it was installed. Copies already in the ring stay there
    /// for [`Forwarder::drain`].
    pub fn remove(&mut self, local: SocketAddrV4) -> Option<FlowCounters> {
        let k = key(local);
        let counters = self.flows.get(&k, 0).ok().map(|v| FlowCounters::decode(&v));
        self.flows.remove(&k).ok()?;
        counters
    }

    /// Hands every copy waiting in the ring to `each`; returns how many.
    pub fn drain(&mut self, mut each: impl FnMut(Forwarded<'_>)) -> u64 {
        let mut n = 0;
        while let Some(item) = self.events.next() {
            if let Some(forwarded) = Forwarded::decode(&item) {
                each(forwarded);
                n += 1;
            }
        }
        n
    }
}

/// The interfaces RTP bound on `ip` arrives on: the one holding the
/// address (`lo` for a loopback address), or every interface with an
/// IPv4 address when bound on all of them.
pub fn interfaces_for(ip: IpAddr) -> Result<Vec<String>, KernelError> {
    let IpAddr::V4(ip) = ip else {
        return Err(KernelError::NoInterface(ip));
    };
    let addrs = nix::ifaddrs::getifaddrs().map_err(|e| KernelError::Load(e.to_string()))?;
    let mut names: Vec<String> = Vec::new();
    for a in addrs {
        let Some(v4) = a.address.as_ref().and_then(|s| s.as_sockaddr_in()) else {
            continue;
        };
        let own = v4.ip();
        let holds = ip.is_unspecified() || own == ip || (ip.is_loopback() && own.is_loopback());
        if holds && !names.contains(&a.interface_name) {
            names.push(a.interface_name);
        }
    }
    if names.is_empty() {
        return Err(KernelError::NoInterface(IpAddr::V4(ip)));
    }
    Ok(names)
}

fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = buf.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

fn u64_at(buf: &[u8], at: usize) -> u64 {
    buf.get(at..at + 8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_ne_bytes)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic)]
mod tests;
