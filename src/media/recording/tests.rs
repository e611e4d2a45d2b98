//! File-level tests: the WAV round trip through hound, the header kept
//! valid as the file grows, a crash image repaired, repair's refusals, and
//! the recording path. The real `kill -9` test is in
//! `tests/recording_files.rs`.

use std::path::Path;
use std::process::Command;

use super::file::{FLUSH_EVERY_FRAMES, HEADER_BYTES};
use super::timeline::{FRAME_SAMPLES, FRAME_US};
use super::*;

/// A stereo frame whose samples encode the frame number `k`.
fn frame(k: u64) -> Vec<i16> {
    let tag = (k % 10_000) as i16;
    (0..FRAME_SAMPLES)
        .flat_map(|i| [tag + i as i16, -tag - i as i16])
        .collect()
}

fn declared_data_bytes(path: &Path) -> u64 {
    let b = std::fs::read(path).unwrap();
    u64::from(u32::from_le_bytes(b[40..44].try_into().unwrap()))
}

/// `sox --i -s` (samples per channel), or None with a loud message.
fn sox_samples(path: &Path) -> Option<u64> {
    match Command::new("sox").arg("--i").arg("-s").arg(path).output() {
        Ok(out) => {
            assert!(
                out.status.success(),
                "sox --i failed on {}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            Some(
                String::from_utf8(out.stdout)
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap(),
            )
        }
        Err(e) => {
            skipping(&format!("the sox check: sox is not installed ({e})"));
            None
        }
    }
}

fn hound_samples(path: &Path) -> (hound::WavSpec, Vec<i16>) {
    let mut r = hound::WavReader::open(path).unwrap();
    let spec = r.spec();
    let samples = r.samples::<i16>().collect::<Result<Vec<_>, _>>().unwrap();
    assert_eq!(samples.len() as u64, u64::from(r.duration()) * 2);
    (spec, samples)
}

#[test]
fn a_recording_round_trips_through_hound() {
    let dir = tempfile::tempdir().unwrap();
    let path = recording_path(dir.path(), "call-1@host", 1_700_000_000_000);
    let start = 42_000_000;
    let file = RecordingFile::create(&path, "call-1@host").unwrap();
    let mut rec = Recorder::new(Timeline::new(start), file);
    // 2 s: the caller speaks in the first second, the other side after,
    // with a pause from 1500 to 1700 ms.
    for k in 0..100u64 {
        let at = start + k * FRAME_US;
        if k == 75 {
            assert!(rec.pause(at));
        }
        if k == 85 {
            rec.resume(at);
        }
        let side = if k < 50 { Side::Caller } else { Side::Other };
        rec.push(side, at, &[(k + 1) as i16; FRAME_SAMPLES]);
        rec.tick(at + 5_000).unwrap();
    }
    let summary = rec.finish(start + 100 * FRAME_US).unwrap();

    let (spec, samples) = hound_samples(&path);
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 8000, 16)
    );
    assert_eq!(spec.sample_format, hound::SampleFormat::Int);
    assert_eq!(samples.len(), 2 * 16_000);
    for (i, pair) in samples.chunks_exact(2).enumerate() {
        let k = (i / FRAME_SAMPLES) as i16;
        let paused = (75..85).contains(&k);
        let expected = match (k < 50, paused) {
            (_, true) => [0, 0],
            (true, _) => [k + 1, 0],
            (false, _) => [0, k + 1],
        };
        assert_eq!(pair, expected, "sample frame {i}");
    }
    let len = std::fs::metadata(&path).unwrap().len();
    assert_eq!(summary.path, path);
    assert_eq!(summary.call_id, "call-1@host");
    assert_eq!(summary.duration_ms, 2000);
    assert_eq!(summary.bytes, len);
    assert_eq!(len, HEADER_BYTES + 16_000 * 4);
    assert_eq!((summary.channels, summary.sample_rate), (2, 8000));
    assert_eq!(
        summary.pauses,
        vec![Pause {
            start_ms: 1500,
            end_ms: 1700
        }]
    );
    match Command::new("sha256sum").arg(&path).output() {
        Ok(out) => {
            let text = String::from_utf8(out.stdout).unwrap();
            assert_eq!(
                text.split_whitespace().next(),
                Some(summary.sha256.as_str())
            );
        }
        Err(e) => skipping(&format!("the sha256sum check: {e}")),
    }
    assert_eq!(sox_samples(&path).unwrap_or(16_000), 16_000);
}

