//! Tests of prompt loading (WAVs made at test time by hound and sox), the
//! cache, and the player's pacing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use super::*;

/// Whether sox can be used; prints the skip notice when not, and fails
/// when `HIBIKI_TEST_REQUIRE_TOOLS=1` demands the tools.
fn sox_available() -> bool {
    let ok = Command::new("sox")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var("HIBIKI_TEST_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "sox is required (HIBIKI_TEST_REQUIRE_TOOLS=1) but not installed"
        );
        println!("SKIPPED: sox not installed");
    }
    ok
}

/// Runs `sox -n <format args> <path> synth <seconds> sine <hz>`.
fn sox_tone(dir: &Path, name: &str, format: &[&str], seconds: f32, hz: u32) -> PathBuf {
    let path = dir.join(name);
    let status = Command::new("sox")
        .arg("-n")
        .args(format)
        .arg(&path)
        .args(["synth", &seconds.to_string(), "sine", &hz.to_string()])
        .arg("vol")
        .arg("0.5")
        .status()
        .unwrap();
    assert!(status.success(), "sox failed for {name}");
    path
}

/// Relative power of `hz` in `pcm` (Goertzel, 8 kHz).
fn goertzel(pcm: &[i16], hz: f64) -> f64 {
    let coeff = 2.0 * (2.0 * std::f64::consts::PI * hz / 8000.0).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in pcm {
        let s = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (pcm.len() as f64).powi(2)
}

/// Upward zero crossings.
fn crossings(pcm: &[i16]) -> usize {
    pcm.windows(2).filter(|w| w[0] < 0 && w[1] >= 0).count()
}

/// The prompt holds `seconds` of a 1 kHz tone at 8 kHz.
fn assert_1khz_tone(prompt: &Prompt, seconds: f64, what: &str) {
    let expected = (seconds * 8000.0) as usize;
    let len = prompt.len();
    assert!(
        len.abs_diff(expected) <= FRAME_SAMPLES,
        "{what}: {len} samples, expected {expected} ± 160"
    );
    // Skip the edges (resampler ramp), look at the middle.
    let middle = &prompt.pcm()[800..len - 800];
    let cycles = crossings(middle);
    let expected_cycles = middle.len() / 8; // 1000 Hz at 8000 Hz
    assert!(
        cycles.abs_diff(expected_cycles) <= 2,
        "{what}: {cycles} zero crossings, expected {expected_cycles}"
    );
    let at_tone = goertzel(middle, 1000.0);
    for other in [500.0, 800.0, 1200.0, 2000.0] {
        let off = goertzel(middle, other);
        assert!(
            at_tone > 1000.0 * off,
            "{what}: 1 kHz {at_tone} vs {other} Hz {off}"
        );
    }
    let peak = middle.iter().map(|s| s.unsigned_abs()).max().unwrap();
    assert!(
        (12_000..=20_000).contains(&peak),
        "{what}: peak {peak}, expected about half scale"
    );
}

#[test]
fn loads_sox_tones_of_every_common_format() {
    if !sox_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &[&str])] = &[
        (
            "44k1_stereo_16.wav",
            &["-r", "44100", "-c", "2", "-b", "16"],
        ),
        (
            "48k_mono_float.wav",
            &["-r", "48000", "-c", "1", "-b", "32", "-e", "floating-point"],
        ),
        (
            "22k05_mono_8bit.wav",
            &[
                "-r",
                "22050",
                "-c",
                "1",
                "-b",
                "8",
                "-e",
                "unsigned-integer",
            ],
        ),
        ("16k_stereo_24.wav", &["-r", "16000", "-c", "2", "-b", "24"]),
        (
            "48k_stereo_32int.wav",
            &["-r", "48000", "-c", "2", "-b", "32", "-e", "signed-integer"],
        ),
        ("8k_mono_16.wav", &["-r", "8000", "-c", "1", "-b", "16"]),
    ];
    for (name, format) in cases {
        let path = sox_tone(dir.path(), name, format, 1.5, 1000);
        let prompt = Prompt::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_1khz_tone(&prompt, 1.5, name);
    }
}

#[test]
fn stereo_is_averaged_to_mono() {
    if !sox_available() {
        return;
    }
    // Left 1 kHz, right silent: mono is the tone at half amplitude.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("left_only.wav");
    let status = Command::new("sox")
        .args(["-n", "-r", "8000", "-c", "2", "-b", "16"])
        .arg(&path)
        .args([
            "synth", "1", "sine", "1000", "sine", "1000", "remix", "1", "0",
        ])
        .status()
        .unwrap();
    // `remix 1 0` needs two channels in; sox keeps -c 2 for the output.
    assert!(status.success());
    let prompt = Prompt::load(&path).unwrap();
    let peak = prompt.pcm().iter().map(|s| s.unsigned_abs()).max().unwrap();
    assert!((14_000..=18_000).contains(&peak), "peak {peak}");
}

