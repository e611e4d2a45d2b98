//! The media plane: worker threads that relay and record the RTP of
//! bridged calls while their call tasks wait for signalling.
//!
//! Why: a bridge driven by its call task pays, for every packet, a wake-up
//! of the runtime's reactor, a wake-up and poll of the task, and a
//! `recvfrom` and a `sendto` of their own; at 1,000 bridged calls
//! (100,000 packets/s each way) that is most of the server's CPU. A
//! worker instead sleeps to the next millisecond, asks the kernel once
//! (`epoll_wait`) which of its legs have datagrams, and relays and
//! records everything that came in that millisecond in one pass: one
//! wake-up per millisecond for all its calls, whatever their number, at
//! the price of up to 1 ms of added delay. Its epoll is level-triggered,
//! so a leg with a datagram costs one `recvfrom`, not a second one to
//! learn that the socket is empty (a leg gets one datagram per 20 ms; what
//! is left is read in the next pass).
//!
//! What it does with a parked bridge is what the call task does with it
//! (see `call::bridge::talk`): each datagram goes through the receiving
//! leg's [`LegState`](super::leg::LegState) (latch, streams, DTMF,
//! decoding), its audio into the recorder on that party's side, and the
//! packet, rewritten, out of the other leg; every 20 ms the recorder
//! writes its due frame, digits whose end packets were lost are ended,
//! and the media timeout is checked. The recorder's 20 ms ticks of the
//! bridges are spread over the 20 milliseconds by slot, so no millisecond
//! carries them all; they follow the clock, not the passes (a busy
//! worker's passes last longer than a millisecond, and a recorder ticked
//! late would refuse audio placed ahead of it).
//!
//! A call in an IVR flow parks its one leg with the prompt player
//! ([`FlowMedia`]): the plane sends each prompt frame when it is due (to
//! the millisecond, where a call task's 20 ms timer is late whenever the
//! runtime is busy), records both sides and the voicemail message being
//! left, and reports the caller's keys and the prompts' end.
//!
//! The call task stays the owner of its call: it parks the media when it
//! has nothing to do with it ([`MediaPlane::park`]) and takes it back
//! ([`ParkedMedia::unpark`]) for anything else (a re-INVITE, a hold, a
//! key to act on, the next prompt, the call's end). The plane tells it
//! only what it must act on ([`PlaneEvent`]); digits are logged here, in
//! the call's span, as the call task logs them.
//!
//! With kernel forwarding (`media.kernel_forwarding`, see
//! [`super::kernel`]) a worker also loads the eBPF forwarder: every 100 ms
//! it installs, updates or withdraws each parked bridge's two flows from
//! the legs' state, and every pass it drains the ring of packets the
//! kernel relayed, handling each copy as it would the datagram (recorded,
//! DTMF, the other leg's stream moved on) without the `recvfrom` and
//! `sendto`. Before a call takes its media back its flows are withdrawn
//! and the ring drained, so the call task finds the state complete.
//!
//! Hand-written on epoll (nix's safe wrapper) rather than on tokio: the
//! point is to leave the runtime out of the per-packet path; mio, tokio's
//! poller, is edge-triggered only.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use prometheus::{IntCounter, IntGauge};
use tokio::sync::{mpsc as tmpsc, oneshot};
use tracing::{info, warn, Span};

use super::kernel::{Flow, Forwarded, Forwarder};
use super::leg::{ParkedLeg, Received, Scratch};
use super::prompt::player::{Player, PlayerEvent};
use super::recording::{Recorder, RecordingError, Side};

/// How long a worker sleeps between two passes.
const PASS: Duration = Duration::from_millis(1);
/// A recorder frame lasts this many milliseconds: each call's 20 ms
/// housekeeping falls on the millisecond of its slot modulo this.
const PHASES: usize = 20;
/// Most datagrams read from one socket in one pass while they are
/// strangers' (a flooded socket cannot hold the worker); a leg's own
/// datagram ends its turn.
const MAX_READS: usize = 64;
/// Readiness events asked for per pass.
const EVENTS: usize = 1024;
/// A pass that begins later than this after its millisecond is counted
/// late ([`PlaneMetrics::late_passes`]).
const LATE: Duration = Duration::from_millis(5);

