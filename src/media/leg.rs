//! One RTP leg of a call: its UDP socket (a port leased from the pool),
//! what SDP negotiated, and the per-packet state that the sans-IO blocks
//! keep: the latch (symmetric RTP, strict source), the incoming and
//! outgoing streams, the RFC 4733 receiver, and the clock that maps RTP
//! timestamps to the call's media time.
//!
//! A leg is its sans-IO state ([`LegState`]: what a datagram was, what
//! to send in answer) plus the socket that feeds it. The call actor owns
//! its legs and drives them from its select loop as an [`RtpLeg`] (a
//! tokio socket): [`RtpLeg::recv`] waits for a datagram and says what it
//! was (decoded audio is then in [`LegState::decoded`]);
//! [`LegState::poll_digit`] hands out digits; [`RtpLeg::send_pcm`] sends a
//! frame of locally generated audio. A bridge with nothing else to do
//! parks its legs on the media plane ([`super::plane`]) as [`ParkedLeg`]s
//! (a plain non-blocking socket the plane's worker polls) and takes them
//! back when the call needs them; the state travels unchanged.
//! Media time is microseconds since the call's start (`t0`), the clock the
//! recorder and the prompt player run on.

use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::time::Instant;

use hibiki_sip::sdp::{Codec, Negotiated};
use tokio::net::UdpSocket;
use tracing::debug;

use super::dtmf::inband::InbandDetector;
use super::dtmf::rfc4733::Rfc4733Receiver;
use super::g711::Law;
use super::kernel::Flow;
use super::ports::PortLease;
use super::recording::StreamClock;
use super::relay::{self, NotRelayed, Payload, Target};
use super::rtp::incoming::{IncomingStream, Reception};
use super::rtp::latch::{Latch, LatchMode, LatchVerdict};
use super::rtp::outgoing::OutgoingStream;
use super::rtp::{RtpError, RtpPacket};

/// Largest datagram read; RTP for G.711 is at most a few hundred bytes.
const DATAGRAM: usize = 2048;
/// Largest number of samples one packet may carry (G.711, 8 kHz: 250 ms).
const MAX_SAMPLES: usize = 2000;

/// What one received datagram was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Audio: `len` samples in [`RtpLeg::decoded`], belonging at media
    /// time `at_us`.
    Audio { at_us: u64, len: usize },
    /// A telephone-event packet (digits come out of [`RtpLeg::poll_digit`]).
    Event,
    /// Dropped: RTCP, a stranger's packet, a duplicate, an unknown payload
    /// type, or garbage.
    Ignored,
}

/// Counters of one leg, for logs and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LegStats {
    pub received: u64,
    pub sent: u64,
    pub rejected_source: u64,
    pub malformed: u64,
    /// Telephone-events not relayed because this leg's peer takes none.
    pub events_held: u64,
    /// The latest an audio packet arrived against the place its
    /// timestamp gives it on the stream's clock, in µs (network and
    /// scheduling jitter; the recorder allows for 120 ms).
    pub max_late_us: u64,
}

/// One RTP leg driven by the call's task: its socket, its state (the
/// state's methods are the leg's: `leg.media_us(now)`) and its buffers.
pub struct RtpLeg {
    socket: UdpSocket,
    state: LegState,
    scratch: Scratch,
}

/// One RTP leg parked on the media plane: a plain non-blocking socket the
/// plane's worker reads and writes, and the leg's state. It has no
/// buffers of its own: the worker lends its [`Scratch`] to each leg in
/// turn, so a datagram lands in memory the worker touched a moment ago
/// (in cache) rather than in one of thousands of legs' buffers, and a
/// parked call holds 16 KiB less.
pub struct ParkedLeg {
    pub(super) socket: std::net::UdpSocket,
    pub(super) state: LegState,
}

