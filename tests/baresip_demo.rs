//! A real softphone calls the demo number: baresip (headless, see
//! `tests/common/baresip.rs`) dials `sip:100@<hibiki>`, sends a few
//! seconds of speech made by espeak-ng as its microphone, waits for the
//! welcome prompt to end, presses 1, 2 and # (RFC 4733 events), and Hibiki
//! hangs up after "goodbye". Checked, as a user would:
//!
//! - Hibiki heard exactly 1, 2, # once each, as RFC 4733 events, and the
//!   call record says answered, ended normally — by Hibiki (baresip never
//!   hung up and Hibiki's log has no "caller hung up");
//! - the recording's row is closed and its WAV is stereo 8 kHz 16-bit;
//!   the left channel is the speech baresip sent, the right channel the
//!   welcome prompt followed later by "pound, goodbye";
//! - baresip itself received the welcome prompt.
//!
//! Once over PCMU and once over PCMA (the only codec offered).
//!
//! Needs baresip, espeak-ng and sox (Debian packages); without them the
//! tests print `SKIPPED` and pass, unless `HIBIKI_TEST_REQUIRE_TOOLS=1`
//! (`./scripts/test.sh`, CI) makes them fail.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::baresip::{Baresip, BaresipConfig, Dump};
use common::media::{
    best_alignment, demo_server, dtmf_digits, piecewise_alignment, prompt_samples, read_wav,
    recording_file, recordings_once_closed, split_stereo,
};
use common::{have_tool, Calls, TestServer};
use hibiki::store::{Outcome, RecordingStatus};

/// Samples per second everywhere in this test.
const RATE: usize = 8000;
/// What baresip says into the call.
const SPEECH: &str = "This is baresip calling Hibiki's demo number. One, two, pound.";
/// Silence after the speech, so the microphone outlasts the call: baresip
/// sends its RFC 4733 events from its audio path, which needs a source.
const TRAILING_SILENCE_SECONDS: usize = 40;
/// Where the caller's speech may start in the recording's left channel,
/// in samples after the recording's start (0 to 3 s). The recording
/// starts when Hibiki sends its 200 OK; baresip starts its microphone
/// only once it has handled that answer, and Hibiki places the stream
/// from the arrival of its first packet. Measured: 1 to 3 ms on an idle
/// machine, 40 ms with four busy loops on two cores; 3 s is far beyond
/// that and still well inside the 13 s call. (baresip's jitter buffer is
/// on its receiving side only: it does not delay what it sends.)
const LEFT_MAX_OFFSET: usize = 3 * RATE;
/// The windows (200 ms) in which a reference may slip against a signal.
const WINDOW: usize = RATE / 5;
/// How far each window of the speech may slip in the left channel from
/// where the previous one was found: 10 ms. Hibiki places the caller's
/// packets by their RTP timestamps, anchored on the fastest arrival so far
/// (`StreamClock`, src/media/recording/timeline.rs): while that anchor
/// settles at the start of the stream, and whenever a faster path shows
/// up, the audio after it moves earlier by the difference — a few samples
/// on loopback (measured: 3 to 10 in the first half-second), more on a
/// busy machine; a sender whose clock runs off nominal moves it a sample
/// at a time. One offset for the whole speech would then understate the
/// match badly: at 8 kHz, this speech against itself shifted by one
/// sample correlates at 0.76, by two at 0.47.
const LEFT_MAX_SLIP: usize = RATE / 100;
/// Where the welcome prompt may start on the recording's right channel:
/// Hibiki writes what it plays at its own deadlines, from the answer on.
const RIGHT_MAX_OFFSET: usize = RATE;
/// The part of the welcome prompt looked for in what baresip received,
/// from this many samples in (0.5 s): RTP that reaches baresip before it
/// has handled the 200 OK may go undecoded, so the dump may begin a little
/// way into the prompt.
const RECEIVED_SKIP: usize = RATE / 2;
/// Where that part may start in baresip's received dump (0 to 1 s: with
/// nothing lost it is at 0.5 s exactly, as measured).
const RECEIVED_MAX_OFFSET: usize = RATE;
/// How far each window of the prompt may slip in the received dump: 3
/// frames. The dump is the frames that came out of baresip's jitter
/// buffer, decoded, back to back with no silence for a gap: a frame the
/// buffer drops (one that came too late, on a busy machine) moves
/// everything after it 20 ms earlier.
const RECEIVED_MAX_SLIP: usize = 3 * 160;
/// The NCC required of baresip's received dump against the welcome
/// prompt, looser than the 0.9 of the recording: a frame dropped inside a
/// window spoils part of that window (measured on an idle machine: 1.000).
/// 0.8 leaves room for a few; silence scores 0 and audio that is not the
/// prompt under 0.3 (checked below with the speech, which baresip sent
/// but never received), so it still fails when the prompt did not arrive.
const RECEIVED_MIN_NCC: f64 = 0.8;
/// The most a signal may match audio it does not hold, with the same
/// alignment search.
const UNRELATED_MAX_NCC: f64 = 0.3;