/// What the plane counts, for `/metrics` (made and registered by
/// [`crate::telemetry::Metrics`]).
#[derive(Clone)]
pub struct PlaneMetrics {
    /// Calls whose media is parked now, all workers.
    pub calls: IntGauge,
    /// Datagrams read by the workers.
    pub datagrams: IntCounter,
    /// Passes that began more than 5 ms after their millisecond: a worker
    /// too busy or kept off the CPU (a sign to add `media.workers`).
    pub late_passes: IntCounter,
    /// Packets the kernel relayed (kernel forwarding), all workers.
    pub kernel_forwarded: IntCounter,
    /// Flows (directions of bridges) the kernel relays now.
    pub kernel_flows: IntGauge,
    /// Packets of kernel flows left to the sockets because a worker's ring
    /// was full (relayed by the worker instead; a sign of a stalled
    /// worker), counted as each flow is withdrawn (at the latest when its
    /// call takes its media back).
    pub kernel_ring_full: IntCounter,
}

/// The two legs of a bridged call and its recorder, as the call task
/// hands them to the plane and gets them back.
pub struct BridgeMedia {
    /// The caller's leg (recorded on the left).
    pub caller: ParkedLeg,
    /// The other party's leg (recorded on the right).
    pub callee: ParkedLeg,
    pub recorder: Option<Recorder>,
    /// The media timeout counts no earlier than this (the last answer or
    /// renegotiation).
    pub media_since: Instant,
}

/// The caller's leg of a call in an IVR flow, with what it plays and
/// records.
pub struct FlowMedia {
    pub leg: ParkedLeg,
    /// The prompts playing (frames go out `send_ahead_us` before their
    /// deadline, recorded on the right at it), as RTP source `source`.
    pub player: Player,
    pub source: u32,
    pub send_ahead_us: u64,
    /// Whether the call task waits for the player's end
    /// ([`PlaneEvent::PlayFinished`], sent once).
    pub notify_finish: bool,
    /// The call's recording.
    pub recorder: Option<Recorder>,
    /// A voicemail message being left: the caller's audio (left side).
    pub message: Option<Recorder>,
    pub media_since: Instant,
}

/// A call's media, as parked and given back.
pub enum Media {
    Bridge(Box<BridgeMedia>),
    Flow(Box<FlowMedia>),
}

impl Media {
    /// Its legs: a bridge's caller and callee, a flow's one leg.
    fn legs(&self) -> [Option<&ParkedLeg>; 2] {
        match self {
            Media::Bridge(b) => [Some(&b.caller), Some(&b.callee)],
            Media::Flow(f) => [Some(&f.leg), None],
        }
    }
}

/// What the plane tells a parked call's task.
#[derive(Debug)]
pub enum PlaneEvent {
    /// A party that should send RTP sent none for the media timeout.
    MediaTimeout,
    /// Writing the recording failed; the call goes on unrecorded.
    RecordingFailed(RecordingError),
    /// A flow's caller pressed a key (already logged), at this media
    /// time.
    Digit {
        digit: char,
        via: &'static str,
        at_us: u64,
    },
    /// A flow's prompts ended (played out or stopped).
    PlayFinished,
}

struct Park {
    id: u64,
    media: Media,
    span: Span,
    events: tmpsc::UnboundedSender<PlaneEvent>,
}

struct Unpark {
    id: u64,
    reply: oneshot::Sender<Media>,
}

struct WorkerHandle {
    parks: mpsc::Sender<Park>,
    unparks: mpsc::Sender<Unpark>,
    /// Bridges parked on it now.
    load: Arc<AtomicUsize>,
}

/// The media plane's workers.
pub struct MediaPlane {
    workers: Vec<WorkerHandle>,
    next_id: AtomicU64,
}

/// A call's media on the plane, as its task holds it.
pub struct ParkedMedia {
    id: u64,
    worker: mpsc::Sender<Unpark>,
    events: tmpsc::UnboundedReceiver<PlaneEvent>,
}

impl std::fmt::Debug for MediaPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaPlane")
            .field("workers", &self.workers.len())
            .finish_non_exhaustive()
    }
}

impl MediaPlane {
    /// Starts `workers` threads (at least one); `timeout` is the media
    /// timeout (`None`: off); they count into `metrics`.
    pub fn start(
        workers: usize,
        timeout: Option<Duration>,
        metrics: &PlaneMetrics,
    ) -> std::io::Result<MediaPlane> {
        MediaPlane::start_forwarding(workers, timeout, None, metrics)
    }