/// The buffers a leg reads a datagram into (`datagram`), decodes its
/// audio into (`pcm`) and writes a packet to send into (`out`).
pub struct Scratch {
    datagram: Vec<u8>,
    /// The last datagram [`LegState::handle`] accepted: its length in
    /// `datagram` and what it carried.
    last: Option<(usize, Payload)>,
    out: Vec<u8>,
    pcm: Vec<i16>,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            datagram: vec![0; DATAGRAM],
            last: None,
            out: vec![0; DATAGRAM],
            pcm: vec![0; MAX_SAMPLES],
        }
    }

    /// The samples of the last [`Received::Audio`].
    pub fn decoded(&self, len: usize) -> &[i16] {
        self.pcm.get(..len).unwrap_or(&[])
    }

    /// The last datagram accepted (audio or event), as received, for
    /// relaying onto another leg, and the buffer to write that packet
    /// into.
    pub fn last_packet(&mut self) -> (Option<(&[u8], Payload)>, &mut [u8]) {
        let Scratch {
            datagram,
            last,
            out,
            ..
        } = self;
        (accepted(datagram, *last), out)
    }

    /// The buffer a packet to send is written into.
    pub fn out(&mut self) -> &mut [u8] {
        &mut self.out
    }

    /// Has `state` handle the datagram just read into `datagram`
    /// (`len` bytes from `from`), remembering it when it is to be relayed.
    fn handle(
        &mut self,
        state: &mut LegState,
        (len, from): (usize, SocketAddr),
        now: Instant,
    ) -> Received {
        let Scratch {
            datagram,
            last,
            pcm,
            ..
        } = self;
        let datagram = datagram.get(..len).unwrap_or(&[]);
        let (received, accepted) = state.handle(datagram, from, now, pcm);
        *last = accepted.map(|payload| (len, payload));
        received
    }
}

/// The accepted datagram `last` points at in `datagram`.
fn accepted(datagram: &[u8], last: Option<(usize, Payload)>) -> Option<(&[u8], Payload)> {
    let (len, payload) = last?;
    Some((datagram.get(..len)?, payload))
}

impl Default for Scratch {
    fn default() -> Scratch {
        Scratch::new()
    }
}

/// What one RTP leg knows, sans-IO: the port it holds, what SDP
/// negotiated, the latch, the streams, DTMF and the recording clock.
pub struct LegState {
    _lease: PortLease,
    local: SocketAddr,
    negotiated: Negotiated,
    law: Law,
    t0: Instant,
    latch: Latch,
    incoming: IncomingStream,
    outgoing: OutgoingStream,
    dtmf: Rfc4733Receiver,
    /// Tones in the audio, for callers that negotiated no telephone-event.
    inband: Option<InbandDetector>,
    inband_digits: std::collections::VecDeque<char>,
    clock: StreamClock,
    last_ssrc: Option<u32>,
    last_rx: Option<Instant>,
    stats: LegStats,
}

impl RtpLeg {
    /// Binds the leased port on `ip` for a leg whose SDP negotiated
    /// `negotiated`; `t0` is the call's media-time origin.
    pub async fn bind(
        lease: PortLease,
        ip: IpAddr,
        negotiated: Negotiated,
        t0: Instant,
    ) -> std::io::Result<RtpLeg> {
        let socket = UdpSocket::bind((ip, lease.port())).await?;
        let local = socket.local_addr()?;
        Ok(RtpLeg {
            socket,
            state: LegState::new(lease, local, negotiated, t0),
            scratch: Scratch::new(),
        })
    }

    /// Waits for the next datagram and handles it.
    pub async fn recv(&mut self) -> std::io::Result<Received> {
        let read = self.socket.recv_from(&mut self.scratch.datagram).await?;
        Ok(self.scratch.handle(&mut self.state, read, Instant::now()))
    }

    /// The samples of the last [`Received::Audio`].
    pub fn decoded(&self, len: usize) -> &[i16] {
        self.scratch.decoded(len)
    }

