use super::*;
use crate::media::g711::{linear_to_ulaw, ulaw_to_linear};

const LOW: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const HIGH: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

/// Where a digit sits on the keypad: (row, column).
fn key(d: char) -> (usize, usize) {
    for (r, row) in KEYS.iter().enumerate() {
        if let Some(c) = row.iter().position(|k| *k == d) {
            return (r, c);
        }
    }
    panic!("not a key: {d}");
}

/// A signal builder: sums of sines at dBm0 levels, then G.711 µ-law
/// encode/decode as a trunk would deliver it.
#[derive(Default)]
struct Signal {
    samples: Vec<f32>,
}

impl Signal {
    fn silence(mut self, ms: u32) -> Self {
        self.samples
            .extend(std::iter::repeat_n(0.0, ms as usize * 8));
        self
    }
    fn samples_silence(mut self, n: usize) -> Self {
        self.samples.extend(std::iter::repeat_n(0.0, n));
        self
    }
    /// Sines (Hz, dBm0) for `ms`, with a phase that does not start at 0.
    fn tones(mut self, parts: &[(f32, f32)], ms: u32) -> Self {
        let start = self.samples.len();
        for n in 0..(ms as usize * 8) {
            let t = (start + n) as f32 / 8000.0;
            let v: f32 = parts
                .iter()
                .enumerate()
                .map(|(i, (f, dbm0))| {
                    DBM0_PEAK * 10f32.powf(dbm0 / 20.0) * (2.0 * PI * f * t + 0.7 * i as f32).sin()
                })
                .sum();
            self.samples.push(v);
        }
        self
    }
    fn digit(self, d: char, ms: u32) -> Self {
        self.digit_at(d, ms, 1.0, 1.0, -10.0, -10.0)
    }
    fn digit_at(
        self,
        d: char,
        ms: u32,
        low_k: f32,
        high_k: f32,
        low_db: f32,
        high_db: f32,
    ) -> Self {
        let (r, c) = key(d);
        self.tones(&[(LOW[r] * low_k, low_db), (HIGH[c] * high_k, high_db)], ms)
    }
    fn ulaw(&self) -> Vec<i16> {
        self.samples
            .iter()
            .map(|v| ulaw_to_linear(linear_to_ulaw(v.round().clamp(-32768.0, 32767.0) as i16)))
            .collect()
    }
}

/// Runs a detector over 20 ms frames; returns every digit in order.
fn detect(pcm: &[i16]) -> String {
    let mut det = InbandDetector::new();
    let mut out = String::new();
    for frame in pcm.chunks(160) {
        if let Some(d) = det.push(frame) {
            out.push(d);
        }
        while let Some(d) = det.poll_digit() {
            out.push(d);
        }
    }
    // flush: half a second of silence
    for _ in 0..25 {
        if let Some(d) = det.push(&[0; 160]) {
            out.push(d);
        }
    }
    out
}

const ALL: &str = "123A456B789C*0#D";

#[test]
fn all_sixteen_digits_nominal() {
    let mut s = Signal::default().silence(30);
    for d in ALL.chars() {
        s = s.digit(d, 60).silence(60);
    }
    assert_eq!(detect(&s.ulaw()), ALL);
}

#[test]
fn long_tone_reported_once() {
    let s = Signal::default().silence(10).digit('5', 2000).silence(100);
    assert_eq!(detect(&s.ulaw()), "5");
}

#[test]
fn frequency_within_1_5_percent_detected() {
    for d in ALL.chars() {
        for (lk, hk) in [
            (1.015, 1.015),
            (0.985, 0.985),
            (1.015, 0.985),
            (0.985, 1.015),
        ] {
            let s = Signal::default()
                .silence(20)
                .digit_at(d, 60, lk, hk, -10.0, -10.0)
                .silence(60);
            assert_eq!(detect(&s.ulaw()), d.to_string(), "{d} at ×{lk}/×{hk}");
        }
    }
}

#[test]
fn frequency_off_by_3_5_percent_rejected() {
    for d in ALL.chars() {
        for (lk, hk) in [(1.035, 1.0), (0.965, 1.0), (1.0, 1.035), (1.0, 0.965)] {
            let s = Signal::default()
                .silence(20)
                .digit_at(d, 100, lk, hk, -10.0, -10.0)
                .silence(60);
            assert_eq!(detect(&s.ulaw()), "", "{d} at ×{lk}/×{hk}");
        }
    }
}

#[test]
fn twist_limits() {
    for d in ALL.chars() {
        // normal twist: high group 8 dB louder — accepted
        let s = Signal::default()
            .digit_at(d, 60, 1.0, 1.0, -16.0, -8.0)
            .silence(60);
        assert_eq!(detect(&s.ulaw()), d.to_string(), "{d} normal twist 8 dB");
        // reverse twist: high group 4 dB quieter — accepted
        let s = Signal::default()
            .digit_at(d, 60, 1.0, 1.0, -8.0, -12.0)
            .silence(60);
        assert_eq!(detect(&s.ulaw()), d.to_string(), "{d} reverse twist 4 dB");
        // beyond: 12 dB normal, 8 dB reverse — rejected
        let s = Signal::default()
            .digit_at(d, 100, 1.0, 1.0, -18.0, -6.0)
            .silence(60);
        assert_eq!(detect(&s.ulaw()), "", "{d} normal twist 12 dB");
        let s = Signal::default()
            .digit_at(d, 100, 1.0, 1.0, -6.0, -14.0)
            .silence(60);
        assert_eq!(detect(&s.ulaw()), "", "{d} reverse twist 8 dB");
    }
}

