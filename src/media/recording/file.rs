//! The recording's WAV file: 8 kHz, 16-bit, stereo PCM written through
//! `hound`, whose `flush()` rewrites the RIFF and `data` sizes in the
//! header. We flush at least every second of audio, so a process killed
//! mid-call leaves a file that any reader plays up to about the last
//! second (and [`repair`](super::repair()) recovers the rest that reached
//! the kernel). Also where recordings live on disk: [`recording_path`].

use std::fs::{self, File};
use std::io::{BufWriter, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::timeline::{Pause, SAMPLE_RATE};
use super::RecordingError;

/// Channels in every recording.
pub const CHANNELS: u16 = 2;
/// Bytes of one stereo sample frame.
pub const BLOCK_ALIGN: u64 = 4;
/// Flush (rewrite the header) after this many sample frames: one second.
pub const FLUSH_EVERY_FRAMES: u64 = SAMPLE_RATE as u64;
/// Write buffer per open recording: a little more than the second of
/// audio (32,000 bytes) between two flushes, so the audio goes to the
/// kernel in one `write` a second, with the header rewrite, instead of
/// eight (at 1,000 recorded calls, 8,000 system calls a second fewer).
const WRITE_BUFFER_BYTES: usize = 36 * 1024;
/// Bytes before the samples in the files hound writes for this format
/// (RIFF header, 16-byte `fmt ` chunk, `data` chunk header).
pub const HEADER_BYTES: u64 = 44;
/// Largest `data` chunk whose RIFF size still fits in 32 bits, in whole
/// stereo frames.
pub const MAX_DATA_BYTES: u64 = (u32::MAX as u64 - (HEADER_BYTES - 8)) / BLOCK_ALIGN * BLOCK_ALIGN;

/// The WAV format of every recording.
pub fn wav_spec() -> hound::WavSpec {
    hound::WavSpec {
        channels: CHANNELS,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    }
}

/// Where a call's recording goes: `root/YYYY/MM/DD/<call-id>.wav`, the date
/// in UTC from `unix_ms` (epoch milliseconds, the store's time unit).
///
/// The call id is made safe as a file name: characters other than ASCII
/// letters, digits, `-`, `_`, `.` and `@` become `_`, a leading `.` becomes
/// `_` (no `..`, no hidden files), and it is cut to 128 bytes. SIP Call-IDs
/// may contain `/`, so this matters; distinct ids can map to one name, so
/// prefer Hibiki's own call ids.
///
/// The date is computed here (days-from-civil, Howard Hinnant's algorithm)
/// rather than with `chrono`/`time`, which the crate does not otherwise
/// need.
pub fn recording_path(root: &Path, call_id: &str, unix_ms: i64) -> PathBuf {
    let (y, m, d) = civil_from_days(unix_ms.div_euclid(86_400_000));
    let mut name: String = call_id
        .chars()
        .take(128)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.starts_with('.') {
        name.insert(0, '_');
    }
    name.push_str(".wav");
    root.join(format!("{y:04}"))
        .join(format!("{m:02}"))
        .join(format!("{d:02}"))
        .join(name)
}

/// (year, month, day) of the proleptic Gregorian calendar for a count of
/// days since 1970-01-01.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

/// What a closed recording is: the fields of its recording row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordingSummary {
    /// The call recorded.
    pub call_id: String,
    /// The WAV file.
    pub path: PathBuf,
    /// Length of the audio in ms.
    pub duration_ms: u64,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// Always 2.
    pub channels: u16,
    /// Always 8000.
    pub sample_rate: u32,
    /// SHA-256 of the final file, lower-case hex.
    pub sha256: String,
    /// Pause markers (set by [`Recorder::finish`](super::Recorder::finish)).
    pub pauses: Vec<Pause>,
}

/// An open recording file.
pub struct RecordingFile {
    writer: hound::WavWriter<BufWriter<File>>,
    path: PathBuf,
    call_id: String,
    /// Stereo sample frames written.
    frames: u64,
    /// Sample frames written since the last flush.
    unflushed: u64,
}

impl std::fmt::Debug for RecordingFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingFile")
            .field("path", &self.path)
            .field("call_id", &self.call_id)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