    /// The last packet [`RtpLeg::recv`] accepted (audio or event), as
    /// received, for relaying onto another leg.
    pub fn last_packet(&self) -> Option<(&[u8], Payload)> {
        accepted(&self.scratch.datagram, self.scratch.last)
    }

    /// Relays a packet another leg received (see [`relay`]) to this leg's
    /// peer. Nothing is sent while the peer holds us or before we know
    /// where it is.
    pub async fn relay(&mut self, packet: &[u8], payload: Payload, now: Instant) {
        let prepared = self
            .state
            .prepare_relay(packet, payload, now, &mut self.scratch.out);
        self.send_out(prepared).await;
    }

    /// Sends the packet prepared in the `out` buffer, if any.
    async fn send_out(&mut self, prepared: Option<(usize, SocketAddr)>) {
        let Some((len, to)) = prepared else { return };
        if let Some(bytes) = self.scratch.out.get(..len) {
            if self.socket.send_to(bytes, to).await.is_ok() {
                self.state.stats.sent += 1;
            }
        }
    }

    /// Sends one frame of local audio (`source` names what is playing, so
    /// a new prompt starts a new talkspurt), encoded with the negotiated
    /// codec, to the latched (or signalled) address. Nothing is sent while
    /// the peer holds us or before we know where it is.
    pub async fn send_pcm(&mut self, source: u32, pcm: &[i16], now: Instant) {
        let prepared = self
            .state
            .prepare_pcm(source, pcm, now, &mut self.scratch.out);
        self.send_out(prepared).await;
    }

    /// Hands the leg to the media plane: its socket leaves this task's
    /// runtime (it stays non-blocking); its buffers are freed (the plane
    /// lends its own).
    pub fn park(self) -> std::io::Result<ParkedLeg> {
        Ok(ParkedLeg {
            socket: self.socket.into_std()?,
            state: self.state,
        })
    }
}

impl ParkedLeg {
    /// Takes the leg back into the calling task's runtime.
    pub fn unpark(self) -> std::io::Result<RtpLeg> {
        Ok(RtpLeg {
            socket: UdpSocket::from_std(self.socket)?,
            state: self.state,
            scratch: Scratch::new(),
        })
    }

    /// Reads one waiting datagram, if any (`WouldBlock` when none), into
    /// `scratch` and handles it as of `now` (decoded audio is then in
    /// [`Scratch::decoded`], the datagram in [`Scratch::last_packet`]).
    pub fn recv_now(&mut self, scratch: &mut Scratch, now: Instant) -> std::io::Result<Received> {
        let read = self.socket.recv_from(&mut scratch.datagram)?;
        Ok(scratch.handle(&mut self.state, read, now))
    }

    /// [`RtpLeg::send_pcm`] from the plane, written into `out` (a frame
    /// that cannot be sent at once is dropped).
    pub fn send_pcm_now(&mut self, source: u32, pcm: &[i16], now: Instant, out: &mut [u8]) {
        let prepared = self.state.prepare_pcm(source, pcm, now, out);
        self.send_out(prepared, out);
    }

    /// Sends the packet prepared in `out`, if any (a full socket buffer
    /// drops it).
    fn send_out(&mut self, prepared: Option<(usize, SocketAddr)>, out: &[u8]) {
        let Some((len, to)) = prepared else { return };
        if let Some(bytes) = out.get(..len) {
            if self.socket.send_to(bytes, to).is_ok() {
                self.state.stats.sent += 1;
            }
        }
    }

    /// Handles a copy of a datagram that arrived from the latched peer and
    /// that the kernel already relayed (see [`super::kernel`]), as
    /// [`ParkedLeg::recv_now`] handles one read from the socket.
    pub fn handle_forwarded(
        &mut self,
        scratch: &mut Scratch,
        packet: &[u8],
        now: Instant,
    ) -> Received {
        let Some(from) = self.state.latch.latched() else {
            return Received::Ignored;
        };
        let len = packet.len().min(scratch.datagram.len());
        if let (Some(dst), Some(src)) = (scratch.datagram.get_mut(..len), packet.get(..len)) {
            dst.copy_from_slice(src);
        }
        scratch.handle(&mut self.state, (len, from), now)
    }