#[test]
fn level_limits() {
    for d in ALL.chars() {
        let s = Signal::default()
            .digit_at(d, 60, 1.0, 1.0, -25.0, -25.0)
            .silence(60);
        assert_eq!(detect(&s.ulaw()), d.to_string(), "{d} at -25 dBm0");
        let s = Signal::default()
            .digit_at(d, 100, 1.0, 1.0, -35.0, -35.0)
            .silence(60);
        assert_eq!(detect(&s.ulaw()), "", "{d} at -35 dBm0");
    }
    // loud is fine too
    let s = Signal::default()
        .digit_at('0', 60, 1.0, 1.0, 0.0, 0.0)
        .silence(60);
    assert_eq!(detect(&s.ulaw()), "0");
}

#[test]
fn duration_limits_at_every_alignment() {
    for offset in (0..160).step_by(5) {
        for d in ['1', '0', 'D', '#'] {
            let s = Signal::default()
                .samples_silence(offset)
                .digit(d, 40)
                .silence(60);
            assert_eq!(detect(&s.ulaw()), d.to_string(), "40 ms {d} at +{offset}");
            let s = Signal::default()
                .samples_silence(offset)
                .digit(d, 23)
                .silence(60);
            assert_eq!(detect(&s.ulaw()), "", "23 ms {d} at +{offset}");
            let s = Signal::default()
                .samples_silence(offset)
                .digit(d, 20)
                .silence(60);
            assert_eq!(detect(&s.ulaw()), "", "20 ms {d} at +{offset}");
        }
    }
}

#[test]
fn pause_of_40_ms_separates_same_digit() {
    for offset in (0..160).step_by(11) {
        let s = Signal::default()
            .samples_silence(offset)
            .digit('7', 40)
            .silence(40)
            .digit('7', 40)
            .silence(40)
            .digit('7', 40)
            .silence(60);
        assert_eq!(detect(&s.ulaw()), "777", "offset {offset}");
    }
}

#[test]
fn silence_and_noise_give_nothing() {
    assert_eq!(detect(&Signal::default().silence(2000).ulaw()), "");
    let mut seed: u32 = 99;
    for level in [300.0f32, 3000.0, 12000.0] {
        let noise: Vec<i16> = (0..8000 * 3)
            .map(|_| {
                // sum of uniforms: roughly Gaussian white noise
                let mut v = 0.0;
                for _ in 0..4 {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    v += (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
                }
                ulaw_to_linear(linear_to_ulaw((v * level) as i16))
            })
            .collect();
        assert_eq!(detect(&noise), "", "noise at {level}");
    }
}

/// Chords of sines, including notes within 0.2 % of DTMF frequencies
/// (F5 = 698.5 Hz ≈ 697, F#6 = 1480 Hz ≈ 1477), with and without
/// harmonics: never a digit, because a chord is more than two tones.
#[test]
fn chords_give_nothing() {
    let note = |semitones_from_a4: f32| 440.0 * 2f32.powf(semitones_from_a4 / 12.0);
    let chords: [&[f32]; 6] = [
        &[8.0, 12.0, 15.0],     // F5 A5 C6
        &[8.0, 21.0, 24.0],     // F5 F#6 A6: '3' plus a note
        &[-3.0, 1.0, 4.0, 7.0], // F#4 A#4 C#5 E5
        &[10.0, 14.0, 17.0],    // G5 B5 D6
        &[12.0, 16.0, 19.0],    // A5 C#6 E6
        &[8.0, 19.0, 23.0],     // F5 E6 G#6
    ];
    let mut s = Signal::default();
    for _ in 0..3 {
        for chord in chords {
            // plain
            let parts: Vec<(f32, f32)> = chord.iter().map(|n| (note(*n), -12.0)).collect();
            s = s.tones(&parts, 400);
            // with second and third harmonics, like an instrument
            let rich: Vec<(f32, f32)> = chord
                .iter()
                .flat_map(|n| {
                    [
                        (note(*n), -12.0),
                        (2.0 * note(*n), -20.0),
                        (3.0 * note(*n), -26.0),
                    ]
                })
                .collect();
            s = s.tones(&rich, 400);
        }
    }
    assert_eq!(detect(&s.ulaw()), "");
}

#[test]
fn a_pure_two_tone_dyad_is_a_digit() {
    // The guard is dominance, not luck: F5 + F#6 alone *is* '3'.
    let note = |st: f32| 440.0 * 2f32.powf(st / 12.0);
    let s = Signal::default()
        .tones(&[(note(8.0), -10.0), (note(21.0), -10.0)], 100)
        .silence(60);
    assert_eq!(detect(&s.ulaw()), "3");
}

#[test]
fn longer_slices_queue_digits() {
    let s = Signal::default()
        .digit('1', 60)
        .silence(60)
        .digit('2', 60)
        .silence(60)
        .digit('3', 60)
        .silence(60);
    let pcm = s.ulaw();
    let mut det = InbandDetector::new();
    let first = det.push(&pcm);
    assert_eq!(first, Some('1'));
    assert_eq!(det.poll_digit(), Some('2'));
    assert_eq!(det.poll_digit(), Some('3'));
    assert_eq!(det.poll_digit(), None);
    det.reset();
    assert_eq!(det.current(), None);
}

#[test]
fn short_interruption_does_not_split_a_digit() {
    // A 10 ms drop-out (a lost packet) is not a pause.
    for offset in (0..160).step_by(13) {
        let s = Signal::default()
            .samples_silence(offset)
            .digit('4', 60)
            .silence(10)
            .digit('4', 60)
            .silence(60);
        assert_eq!(detect(&s.ulaw()), "4", "offset {offset}");
    }
}
