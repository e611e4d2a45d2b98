//! `check-recordings`: reads every WAV under a directory and says whether
//! each is what a load-test call should have produced: stereo 16-bit PCM,
//! a duration in the expected range, and on each checked channel the
//! tool's tone without interruption ("no recording gaps").
//!
//! The tool's tones never come near zero (see `rtp`), so any run of
//! near-silent samples between the first and the last loud one is a hole
//! in the recording: a packet that never arrived, or arrived too late for
//! the recorder. Silence before the first packet (answer → first RTP)
//! and after the last (RTP stop → BYE) is reported, not judged.

use std::fs;
use std::path::{Path, PathBuf};

/// Samples below this magnitude count as silence.
const SILENCE: i32 = 64;
/// A silent run at least this long (5 ms at 8 kHz) is a gap.
const GAP_SAMPLES: usize = 40;

/// What was found on one channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelCheck {
    /// Samples before the first loud one (all of them when silent).
    pub leading: usize,
    /// Samples after the last loud one.
    pub trailing: usize,
    /// Silent runs of at least [`GAP_SAMPLES`] between first and last.
    pub gaps: usize,
    /// The longest such run (samples).
    pub longest_gap: usize,
    /// Whether any sample was loud.
    pub loud: bool,
}

/// Scans `samples` (one channel).
pub fn check_channel(samples: impl Iterator<Item = i16>) -> ChannelCheck {
    let mut c = ChannelCheck::default();
    let mut run = 0usize; // current silent run
    for s in samples {
        if i32::from(s).abs() < SILENCE {
            run += 1;
            continue;
        }
        if !c.loud {
            c.loud = true;
            c.leading = run;
        } else if run >= GAP_SAMPLES {
            c.gaps += 1;
            c.longest_gap = c.longest_gap.max(run);
        }
        run = 0;
    }
    if c.loud {
        c.trailing = run;
    } else {
        c.leading = run;
    }
    c
}

/// A parsed WAV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wav {
    pub channels: u16,
    pub rate: u32,
    pub bits: u16,
    /// Interleaved 16-bit samples (empty unless `bits == 16`).
    pub samples: Vec<i16>,
}

/// Why a file is not a usable recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WavError(pub String);

impl std::fmt::Display for WavError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WavError {}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        *b.get(at + 3)?,
    ]))
}

/// Parses RIFF/WAVE bytes (PCM). A data chunk longer than the file (a
/// header not rewritten yet) is cut at the end of the file.
pub fn parse_wav(bytes: &[u8]) -> Result<Wav, WavError> {
    let bad = |m: &str| WavError(m.to_owned());
    if bytes.get(0..4) != Some(b"RIFF") || bytes.get(8..12) != Some(b"WAVE") {
        return Err(bad("not RIFF/WAVE"));
    }
    let mut at = 12;
    let mut fmt: Option<(u16, u16, u32, u16)> = None;
    while let (Some(id), Some(size)) = (bytes.get(at..at + 4), le32(bytes, at + 4)) {
        let body = at + 8;
        let size = size as usize;
        match id {
            b"fmt " => {
                fmt = Some((
                    le16(bytes, body).ok_or_else(|| bad("short fmt"))?,
                    le16(bytes, body + 2).ok_or_else(|| bad("short fmt"))?,
                    le32(bytes, body + 4).ok_or_else(|| bad("short fmt"))?,
                    le16(bytes, body + 14).ok_or_else(|| bad("short fmt"))?,
                ));
            }
            b"data" => {
                let (format, channels, rate, bits) = fmt.ok_or_else(|| bad("data before fmt"))?;
                if format != 1 {
                    return Err(WavError(format!("format {format}, not PCM")));
                }
                let end = body.saturating_add(size).min(bytes.len());
                let data = bytes.get(body..end).unwrap_or_default();
                let samples = if bits == 16 {
                    data.chunks_exact(2)
                        .map(|p| i16::from_le_bytes([p[0], p[1]]))
                        .collect()
                } else {
                    Vec::new()
                };
                return Ok(Wav {
                    channels,
                    rate,
                    bits,
                    samples,
                });
            }
            _ => {}
        }
        at = body + size + (size & 1);
    }
    Err(bad("no data chunk"))
}

/// Which channels must carry the tone without gaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channels {
    /// Left (caller) and right (callee): a bridged call.
    Both,
    /// Left only: the server's own audio is on the right (the demo).
    Left,
}

/// The verdict on one file.
#[derive(Debug, Clone)]
pub struct FileCheck {
    pub seconds: f64,
    pub left: ChannelCheck,
    pub right: ChannelCheck,
    pub problems: Vec<String>,
}

