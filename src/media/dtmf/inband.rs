//! In-band DTMF: digits sent as tones in the audio (8 kHz, 16-bit PCM,
//! usually decoded G.711), for trunks that send no RFC 4733 events.
//!
//! ## How
//! The audio is cut into blocks of [`BLOCK`] = 128 samples (16 ms) with a
//! Hann window, one every [`HOP`] = 56 samples (7 ms). For each block a
//! Goertzel-style single-bin DFT is taken at the eight DTMF frequencies
//! (precomputed window × cosine/sine tables, shared by all detectors). A
//! block *holds* a digit when all of these hold:
//!
//! 1. **Frequency** (Q.24: accept ±1.5 %, reject ±3.5 %): a magnitude
//!    alone cannot tell 697 Hz from 697 Hz + 3.5 % in 16 ms, so the
//!    strongest bin of each group has its tone's frequency measured from
//!    the phase it advanced since the previous block (7 ms earlier:
//!    unambiguous to ±71 Hz, more than 3.5 % of 1633 Hz). Both tones must
//!    be within ±2.5 %, and the previous block must hold them too. The
//!    window's attenuation at the measured offset is then undone, so the
//!    checks below do not depend on the deviation.
//! 2. **Level**: each tone at least [`MIN_LEVEL_DBM0`] (−29 dBm0, so
//!    −25 dBm0 tones pass with room for G.711 noise; −35 dBm0 fail).
//! 3. **Twist**: the high group at most 8 dB louder than the low one
//!    ("normal" twist, what lines with pre-emphasis deliver) and at most
//!    4 dB quieter ("reverse" twist), each with 1 dB of margin.
//! 4. **Dominance** (the guard against speech and music): the two tones
//!    must carry at least 90 % of the block's (windowed) energy, so
//!    harmonics, a third note, noise or formants all make it fail; so does
//!    a block only partly filled by the tone.
//!
//! A digit is reported, once, when [`CONFIRM_BLOCKS`] = 3 consecutive
//! blocks hold it: three whole blocks span 128 + 2 × 56 samples (30 ms) and
//! any tone of 128 + 3 × 56 − 1 samples (37 ms) contains them. Measured
//! over every alignment: tones up to 26 ms are never detected, tones from
//! 34 ms always (Q.24: reject under ~23 ms, accept 40 ms). The digit ends
//! after [`END_BLOCKS`] = 5 blocks without it: drop-outs up to 15 ms (a
//! lost packet) do not split a digit, pauses from 25 ms always do (Q.24's
//! minimum pause is 40 ms).
//!
//! ## Levels
//! 0 dBm0 is taken as a sine of peak amplitude 22 657 in 16-bit PCM: the
//! µ-law overload point (8159 × 4 = 32 636) is +3.17 dBm0 (G.711), which
//! also agrees with the µ-law digital milliwatt sequence.
//!
//! ## Cost
//! Per 7 ms hop: 2 × 8 × 128 multiply-adds plus the energy (about 6,000
//! per 20 ms frame). A detector holds about 700 bytes and never allocates;
//! the tables (8 KB) are built once per process.

use std::f32::consts::PI;
use std::sync::LazyLock;

/// Samples per analysis block.
pub const BLOCK: usize = 128;
/// Samples between the starts of consecutive blocks.
pub const HOP: usize = 56;
/// Consecutive blocks that must hold a digit before it is reported.
pub const CONFIRM_BLOCKS: u32 = 3;
/// Consecutive blocks without the digit that end it.
pub const END_BLOCKS: u32 = 5;
/// Minimum level of each tone, dBm0.
pub const MIN_LEVEL_DBM0: f32 = -29.0;
/// The peak amplitude of a 0 dBm0 sine in 16-bit PCM.
pub const DBM0_PEAK: f32 = 22_657.0;

const SAMPLE_RATE: f32 = 8000.0;
/// Row (low group) then column (high group) frequencies, Hz.
const FREQS: [f32; 8] = [697.0, 770.0, 852.0, 941.0, 1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];
/// High group up to 8 dB (+1 dB margin) above the low group.
const NORMAL_TWIST_DB: f32 = 9.0;
/// High group up to 4 dB (+1 dB margin) below the low group.
const REVERSE_TWIST_DB: f32 = 5.0;
/// Largest accepted frequency deviation (Q.24: accept 1.5 %, reject 3.5 %).
const MAX_DEVIATION: f32 = 0.025;
/// The two tones' share of the block energy.
const MIN_DOMINANCE: f32 = 0.9;

/// Window × oscillator tables, built once for all detectors.
struct Tables {
    cos: [[f32; BLOCK]; 8],
    sin: [[f32; BLOCK]; 8],
    window: [f32; BLOCK],
    /// Σ w: a full-block sine of amplitude A gives |X| = A Σw / 2.
    window_sum: f32,
    /// Σ w²: the same sine gives a windowed energy of A² Σw² / 2.
    window_sq_sum: f32,
    /// Phase a nominal tone advances per hop, as (cos, sin).
    hop_rotation: [(f32, f32); 8],
}

