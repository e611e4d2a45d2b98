//! Prompts: WAV files of any common format turned, once, into 8 kHz mono
//! 16-bit PCM, cached by path, and paced out in 20 ms frames.
//!
//! - here: [`Prompt`] (load and convert) and [`PromptCache`] (load each
//!   path once, share it).
//! - [`player`]: [`Player`], sans-IO pacing of a prompt or a sequence of
//!   prompts into 160-sample frames on deadlines computed from the start
//!   time and the frame index (no drift), stoppable for barge-in.
//!
//! ## Conversion
//! `hound` reads 8/16/24/32-bit integer and 32-bit float PCM (plain or
//! `WAVE_FORMAT_EXTENSIBLE`) at any rate; channels are averaged to mono;
//! `rubato`'s synchronous FFT resampler (anti-aliased, exact rational
//! ratio) converts to 8 kHz; samples are rounded and clamped to `i16`.
//! This is offline work at load, a few milliseconds per second of audio:
//! load off the async runtime (`spawn_blocking`), ideally at start-up.
//!
//! Prompts are kept as PCM; the sending leg encodes each frame with its
//! negotiated G.711 law ([`Frame::encode`], 160 table lookups), so one
//! cached prompt serves µ-law and A-law legs alike.
//!
//! ## Errors
//! Every [`PromptError`] names the file and the reason: not found, not a
//! WAV file, an unsupported format, no audio, or too long (prompts over
//! [`MAX_PROMPT_SECONDS`] are refused, so a hostile or mistaken file
//! cannot fill memory).

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod player;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

pub use player::{Finish, Frame, Player, PlayerEvent};

/// The rate prompts are stored and played at.
pub const SAMPLE_RATE: u32 = 8000;
/// Samples in one 20 ms frame at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;
/// One frame's duration in microseconds.
pub const FRAME_US: u64 = 20_000;
/// The longest prompt accepted.
pub const MAX_PROMPT_SECONDS: u64 = 600;

/// Why a prompt could not be loaded. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// No such file.
    #[error("prompt {path}: file not found")]
    NotFound {
        /// The file.
        path: PathBuf,
    },
    /// The file could not be read.
    #[error("prompt {path}: cannot read: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not a (well-formed) WAV file.
    #[error("prompt {path}: not a WAV file: {reason}")]
    NotWav {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// A WAV file in a format prompts do not support.
    #[error("prompt {path}: unsupported format: {reason}")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What is unsupported.
        reason: String,
    },
    /// A WAV file with no samples.
    #[error("prompt {path}: no audio in the file")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A prompt name that is not a plain file name (`[A-Za-z0-9_-]+`).
    #[error("prompt `{0}`: not a valid prompt name")]
    BadName(String),
}

/// A prompt ready to play: 8 kHz mono 16-bit PCM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pcm: Vec<i16>,
}

impl Prompt {
    /// Loads and converts the WAV file at `path`.
    pub fn load(path: &Path) -> Result<Prompt, PromptError> {
        let file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
        Prompt::from_wav(std::io::BufReader::new(file), path)
    }

    /// Reads and converts a WAV stream; `name` is used in errors.
    pub fn from_wav<R: Read>(reader: R, name: &Path) -> Result<Prompt, PromptError> {
        let reader = hound::WavReader::new(reader).map_err(|e| wav_error(name, e))?;
        let spec = reader.spec();
        let unsupported = |reason: String| PromptError::Unsupported {
            path: name.to_path_buf(),
            reason,
        };
        if spec.channels == 0 {
            return Err(unsupported("0 channels".into()));
        }
        if !(1000..=384_000).contains(&spec.sample_rate) {
            return Err(unsupported(format!("sample rate {} Hz", spec.sample_rate)));
        }
        let frames = u64::from(reader.duration());
        if frames > MAX_PROMPT_SECONDS * u64::from(spec.sample_rate) {
            return Err(unsupported(format!(
                "{} s is longer than the {MAX_PROMPT_SECONDS} s limit",
                frames / u64::from(spec.sample_rate)
            )));
        }
        let samples: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
            (hound::SampleFormat::Float, 32) => reader
                .into_samples::<f32>()
                .collect::<Result<_, _>>()
                .map_err(|e| wav_error(name, e))?,
            (hound::SampleFormat::Int, bits @ 8..=32) => {
                let scale = 1.0 / (1u64 << (bits - 1)) as f32;
                reader
                    .into_samples::<i32>()
                    .map(|s| s.map(|s| s as f32 * scale))
                    .collect::<Result<_, _>>()
                    .map_err(|e| wav_error(name, e))?
            }
            (format, bits) => {
                return Err(unsupported(format!("{bits}-bit {format:?} samples")));
            }
        };
        let pcm =
            convert(&samples, usize::from(spec.channels), spec.sample_rate).map_err(unsupported)?;
        if pcm.is_empty() {
            return Err(PromptError::Empty {
                path: name.to_path_buf(),
            });
        }
        Ok(Prompt { pcm })
    }

    /// A prompt from 8 kHz mono PCM (generated tones, silence, tests).
    pub fn from_pcm(pcm: Vec<i16>) -> Prompt {
        Prompt { pcm }
    }

    /// The 8 kHz mono samples.
    pub fn pcm(&self) -> &[i16] {
        &self.pcm
    }

    /// Length in samples.
    pub fn len(&self) -> usize {
        self.pcm.len()
    }

    /// Whether the prompt has no samples.
    pub fn is_empty(&self) -> bool {
        self.pcm.is_empty()
    }

    /// Duration in microseconds.
    pub fn duration_us(&self) -> u64 {
        self.pcm.len() as u64 * 1_000_000 / u64::from(SAMPLE_RATE)
    }

    /// Number of 20 ms frames (the last one padded with silence).
    pub fn frames(&self) -> usize {
        self.pcm.len().div_ceil(FRAME_SAMPLES)
    }
}

