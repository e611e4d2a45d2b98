//! The recording timeline: two sides of a call, decoded to 16-bit PCM,
//! placed on one 8 kHz sample grid and read out as interleaved stereo in
//! 20 ms frames, with silence wherever a side sent nothing.
//!
//! Sans-IO: no clock, no file. Time is a `u64` count of **microseconds on
//! the call's media clock** (any monotonic origin; the call actor typically
//! uses `now.duration_since(call_t0)`), passed in with every input. At 8 kHz
//! one sample is exactly 125 µs, so a sample's position is
//! `(at_us - start_us) / 125`: positions come from the start time and
//! integer arithmetic, never from accumulated floats, so an hour of frames
//! lands on exactly `3600 · 8000` samples.
//!
//! ## Driving rule
//! Feed each decoded frame with [`Timeline::push`] (any length: 20 ms, 30 ms
//! packets and prompts all work), then drain [`Timeline::poll_frame`] until
//! it returns `None`; do the same on every 20 ms tick even when no packet
//! came, so silence is written in real time. A 20 ms slot is read out once
//! `now` passes its end by the jitter allowance (default 120 ms): a frame
//! arriving up to that late still lands in its slot; a later one is
//! dropped and counted. At hang-up, [`Timeline::close`] lets the remaining
//! slots out at once.
//!
//! ## Which time a frame belongs to
//! `at_us` is the media time of the frame's first sample. Deriving it from
//! the RTP timestamp (anchored on the stream's arrival time, see
//! [`StreamClock`]) keeps consecutive packets sample-contiguous whatever the
//! network jitter; arrival time alone works too but lets jitter shift
//! frames by a few samples.
//!
//! ## Memory
//! A ring of [`SLOTS`] slots (240 ms) of stereo samples, about 7.5 KB per
//! call, allocated once; `push` and `poll_frame` never allocate. Pause
//! markers are the only thing that grows (one small entry per pause).

use serde::{Deserialize, Serialize};

/// Samples per second on the recording grid.
pub const SAMPLE_RATE: u32 = 8000;
/// Samples per channel in one 20 ms frame.
pub const FRAME_SAMPLES: usize = 160;
/// Length of one frame (slot) in microseconds.
pub const FRAME_US: u64 = 20_000;
/// Microseconds per sample at 8 kHz (exact).
pub const SAMPLE_US: u64 = 125;
/// Default jitter allowance: how late a frame may arrive and still land.
/// Generous (the recording is not live): a host stalled for up to this
/// long (a busy machine, a GC'd neighbour) loses no audio.
pub const DEFAULT_JITTER_US: u64 = 120_000;
/// Slots held in the ring (240 ms): the jitter allowance, the slot being
/// read out, and room for frames that arrive ahead of the clock.
pub const SLOTS: usize = 12;
/// Largest accepted jitter allowance, leaving 4 slots (80 ms) of headroom.
pub const MAX_JITTER_US: u64 = (SLOTS as u64 - 4) * FRAME_US;

const RING_SAMPLES: usize = SLOTS * FRAME_SAMPLES;
const RING_SAMPLES_U64: u64 = RING_SAMPLES as u64;
const FRAME_SAMPLES_U64: u64 = FRAME_SAMPLES as u64;
const SAMPLES_PER_MS: u64 = 8;

/// Which side of the call a frame comes from, and so which channel it
/// lands on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The caller: the left channel.
    Caller,
    /// Everything the caller hears (prompts, agent): the right channel.
    Other,
}

impl Side {
    /// Channel index in an interleaved stereo frame (0 = left).
    pub const fn channel(self) -> usize {
        match self {
            Side::Caller => 0,
            Side::Other => 1,
        }
    }
}

/// A pause in the recording (payment-card data): silence in the file from
/// `start_ms` to `end_ms`, both measured from the start of the recording
/// (so they are positions in the WAV file).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    /// Where the silence starts, in ms from the start of the recording.
    pub start_ms: u64,
    /// Where it ends (exclusive), in ms from the start of the recording.
    pub end_ms: u64,
}

/// Counters for metrics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimelineStats {
    /// 20 ms stereo frames read out so far.
    pub frames: u64,
    /// Pushes that lost samples because their slot had already been read out.
    pub late_frames: u64,
    /// Pushes that lost samples because they were further ahead of the
    /// read-out point than the ring holds.
    pub early_frames: u64,
    /// Per channel (`[caller, other]`): slots read out with no sample from
    /// that side (paused slots included).
    pub silent_slots: [u64; 2],
}