static TABLES: LazyLock<Tables> = LazyLock::new(|| {
    let mut t = Tables {
        cos: [[0.0; BLOCK]; 8],
        sin: [[0.0; BLOCK]; 8],
        window: [0.0; BLOCK],
        window_sum: 0.0,
        window_sq_sum: 0.0,
        hop_rotation: [(0.0, 0.0); 8],
    };
    for (n, w) in t.window.iter_mut().enumerate() {
        // periodic Hann
        *w = 0.5 - 0.5 * (2.0 * PI * n as f32 / BLOCK as f32).cos();
    }
    t.window_sum = t.window.iter().sum();
    t.window_sq_sum = t.window.iter().map(|w| w * w).sum();
    for (k, f) in FREQS.iter().enumerate() {
        let omega = 2.0 * PI * f / SAMPLE_RATE;
        if let (Some(c), Some(s), Some(r)) = (
            t.cos.get_mut(k),
            t.sin.get_mut(k),
            t.hop_rotation.get_mut(k),
        ) {
            for (n, ((c, s), w)) in c.iter_mut().zip(s.iter_mut()).zip(&t.window).enumerate() {
                let phase = omega * n as f32;
                *c = w * phase.cos();
                *s = w * phase.sin();
            }
            let hop_phase = omega * HOP as f32;
            *r = (hop_phase.cos(), hop_phase.sin());
        }
    }
    t
});

/// Detects DTMF tones in 8 kHz 16-bit PCM; see the module doc.
#[derive(Clone, Debug)]
pub struct InbandDetector {
    /// The last `fill` samples, oldest first.
    buf: [f32; BLOCK],
    fill: usize,
    /// Each bin's DFT (re, im) in the previous block.
    prev: [(f32, f32); 8],
    /// The digit the last blocks held, and for how many blocks in a row.
    candidate: Option<char>,
    run: u32,
    /// The digit reported and still sounding.
    current: Option<char>,
    misses: u32,
    /// Digits waiting for `poll_digit`, oldest first.
    queue: [Option<char>; 4],
}

impl Default for InbandDetector {
    fn default() -> Self {
        InbandDetector::new()
    }
}

impl InbandDetector {
    /// A detector for one direction of one call.
    pub fn new() -> InbandDetector {
        LazyLock::force(&TABLES);
        InbandDetector {
            buf: [0.0; BLOCK],
            fill: 0,
            prev: [(0.0, 0.0); 8],
            candidate: None,
            run: 0,
            current: None,
            misses: 0,
            queue: [None; 4],
        }
    }

    /// Feeds samples (any count; usually one 20 ms frame) and returns the
    /// first digit that started in them, if any. Frames of up to 20 ms
    /// can start at most one digit; digits from longer slices beyond the
    /// first wait in [`poll_digit`](Self::poll_digit).
    pub fn push(&mut self, pcm: &[i16]) -> Option<char> {
        for &s in pcm {
            if let Some(slot) = self.buf.get_mut(self.fill) {
                *slot = f32::from(s);
            }
            self.fill += 1;
            if self.fill >= BLOCK {
                let held = self.analyse();
                self.track(held);
                self.buf.copy_within(HOP.., 0);
                self.fill = BLOCK - HOP;
            }
        }
        self.poll_digit()
    }

    /// The next digit detected and not yet returned.
    pub fn poll_digit(&mut self) -> Option<char> {
        let first = self.queue.first_mut().and_then(Option::take);
        self.queue.rotate_left(1);
        first
    }

    /// The digit sounding now, once reported.
    pub fn current(&self) -> Option<char> {
        self.current
    }

    /// Forgets everything heard (e.g. after a source switch).
    pub fn reset(&mut self) {
        *self = InbandDetector::new();
    }

    /// Runs the duration rules on one block's verdict.
    fn track(&mut self, held: Option<char>) {
        if held.is_some() && held == self.candidate {
            self.run = self.run.saturating_add(1);
        } else {
            self.candidate = held;
            self.run = u32::from(held.is_some());
        }
        if self.current.is_some() {
            if held == self.current {
                self.misses = 0;
                return;
            }
            self.misses += 1;
            if self.misses < END_BLOCKS {
                return;
            }
            self.current = None;
            self.misses = 0;
        }
        if self.run >= CONFIRM_BLOCKS {
            if let Some(digit) = self.candidate {
                self.current = Some(digit);
                self.enqueue(digit);
            }
        }
    }

    fn enqueue(&mut self, digit: char) {
        if let Some(slot) = self.queue.iter_mut().find(|s| s.is_none()) {
            *slot = Some(digit);
        } else {
            self.queue.rotate_left(1);
            if let Some(last) = self.queue.last_mut() {
                *last = Some(digit);
            }
        }
    }