    /// [`MediaPlane::start`], each worker with its kernel forwarder
    /// attached to `kernel` interfaces (`None`: no kernel forwarding).
    pub fn start_forwarding(
        workers: usize,
        timeout: Option<Duration>,
        kernel: Option<&[String]>,
        metrics: &PlaneMetrics,
    ) -> std::io::Result<MediaPlane> {
        let mut handles = Vec::new();
        for n in 0..workers.max(1) {
            let kernel = match kernel {
                Some(interfaces) => {
                    Some(Forwarder::start(interfaces).map_err(std::io::Error::other)?)
                }
                None => None,
            };
            let (parks, parks_rx) = mpsc::channel();
            let (unparks, unparks_rx) = mpsc::channel();
            let load = Arc::new(AtomicUsize::new(0));
            let worker = Worker {
                scratch: Scratch::new(),
                epoll: Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?,
                parks: parks_rx,
                unparks: unparks_rx,
                slots: Vec::new(),
                free: Vec::new(),
                by_id: HashMap::new(),
                timeout,
                load: Arc::clone(&load),
                metrics: metrics.clone(),
                kernel,
                generation: 0,
                flow_slots: Vec::new(),
            };
            std::thread::Builder::new()
                .name(format!("hibiki-media-{n}"))
                .spawn(move || worker.run())?;
            handles.push(WorkerHandle {
                parks,
                unparks,
                load,
            });
        }
        Ok(MediaPlane {
            workers: handles,
            next_id: AtomicU64::new(1),
        })
    }

    /// Parks a call's media on the least loaded worker; its digits and
    /// warnings are logged in `span`. Gives the media back if no worker
    /// runs.
    pub fn park(&self, media: Media, span: Span) -> Result<ParkedMedia, Media> {
        let Some(worker) = self
            .workers
            .iter()
            .min_by_key(|w| w.load.load(Ordering::Relaxed))
        else {
            return Err(media);
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (events_tx, events) = tmpsc::unbounded_channel();
        let park = Park {
            id,
            media,
            span,
            events: events_tx,
        };
        match worker.parks.send(park) {
            Ok(()) => Ok(ParkedMedia {
                id,
                worker: worker.unparks.clone(),
                events,
            }),
            Err(mpsc::SendError(park)) => Err(park.media),
        }
    }
}

impl ParkedMedia {
    /// The next thing the plane tells about this call; `None` if its
    /// worker is gone (the media with it).
    pub async fn event(&mut self) -> Option<PlaneEvent> {
        self.events.recv().await
    }

