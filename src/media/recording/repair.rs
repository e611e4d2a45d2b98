//! Repair of a recording a crash left open: its header still holds the
//! sizes of the last flush (or zero), while the kernel may hold more
//! samples after them, possibly ending in a torn sample frame.
//!
//! [`repair`] walks the RIFF chunks to the `fmt ` and `data` chunks (it does
//! not assume hound's 44-byte layout), then sets the `data` size to every
//! whole sample frame from there to the end of the file, truncates a torn
//! trailing frame, and sets the RIFF size to match. It assumes `data` is the
//! last chunk, which holds for every file Hibiki writes. On a good file it
//! changes nothing. Hand-written because hound only reads files that are
//! already valid.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::file::{sha256_file, HEADER_BYTES};
use super::RecordingError;

/// Bytes of the file read to find the `data` chunk.
const HEADER_SCAN_BYTES: usize = 4096;

/// What [`repair`] found and did: the fields to close the recording row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repaired {
    /// The file.
    pub path: PathBuf,
    /// Length of the audio in ms, after repair.
    pub duration_ms: u64,
    /// Size of the file in bytes, after repair.
    pub bytes: u64,
    /// SHA-256 of the repaired file, lower-case hex.
    pub sha256: String,
    /// Whether the header (or length) was changed.
    pub changed: bool,
    /// Bytes of a torn trailing sample frame cut off.
    pub dropped_bytes: u64,
}

/// The parts of the header that repair needs.
struct Layout {
    /// Offset of the first sample.
    data_start: u64,
    /// The `data` size the header declares.
    declared_data: u32,
    /// The RIFF size the header declares.
    declared_riff: u32,
    /// Bytes per sample frame.
    block_align: u64,
    /// Sample frames per second.
    sample_rate: u32,
}

/// Repairs the WAV at `path` in place (see the module doc) and syncs it to
/// disk. Errors: [`RecordingError::Truncated`] when the file is shorter than
/// its header, [`RecordingError::NotWav`] when it is not a PCM RIFF/WAVE
/// file with a `data` chunk, [`RecordingError::TooLong`] past 4 GiB.
pub fn repair(path: impl AsRef<Path>) -> Result<Repaired, RecordingError> {
    let path = path.as_ref();
    let io = |op| {
        let path = path.to_path_buf();
        move |source| RecordingError::Io { path, op, source }
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io("open"))?;
    let len = file.metadata().map_err(io("stat"))?.len();
    let mut head = Vec::with_capacity(HEADER_SCAN_BYTES);
    (&mut file)
        .take(HEADER_SCAN_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(io("read"))?;
    let layout = parse_layout(path, &head, len)?;

    let available = len.saturating_sub(layout.data_start);
    let data = available - available % layout.block_align;
    let new_len = layout.data_start + data;
    let riff = u32::try_from(new_len - 8).map_err(|_| RecordingError::TooLong {
        path: path.to_path_buf(),
    })?;
    let data32 = u32::try_from(data).map_err(|_| RecordingError::TooLong {
        path: path.to_path_buf(),
    })?;
    let changed = new_len != len || riff != layout.declared_riff || data32 != layout.declared_data;
    if changed {
        if new_len != len {
            file.set_len(new_len).map_err(io("truncate"))?;
        }
        write_u32_at(&mut file, 4, riff).map_err(io("write"))?;
        write_u32_at(&mut file, layout.data_start - 4, data32).map_err(io("write"))?;
        file.sync_all().map_err(io("sync"))?;
        tracing::info!(
            path = %path.display(),
            declared_bytes = layout.declared_data,
            data_bytes = data,
            "recording repaired"
        );
    }
    drop(file);
    let (sha256, bytes) = sha256_file(path, false)?;
    let frames = data / layout.block_align;
    Ok(Repaired {
        path: path.to_path_buf(),
        duration_ms: frames * 1000 / u64::from(layout.sample_rate.max(1)),
        bytes,
        sha256,
        changed,
        dropped_bytes: available - data,
    })
}

fn write_u32_at(file: &mut File, at: u64, value: u32) -> std::io::Result<()> {
    file.seek(SeekFrom::Start(at))?;
    file.write_all(&value.to_le_bytes())
}

/// Finds the `fmt ` and `data` chunks in the first bytes of the file.
fn parse_layout(path: &Path, head: &[u8], len: u64) -> Result<Layout, RecordingError> {
    let not_wav = |reason| RecordingError::NotWav {
        path: path.to_path_buf(),
        reason,
    };
    let truncated = |need: u64| RecordingError::Truncated {
        path: path.to_path_buf(),
        len,
        need,
    };
    if head.len() < 12 {
        return Err(truncated(HEADER_BYTES));
    }
    if head.get(..4) != Some(b"RIFF") || head.get(8..12) != Some(b"WAVE") {
        return Err(not_wav("no RIFF/WAVE signature"));
    }
    let declared_riff = le_u32(head, 4).ok_or_else(|| truncated(HEADER_BYTES))?;
    let mut fmt: Option<(u16, u32, u16)> = None; // (format, rate, block align)
    let mut at = 12usize;
    loop {
        let id = at.checked_add(4).and_then(|end| head.get(at..end));
        let size = at.checked_add(4).and_then(|a| le_u32(head, a));
        let (Some(id), Some(size)) = (id, size) else {
            // Ran out of bytes before the data chunk header.
            return Err(if (head.len() as u64) < len {
                not_wav("no data chunk in the first 4 KB")
            } else {
                truncated((at + 8).max(HEADER_BYTES as usize) as u64)
            });
        };
        let body = at + 8;
        match id {
            b"fmt " => {
                let f = (
                    le_u16(head, body),
                    le_u32(head, body + 4),
                    le_u16(head, body + 12),
                );
                let (Some(format), Some(rate), Some(align)) = f else {
                    return Err(truncated((body + 16) as u64));
                };
                fmt = Some((format, rate, align));
            }
            b"data" => {
                let Some((format, sample_rate, block_align)) = fmt else {
                    return Err(not_wav("data chunk before fmt chunk"));
                };
                // 1 = PCM, 0xFFFE = WAVE_FORMAT_EXTENSIBLE (hound, > 2 channels).
                if format != 1 && format != 0xFFFE {
                    return Err(not_wav("not PCM"));
                }
                if block_align == 0 || sample_rate == 0 {
                    return Err(not_wav("zero block align or sample rate"));
                }
                return Ok(Layout {
                    data_start: body as u64,
                    declared_data: size,
                    declared_riff,
                    block_align: u64::from(block_align),
                    sample_rate,
                });
            }
            _ => {}
        }
        // Chunks are padded to an even size.
        let skip = usize::try_from(size)
            .ok()
            .and_then(|s| s.checked_add(s & 1))
            .and_then(|s| body.checked_add(s));
        at = match skip {
            Some(next) => next,
            None => return Err(not_wav("chunk size out of range")),
        };
    }
}

fn le_u16(b: &[u8], at: usize) -> Option<u16> {
    let bytes: [u8; 2] = b.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(u16::from_le_bytes(bytes))
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    let bytes: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(bytes))
}