    /// The digit the current block holds, if any; updates `prev`.
    fn analyse(&mut self) -> Option<char> {
        let t = &*TABLES;
        let energy: f32 = self
            .buf
            .iter()
            .zip(&t.window)
            .map(|(x, w)| {
                let v = x * w;
                v * v
            })
            .sum();
        let mut bins = [(0.0f32, 0.0f32); 8];
        for ((bin, c), s) in bins.iter_mut().zip(&t.cos).zip(&t.sin) {
            let mut re = 0.0;
            let mut im = 0.0;
            for ((x, c), s) in self.buf.iter().zip(c).zip(s) {
                re += x * c;
                im -= x * s;
            }
            *bin = (re, im);
        }
        let prev = std::mem::replace(&mut self.prev, bins);

        // The weakest tone we accept, as a windowed energy: skip silence.
        let min_amp = DBM0_PEAK * 10f32.powf(MIN_LEVEL_DBM0 / 20.0);
        if energy < min_amp * min_amp * t.window_sq_sum {
            return None;
        }
        let power = |(re, im): (f32, f32)| re * re + im * im;
        let (low, high) = bins.split_at(4);
        let row = strongest(low, power)?;
        let col = strongest(high, power)?;
        let p_row = power(*low.get(row)?);
        let p_col = power(*high.get(col)?);

        // Frequency, from the phase advance since the previous block; then
        // undo the window's attenuation of a tone off the bin centre, so
        // that level, twist and dominance do not depend on the deviation.
        let gain_row = deviation_gain(row, &bins, &prev, t)?;
        let gain_col = deviation_gain(col + 4, &bins, &prev, t)?;

        // Level: amplitude = 2|X| / Σw.
        let to_amp2 = 4.0 / (t.window_sum * t.window_sum);
        let a2_row = p_row * to_amp2 / (gain_row * gain_row);
        let a2_col = p_col * to_amp2 / (gain_col * gain_col);
        let min_amp2 = min_amp * min_amp;
        if a2_row < min_amp2 || a2_col < min_amp2 {
            return None;
        }
        // Twist.
        let twist_db = 10.0 * (a2_col / a2_row).log10();
        if !(-REVERSE_TWIST_DB..=NORMAL_TWIST_DB).contains(&twist_db) {
            return None;
        }
        // Dominance: the tones' energy against the block's.
        let tones = (a2_row + a2_col) / 2.0 * t.window_sq_sum;
        if std::env::var("DBG").is_ok() {
            eprintln!("dom {:.3} twist {:.1}", tones / energy, twist_db);
        }
        if tones < MIN_DOMINANCE * energy {
            return None;
        }
        KEYS.get(row)?.get(col).copied()
    }
}

/// Checks bin `k`'s tone frequency against its nominal one (from the
/// phase it advanced over one hop) and returns the Hann window's gain at
/// that offset; `None` when the deviation is over [`MAX_DEVIATION`].
fn deviation_gain(
    k: usize,
    bins: &[(f32, f32); 8],
    prev: &[(f32, f32); 8],
    t: &Tables,
) -> Option<f32> {
    let now = *bins.get(k)?;
    let before = *prev.get(k)?;
    let rot = *t.hop_rotation.get(k)?;
    let f0 = *FREQS.get(k)?;
    // The previous block must hold the tone too, or its phase means
    // nothing (silence has a phase of zero).
    let power = |(re, im): (f32, f32)| re * re + im * im;
    if power(before) < 0.1 * power(now) {
        return None;
    }
    // now · conj(before) · conj(rot): the phase beyond the nominal advance
    let (ar, ai) = (
        now.0 * before.0 + now.1 * before.1,
        now.1 * before.0 - now.0 * before.1,
    );
    let (dr, di) = (ar * rot.0 + ai * rot.1, ai * rot.0 - ar * rot.1);
    let df = di.atan2(dr) * SAMPLE_RATE / (2.0 * PI * HOP as f32);
    if (df / f0).abs() > MAX_DEVIATION {
        return None;
    }
    // Hann response at x bins off centre: sinc(x) / (1 − x²); |x| < 0.7
    // here, far from the pole at 1.
    let x = df * BLOCK as f32 / SAMPLE_RATE;
    if x.abs() < 1e-4 {
        return Some(1.0);
    }
    let px = PI * x;
    Some(px.sin() / px / (1.0 - x * x))
}

/// Index of the strongest bin.
fn strongest(bins: &[(f32, f32)], power: impl Fn((f32, f32)) -> f32) -> Option<usize> {
    bins.iter()
        .enumerate()
        .max_by(|a, b| power(*a.1).total_cmp(&power(*b.1)))
        .map(|(i, _)| i)
}

#[cfg(test)]
#[path = "inband_tests.rs"]
mod tests;