    /// Takes the media back (within a millisecond or so), with what the
    /// plane said that was not read yet; `None` if its worker is gone.
    pub async fn unpark(mut self) -> Option<(Media, Vec<PlaneEvent>)> {
        let (reply, back) = oneshot::channel();
        self.worker.send(Unpark { id: self.id, reply }).ok()?;
        let media = back.await.ok()?;
        // The worker said everything before it gave the media back.
        let mut unread = Vec::new();
        while let Ok(event) = self.events.try_recv() {
            unread.push(event);
        }
        Some((media, unread))
    }
}

/// One parked call in a worker.
struct Slot {
    media: Media,
    span: Span,
    events: tmpsc::UnboundedSender<PlaneEvent>,
    /// The timeout was reported: not again.
    timed_out: bool,
    /// Names this slot's legs in the kernel's copies: the park's
    /// generation and the slot index (a reused slot is another call).
    cookie: u64,
    /// The flows the kernel relays for it: caller → callee (keyed by the
    /// caller leg's address), callee → caller.
    routes: [Option<(SocketAddrV4, Flow)>; 2],
    /// The kernel refused a flow of this call (its map full): the worker
    /// relays the call, and does not ask again.
    kernel_refused: bool,
    /// Its 20 ms housekeepings so far.
    ticks: u32,
}

struct Worker {
    epoll: Epoll,
    /// The buffers every leg's datagram is read, decoded and relayed
    /// through, one leg at a time.
    scratch: Scratch,
    parks: mpsc::Receiver<Park>,
    unparks: mpsc::Receiver<Unpark>,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    by_id: HashMap<u64, usize>,
    timeout: Option<Duration>,
    load: Arc<AtomicUsize>,
    metrics: PlaneMetrics,
    kernel: Option<Forwarder>,
    /// Parks so far (the high half of [`Slot::cookie`]).
    generation: u32,
    /// The slots holding a flow's media (the ones with prompts to play
    /// every pass), so a pass does not walk every bridge to find them.
    flow_slots: Vec<usize>,
}

/// The token of a slot's leg: even for the caller, odd for the callee.
fn token(slot: usize, callee: bool) -> u64 {
    (slot as u64) * 2 + u64::from(callee)
}

impl Worker {
    fn run(mut self) {
        let mut events = vec![EpollEvent::empty(); EVENTS];
        let mut next = Instant::now();
        // The next millisecond of the housekeeping's clock, and its phase.
        let mut house = Instant::now();
        let mut phase = 0usize;
        loop {
            if self.by_id.is_empty() {
                // Nothing parked (so nothing to unpark): sleep until a
                // call parks.
                match self.parks.recv() {
                    Ok(park) => self.park(park),
                    Err(mpsc::RecvError) => return,
                }
                next = Instant::now();
                house = next;
            }
            loop {
                match self.parks.try_recv() {
                    Ok(park) => self.park(park),
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => return,
                }
            }
            while let Ok(unpark) = self.unparks.try_recv() {
                if !self.by_id.contains_key(&unpark.id) {
                    // Parked and taken back at once: its park was sent
                    // first, so it is in the queue now.
                    while let Ok(park) = self.parks.try_recv() {
                        self.park(park);
                    }
                }
                self.unpark(unpark);
            }
            self.forwarded();
            let ready = match self.epoll.wait(&mut events, EpollTimeout::ZERO) {
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => 0,
                Err(e) => {
                    warn!(error = %e, "media plane: epoll_wait failed");
                    0
                }
            };
            let now = Instant::now();
            let mut read = 0;
            for event in events.iter().take(ready) {
                read += self.readable(event.data(), now);
            }
            self.metrics.datagrams.inc_by(read);
            self.play(now);
            // Every phase whose millisecond has begun (a long pass runs
            // several); a worker stalled for more than a frame runs each
            // phase once and starts the clock again.
            let mut due = 0;
            while house <= now && due < PHASES {
                self.housekeeping(phase, now);
                phase = (phase + 1) % PHASES;
                house += PASS;
                due += 1;
            }
            if house <= now {
                house = now + PASS;
            }
            if now.saturating_duration_since(next) > LATE {
                self.metrics.late_passes.inc();
            }
            next += PASS;
            let now = Instant::now();
            match next.checked_duration_since(now) {
                Some(wait) => std::thread::sleep(wait),
                // Late by more than a frame: start the grid again rather
                // than run passes back to back.
                None if now.duration_since(next) > PASS * 20 => next = now,
                None => {}
            }
        }
    }

    fn park(&mut self, park: Park) {
        let Park {
            id,
            media,
            span,
            events,
        } = park;
        let index = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        for (leg, callee) in media.legs().into_iter().zip([false, true]) {
            let Some(leg) = leg else { continue };
            let event = EpollEvent::new(EpollFlags::EPOLLIN, token(index, callee));
            if let Err(e) = self.epoll.add(&leg.socket, event) {
                span.in_scope(|| warn!(error = %e, "media plane: cannot watch a leg"));
            }
        }
        if matches!(media, Media::Flow(_)) {
            self.flow_slots.push(index);
        }
        self.generation = self.generation.wrapping_add(1);
        let cookie = (u64::from(self.generation) << 32) | ((index as u64 & 0x7fff_ffff) << 1);
        if let Some(slot) = self.slots.get_mut(index) {
            *slot = Some(Slot {
                media,
                span,
                events,
                timed_out: false,
                cookie,
                routes: [None, None],
                kernel_refused: false,
                ticks: 0,
            });
        }
        self.by_id.insert(id, index);
        self.load.fetch_add(1, Ordering::Relaxed);
        self.metrics.calls.inc();
    }

