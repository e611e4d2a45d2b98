//! Real audio through the real server: SIPp calls the demo route, plays
//! a known G.711 recording (`g711a.pcap`, A-law, 30 ms packets) and then
//! the RFC 4733 digits 1, 2 and # from pcaps. Checked, as a user would:
//! Hibiki detects exactly those digits, reads them back and hangs up after
//! `#`; the call's WAV exists with its row closed; its left channel is the
//! caller's audio (normalised cross-correlation with the decoded pcap of at
//! least 0.9) and its right channel is the prompt Hibiki played.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{free_udp_port, Calls, ServerConfig, TestServer};
use hibiki::media::g711::alaw_to_linear;
use hibiki::store::{Outcome, RecordingStatus};

const PCAP: &str = "/usr/share/sip-tester/g711a.pcap";

fn demo_server() -> ServerConfig {
    let prompts = Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-flows/prompts");
    // A port range of its own, so tests running side by side do not meet.
    let base = 30_000 + 2 * (rand::random::<u16>() % 14_000);
    ServerConfig {
        routes: r#"
[[trunks]]
name = "carrier"
[trunks.inbound]
sources = ["127.0.0.1/32"]

[[routes]]
number = "100"
action = "demo"
"#
        .to_owned(),
        env: vec![
            (
                "HIBIKI_MEDIA_PROMPTS_DIR".into(),
                prompts.display().to_string(),
            ),
            ("HIBIKI_MEDIA_PORT_MIN".into(), base.to_string()),
            ("HIBIKI_MEDIA_PORT_MAX".into(), (base + 98).to_string()),
        ],
        ..ServerConfig::default()
    }
}

/// The RTP payloads of a pcap of Ethernet/IPv4/UDP/RTP packets, in order.
fn pcap_payloads(path: &str) -> Vec<Vec<u8>> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= data.len() {
        let incl = u32::from_le_bytes(data[off + 8..off + 12].try_into().unwrap()) as usize;
        off += 16;
        let frame = &data[off..off + incl];
        off += incl;
        let ip = &frame[14..];
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let rtp = &ip[ihl + 8..];
        let cc = usize::from(rtp[0] & 0x0f);
        out.push(rtp[12 + 4 * cc..].to_vec());
    }
    out
}

fn ncc(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let ea: f64 = a.iter().map(|x| x * x).sum();
    let eb: f64 = b.iter().map(|x| x * x).sum();
    dot / (ea * eb).sqrt().max(1e-9)
}

/// The best normalised cross-correlation of `reference` inside `signal`
/// over offsets `0..max_offset`, and its offset in samples.
fn best_alignment(signal: &[f64], reference: &[f64], max_offset: usize) -> (f64, usize) {
    let mut best = (f64::MIN, 0);
    let coarse = 4;
    let mut off = 0;
    while off < max_offset && off + reference.len() <= signal.len() {
        let c = ncc(&signal[off..off + reference.len()], reference);
        if c > best.0 {
            best = (c, off);
        }
        off += coarse;
    }
    let centre = best.1;
    for off in centre.saturating_sub(coarse)..centre + coarse {
        if off + reference.len() <= signal.len() {
            let c = ncc(&signal[off..off + reference.len()], reference);
            if c > best.0 {
                best = (c, off);
            }
        }
    }
    best
}