/// Writes a WAV with hound: `hz` tone, `seconds` long.
fn hound_tone(path: &Path, spec: hound::WavSpec, seconds: f64, hz: f64) {
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    let frames = (seconds * f64::from(spec.sample_rate)) as usize;
    for i in 0..frames {
        let x =
            0.5 * (2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(spec.sample_rate)).sin();
        for _ in 0..spec.channels {
            match spec.sample_format {
                hound::SampleFormat::Float => writer.write_sample(x as f32).unwrap(),
                hound::SampleFormat::Int => {
                    let scale = f64::from((1i32 << (spec.bits_per_sample - 1)) - 1);
                    writer.write_sample((x * scale) as i32).unwrap()
                }
            }
        }
    }
    writer.finalize().unwrap();
}

#[test]
fn loads_hound_written_wavs_without_sox() {
    let dir = tempfile::tempdir().unwrap();
    let specs = [
        (44_100, 2, 16, hound::SampleFormat::Int),
        (48_000, 2, 32, hound::SampleFormat::Float),
        (22_050, 1, 8, hound::SampleFormat::Int),
        (11_025, 1, 24, hound::SampleFormat::Int),
        (8_000, 1, 16, hound::SampleFormat::Int),
    ];
    for (rate, channels, bits, format) in specs {
        let path = dir.path().join(format!("{rate}_{channels}_{bits}.wav"));
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: format,
        };
        hound_tone(&path, spec, 2.0, 1000.0);
        let prompt = Prompt::load(&path).unwrap();
        assert_1khz_tone(&prompt, 2.0, &path.display().to_string());
        assert_eq!(prompt.frames(), prompt.len().div_ceil(160));
    }
}

#[test]
fn errors_name_the_file_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.wav");
    let e = Prompt::load(&missing).unwrap_err();
    assert!(matches!(e, PromptError::NotFound { .. }), "{e:?}");
    assert!(e.to_string().contains("missing.wav"), "{e}");
    assert!(e.to_string().contains("not found"), "{e}");

    let text = dir.path().join("notes.wav");
    std::fs::write(&text, "this is not audio, just a text file of some length").unwrap();
    let e = Prompt::load(&text).unwrap_err();
    assert!(matches!(e, PromptError::NotWav { .. }), "{e:?}");
    assert!(e.to_string().contains("notes.wav"), "{e}");

    let empty = dir.path().join("empty.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    hound::WavWriter::create(&empty, spec)
        .unwrap()
        .finalize()
        .unwrap();
    let e = Prompt::load(&empty).unwrap_err();
    assert!(matches!(e, PromptError::Empty { .. }), "{e:?}");
    assert!(e.to_string().contains("empty.wav"), "{e}");

    // A truncated file: header promises more data than there is.
    let full = dir.path().join("full.wav");
    hound_tone(&full, spec, 1.0, 1000.0);
    let bytes = std::fs::read(&full).unwrap();
    let cut = dir.path().join("cut.wav");
    std::fs::write(&cut, &bytes[..bytes.len() / 2 + 1]).unwrap();
    let e = Prompt::load(&cut).unwrap_err();
    assert!(matches!(e, PromptError::NotWav { .. }), "{e:?}");

    // Every prefix of a real WAV is handled without a panic.
    for len in (0..200).chain((200..bytes.len()).step_by(997)) {
        let _ = Prompt::from_wav(&bytes[..len], Path::new("prefix.wav"));
    }

    if sox_available() {
        let ulaw = sox_tone(
            dir.path(),
            "ulaw.wav",
            &["-r", "8000", "-e", "u-law"],
            0.5,
            1000,
        );
        let e = Prompt::load(&ulaw).unwrap_err();
        assert!(matches!(e, PromptError::Unsupported { .. }), "{e:?}");
        assert!(e.to_string().contains("ulaw.wav"), "{e}");
    }
}

#[test]
fn cache_loads_each_path_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("welcome.wav");
    let cache = PromptCache::new();
    // Failures are not cached.
    assert!(matches!(
        cache.get(&path),
        Err(PromptError::NotFound { .. })
    ));
    assert!(cache.is_empty());
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    hound_tone(&path, spec, 0.5, 1000.0);
    let first = cache.get(&path).unwrap();
    // Served from memory: the file can go away.
    std::fs::remove_file(&path).unwrap();
    let second = cache.clone().get(&path).unwrap();
    assert!(Arc::ptr_eq(&first, &second));
    assert!(cache.contains(&path));
    assert_eq!(cache.len(), 1);
    assert_eq!(first.len(), 4000);
}

// ---- Player ----

/// A prompt whose sample i is `base + i` (wrapping), to check ordering.
fn ramp(len: usize, base: i16) -> Arc<Prompt> {
    Arc::new(Prompt::from_pcm(
        (0..len).map(|i| base.wrapping_add(i as i16)).collect(),
    ))
}