/// The two-sided sample grid of one recording. See the module doc.
#[derive(Debug)]
pub struct Timeline {
    start_us: u64,
    jitter_us: u64,
    /// Interleaved stereo ring, `RING_SAMPLES` sample frames.
    ring: Vec<i16>,
    /// Per side, bit `slot % SLOTS` set when that side wrote into the slot.
    heard: [u32; 2],
    /// Index (from the start) of the next slot to read out.
    next_slot: u64,
    /// After `close`: the slot index where read-out stops.
    end_slot: Option<u64>,
    /// The last frame read out.
    out: [i16; 2 * FRAME_SAMPLES],
    /// Closed pauses, in order.
    pauses: Vec<Pause>,
    /// Start (ms from the recording start) of the pause in progress.
    paused_from_ms: Option<u64>,
    /// Index of the first pause in `pauses` that may still cover a slot
    /// not yet read out.
    mask_from: usize,
    stats: TimelineStats,
}

impl Timeline {
    /// A timeline whose sample 0 is at media time `start_us`, with the
    /// default jitter allowance ([`DEFAULT_JITTER_US`]).
    pub fn new(start_us: u64) -> Self {
        Self::with_jitter(start_us, DEFAULT_JITTER_US)
    }

    /// A timeline with a chosen jitter allowance (capped at
    /// [`MAX_JITTER_US`]).
    pub fn with_jitter(start_us: u64, jitter_us: u64) -> Self {
        Self {
            start_us,
            jitter_us: jitter_us.min(MAX_JITTER_US),
            ring: vec![0; 2 * RING_SAMPLES],
            heard: [0; 2],
            next_slot: 0,
            end_slot: None,
            out: [0; 2 * FRAME_SAMPLES],
            pauses: Vec::new(),
            paused_from_ms: None,
            mask_from: 0,
            stats: TimelineStats::default(),
        }
    }

    /// Media time of sample 0.
    pub fn start_us(&self) -> u64 {
        self.start_us
    }

    /// The jitter allowance in use.
    pub fn jitter_us(&self) -> u64 {
        self.jitter_us
    }

    /// Length read out so far, in ms (a multiple of 20).
    pub fn position_ms(&self) -> u64 {
        self.next_slot.saturating_mul(FRAME_US / 1000)
    }

    /// Counters so far.
    pub fn stats(&self) -> TimelineStats {
        self.stats
    }

    /// Closed pauses so far, in order.
    pub fn pauses(&self) -> &[Pause] {
        &self.pauses
    }

    /// Whether a pause is in progress.
    pub fn is_paused(&self) -> bool {
        self.paused_from_ms.is_some()
    }