    fn unpark(&mut self, unpark: Unpark) {
        let Unpark { id, reply } = unpark;
        let Some(index) = self.by_id.remove(&id) else {
            warn!(id, "media plane: asked for media it does not hold");
            return;
        };
        // The kernel stops relaying, and what it relayed is handled, before
        // the call task sees the state.
        if let (Some(kernel), Some(Some(slot))) = (self.kernel.as_mut(), self.slots.get_mut(index))
        {
            for route in &mut slot.routes {
                withdraw(kernel, route, &self.metrics);
            }
        }
        self.forwarded();
        let Some(slot) = self.slots.get_mut(index).and_then(Option::take) else {
            warn!(id, index, "media plane: the call's slot is empty");
            return;
        };
        self.free.push(index);
        self.flow_slots.retain(|&i| i != index);
        self.load.fetch_sub(1, Ordering::Relaxed);
        self.metrics.calls.dec();
        for leg in slot.media.legs().into_iter().flatten() {
            let _ = self.epoll.delete(&leg.socket);
        }
        // Datagrams that came since the last pass are read by the call
        // task: registering a socket with data waiting makes tokio's
        // (edge-triggered) epoll report it at once.
        let _ = reply.send(slot.media);
    }

    /// Reads a datagram waiting on one leg and passes it on (more while
    /// they are strangers'); returns how many it read.
    fn readable(&mut self, token: u64, now: Instant) -> u64 {
        let index = usize::try_from(token / 2).unwrap_or(usize::MAX);
        let from_callee = token % 2 == 1;
        let Some(Some(slot)) = self.slots.get_mut(index) else {
            return 0;
        };
        let scratch = &mut self.scratch;
        match &mut slot.media {
            Media::Bridge(media) => bridge_readable(media, from_callee, &slot.span, scratch, now),
            Media::Flow(media) => flow_readable(media, &slot.span, &slot.events, scratch, now),
        }
    }

    /// Sends the prompt frames due now, on every parked flow.
    fn play(&mut self, now: Instant) {
        let out = self.scratch.out();
        for &index in &self.flow_slots {
            let Some(Some(slot)) = self.slots.get_mut(index) else {
                continue;
            };
            let Media::Flow(media) = &mut slot.media else {
                continue;
            };
            let now_us = media.leg.media_us(now);
            while let Some(event) = media.player.poll(now_us + media.send_ahead_us) {
                if let PlayerEvent::Frame(frame) = event {
                    media
                        .leg
                        .send_pcm_now(media.source, &frame.samples, now, out);
                    if let Some(r) = media.recorder.as_mut() {
                        r.push(Side::Other, frame.deadline_us, &frame.samples);
                    }
                }
            }
            if media.notify_finish && media.player.finished().is_some() {
                media.notify_finish = false;
                let _ = slot.events.send(PlaneEvent::PlayFinished);
            }
        }
    }

    /// The 20 ms work of the calls whose slot falls on `phase`: the
    /// recorders' frames, digits ended by timeout, the media timeout.
    fn housekeeping(&mut self, phase: usize, now: Instant) {
        let timeout = self.timeout;
        for slot in self.slots.iter_mut().skip(phase).step_by(PHASES).flatten() {
            let (recorder, clock) = match &mut slot.media {
                Media::Bridge(media) => (&mut media.recorder, media.caller.media_us(now)),
                Media::Flow(media) => (&mut media.recorder, media.leg.media_us(now)),
            };
            if let Some(r) = recorder.as_mut() {
                if let Err(e) = r.tick(clock) {
                    slot.span.in_scope(
                        || warn!(error = %e, "recording failed; the call goes on unrecorded"),
                    );
                    *recorder = None;
                    let _ = slot.events.send(PlaneEvent::RecordingFailed(e));
                }
            }
            let quiet = match &mut slot.media {
                Media::Bridge(media) => {
                    for (leg, party) in
                        [(&mut media.caller, "caller"), (&mut media.callee, "callee")]
                    {
                        while let Some((digit, via)) = leg.poll_digit(now) {
                            slot.span
                                .in_scope(|| info!(%digit, via, party, "dtmf digit"));
                        }
                    }
                    let since = media.media_since;
                    [&media.caller, &media.callee]
                        .into_iter()
                        .any(|leg| silent(leg, since, timeout, now))
                }
                Media::Flow(media) => {
                    if let Some(m) = media.message.as_mut() {
                        if let Err(e) = m.tick(clock) {
                            slot.span
                                .in_scope(|| warn!(error = %e, "voicemail recording failed"));
                        }
                    }
                    leg_digits(&mut media.leg, &slot.span, &slot.events, now);
                    silent(&media.leg, media.media_since, timeout, now)
                }
            };
            if quiet && !slot.timed_out {
                slot.timed_out = true;
                let _ = slot.events.send(PlaneEvent::MediaTimeout);
            }
            // Every 100 ms: a flow is installed after the first few
            // packets, and a change (a new source) waits at most that long
            // in the worker.
            slot.ticks = slot.ticks.wrapping_add(1);
            if let Some(kernel) = self.kernel.as_mut().filter(|_| slot.ticks % 5 == 1) {
                offload(kernel, slot, &self.metrics);
            }
        }
    }