impl RecordingFile {
    /// Creates (or truncates) the WAV at `path`, making its parent folders,
    /// and writes a valid empty header.
    pub fn create(path: impl AsRef<Path>, call_id: &str) -> Result<Self, RecordingError> {
        let path = path.as_ref().to_path_buf();
        let io = |op| {
            let path = path.clone();
            move |source| RecordingError::Io { path, op, source }
        };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io("create folders"))?;
        }
        let file = File::create(&path).map_err(io("create"))?;
        let buffered = BufWriter::with_capacity(WRITE_BUFFER_BYTES, file);
        let mut writer =
            hound::WavWriter::new(buffered, wav_spec()).map_err(|source| RecordingError::Wav {
                path: path.clone(),
                source,
            })?;
        // Put the header on disk now: a crash before the first second still
        // leaves a readable (empty) file.
        writer.flush().map_err(|source| RecordingError::Wav {
            path: path.clone(),
            source,
        })?;
        tracing::debug!(call_id, path = %path.display(), "recording started");
        Ok(Self {
            writer,
            path,
            call_id: call_id.to_owned(),
            frames: 0,
            unflushed: 0,
        })
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Audio written so far, in ms.
    pub fn duration_ms(&self) -> u64 {
        self.frames * 1000 / u64::from(SAMPLE_RATE)
    }

    /// Appends interleaved stereo samples (left, right, left, ...), and
    /// flushes once a second of audio has accumulated. Does not allocate
    /// for frames of up to one 20 ms frame after the first.
    pub fn write_frame(&mut self, stereo: &[i16]) -> Result<(), RecordingError> {
        if !stereo.len().is_multiple_of(2) {
            return Err(RecordingError::OddFrame(stereo.len()));
        }
        let frames = (stereo.len() / 2) as u64;
        if (self.frames + frames) * BLOCK_ALIGN > MAX_DATA_BYTES {
            return Err(RecordingError::TooLong {
                path: self.path.clone(),
            });
        }
        let n = u32::try_from(stereo.len()).map_err(|_| RecordingError::TooLong {
            path: self.path.clone(),
        })?;
        let mut w = self.writer.get_i16_writer(n);
        for &s in stereo {
            w.write_sample(s);
        }
        w.flush().map_err(|source| RecordingError::Wav {
            path: self.path.clone(),
            source,
        })?;
        self.frames += frames;
        self.unflushed += frames;
        if self.unflushed >= FLUSH_EVERY_FRAMES {
            self.flush()?;
        }
        Ok(())
    }

    /// Rewrites the header for the samples written so far and pushes the
    /// buffer to the kernel (not to the disk: it survives a killed process,
    /// not a power cut).
    pub fn flush(&mut self) -> Result<(), RecordingError> {
        self.writer.flush().map_err(|source| RecordingError::Wav {
            path: self.path.clone(),
            source,
        })?;
        self.unflushed = 0;
        Ok(())
    }

    /// Finalises the header, syncs the file to disk, and returns its
    /// summary (no pauses: the timeline owns those). Reads the file back
    /// for the sha256.
    pub fn finish(self) -> Result<RecordingSummary, RecordingError> {
        let Self {
            writer,
            path,
            call_id,
            frames,
            ..
        } = self;
        writer.finalize().map_err(|source| RecordingError::Wav {
            path: path.clone(),
            source,
        })?;
        let (sha256, bytes) = sha256_file(&path, true)?;
        let duration_ms = frames * 1000 / u64::from(SAMPLE_RATE);
        tracing::debug!(call_id, path = %path.display(), duration_ms, bytes, "recording closed");
        Ok(RecordingSummary {
            call_id,
            path,
            duration_ms,
            bytes,
            channels: CHANNELS,
            sample_rate: SAMPLE_RATE,
            sha256,
            pauses: Vec::new(),
        })
    }
}

/// SHA-256 (lower-case hex) and length of the file at `path`, read in 8 KB
/// blocks; with `sync`, its data is first forced to disk.
pub(super) fn sha256_file(path: &Path, sync: bool) -> Result<(String, u64), RecordingError> {
    let io = |op| {
        let path = path.to_path_buf();
        move |source| RecordingError::Io { path, op, source }
    };
    let mut file = File::open(path).map_err(io("open"))?;
    if sync {
        file.sync_data().map_err(io("sync"))?;
    }
    let mut hasher = Sha256::new();
    let mut buf = [0u8; 8192];
    let mut len = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io("read")(e)),
        };
        let Some(chunk) = buf.get(..n) else { break };
        if chunk.is_empty() {
            break;
        }
        hasher.update(chunk);
        len += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), len))
}