/// Checks one recording's bytes.
pub fn check_file(bytes: &[u8], channels: Channels, min_s: f64, max_s: f64) -> FileCheck {
    let mut fc = FileCheck {
        seconds: 0.0,
        left: ChannelCheck::default(),
        right: ChannelCheck::default(),
        problems: Vec::new(),
    };
    let wav = match parse_wav(bytes) {
        Ok(w) => w,
        Err(e) => {
            fc.problems.push(e.0);
            return fc;
        }
    };
    if wav.channels != 2 || wav.bits != 16 || wav.rate == 0 {
        fc.problems.push(format!(
            "{} channels, {} bits, {} Hz: expected stereo 16-bit",
            wav.channels, wav.bits, wav.rate
        ));
        return fc;
    }
    let frames = wav.samples.len() / 2;
    fc.seconds = frames as f64 / f64::from(wav.rate);
    fc.left = check_channel(wav.samples.iter().step_by(2).copied());
    fc.right = check_channel(wav.samples.iter().skip(1).step_by(2).copied());
    if fc.seconds < min_s || fc.seconds > max_s {
        fc.problems.push(format!(
            "lasts {:.2} s, expected {min_s:.1}..{max_s:.1}",
            fc.seconds
        ));
    }
    let ms = |n: usize| n as f64 * 1000.0 / f64::from(wav.rate);
    let mut judge = |name: &str, c: &ChannelCheck| {
        if !c.loud {
            fc.problems.push(format!("{name} channel silent"));
        } else if c.gaps > 0 {
            fc.problems.push(format!(
                "{name} channel: {} gap(s), longest {:.0} ms",
                c.gaps,
                ms(c.longest_gap)
            ));
        }
    };
    judge("left", &fc.left.clone());
    if channels == Channels::Both {
        judge("right", &fc.right.clone());
    } else if !fc.right.loud {
        fc.problems.push("right channel silent".to_owned());
    }
    fc
}

/// Every `*.wav` under `dir`, sorted.
pub fn find_wavs(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
            {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav_bytes(channels: u16, samples: &[i16]) -> Vec<u8> {
        let data_len = (samples.len() * 2) as u32;
        let mut b = Vec::new();
        b.extend_from_slice(b"RIFF");
        b.extend_from_slice(&(36 + data_len).to_le_bytes());
        b.extend_from_slice(b"WAVEfmt ");
        b.extend_from_slice(&16u32.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&channels.to_le_bytes());
        b.extend_from_slice(&8000u32.to_le_bytes());
        b.extend_from_slice(&(8000 * 2 * u32::from(channels)).to_le_bytes());
        b.extend_from_slice(&(2 * channels).to_le_bytes());
        b.extend_from_slice(&16u16.to_le_bytes());
        b.extend_from_slice(b"LIST");
        b.extend_from_slice(&3u32.to_le_bytes()); // odd size: padded
        b.extend_from_slice(b"abc\0");
        b.extend_from_slice(b"data");
        b.extend_from_slice(&data_len.to_le_bytes());
        for s in samples {
            b.extend_from_slice(&s.to_le_bytes());
        }
        b
    }

    /// `seconds` of stereo tone, with the frames in `holes` (left) silent.
    fn stereo(seconds: f64, lead: usize, holes: &[(usize, usize)]) -> Vec<i16> {
        let frames = (seconds * 8000.0) as usize;
        let mut out = Vec::with_capacity(frames * 2);
        for i in 0..frames {
            let tone = if i % 2 == 0 { 3000 } else { -3000 };
            let silent = i < lead || holes.iter().any(|&(a, b)| (a..b).contains(&i));
            out.push(if silent { 0 } else { tone });
            out.push(if i < lead { 0 } else { tone });
        }
        out
    }

    #[test]
    fn a_clean_recording_passes() {
        let bytes = wav_bytes(2, &stereo(2.0, 400, &[]));
        let fc = check_file(&bytes, Channels::Both, 1.5, 3.0);
        assert!(fc.problems.is_empty(), "{:?}", fc.problems);
        assert_eq!(fc.seconds, 2.0);
        assert_eq!(fc.left.leading, 400);
        assert_eq!((fc.left.gaps, fc.right.gaps), (0, 0));
    }

    #[test]
    fn a_missing_packet_is_a_gap() {
        let bytes = wav_bytes(2, &stereo(2.0, 0, &[(8000, 8160)]));
        let fc = check_file(&bytes, Channels::Both, 1.0, 3.0);
        assert_eq!(fc.left.gaps, 1);
        assert_eq!(fc.left.longest_gap, 160);
        assert_eq!(fc.problems, vec!["left channel: 1 gap(s), longest 20 ms"]);
    }

    #[test]
    fn duration_and_silence_are_judged() {
        let mut samples = stereo(1.0, 0, &[]);
        for s in samples.iter_mut().skip(1).step_by(2) {
            *s = 0;
        }
        let bytes = wav_bytes(2, &samples);
        let fc = check_file(&bytes, Channels::Both, 2.0, 3.0);
        assert_eq!(fc.problems.len(), 2, "{:?}", fc.problems);
        assert!(fc.problems[0].starts_with("lasts 1.00 s"));
        assert_eq!(fc.problems[1], "right channel silent");
        // Left-only checking still wants something on the right.
        let fc = check_file(&bytes, Channels::Left, 0.5, 3.0);
        assert_eq!(fc.problems, vec!["right channel silent"]);
    }

    #[test]
    fn not_a_recording_says_why() {
        let fc = check_file(b"nonsense", Channels::Both, 0.0, 9.0);
        assert_eq!(fc.problems, vec!["not RIFF/WAVE"]);
        let mono = wav_bytes(1, &[1000; 800]);
        let fc = check_file(&mono, Channels::Both, 0.0, 9.0);
        assert!(
            fc.problems[0].contains("expected stereo"),
            "{:?}",
            fc.problems
        );
    }

    #[test]
    fn a_header_not_yet_rewritten_is_read_to_the_end_of_the_file() {
        let mut bytes = wav_bytes(2, &stereo(0.5, 0, &[]));
        let len = bytes.len();
        // data size field = 0xFFFFFFFF
        let pos = bytes.windows(4).position(|w| w == b"data").expect("data") + 4;
        bytes[pos..pos + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let wav = parse_wav(&bytes).expect("parses");
        assert_eq!(wav.samples.len(), (len - pos - 4) / 2);
    }
}