#[test]
fn player_paces_an_hour_without_drift() {
    // 3600 prompts of one second and 37 samples: 28,933,200 samples,
    // 180,833 frames (the last one partly silence).
    let one = ramp(8037, 0);
    let prompts = vec![one; 3600];
    let start = 5_000_000u64;
    let mut player = Player::new(prompts, start);
    assert_eq!(player.total_frames(), 180_833);
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut frames = 0u64;
    let mut samples_checked = 0u64;
    while let Some(deadline) = player.next_deadline() {
        // Wake up late by 0–7 ms, as a busy runtime would.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let now = deadline + rng % 7_000;
        // Nothing comes out early.
        assert_eq!(player.poll(deadline - 1), None);
        while let Some(event) = player.poll(now) {
            match event {
                PlayerEvent::Frame(frame) => {
                    assert_eq!(frame.index, frames);
                    assert_eq!(frame.deadline_us, start + frames * 20_000);
                    // Gapless: sample k of the sequence is (k mod 8037).
                    let k = frames * 160;
                    for (j, s) in frame.samples.iter().enumerate() {
                        let pos = k + j as u64;
                        let expected = if pos < 28_933_200 {
                            (pos % 8037) as i16
                        } else {
                            0
                        };
                        assert_eq!(*s, expected, "frame {frames} sample {j}");
                        samples_checked += 1;
                    }
                    frames += 1;
                }
                PlayerEvent::Finished(how) => {
                    assert_eq!(how, Finish::Completed);
                    assert_eq!(now, deadline + rng % 7_000);
                    assert!(now >= start + 180_833 * 20_000);
                }
            }
        }
    }
    assert_eq!(frames, 180_833);
    assert_eq!(samples_checked, 180_833 * 160);
    assert_eq!(player.finished(), Some(Finish::Completed));
    assert_eq!(player.poll(u64::MAX), None);
}

#[test]
fn player_catches_up_after_a_stall_on_the_grid() {
    let mut player = Player::new(vec![ramp(1600, 0)], 0);
    // Stalled for 105 ms: frames 0..=5 are due, each with its deadline.
    let mut deadlines = Vec::new();
    while let Some(PlayerEvent::Frame(f)) = player.poll(105_000) {
        deadlines.push(f.deadline_us);
    }
    assert_eq!(deadlines, vec![0, 20_000, 40_000, 60_000, 80_000, 100_000]);
    assert_eq!(player.next_deadline(), Some(120_000));
}

#[test]
fn player_sequence_is_gapless_and_pads_the_end() {
    let mut player = Player::new(vec![ramp(100, 1000), ramp(100, 2000)], 0);
    assert_eq!(player.total_frames(), 2);
    let Some(PlayerEvent::Frame(a)) = player.poll(0) else {
        panic!("frame 0");
    };
    assert_eq!(a.samples[99], 1099);
    assert_eq!(a.samples[100], 2000);
    assert_eq!(a.samples[159], 2059);
    let Some(PlayerEvent::Frame(b)) = player.poll(20_000) else {
        panic!("frame 1");
    };
    assert_eq!(b.samples[39], 2099);
    assert!(b.samples[40..].iter().all(|s| *s == 0));
    assert_eq!(player.poll(39_999), None);
    assert_eq!(
        player.poll(40_000),
        Some(PlayerEvent::Finished(Finish::Completed))
    );
    assert_eq!(player.poll(40_000), None);
}

#[test]
fn player_stops_on_barge_in() {
    let mut player = Player::new(vec![ramp(8000, 0)], 1_000);
    for i in 0..10u64 {
        assert!(matches!(
            player.poll(1_000 + i * 20_000),
            Some(PlayerEvent::Frame(_))
        ));
    }
    player.stop();
    assert_eq!(player.finished(), Some(Finish::Stopped));
    // The end is due at once, reported once, then nothing more.
    assert!(player.next_deadline().unwrap() <= 1_000 + 10 * 20_000);
    assert_eq!(
        player.poll(1_000 + 10 * 20_000),
        Some(PlayerEvent::Finished(Finish::Stopped))
    );
    assert_eq!(player.poll(u64::MAX), None);
    assert_eq!(player.next_deadline(), None);
    assert_eq!(player.frames_played(), 10);
    // Stopping again changes nothing.
    player.stop();
    assert_eq!(player.finished(), Some(Finish::Stopped));
}

#[test]
fn empty_sequence_finishes_at_once() {
    let mut player = Player::new(Vec::new(), 7);
    assert_eq!(player.total_frames(), 0);
    assert_eq!(player.poll(6), None);
    assert_eq!(
        player.poll(7),
        Some(PlayerEvent::Finished(Finish::Completed))
    );
}

#[test]
fn frames_encode_to_either_law() {
    use crate::media::g711::Law;
    let mut player = Player::new(vec![ramp(160, -80)], 0);
    let Some(PlayerEvent::Frame(frame)) = player.poll(0) else {
        panic!("frame");
    };
    for law in [Law::Ulaw, Law::Alaw] {
        let mut payload = [0u8; 160];
        assert_eq!(frame.encode(law, &mut payload), 160);
        for (code, pcm) in payload.iter().zip(frame.samples) {
            assert_eq!(*code, law.encode_sample(pcm));
            // G.711 keeps small values within a quantisation step.
            assert!(
                (law.decode_sample(*code) - pcm).abs() <= 16,
                "{law:?} {pcm}"
            );
        }
    }
}