    /// Handles the copies of what the kernel relayed since the last pass.
    fn forwarded(&mut self) {
        let Some(kernel) = self.kernel.as_mut() else {
            return;
        };
        // The copies' arrival times are CLOCK_MONOTONIC, Instant's clock.
        let now = Instant::now();
        let mono = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
            .map(|t| Duration::from(t).as_nanos())
            .unwrap_or(0);
        let slots = &mut self.slots;
        let scratch = &mut self.scratch;
        let n = kernel.drain(|copy| {
            let ago = Duration::from_nanos(
                u64::try_from(mono.saturating_sub(u128::from(copy.ns))).unwrap_or(0),
            );
            let at = now.checked_sub(ago).unwrap_or(now);
            bridge_forwarded(slots, copy, at, scratch);
        });
        self.metrics.kernel_forwarded.inc_by(n);
    }
}

/// One copy of a packet the kernel relayed: handled by the leg it arrived
/// on as the datagram would have been (its slot gone: dropped).
fn bridge_forwarded(
    slots: &mut [Option<Slot>],
    copy: Forwarded<'_>,
    at: Instant,
    scratch: &mut Scratch,
) {
    let index = usize::try_from((copy.cookie & 0xffff_ffff) >> 1).unwrap_or(usize::MAX);
    let Some(Some(slot)) = slots.get_mut(index) else {
        return;
    };
    if slot.cookie != copy.cookie & !1 {
        return;
    }
    let Media::Bridge(media) = &mut slot.media else {
        return;
    };
    let from_callee = copy.cookie & 1 == 1;
    let BridgeMedia {
        caller,
        callee,
        recorder,
        ..
    } = &mut **media;
    let (from, to, side, party) = if from_callee {
        (callee, caller, Side::Other, "callee")
    } else {
        (caller, callee, Side::Caller, "caller")
    };
    let received = from.handle_forwarded(scratch, copy.packet, at);
    bridge_datagram(
        (from, to),
        recorder,
        (side, party),
        &slot.span,
        received,
        scratch,
        at,
        false,
    );
}

/// Installs, updates or withdraws a parked bridge's flows in the kernel,
/// as its legs' state now allows (see [`ParkedLeg::kernel_route`]).
fn offload(kernel: &mut Forwarder, slot: &mut Slot, metrics: &PlaneMetrics) {
    let Media::Bridge(media) = &slot.media else {
        return;
    };
    if slot.kernel_refused {
        return;
    }
    let wanted = [
        media.caller.kernel_route(&media.callee),
        media.callee.kernel_route(&media.caller),
    ];
    for (n, (route, want)) in slot.routes.iter_mut().zip(wanted).enumerate() {
        let want = want.map(|(local, flow)| {
            (
                local,
                Flow {
                    cookie: slot.cookie | n as u64,
                    ..flow
                },
            )
        });
        let same = match (&*route, &want) {
            (Some((a, old)), Some((b, new))) => a == b && old.same_route(new),
            (None, None) => true,
            _ => false,
        };
        if same {
            continue;
        }
        withdraw(kernel, route, metrics);
        if let Some((local, flow)) = want {
            match kernel.install(local, &flow) {
                Ok(()) => {
                    *route = Some((local, flow));
                    metrics.kernel_flows.inc();
                }
                Err(e) => {
                    slot.kernel_refused = true;
                    slot.span.in_scope(|| {
                        warn!(error = %e, "kernel forwarding: flow not installed; the media worker relays this call")
                    });
                }
            }
        }
    }
}

/// Stops the kernel relaying `route`, if it does.
fn withdraw(
    kernel: &mut Forwarder,
    route: &mut Option<(SocketAddrV4, Flow)>,
    metrics: &PlaneMetrics,
) {
    if let Some((local, _)) = route.take() {
        if let Some(counters) = kernel.remove(local) {
            metrics.kernel_ring_full.inc_by(counters.ring_full);
        }
        metrics.kernel_flows.dec();
    }
}

/// Whether `leg`, expected to send, sent nothing for `timeout` (counted
/// from `since` at the earliest).
fn silent(leg: &ParkedLeg, since: Instant, timeout: Option<Duration>, now: Instant) -> bool {
    let Some(limit) = timeout else {
        return false;
    };
    let last = leg.last_received().unwrap_or(since).max(since);
    leg.expects_media() && now.saturating_duration_since(last) > limit
}

/// Reads `leg`'s next datagram and hands it to `each`, reading on while
/// they are strangers' (up to [`MAX_READS`]) and stopping when the socket
/// is empty; returns how many it read.
fn read_turn(
    leg: &mut ParkedLeg,
    span: &Span,
    party: &str,
    scratch: &mut Scratch,
    now: Instant,
    mut each: impl FnMut(&mut ParkedLeg, Received, &mut Scratch),
) -> u64 {
    let mut read = 0;
    for _ in 0..MAX_READS {
        let received = match leg.recv_now(scratch, now) {
            Ok(received) => received,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                span.in_scope(|| warn!(error = %e, party, "RTP receive failed"));
                break;
            }
        };
        read += 1;
        each(leg, received, scratch);
        if received != Received::Ignored {
            break;
        }
    }
    read
}