#[test]
fn the_header_never_lags_more_than_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/lag.wav");
    let mut file = RecordingFile::create(&path, "lag").unwrap();
    assert_eq!(declared_data_bytes(&path), 0, "a valid empty file at once");
    for k in 0..200u64 {
        file.write_frame(&frame(k)).unwrap();
        let written = (k + 1) * FRAME_SAMPLES as u64;
        let declared = declared_data_bytes(&path) / 4;
        assert!(declared <= written);
        assert!(
            written - declared < FLUSH_EVERY_FRAMES,
            "after {written} frames the header says {declared}"
        );
    }
    assert_eq!(file.duration_ms(), 4000);
}

#[test]
fn a_crash_image_plays_to_the_last_second_and_repairs_to_all_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.wav");
    let crashed = dir.path().join("crashed.wav");
    let mut file = RecordingFile::create(&path, "crash").unwrap();
    // 3.4 s of audio; then copy the file as the kernel holds it, the way a
    // kill -9 leaves it, and never finish the writer.
    for k in 0..170u64 {
        file.write_frame(&frame(k)).unwrap();
    }
    std::fs::copy(&path, &crashed).unwrap();
    std::mem::forget(file);

    // The audio goes to the kernel with each second's header rewrite, so
    // the image is whole up to the last full second, header included.
    let before = hound::WavReader::open(&crashed).unwrap().duration();
    assert_eq!(before, 3 * 8000, "plays the 3 whole seconds of 3.4 s");
    let written: Vec<i16> = (0..170).flat_map(frame).collect();
    let (_, samples) = hound_samples(&crashed);
    assert_eq!(&samples[..], &written[..samples.len()]);
    let checked = repair(&crashed).unwrap();
    assert!(!checked.changed, "nothing to repair in a whole image");

    // A kill between a flush's audio write and its header rewrite leaves
    // audio the header does not count: repair counts it.
    let extra: Vec<u8> = written[samples.len()..]
        .iter()
        .flat_map(|s| s.to_le_bytes())
        .collect();
    let mut torn = std::fs::read(&crashed).unwrap();
    torn.extend_from_slice(&extra);
    std::fs::write(&crashed, &torn).unwrap();
    let fixed = repair(&crashed).unwrap();
    assert!(fixed.changed);
    let (_, samples) = hound_samples(&crashed);
    let frames = samples.len() as u64 / 2;
    assert_eq!(
        frames,
        170 * FRAME_SAMPLES as u64,
        "repair never loses audio"
    );
    let on_disk = std::fs::metadata(&crashed).unwrap().len();
    assert_eq!(
        frames,
        (on_disk - HEADER_BYTES) / 4,
        "every whole frame counted"
    );
    assert_eq!(fixed.bytes, on_disk);
    assert_eq!(fixed.duration_ms, frames / 8);
    // What was recovered is exactly what was written, in order.
    assert_eq!(&samples[..], &written[..]);
    if let Some(n) = sox_samples(&crashed) {
        assert_eq!(n, frames, "sox and hound agree on the length");
    }
    let again = repair(&crashed).unwrap();
    assert!(!again.changed, "idempotent");
    assert_eq!(again.sha256, fixed.sha256);
}

#[test]
fn repair_cuts_a_torn_sample_frame_and_leaves_a_good_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("good.wav");
    let mut file = RecordingFile::create(&path, "good").unwrap();
    for k in 0..60 {
        file.write_frame(&frame(k)).unwrap();
    }
    let summary = file.finish().unwrap();
    let good = std::fs::read(&path).unwrap();

    let same = repair(&path).unwrap();
    assert!(!same.changed);
    assert_eq!(same.dropped_bytes, 0);
    assert_eq!(same.sha256, summary.sha256);
    assert_eq!(same.duration_ms, summary.duration_ms);
    assert_eq!(std::fs::read(&path).unwrap(), good, "not a byte changed");

    // A torn last frame (3 of its 4 bytes) is cut off.
    let mut torn = good.clone();
    torn.extend_from_slice(&[1, 2, 3]);
    std::fs::write(&path, &torn).unwrap();
    let cut = repair(&path).unwrap();
    assert!(cut.changed);
    assert_eq!(cut.dropped_bytes, 3);
    assert_eq!(std::fs::read(&path).unwrap(), good);
}

#[test]
fn a_file_killed_before_its_first_flush_is_a_valid_empty_recording() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("early.wav");
    let crashed = dir.path().join("early-crashed.wav");
    let mut file = RecordingFile::create(&path, "early").unwrap();
    for k in 0..20 {
        file.write_frame(&frame(k)).unwrap(); // 0.4 s, 12.8 KB, still buffered
    }
    std::fs::copy(&path, &crashed).unwrap();
    drop(file);
    // The header went to the kernel at once: the image is a valid, empty
    // recording (what a kill loses is less than the first second).
    assert_eq!(declared_data_bytes(&crashed), 0);
    assert_eq!(
        std::fs::metadata(&crashed).unwrap().len(),
        HEADER_BYTES,
        "no torn audio after the header"
    );
    let fixed = repair(&crashed).unwrap();
    assert!(!fixed.changed);
    let (spec, samples) = hound_samples(&crashed);
    assert_eq!(spec.channels, 2);
    assert!(samples.is_empty());
}