#[tokio::test(flavor = "multi_thread")]
async fn baresip_calls_the_demo_over_pcmu() {
    call_the_demo(&["PCMU/8000/1", "PCMA/8000/1"], "Pcmu").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn baresip_calls_the_demo_over_pcma() {
    call_the_demo(&["PCMA/8000/1"], "Pcma").await;
}

/// One call from baresip offering `codecs`; Hibiki must pick `codec` (as
/// its log names it).
async fn call_the_demo(codecs: &[&str], codec: &str) {
    if !Baresip::available()
        || !have_tool("espeak-ng", &["--version"], "espeak-ng")
        || !have_tool("sox", &["--version"], "sox")
    {
        return;
    }
    let work = tempfile::tempdir().expect("temp dir");
    let (source, speech) = microphone(work.path());

    let server = TestServer::start_with(demo_server()).await;
    let mut phone = Baresip::start(&BaresipConfig {
        source,
        codecs: codecs.iter().map(|c| (*c).to_owned()).collect(),
    })
    .await;

    phone.dial(&format!("sip:100@{}", server.sip)).await;
    let established = phone
        .wait_event("CALL_ESTABLISHED", Duration::from_secs(20))
        .await;
    let sip_call_id = established["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no call id in {established}"))
        .to_owned();

    // Let the welcome prompt play to its end (a digit would cut it short),
    // then press 1, 2 and # with some room between them.
    let welcome = prompt_samples("welcome");
    let welcome_len = Duration::from_millis((welcome.len() * 1000 / RATE) as u64);
    tokio::time::sleep(welcome_len + Duration::from_millis(1500)).await;
    for digit in ['1', '2', '#'] {
        phone.send_digit(digit).await;
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
    // Hibiki reads '#' back, says goodbye and hangs up; baresip is never
    // told to hang up, so a closed call is Hibiki's BYE.
    let closed = phone
        .wait_event("CALL_CLOSED", Duration::from_secs(30))
        .await;
    assert_eq!(
        closed["id"].as_str(),
        Some(sip_call_id.as_str()),
        "{closed}"
    );
    // Quitting closes baresip's dump files.
    phone.quit(Duration::from_secs(10)).await;

    // The call record.
    let rows = server
        .wait_for_calls(Calls::SipCallId(&sip_call_id), Duration::from_secs(15))
        .await;
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let call = &rows[0];
    assert_eq!(call.outcome, Some(Outcome::Answered), "{call:#?}");
    assert_eq!(call.hangup_cause.as_deref(), Some("normal"), "{call:#?}");
    let log = server.stderr_text();
    let call_lines: Vec<&str> = log.lines().filter(|l| l.contains(&call.id)).collect();
    assert!(
        !call_lines.iter().any(|l| l.contains("caller hung up")),
        "Hibiki, not baresip, ends the call:\n{}",
        call_lines.join("\n")
    );
    assert!(
        call_lines
            .iter()
            .any(|l| l.contains("answered with media") && l.contains(&format!("codec={codec}"))),
        "answered with {codec}:\n{}",
        call_lines.join("\n")
    );

    // Exactly the digits pressed, in order, each once, as RFC 4733 events.
    let expected: Vec<(String, String)> = ["1", "2", "#"]
        .iter()
        .map(|d| ((*d).to_owned(), "rfc4733".to_owned()))
        .collect();
    assert_eq!(
        dtmf_digits(&log, &call.id),
        expected,
        "{}",
        call_lines.join("\n")
    );

    // The recording: row closed, file there, stereo 8 kHz 16-bit.
    let recordings = recordings_once_closed(&server, &call.id).await;
    assert_eq!(recordings.len(), 1, "{recordings:#?}");
    let rec = &recordings[0];
    assert_eq!(rec.status, RecordingStatus::Closed, "{rec:#?}");
    assert_eq!((rec.channels, rec.sample_rate), (2, 8000), "{rec:#?}");
    let wav = recording_file(&server, rec);
    assert_eq!(std::fs::metadata(&wav).unwrap().len(), rec.bytes);
    let (spec, samples) = read_wav(&wav);
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 8000, 16)
    );
    let (left, right) = split_stereo(&samples);

    // baresip sent our speech, from its start (so a mismatch below is not
    // baresip's doing).
    let (_, sent) = read_wav(&phone.dump(Dump::Sent));
    let sent: Vec<f64> = sent.iter().map(|&s| f64::from(s)).collect();
    let (c, offset) = best_alignment(&sent, &speech, 160);
    assert!(
        c >= 0.99,
        "baresip's sent dump vs the speech: NCC {c:.3} at {offset}"
    );

    // Left: the speech baresip sent, and not the prompt.
    let a = piecewise_alignment(&left, &speech, LEFT_MAX_OFFSET, WINDOW, LEFT_MAX_SLIP);
    eprintln!("left vs speech: {a:?}");
    assert!(
        a.ncc >= 0.9,
        "left channel vs the speech baresip sent: {a:?}"
    );
    // (Were the prompt leaking onto the left, it would sit where it does on
    // the right: within a second of the start.)
    let a = piecewise_alignment(&left, &welcome, RIGHT_MAX_OFFSET, WINDOW, LEFT_MAX_SLIP);
    eprintln!("left vs welcome: NCC {:.3}", a.ncc);
    assert!(
        a.ncc < UNRELATED_MAX_NCC,
        "the welcome prompt on the left: {a:?}"
    );

    // Right: the welcome prompt from the answer on, and later "pound,
    // goodbye" (the last prompts, which nothing interrupts).
    let (c, offset) = best_alignment(&right, &welcome, RIGHT_MAX_OFFSET);
    eprintln!("right vs welcome: NCC {c:.3} at {offset} samples");
    assert!(
        c >= 0.9,
        "right channel vs the welcome prompt: NCC {c:.3} at {offset} samples"
    );
    let farewell: Vec<f64> = prompt_samples("digit-pound")
        .into_iter()
        .chain(prompt_samples("goodbye"))
        .collect();
    let after_welcome = &right[offset + welcome.len()..];
    let (c, at) = best_alignment(after_welcome, &farewell, after_welcome.len());
    eprintln!("right vs pound+goodbye: NCC {c:.3} at {at} samples after the welcome");
    assert!(
        c >= 0.9,
        "right channel vs \"pound, goodbye\": NCC {c:.3} at {at} samples after the welcome"
    );

    // What baresip received: the welcome prompt.
    let (spec, received) = read_wav(&phone.dump(Dump::Received));
    assert_eq!((spec.channels, spec.sample_rate), (1, 8000));
    let received: Vec<f64> = received.iter().map(|&s| f64::from(s)).collect();
    let a = piecewise_alignment(
        &received,
        &welcome[RECEIVED_SKIP..],
        RECEIVED_MAX_OFFSET,
        WINDOW,
        RECEIVED_MAX_SLIP,
    );
    eprintln!(
        "baresip received vs welcome: NCC {:.3} from {}",
        a.ncc, a.start
    );
    assert!(
        a.ncc >= RECEIVED_MIN_NCC,
        "what baresip received vs the welcome prompt: {a:?}"
    );
    let a = piecewise_alignment(
        &received,
        &speech,
        RECEIVED_MAX_OFFSET,
        WINDOW,
        RECEIVED_MAX_SLIP,
    );
    eprintln!("baresip received vs its own speech: NCC {:.3}", a.ncc);
    assert!(
        a.ncc < UNRELATED_MAX_NCC,
        "baresip received its own speech? {a:?}"
    );
}

