//! In-band DTMF against real audio made by real tools: speech from
//! espeak-ng and music from sox must give no digit, and tones made by sox
//! must give exactly their digits. Everything goes through G.711 µ-law on
//! the way, as it would on a trunk.
//!
//! The tools are Debian packages (`espeak-ng`, `sox`); without them these
//! tests print `SKIPPED: …` and pass, unless `HIBIKI_TEST_REQUIRE_TOOLS=1`
//! (CI) makes them fail.

use std::path::{Path, PathBuf};
use std::process::Command;

use hibiki::media::dtmf::InbandDetector;
use hibiki::media::g711::{linear_to_ulaw, ulaw_to_linear};

/// True when `tool` runs; otherwise skips (or fails when tools are
/// required).
fn have(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var("HIBIKI_TEST_REQUIRE_TOOLS").as_deref() == Ok("1") {
            panic!("{tool} not installed and HIBIKI_TEST_REQUIRE_TOOLS=1");
        }
        eprintln!("SKIPPED: {tool} not installed");
    }
    ok
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Converts any WAV to 8 kHz mono 16-bit with sox, and reads it.
fn to_8k(src: &Path, dir: &Path, name: &str) -> Vec<i16> {
    let dst = dir.join(format!("{name}-8k.wav"));
    run(Command::new("sox")
        .arg(src)
        .args(["-r", "8000", "-c", "1", "-b", "16"])
        .arg(&dst));
    read_wav(&dst)
}

fn read_wav(path: &Path) -> Vec<i16> {
    let mut r = hound::WavReader::open(path).unwrap();
    let spec = r.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (8000, 1, 16)
    );
    r.samples::<i16>().map(Result::unwrap).collect()
}

/// Through µ-law, then the detector in 20 ms frames.
fn detect(pcm: &[i16]) -> String {
    let mut det = InbandDetector::new();
    let mut out = String::new();
    for frame in pcm.chunks(160) {
        let frame: Vec<i16> = frame
            .iter()
            .map(|s| ulaw_to_linear(linear_to_ulaw(*s)))
            .collect();
        out.extend(det.push(&frame));
        out.extend(std::iter::from_fn(|| det.poll_digit()));
    }
    out.extend(det.push(&[0; 4000]));
    out
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn speech_gives_no_digits() {
    if !have("espeak-ng") || !have("sox") {
        return;
    }
    let dir = tmp();
    let texts = [
        "Thank you for calling. Your call is important to us. Please hold \
         while we connect you to the next available agent.",
        "Your account number is four five six, seven eight nine, one two \
         three. The balance is one thousand two hundred and thirty four \
         dollars and fifty six cents.",
        "Press one for sales, two for support, or nine to hear these \
         options again. Say zero zero seven, or dial one eight hundred, \
         five five five, zero one nine nine.",
        "Seventeen, seventy, eighty eight, ninety nine, hash, star, eleven \
         twelve thirteen. Hello? Hello! Is anyone there? Mmmmm, ahhhh, \
         eeeee, oooooh.",
    ];
    let voices = ["en", "en-us+f3", "en+m3", "de"];
    let mut total = 0;
    for (i, (text, voice)) in texts.iter().zip(voices).enumerate() {
        let raw = dir.path().join(format!("speech{i}.wav"));
        run(Command::new("espeak-ng")
            .args(["-v", voice, "-s", "150", "-w"])
            .arg(&raw)
            .arg(text));
        let pcm = to_8k(&raw, dir.path(), &format!("speech{i}"));
        total += pcm.len();
        // louder and quieter copies too: levels must not matter
        for gain in [1.0f32, 3.0, 0.3] {
            let scaled: Vec<i16> = pcm
                .iter()
                .map(|s| (f32::from(*s) * gain).clamp(-32768.0, 32767.0) as i16)
                .collect();
            assert_eq!(detect(&scaled), "", "speech {i} ({voice}) at ×{gain}");
        }
    }
    assert!(
        total > 8000 * 20,
        "at least 20 s of speech ({total} samples)"
    );
}

#[test]
fn music_gives_no_digits() {
    if !have("sox") {
        return;
    }
    let dir = tmp();
    // A progression of plucked and sine chords, including notes within
    // 0.2 % of DTMF frequencies (F5 ≈ 697 Hz, F#6 ≈ 1477 Hz).
    let chords: [&[&str]; 8] = [
        &["C4", "E4", "G4"],
        &["F5", "A5", "C6"],
        &["F5", "F#6", "A6"],
        &["G4", "B4", "D5", "F5"],
        &["A4", "C5", "E5"],
        &["D5", "F#5", "A5"],
        &["F#5", "A#5", "C#6", "F#6"],
        &["G5", "B5", "D6"],
    ];
    let mut parts: Vec<PathBuf> = Vec::new();
    for (i, chord) in chords.iter().enumerate() {
        for kind in ["pluck", "sine", "square"] {
            let out = dir.path().join(format!("chord{i}-{kind}.wav"));
            let mut cmd = Command::new("sox");
            cmd.args(["-n", "-r", "8000", "-b", "16"]).arg(&out);
            cmd.args(["synth", "0.6"]);
            for note in chord.iter() {
                cmd.args([kind, note]);
            }
            // mix the notes down to one channel, leave headroom
            cmd.args(["remix", "-", "gain", "-n", "-3"]);
            run(&mut cmd);
            parts.push(out);
        }
    }
    let mut total = 0;
    for p in &parts {
        let pcm = read_wav(p);
        total += pcm.len();
        assert_eq!(detect(&pcm), "", "{}", p.display());
    }
    // and all of it as one stream
    let all: Vec<i16> = parts.iter().flat_map(|p| read_wav(p)).collect();
    assert_eq!(all.len(), total);
    assert_eq!(detect(&all), "");
}

#[test]
fn sox_tones_give_their_digits() {
    if !have("sox") {
        return;
    }
    let dir = tmp();
    let keys = [
        ('1', 697, 1209),
        ('5', 770, 1336),
        ('9', 852, 1477),
        ('#', 941, 1477),
        ('D', 941, 1633),
        ('0', 941, 1336),
    ];
    let mut all = Vec::new();
    for (d, low, high) in keys {
        let out = dir.path().join(format!("tone-{low}-{high}.wav"));
        run(Command::new("sox")
            .args(["-n", "-r", "8000", "-b", "16", "-c", "1"])
            .arg(&out)
            .args(["synth", "0.06", "sine", &low.to_string(), "sine"])
            .arg(high.to_string())
            .args(["remix", "-", "gain", "-n", "-10", "pad", "0", "0.06"]));
        let pcm = read_wav(&out);
        assert_eq!(detect(&pcm), d.to_string(), "sox tone {d}");
        all.extend(pcm);
    }
    let expected: String = keys.iter().map(|k| k.0).collect();
    assert_eq!(detect(&all), expected);
}