/// Interleaved float samples at `rate` → 8 kHz mono `i16`.
fn convert(samples: &[f32], channels: usize, rate: u32) -> Result<Vec<i16>, String> {
    let mono: Vec<f32> = samples
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect();
    let resampled = if rate == SAMPLE_RATE || mono.is_empty() {
        mono
    } else {
        resample(&mono, rate)?
    };
    Ok(resampled
        .iter()
        .map(|s| (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect())
}

/// Mono `rate` → mono 8 kHz with rubato's FFT resampler.
fn resample(mono: &[f32], rate: u32) -> Result<Vec<f32>, String> {
    let mut resampler = Fft::<f32>::new(
        rate as usize,
        SAMPLE_RATE as usize,
        1024,
        1,
        1,
        FixedSync::Both,
    )
    .map_err(|e| format!("resampler for {rate} Hz: {e}"))?;
    let input = InterleavedSlice::new(mono, 1, mono.len()).map_err(|e| e.to_string())?;
    let capacity = resampler.process_all_needed_output_len(mono.len());
    let mut out = vec![0.0f32; capacity];
    let mut output = InterleavedSlice::new_mut(&mut out, 1, capacity).map_err(|e| e.to_string())?;
    let (_, len) = resampler
        .process_all_into_buffer(&input, &mut output, mono.len(), None)
        .map_err(|e| format!("resampling {rate} Hz: {e}"))?;
    // rubato rounds the length up; keep the exact duration (floor).
    let exact = (mono.len() as u64 * u64::from(SAMPLE_RATE) / u64::from(rate)) as usize;
    out.truncate(len.min(exact));
    Ok(out)
}

fn io_error(path: &Path, source: std::io::Error) -> PromptError {
    if source.kind() == std::io::ErrorKind::NotFound {
        PromptError::NotFound {
            path: path.to_path_buf(),
        }
    } else {
        PromptError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

fn wav_error(path: &Path, error: hound::Error) -> PromptError {
    let path = path.to_path_buf();
    match error {
        // hound reports a short read as `Other` ("Failed to read enough
        // bytes"): the file ends before its header says it does.
        hound::Error::IoError(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::Other
            ) =>
        {
            PromptError::NotWav {
                path,
                reason: format!("truncated ({e})"),
            }
        }
        hound::Error::IoError(source) => io_error(&path, source),
        hound::Error::FormatError(reason) => PromptError::NotWav {
            path,
            reason: reason.into(),
        },
        hound::Error::UnfinishedSample => PromptError::NotWav {
            path,
            reason: "the data ends inside a sample".into(),
        },
        other => PromptError::Unsupported {
            path,
            reason: other.to_string(),
        },
    }
}

/// Prompts by path, each loaded once and shared. Cheap to clone.
///
/// Loading is blocking file IO and resampling: call [`PromptCache::get`]
/// off the async runtime. Failed loads are not cached (a fixed file loads
/// on the next try). Paths are keys as given: `a/b.wav` and `./a/b.wav`
/// are two entries of the same audio.
#[derive(Debug, Clone, Default)]
pub struct PromptCache {
    prompts: Arc<Mutex<HashMap<PathBuf, Arc<Prompt>>>>,
}

impl PromptCache {
    /// An empty cache.
    pub fn new() -> PromptCache {
        PromptCache::default()
    }

    /// The prompt at `path`, loaded on first use.
    pub fn get(&self, path: &Path) -> Result<Arc<Prompt>, PromptError> {
        // The lock is held across the load so each path loads once even
        // when two calls ask at the same moment.
        let mut prompts = self.prompts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(prompt) = prompts.get(path) {
            return Ok(Arc::clone(prompt));
        }
        let prompt = Arc::new(Prompt::load(path)?);
        prompts.insert(path.to_path_buf(), Arc::clone(&prompt));
        Ok(prompt)
    }

    /// Forgets every prompt (calls playing one keep their copy): the
    /// next [`PromptCache::get`] reads the file again.
    pub fn clear(&self) {
        self.prompts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Whether `path` is loaded.
    pub fn contains(&self, path: &Path) -> bool {
        self.prompts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(path)
    }

    /// Number of prompts loaded.
    pub fn len(&self) -> usize {
        self.prompts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether nothing is loaded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