/// Writes baresip's microphone, `microphone.wav` in `dir`: [`SPEECH`]
/// spoken by espeak-ng, as 8 kHz mono 16-bit, then silence. Returns its
/// path and the speech alone.
fn microphone(dir: &Path) -> (PathBuf, Vec<f64>) {
    let spoken = dir.join("speech.wav");
    let speech_8k = dir.join("speech-8k.wav");
    run(Command::new("espeak-ng").arg("-w").arg(&spoken).arg(SPEECH));
    run(Command::new("sox")
        .arg(&spoken)
        .args(["-r", "8000", "-c", "1", "-b", "16"])
        .arg(&speech_8k));
    let (spec, speech) = read_wav(&speech_8k);
    assert_eq!((spec.channels, spec.sample_rate), (1, 8000));
    assert!(
        speech.len() > 2 * RATE,
        "espeak-ng spoke for {} samples",
        speech.len()
    );

    let path = dir.join("microphone.wav");
    let mut writer = hound::WavWriter::create(&path, spec).expect("create microphone.wav");
    for &s in speech
        .iter()
        .chain(std::iter::repeat_n(&0, TRAILING_SILENCE_SECONDS * RATE))
    {
        writer.write_sample(s).expect("write microphone.wav");
    }
    writer.finalize().expect("finish microphone.wav");
    (path, speech.iter().map(|&s| f64::from(s)).collect())
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