    /// Whether [`Timeline::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.end_slot.is_some()
    }

    /// Places `samples` (8 kHz mono PCM) from `side`, the first at media
    /// time `at_us`. Samples before the start, in slots already read out
    /// (late) or beyond the ring (early) are dropped and counted; a later
    /// push over the same samples overwrites them. Ignored once closed.
    pub fn push(&mut self, side: Side, at_us: u64, samples: &[i16]) {
        if self.end_slot.is_some() || samples.is_empty() {
            return;
        }
        // Position of samples[0]; samples before the start are skipped.
        let (first, skip) = match at_us.checked_sub(self.start_us) {
            Some(rel) => (rel / SAMPLE_US, 0u64),
            None => (0, (self.start_us - at_us).div_ceil(SAMPLE_US)),
        };
        let n = samples.len() as u64;
        let end = first.saturating_add(n.saturating_sub(skip));
        let window_start = self.next_slot.saturating_mul(FRAME_SAMPLES_U64);
        let window_end = window_start.saturating_add(RING_SAMPLES_U64);

        let from = first.max(window_start);
        let to = end.min(window_end);
        if skip > 0 || first < window_start {
            self.stats.late_frames += 1;
        }
        if end > window_end {
            self.stats.early_frames += 1;
        }
        if from >= to {
            return;
        }
        // Index in `samples` of the sample at position `from`.
        let src_from = usize::try_from(from - first + skip).unwrap_or(usize::MAX);
        let count = usize::try_from(to - from).unwrap_or(0);
        let Some(src) = samples.get(src_from..).and_then(|s| s.get(..count)) else {
            return;
        };
        let ch = side.channel();
        // At most two contiguous runs in the ring: up to its end, then from 0.
        let ring_from = ring_index(from);
        let first_run = count.min(RING_SAMPLES - ring_from);
        let (src_a, src_b) = src.split_at(first_run);
        write_channel(&mut self.ring, ring_from, ch, src_a);
        write_channel(&mut self.ring, 0, ch, src_b);

        let mut slot = from / FRAME_SAMPLES_U64;
        let last_slot = (to - 1) / FRAME_SAMPLES_U64;
        while slot <= last_slot {
            if let Some(bits) = self.heard.get_mut(ch) {
                *bits |= 1 << slot_bit(slot);
            }
            slot += 1;
        }
    }

    /// Starts a pause at media time `now_us`: from there on both channels
    /// are silent until [`Timeline::resume`]. Audio already read out cannot
    /// be silenced, so the start is never before [`Timeline::position_ms`].
    /// Returns `false` (and does nothing) if already paused or closed.
    pub fn pause(&mut self, now_us: u64) -> bool {
        if self.paused_from_ms.is_some() || self.end_slot.is_some() {
            return false;
        }
        self.paused_from_ms = Some(self.ms_at(now_us).max(self.position_ms()));
        true
    }

    /// Ends the pause in progress at media time `now_us` and records its
    /// marker. Returns it, or `None` when not paused.
    pub fn resume(&mut self, now_us: u64) -> Option<Pause> {
        let start_ms = self.paused_from_ms.take()?;
        let pause = Pause {
            start_ms,
            end_ms: self.ms_at(now_us).max(start_ms),
        };
        self.pauses.push(pause);
        Some(pause)
    }

    /// Ends the recording at media time `end_us` (rounded up to a whole
    /// slot, and never before what was already read out): later pushes are
    /// ignored, a pause in progress is closed there, and
    /// [`Timeline::poll_frame`] lets every remaining slot out without
    /// waiting for the jitter allowance.
    pub fn close(&mut self, end_us: u64) {
        if self.end_slot.is_some() {
            return;
        }
        let end_slot = end_us
            .saturating_sub(self.start_us)
            .div_ceil(FRAME_US)
            .max(self.next_slot);
        if self.paused_from_ms.is_some() {
            let end_ms = end_slot.saturating_mul(FRAME_US / 1000);
            // The pause may be longer than the recording only if `end_us`
            // came before the pause, which `resume` also clamps.
            self.resume(self.start_us.saturating_add(end_ms.saturating_mul(1000)));
        }
        self.end_slot = Some(end_slot);
    }

    /// The next 20 ms stereo frame (160 interleaved left/right pairs) if
    /// its slot is due at media time `now_us`: its end is at least the
    /// jitter allowance in the past, or the timeline is closed. Drain it
    /// until `None` after every push and on every 20 ms tick.
    pub fn poll_frame(&mut self, now_us: u64) -> Option<&[i16]> {
        let due = match self.end_slot {
            Some(end) => end,
            None => {
                now_us
                    .saturating_sub(self.start_us)
                    .saturating_sub(self.jitter_us)
                    / FRAME_US
            }
        };
        if self.next_slot >= due {
            return None;
        }
        let slot = self.next_slot;
        let from = 2 * ring_index(slot * FRAME_SAMPLES_U64);
        if let Some(src) = self.ring.get_mut(from..from + 2 * FRAME_SAMPLES) {
            self.out.copy_from_slice(src);
            src.fill(0);
        }
        let bit = 1u32 << slot_bit(slot);
        for (heard, silent) in self.heard.iter_mut().zip(&mut self.stats.silent_slots) {
            if *heard & bit == 0 {
                *silent += 1;
            }
            *heard &= !bit;
        }
        self.mask_pauses(slot);
        self.next_slot += 1;
        self.stats.frames += 1;
        Some(&self.out)
    }

    /// Silences the parts of `self.out` (slot `slot`) covered by a pause.
    fn mask_pauses(&mut self, slot: u64) {
        let f0 = slot * FRAME_SAMPLES_U64;
        let f1 = f0 + FRAME_SAMPLES_U64;
        // Closed pauses are in order; skip those that ended before this slot.
        while let Some(p) = self.pauses.get(self.mask_from) {
            if p.end_ms.saturating_mul(SAMPLES_PER_MS) <= f0 {
                self.mask_from += 1;
            } else {
                break;
            }
        }
        let closed = self.pauses.get(self.mask_from..).unwrap_or_default();
        let open = self.paused_from_ms.map(|start_ms| Pause {
            start_ms,
            end_ms: u64::MAX,
        });
        for p in closed.iter().chain(open.as_ref()) {
            let ps = p.start_ms.saturating_mul(SAMPLES_PER_MS);
            let pe = p.end_ms.saturating_mul(SAMPLES_PER_MS);
            if ps >= f1 {
                break;
            }
            let a = usize::try_from(ps.max(f0) - f0).unwrap_or(0);
            let b = usize::try_from(pe.min(f1) - f0).unwrap_or(0);
            if let Some(s) = self.out.get_mut(2 * a..2 * b) {
                s.fill(0);
            }
        }
    }

    /// Milliseconds from the start at media time `at_us` (0 before it).
    fn ms_at(&self, at_us: u64) -> u64 {
        at_us.saturating_sub(self.start_us) / 1000
    }
}