fn find_wavs(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            found.extend(find_wavs(&p));
        } else if p.extension().is_some_and(|x| x == "wav") {
            found.push(p);
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn caller_audio_and_digits_are_heard_read_back_and_recorded() {
    assert!(
        Path::new(PCAP).exists(),
        "{PCAP} is missing: install Debian's sip-tester (./scripts/test.sh does)"
    );
    let server = TestServer::start_with(demo_server()).await;
    let media_port = free_udp_port("127.0.0.1").to_string();
    let res = server
        .sipp("uac_media", &["-mp", &media_port, "-timeout", "60s"])
        .await;
    // SIPp succeeds only if Hibiki hung up with BYE after '#'.
    res.assert_ok();
    let ids = res.call_ids();
    assert_eq!(ids.len(), 1, "{ids:?}");

    let rows = server
        .wait_for_calls(Calls::SipCallId(&ids[0]), Duration::from_secs(15))
        .await;
    let call = &rows[0];
    assert_eq!(call.outcome, Some(Outcome::Answered), "{call:#?}");
    assert_eq!(call.hangup_cause.as_deref(), Some("normal"), "{call:#?}");

    // Exactly the digits sent, in order, each once.
    let log = server.stderr_text();
    let digits: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(&call.id) && l.contains("dtmf digit"))
        .filter_map(|l| l.split("digit=").nth(1))
        .map(|rest| rest.split_whitespace().next().unwrap_or(""))
        .collect();
    assert_eq!(digits, ["1", "2", "#"], "{}", server.logs());

    // The recording's row, closed, and its file.
    let store = server.store().await;
    let mut recordings = Vec::new();
    for _ in 0..100 {
        recordings = store.recordings_for_call(&call.id).await.unwrap();
        if recordings
            .first()
            .is_some_and(|r| r.status == RecordingStatus::Closed)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(recordings.len(), 1, "{recordings:#?}");
    let rec = &recordings[0];
    assert_eq!(rec.status, RecordingStatus::Closed, "{rec:#?}");
    assert_eq!((rec.channels, rec.sample_rate), (2, 8000));
    assert!(rec.sha256.as_ref().is_some_and(|h| h.len() == 64));
    let wavs = find_wavs(server.dir());
    let wav = wavs
        .iter()
        .find(|p| p.ends_with(&rec.path))
        .unwrap_or_else(|| panic!("{} not among {wavs:?}", rec.path));
    assert_eq!(std::fs::metadata(wav).unwrap().len(), rec.bytes);

    let mut reader = hound::WavReader::open(wav).unwrap();
    let spec = reader.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 8000, 16)
    );
    let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    let left: Vec<f64> = samples.iter().step_by(2).map(|&s| f64::from(s)).collect();
    let right: Vec<f64> = samples
        .iter()
        .skip(1)
        .step_by(2)
        .map(|&s| f64::from(s))
        .collect();
    let seconds = left.len() as f64 / 8000.0;
    assert!(
        (rec.duration_ms as f64 / 1000.0 - seconds).abs() < 0.1,
        "row says {} ms, file holds {seconds} s",
        rec.duration_ms
    );

    // Left: the caller's audio, as sent (A-law decoded), near the start.
    let sent: Vec<f64> = pcap_payloads(PCAP)
        .iter()
        .flatten()
        .map(|&b| f64::from(alaw_to_linear(b)))
        .collect();
    let (c, offset) = best_alignment(&left, &sent, 8000);
    eprintln!("left vs sent: NCC {c:.3} at {offset} samples");
    assert!(
        c >= 0.9,
        "left channel vs sent audio: NCC {c:.3} at {offset} samples"
    );
    // No drift: the second half of the audio sits exactly half a length
    // after the first (within 1 ms).
    let half = sent.len() / 2;
    let (c2, offset2) = best_alignment(&left[offset + half - 400..], &sent[half..], 800);
    let drift = (offset2 as i64 - 400).abs();
    assert!(
        c2 >= 0.9 && drift <= 8,
        "second half: NCC {c2:.3}, drift {drift} samples"
    );

    // Right: the welcome prompt, played from the answer on.
    let prompts = Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-flows/prompts/en");
    let welcome = hibiki::media::prompt::Prompt::load(&prompts.join("welcome.wav")).unwrap();
    let welcome: Vec<f64> = welcome.pcm().iter().map(|&s| f64::from(s)).collect();
    let (c, offset) = best_alignment(&right, &welcome, 8000);
    eprintln!("right vs welcome: NCC {c:.3} at {offset} samples");
    assert!(
        c >= 0.9,
        "right channel vs the welcome prompt: NCC {c:.3} at {offset} samples"
    );
    // And the caller's audio is not on the right, nor the prompt on the left.
    assert!(
        ncc(
            &right[..sent.len().min(right.len())],
            &sent[..sent.len().min(right.len())]
        ) < 0.5
    );
}