    /// What [`ParkedLeg::relay_now`] does to this leg's state, for a
    /// packet the kernel relayed: the outgoing stream moves on as if it had
    /// sent it (`out` is written and not sent).
    pub fn note_relayed(&mut self, packet: &[u8], payload: Payload, now: Instant, out: &mut [u8]) {
        // The kernel forwards plain RTP only (no CSRC, extension or
        // padding): its 12-byte header is all the stream looks at.
        let header = packet.get(..12).filter(|_| packet.first() == Some(&0x80));
        let prepared = match header {
            Some(header) => self.state.prepare_relay(header, payload, now, out),
            None => self.state.prepare_relay(packet, payload, now, out),
        };
        if prepared.is_some() {
            self.state.stats.sent += 1;
        }
    }

    /// [`RtpLeg::relay`] from the plane, written into `out`: a packet that
    /// cannot be sent at once (a full socket buffer) is dropped.
    pub fn relay_now(&mut self, packet: &[u8], payload: Payload, now: Instant, out: &mut [u8]) {
        let prepared = self.state.prepare_relay(packet, payload, now, out);
        self.send_out(prepared, out);
    }
}

impl std::ops::Deref for RtpLeg {
    type Target = LegState;
    fn deref(&self) -> &LegState {
        &self.state
    }
}

impl std::ops::DerefMut for RtpLeg {
    fn deref_mut(&mut self) -> &mut LegState {
        &mut self.state
    }
}

impl std::ops::Deref for ParkedLeg {
    type Target = LegState;
    fn deref(&self) -> &LegState {
        &self.state
    }
}

impl std::ops::DerefMut for ParkedLeg {
    fn deref_mut(&mut self) -> &mut LegState {
        &mut self.state
    }
}

impl LegState {
    /// The state of a leg on port `lease` (bound at `local`) that SDP
    /// negotiated as `negotiated`, on the call's media clock from `t0`.
    pub fn new(
        lease: PortLease,
        local: SocketAddr,
        negotiated: Negotiated,
        t0: Instant,
    ) -> LegState {
        let law = match negotiated.codec {
            Codec::Pcmu => Law::Ulaw,
            Codec::Pcma => Law::Alaw,
        };
        let signalled = (negotiated.remote.port() != 0 && !negotiated.remote.ip().is_unspecified())
            .then_some(negotiated.remote);
        LegState {
            _lease: lease,
            local,
            law,
            t0,
            // Callers behind NAT announce private addresses: learn from the
            // first packet, then hold on to that source (strict).
            latch: Latch::new(signalled, LatchMode::Learn),
            incoming: IncomingStream::new(8000, negotiated.telephone_event_pt),
            outgoing: OutgoingStream::new(rand::random(), rand::random(), rand::random(), 8000),
            dtmf: Rfc4733Receiver::new(),
            inband: negotiated
                .telephone_event_pt
                .is_none()
                .then(InbandDetector::new),
            inband_digits: std::collections::VecDeque::new(),
            clock: StreamClock::default(),
            last_ssrc: None,
            last_rx: None,
            stats: LegStats::default(),
            negotiated,
        }
    }

    /// Takes a new negotiation (a re-INVITE: hold, resume, a new address
    /// or codec) on the same port: the latch follows a new remote address,
    /// and nothing is sent while the peer does not want to receive.
    pub fn renegotiate(&mut self, negotiated: Negotiated) {
        self.law = match negotiated.codec {
            Codec::Pcmu => Law::Ulaw,
            Codec::Pcma => Law::Alaw,
        };
        let signalled = (negotiated.remote.port() != 0 && !negotiated.remote.ip().is_unspecified())
            .then_some(negotiated.remote);
        if signalled.is_some() && signalled != self.latch.signalled() {
            self.latch.relatch(signalled);
        }
        self.negotiated = negotiated;
    }