/// A bridge's datagram: recorded on its party's side, relayed to the
/// other leg.
fn bridge_readable(
    media: &mut BridgeMedia,
    from_callee: bool,
    span: &Span,
    scratch: &mut Scratch,
    now: Instant,
) -> u64 {
    let BridgeMedia {
        caller,
        callee,
        recorder,
        ..
    } = media;
    let (from, to, side, party) = if from_callee {
        (callee, caller, Side::Other, "callee")
    } else {
        (caller, callee, Side::Caller, "caller")
    };
    read_turn(
        from,
        span,
        party,
        scratch,
        now,
        |from, received, scratch| {
            bridge_datagram(
                (from, to),
                recorder,
                (side, party),
                span,
                received,
                scratch,
                now,
                true,
            );
        },
    )
}

/// What a bridge does with a datagram `from` handled: its audio recorded
/// on its party's side, the packet relayed to `to` (`send`: by this
/// worker; else the kernel sent it and `to`'s stream only moves on), its
/// digits logged.
#[allow(clippy::too_many_arguments)]
fn bridge_datagram(
    (from, to): (&mut ParkedLeg, &mut ParkedLeg),
    recorder: &mut Option<Recorder>,
    (side, party): (Side, &str),
    span: &Span,
    received: Received,
    scratch: &mut Scratch,
    now: Instant,
    send: bool,
) {
    if let (Received::Audio { at_us, len }, Some(r)) = (received, recorder.as_mut()) {
        r.push(side, at_us, scratch.decoded(len));
    }
    if let (Some((packet, payload)), out) = scratch.last_packet() {
        if send {
            to.relay_now(packet, payload, now, out);
        } else {
            to.note_relayed(packet, payload, now, out);
        }
    }
    while let Some((digit, via)) = from.poll_digit(now) {
        span.in_scope(|| info!(%digit, via, party, "dtmf digit"));
    }
}

/// A flow's datagram: the caller's audio into the recording and the
/// message being left; keys reported.
fn flow_readable(
    media: &mut FlowMedia,
    span: &Span,
    events: &tmpsc::UnboundedSender<PlaneEvent>,
    scratch: &mut Scratch,
    now: Instant,
) -> u64 {
    let FlowMedia {
        leg,
        recorder,
        message,
        ..
    } = media;
    read_turn(
        leg,
        span,
        "caller",
        scratch,
        now,
        |leg, received, scratch| {
            if let Received::Audio { at_us, len } = received {
                let pcm = scratch.decoded(len);
                for r in [recorder.as_mut(), message.as_mut()].into_iter().flatten() {
                    r.push(Side::Caller, at_us, pcm);
                }
            }
            leg_digits(leg, span, events, now);
        },
    )
}

/// A flow's caller's keys, logged and reported.
fn leg_digits(
    leg: &mut ParkedLeg,
    span: &Span,
    events: &tmpsc::UnboundedSender<PlaneEvent>,
    now: Instant,
) {
    while let Some((digit, via)) = leg.poll_digit(now) {
        span.in_scope(|| info!(%digit, via, "dtmf digit"));
        let at_us = leg.media_us(now);
        let _ = events.send(PlaneEvent::Digit { digit, via, at_us });
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic)]
mod tests;