/// Ring position (in sample frames) of absolute sample `pos`.
fn ring_index(pos: u64) -> usize {
    // Always < RING_SAMPLES, so the conversion cannot fail.
    usize::try_from(pos % RING_SAMPLES_U64).unwrap_or(0)
}

/// Bit of slot `slot` in the `heard` masks.
fn slot_bit(slot: u64) -> u32 {
    u32::try_from(slot % SLOTS as u64).unwrap_or(0)
}

/// Writes `src` into channel `ch` of the interleaved ring from sample frame
/// `at` on.
fn write_channel(ring: &mut [i16], at: usize, ch: usize, src: &[i16]) {
    if src.is_empty() {
        return;
    }
    let Some(dst) = ring.get_mut(2 * at..) else {
        return;
    };
    for (pair, &x) in dst.chunks_exact_mut(2).zip(src) {
        if let Some(s) = pair.get_mut(ch) {
            *s = x;
        }
    }
}

/// Maps one RTP stream's timestamps (8 kHz) to the media clock for
/// [`Timeline::push`]: the first packet is anchored at its arrival time,
/// later ones are placed by their timestamp delta (wrap-safe), so network
/// and scheduling jitter do not move audio. The anchor holds as long as
/// packets arrive within `max_skew_us` of their predicted time, early or
/// late: a first packet that was delayed (a busy host, a slow path) leaves
/// the whole stream shifted by that constant delay, never cut in pieces.
/// Only a packet outside that window re-anchors the stream on its arrival
/// (a timestamp jump, a new stream, or a sender clock that drifted by
/// `max_skew_us`, i.e. every ~1000 s at 100 ppm): one short overlap or gap
/// instead of drift. Frames placed ahead of the wall clock fit the
/// timeline's ring (see [`SLOTS`]).
#[derive(Clone, Copy, Debug)]
pub struct StreamClock {
    anchor: Option<(u32, u64)>,
    max_skew_us: u64,
}

impl StreamClock {
    /// Default `max_skew_us`: inside the default jitter allowance, so a
    /// packet late by up to this much keeps its place and still lands, and
    /// one early by as much fits the ring ahead of the clock.
    pub const DEFAULT_MAX_SKEW_US: u64 = 100_000;

    /// A clock that re-anchors when drift exceeds `max_skew_us`.
    pub const fn new(max_skew_us: u64) -> Self {
        Self {
            anchor: None,
            max_skew_us,
        }
    }

    /// Forgets the anchor (e.g. on an SSRC change).
    pub fn reset(&mut self) {
        self.anchor = None;
    }

    /// Media time of a packet with RTP timestamp `ts` that arrived at
    /// `arrival_us`.
    pub fn media_time(&mut self, ts: u32, arrival_us: u64) -> u64 {
        if let Some((ts0, t0)) = self.anchor {
            // Signed distance in samples, wrap-safe over 2^32.
            let delta = i64::from(ts.wrapping_sub(ts0) as i32);
            let at = i128::from(t0) + i128::from(delta) * i128::from(SAMPLE_US);
            if let Ok(at) = u64::try_from(at) {
                if at.abs_diff(arrival_us) <= self.max_skew_us {
                    return at;
                }
            }
        }
        self.anchor = Some((ts, arrival_us));
        arrival_us
    }
}

impl Default for StreamClock {
    fn default() -> Self {
        Self::new(Self::DEFAULT_MAX_SKEW_US)
    }
}

#[cfg(test)]
#[path = "timeline_tests.rs"]
mod tests;