    /// Whether the peer is expected to send us media (not on an inactive
    /// hold): the media timeout only runs then.
    pub fn expects_media(&self) -> bool {
        self.negotiated.direction.receives()
    }

    /// Our RTP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The call's media-time origin (another leg of the call binds with
    /// it, to keep one clock).
    pub fn origin(&self) -> Instant {
        self.t0
    }

    /// Media time of `now`.
    pub fn media_us(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.t0).as_micros()).unwrap_or(u64::MAX)
    }

    /// When the last accepted packet arrived.
    pub fn last_received(&self) -> Option<Instant> {
        self.last_rx
    }

    pub fn stats(&self) -> LegStats {
        self.stats
    }

    /// A digit received, once each, and how: RFC 4733 events, or tones in
    /// the audio when the caller negotiated no telephone-event.
    pub fn poll_digit(&mut self, now: Instant) -> Option<(char, &'static str)> {
        self.dtmf.handle_timeout(self.media_us(now));
        if let Some(e) = self.dtmf.poll_event() {
            return Some((e.digit, "rfc4733"));
        }
        self.inband_digits.pop_front().map(|d| (d, "inband"))
    }

    /// Handles one datagram from `from`: what it was, and what it carried
    /// when it is to be relayed (audio or an event). Audio is decoded into
    /// `pcm`.
    pub fn handle(
        &mut self,
        datagram: &[u8],
        from: SocketAddr,
        now: Instant,
        pcm: &mut [i16],
    ) -> (Received, Option<Payload>) {
        const IGNORED: (Received, Option<Payload>) = (Received::Ignored, None);
        let packet = match RtpPacket::parse(datagram) {
            Ok(p) => p,
            Err(RtpError::Rtcp(_)) => return IGNORED,
            Err(e) => {
                self.stats.malformed += 1;
                debug!(error = %e, %from, "malformed RTP dropped");
                return IGNORED;
            }
        };
        if self.latch.check(from) == LatchVerdict::Rejected {
            self.stats.rejected_source += 1;
            return IGNORED;
        }
        let now_us =
            u64::try_from(now.saturating_duration_since(self.t0).as_micros()).unwrap_or(u64::MAX);
        if matches!(
            self.incoming.receive(&packet, now_us),
            Reception::Duplicate | Reception::Jump
        ) {
            return IGNORED;
        }
        self.stats.received += 1;
        self.last_rx = Some(now);
        if self.last_ssrc != Some(packet.ssrc()) {
            self.last_ssrc = Some(packet.ssrc());
            self.clock.reset();
        }
        let pt = packet.payload_type();
        if Some(pt) == self.negotiated.telephone_event_pt {
            if let Err(e) = self.dtmf.handle_packet(
                now_us,
                packet.timestamp(),
                packet.marker(),
                packet.payload(),
            ) {
                debug!(error = %e, "bad telephone-event payload");
            }
            return (Received::Event, Some(Payload::Event));
        }
        let law = if pt == self.negotiated.payload_type {
            self.law
        } else {
            match Law::from_payload_type(pt) {
                Some(law) => law,
                None => return IGNORED,
            }
        };
        let payload = packet.payload();
        let n = payload.len().min(pcm.len());
        let Some(dst) = pcm.get_mut(..n) else {
            return IGNORED;
        };
        law.decode(payload.get(..n).unwrap_or(&[]), dst);
        if let Some(detector) = self.inband.as_mut() {
            for frame in dst.chunks(160) {
                if let Some(d) = detector.push(frame) {
                    self.inband_digits.push_back(d);
                }
                while let Some(d) = detector.poll_digit() {
                    self.inband_digits.push_back(d);
                }
            }
        }
        let at_us = self.clock.media_time(packet.timestamp(), now_us);
        self.stats.max_late_us = self.stats.max_late_us.max(now_us.saturating_sub(at_us));
        (Received::Audio { at_us, len: n }, Some(Payload::Audio(law)))
    }

    /// How the kernel may relay what this leg receives to `to`'s peer
    /// (see [`super::kernel`]): this leg's local address and the flow,
    /// with cookie 0. Only a stream this leg latched, of its negotiated
    /// payload type, that `to` relays now (so the offsets are set) under
    /// the same codec (no transcoding), toward a peer `to` sends to, over
    /// IPv4.
    pub fn kernel_route(&self, to: &LegState) -> Option<(SocketAddrV4, Flow)> {
        let (SocketAddr::V4(local), SocketAddr::V4(out_src)) = (self.local, to.local) else {
            return None;
        };
        let SocketAddr::V4(peer) = self.latch.latched()? else {
            return None;
        };
        let SocketAddr::V4(out_dst) = to.latch.send_to()? else {
            return None;
        };
        let mapping = to.outgoing.relay_mapping()?;
        if !to.negotiated.sends() || self.law != to.law || self.last_ssrc != Some(mapping.src_ssrc)
        {
            return None;
        }
        let flow = Flow {
            peer,
            in_pt: self.negotiated.payload_type,
            out_pt: to.negotiated.payload_type,
            out_src,
            out_dst,
            src_ssrc: mapping.src_ssrc,
            out_ssrc: to.outgoing.ssrc(),
            seq_offset: mapping.seq_offset,
            ts_offset: mapping.ts_offset,
            last_src_seq: mapping.last_src_seq,
            cookie: 0,
        };
        Some((local, flow))
    }

    /// What this leg's peer negotiated, as a relay target.
    pub fn target(&self) -> Target {
        Target {
            law: self.law,
            payload_type: self.negotiated.payload_type,
            event_pt: self.negotiated.telephone_event_pt,
        }
    }

    /// Writes into `out` the packet that relays `packet` (another leg's,
    /// see [`relay`]) to this leg's peer: its length and where it goes.
    /// Nothing while the peer holds us or before we know where it is.
    pub fn prepare_relay(
        &mut self,
        packet: &[u8],
        payload: Payload,
        now: Instant,
        out: &mut [u8],
    ) -> Option<(usize, SocketAddr)> {
        let to = self.latch.send_to()?;
        if !self.negotiated.sends() {
            return None;
        }
        let now_us = self.media_us(now);
        let target = self.target();
        match relay::prepare(packet, payload, &target, &mut self.outgoing, now_us, out) {
            Ok(len) => Some((len, to)),
            Err(NotRelayed::NoEventType) => {
                self.stats.events_held += 1;
                None
            }
            Err(NotRelayed::Malformed) => {
                self.stats.malformed += 1;
                None
            }
        }
    }

    /// Writes into `out` one frame of local audio as the next packet of
    /// source `source`: its length and where it goes (see
    /// [`RtpLeg::send_pcm`]).
    pub fn prepare_pcm(
        &mut self,
        source: u32,
        pcm: &[i16],
        now: Instant,
        out: &mut [u8],
    ) -> Option<(usize, SocketAddr)> {
        let to = self.latch.send_to()?;
        if !self.negotiated.sends() {
            return None;
        }
        let now_us = self.media_us(now);
        let n = pcm.len().min(MAX_SAMPLES);
        let samples = u32::try_from(n).unwrap_or(0);
        let header = self
            .outgoing
            .send(source, self.negotiated.payload_type, samples, now_us);
        let mut payload = [0u8; MAX_SAMPLES];
        self.law.encode(pcm.get(..n).unwrap_or(&[]), &mut payload);
        match header.write_packet(payload.get(..n).unwrap_or(&[]), out) {
            Ok(len) => Some((len, to)),
            Err(e) => {
                debug!(error = %e, "RTP packet not written");
                None
            }
        }
    }
}
