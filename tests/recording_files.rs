//! `recording_survives_kill`: a real `kill -9` of a process in the middle
//! of writing a recording, then the file checked with hound and sox before
//! and after `repair`.
//!
//! The victim is this test binary itself, started again with
//! `--ignored --exact kill_victim_writes_until_killed` and
//! `HIBIKI_TEST_RECORDING_VICTIM=<path>`: it records 3 s of audio as fast
//! as it can, says `RECORDING-VICTIM-READY`, then keeps recording in real
//! time until the parent kills it with SIGKILL.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use hibiki::media::recording::{repair, Recorder, RecordingFile, Side, Timeline};

const VICTIM_ENV: &str = "HIBIKI_TEST_RECORDING_VICTIM";
const FRAME_US: u64 = 20_000;

/// The tone both sides "speak": frame `k`, sample `i` → a value that
/// says where it belongs.
fn samples(k: u64, side: Side) -> [i16; 160] {
    let base = ((k % 200) * 100) as i16;
    let sign = if side == Side::Caller { 1 } else { -1 };
    std::array::from_fn(|i| sign * (base + i as i16 % 100))
}

#[test]
#[ignore = "the child process of recording_survives_kill; does nothing on its own"]
fn kill_victim_writes_until_killed() {
    let Ok(path) = std::env::var(VICTIM_ENV) else {
        return;
    };
    let file = RecordingFile::create(&path, "victim").unwrap();
    let mut rec = Recorder::new(Timeline::new(0), file);
    let mut k = 0u64;
    let step = |rec: &mut Recorder, k: &mut u64| {
        let at = *k * FRAME_US;
        rec.push(Side::Caller, at, &samples(*k, Side::Caller));
        rec.push(Side::Other, at, &samples(*k, Side::Other));
        rec.tick(at + FRAME_US).unwrap();
        *k += 1;
    };
    while k < 150 {
        step(&mut rec, &mut k);
    }
    // libtest prints "test <name> ... " on the same line first.
    println!("\nRECORDING-VICTIM-READY");
    std::io::stdout().flush().unwrap();
    loop {
        step(&mut rec, &mut k);
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sox_samples(path: &Path) -> Option<u64> {
    match Command::new("sox").arg("--i").arg("-s").arg(path).output() {
        Ok(out) => {
            assert!(
                out.status.success(),
                "sox --i failed: {}",
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
            assert!(
                std::env::var("HIBIKI_TEST_REQUIRE_TOOLS").as_deref() != Ok("1"),
                "sox is not installed ({e}) and HIBIKI_TEST_REQUIRE_TOOLS=1"
            );
            eprintln!(
                "!!! SKIPPING the sox checks: sox is not installed ({e}); apt-get install sox"
            );
            None
        }
    }
}

#[test]
fn recording_survives_kill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec/victim.wav");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "kill_victim_writes_until_killed",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(VICTIM_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.trim() == "RECORDING-VICTIM-READY" {
                let _ = tx.send(());
            }
        }
    });
    let ready = rx.recv_timeout(Duration::from_secs(120));
    child.kill().unwrap(); // SIGKILL on Unix
    let status = child.wait().unwrap();
    assert!(ready.is_ok(), "the victim never said READY ({status})");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status}");
    }

    // As the kill left it: hound reads it, up to about the last second.
    let mut reader = hound::WavReader::open(&path).unwrap();
    let before = reader.duration();
    let read: Vec<i16> = reader.samples::<i16>().map(|s| s.unwrap()).collect();
    assert_eq!(read.len() as u64, u64::from(before) * 2);
    assert!(
        before >= 2 * 8000,
        "3 s were written before READY, the header says {before} frames"
    );
    if let Some(n) = sox_samples(&path) {
        assert_eq!(n, u64::from(before), "sox reads what hound reads");
    }

    let fixed = repair(&path).unwrap();
    let after = hound::WavReader::open(&path).unwrap().duration();
    assert!(after >= before);
    assert!(
        after - before < 8000 + 1024,
        "the header lagged by at most a second (+ the 4 KB buffer): {before} → {after}"
    );
    assert_eq!(fixed.duration_ms, u64::from(after) / 8);
    if let Some(n) = sox_samples(&path) {
        assert_eq!(n, u64::from(after), "sox and hound agree after repair");
    }
    // The content is what the victim wrote, frame by frame.
    let mut reader = hound::WavReader::open(&path).unwrap();
    let all: Vec<i16> = reader.samples::<i16>().map(|s| s.unwrap()).collect();
    for (i, pair) in all.chunks_exact(2).enumerate() {
        let (k, j) = (i as u64 / 160, i % 160);
        let want = [samples(k, Side::Caller)[j], samples(k, Side::Other)[j]];
        assert_eq!(pair, want, "sample frame {i}");
    }
}
