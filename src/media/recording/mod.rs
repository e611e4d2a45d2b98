//! The call recorder: both directions of a call on one 20 ms clock, written
//! as 8 kHz 16-bit stereo WAV (caller left, everything the caller hears
//! right), with pause markers, a header kept valid as the file grows, and
//! repair of files a crash left open.
//!
//! - [`timeline`]: sans-IO. Places decoded PCM frames of each side on the
//!   sample grid by media time, fills silence, applies pauses, and reads
//!   out 20 ms stereo frames behind a jitter allowance.
//! - [`file`]: the WAV file (via `hound`), flushed (header rewritten) at
//!   least every second of audio, so a `kill -9` leaves a playable file up
//!   to about the last second; the closing summary with its sha256; and
//!   [`recording_path`] (`recordings/YYYY/MM/DD/<call-id>.wav`, UTC).
//! - [`repair`](mod@repair): after a crash, sets the RIFF and `data` sizes
//!   from the real file length.
//! - [`Recorder`] (here): a timeline and a file together, the one object a
//!   call actor holds.
//!
//! ## Time
//! Media time is a `u64` of microseconds on the call's monotonic media
//! clock, passed in with every call (`Instant::duration_since(call_t0)` in
//! the actor); nothing here reads a clock.
//!
//! ## Blocking IO
//! [`Recorder::tick`] writes to a `BufWriter` (4 KB) and, once a second,
//! rewrites the 44-byte header: small blocking writes to the page cache.
//! [`Recorder::finish`] and [`repair()`] read the whole file back for its
//! sha256: run them off the async runtime (`spawn_blocking`).
//!
//! ## Memory per recording
//! About 7.5 KB of timeline ring, 4 KB of write buffer, 640 bytes of
//! hound's sample buffer, and 16 bytes per pause marker; nothing grows with
//! the length of the call.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod file;
pub mod repair;
pub mod timeline;

use std::path::PathBuf;

pub use file::{recording_path, RecordingFile, RecordingSummary};
pub use repair::{repair, Repaired};
pub use timeline::{Pause, Side, StreamClock, Timeline, TimelineStats};

/// Everything that can go wrong writing, closing or repairing a recording.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// A file system operation failed.
    #[error("recording {path}: {op}: {source}")]
    Io {
        /// The recording concerned.
        path: PathBuf,
        /// What was being done (`create`, `write`, `read`...).
        op: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },
    /// hound refused to write.
    #[error("recording {path}: WAV write: {source}")]
    Wav {
        /// The recording concerned.
        path: PathBuf,
        /// The underlying error.
        source: hound::Error,
    },
    /// The file is shorter than a WAV header: nothing to repair.
    #[error("recording {path}: {len} bytes is too short for a WAV header (need {need})")]
    Truncated {
        /// The recording concerned.
        path: PathBuf,
        /// Its length in bytes.
        len: u64,
        /// The length the header needs.
        need: u64,
    },
    /// The file is not a RIFF/WAVE file this module can repair.
    #[error("recording {path}: not a repairable WAV file: {reason}")]
    NotWav {
        /// The recording concerned.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The WAV would pass 4 GiB (about 37 hours of 8 kHz stereo).
    #[error("recording {path}: WAV size limit (4 GiB) reached")]
    TooLong {
        /// The recording concerned.
        path: PathBuf,
    },
    /// A stereo frame must hold whole left/right pairs.
    #[error("a stereo frame needs an even number of samples, got {0}")]
    OddFrame(usize),
}

/// A recording in progress: a [`Timeline`] read out into a
/// [`RecordingFile`].
///
/// Driving rule: [`Recorder::push`] each decoded frame, then call
/// [`Recorder::tick`] after every push and on every 20 ms timer;
/// [`Recorder::finish`] at hang-up.
///
/// ```
/// use hibiki::media::recording::{recording_path, Recorder, RecordingFile, Side, Timeline};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let root = tempfile::tempdir()?;
/// let path = recording_path(root.path(), "c0ffee", 1_700_000_000_000);
/// let t0 = 0; // media clock, µs
/// let mut rec = Recorder::new(Timeline::new(t0), RecordingFile::create(&path, "c0ffee")?);
/// for k in 0..50u64 {
///     let now = t0 + k * 20_000;
///     rec.push(Side::Caller, now, &[100; 160]); // decoded from the caller's RTP
///     rec.push(Side::Other, now, &[-100; 160]); // the prompt or the agent
///     rec.tick(now)?;
/// }
/// let summary = rec.finish(t0 + 1_000_000)?;
/// assert_eq!(summary.duration_ms, 1000);
/// assert!(summary.path.ends_with("2023/11/14/c0ffee.wav"));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Recorder {
    timeline: Timeline,
    file: RecordingFile,
}

impl Recorder {
    /// Records into `file` on `timeline` (sample 0 of the file is
    /// `timeline.start_us()`).
    pub fn new(timeline: Timeline, file: RecordingFile) -> Self {
        Self { timeline, file }
    }

    /// See [`Timeline::push`].
    pub fn push(&mut self, side: Side, at_us: u64, samples: &[i16]) {
        self.timeline.push(side, at_us, samples);
    }

    /// Writes every frame due at `now_us` to the file.
    pub fn tick(&mut self, now_us: u64) -> Result<(), RecordingError> {
        while let Some(frame) = self.timeline.poll_frame(now_us) {
            self.file.write_frame(frame)?;
        }
        Ok(())
    }

    /// See [`Timeline::pause`].
    pub fn pause(&mut self, now_us: u64) -> bool {
        self.timeline.pause(now_us)
    }

    /// See [`Timeline::resume`].
    pub fn resume(&mut self, now_us: u64) -> Option<Pause> {
        self.timeline.resume(now_us)
    }

    /// The timeline (stats, pauses, position).
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// The file being written.
    pub fn file(&self) -> &RecordingFile {
        &self.file
    }

    /// Ends the recording at media time `end_us`: writes the remaining
    /// frames, finalises the header, and returns the summary with the pause
    /// markers. Reads the file back for its sha256 (blocking).
    pub fn finish(mut self, end_us: u64) -> Result<RecordingSummary, RecordingError> {
        self.timeline.close(end_us);
        self.tick(end_us)?;
        let stats = self.timeline.stats();
        if stats.late_frames + stats.early_frames > 0 {
            tracing::info!(
                late = stats.late_frames,
                early = stats.early_frames,
                "the recording lost audio that came too late or too early for its place"
            );
        }
        let mut summary = self.file.finish()?;
        summary.pauses = self.timeline.pauses().to_vec();
        Ok(summary)
    }
}

#[cfg(test)]
mod tests;