#[test]
fn repair_refuses_what_it_cannot_repair_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("short.wav");
    let mut file = RecordingFile::create(&path, "short").unwrap();
    file.write_frame(&frame(1)).unwrap();
    file.finish().unwrap();
    let full = std::fs::read(&path).unwrap();

    for cut in [0usize, 11, 20, 43] {
        std::fs::write(&path, &full[..cut]).unwrap();
        let err = repair(&path).unwrap_err();
        assert!(
            matches!(err, RecordingError::Truncated { len, .. } if len == cut as u64),
            "{cut} bytes: {err}"
        );
        assert!(
            err.to_string().contains("too short for a WAV header"),
            "{err}"
        );
    }
    std::fs::write(&path, b"this is not a wav file at all, it is text").unwrap();
    assert!(matches!(repair(&path), Err(RecordingError::NotWav { .. })));
    let missing = dir.path().join("missing.wav");
    assert!(matches!(repair(&missing), Err(RecordingError::Io { .. })));
    // A header alone (44 bytes) is a valid empty recording.
    std::fs::write(&path, &full[..44]).unwrap();
    let empty = repair(&path).unwrap();
    assert_eq!((empty.duration_ms, empty.bytes), (0, 44));
}

#[test]
fn an_odd_frame_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut file = RecordingFile::create(dir.path().join("odd.wav"), "odd").unwrap();
    assert!(matches!(
        file.write_frame(&[1, 2, 3]),
        Err(RecordingError::OddFrame(3))
    ));
}

#[test]
fn recording_paths_are_dated_in_utc_and_safe() {
    let root = Path::new("/rec");
    let p = |id: &str, ms: i64| recording_path(root, id, ms);
    assert_eq!(p("abc", 0), Path::new("/rec/1970/01/01/abc.wav"));
    assert_eq!(p("abc", -1), Path::new("/rec/1969/12/31/abc.wav"));
    // 2024-02-29T23:59:59.999Z, then the next millisecond.
    assert_eq!(
        p("x", 1_709_251_199_999),
        Path::new("/rec/2024/02/29/x.wav")
    );
    assert_eq!(
        p("x", 1_709_251_200_000),
        Path::new("/rec/2024/03/01/x.wav")
    );
    assert_eq!(
        p("../../etc/passwd", 0),
        Path::new("/rec/1970/01/01/_.._.._etc_passwd.wav")
    );
    assert_eq!(p("", 0), Path::new("/rec/1970/01/01/_.wav"));
    assert_eq!(
        p("a b/c\\d@e", 0),
        Path::new("/rec/1970/01/01/a_b_c_d@e.wav")
    );
    let long = "x".repeat(1000);
    let name = p(&long, 0).file_name().unwrap().len();
    assert_eq!(name, 128 + 4);
}

#[test]
fn recording_path_dates_agree_with_gnu_date() {
    let mut seconds: Vec<i64> = vec![951_782_400, 4_107_542_400, 253_402_300_799];
    // A spread of instants over four centuries, leap days included.
    let mut x: i64 = 12345;
    for _ in 0..40 {
        x = (x * 48_271 + 12_345) % 12_884_901_887;
        seconds.push(x - 2_208_988_800);
    }
    for s in seconds {
        let out = match Command::new("date")
            .args(["-u", "-d", &format!("@{s}"), "+%Y/%m/%d"])
            .output()
        {
            Ok(out) if out.status.success() => out,
            other => {
                skipping(&format!(
                    "the date comparison: GNU date unavailable ({other:?})"
                ));
                return;
            }
        };
        let want = String::from_utf8(out.stdout).unwrap();
        let got = recording_path(Path::new(""), "c", s * 1000 + 999);
        let dir = got.parent().unwrap().to_str().unwrap().to_owned();
        assert_eq!(dir, want.trim(), "at {s} s");
    }
}

/// A check skipped because a tool is missing: loud, and a failure when the
/// test command demands its tools (`HIBIKI_TEST_REQUIRE_TOOLS=1`).
fn skipping(what: &str) {
    assert!(
        std::env::var("HIBIKI_TEST_REQUIRE_TOOLS").as_deref() != Ok("1"),
        "{what} (HIBIKI_TEST_REQUIRE_TOOLS=1)"
    );
    eprintln!("!!! SKIPPING {what}");
}
