//! What the media tests share: a server with the demo route, and the
//! checks a user relies on after a call — the digits Hibiki heard (from
//! its log), the call's recording (row closed, WAV found and read), and
//! how well a channel matches a known signal (normalised
//! cross-correlation at the best offset).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hibiki::store::{RecordingRecord, RecordingStatus};

use super::{ServerConfig, TestServer};

/// How long a recording's row gets to be closed after its call ended.
const RECORDING_CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// A server whose number `100` is the demo route (prompts from
/// `ivr-flows/prompts`, recording on, as by default), with an RTP port
/// range of its own so tests running side by side do not meet.
pub fn demo_server() -> ServerConfig {
    let prompts = Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-flows/prompts");
    let mut env = vec![(
        "HIBIKI_MEDIA_PROMPTS_DIR".into(),
        prompts.display().to_string(),
    )];
    env.extend(media_ports_env());
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
        env,
        ..ServerConfig::default()
    }
}

/// The first port of a test server's RTP range: random, so servers of
/// tests running side by side rarely share ports, and in 10000-31998, so
/// the range (99 ports) stays below the kernel's ephemeral ports
/// (32768-60999 on Linux), which the SIPp, baresip and `:0` sockets of
/// other tests take (a call whose port is taken gets 503).
pub fn media_port_base() -> u16 {
    10_000 + 2 * (rand::random::<u16>() % 11_000)
}

/// `HIBIKI_MEDIA_PORT_MIN/MAX` for 99 ports from [`media_port_base`].
pub fn media_ports_env() -> Vec<(String, String)> {
    let base = media_port_base();
    vec![
        ("HIBIKI_MEDIA_PORT_MIN".into(), base.to_string()),
        ("HIBIKI_MEDIA_PORT_MAX".into(), (base + 98).to_string()),
    ]
}

/// The samples of one of the demo's English prompts (`welcome`,
/// `goodbye`, `digit-1`…) as Hibiki plays them: 8 kHz mono.
pub fn prompt_samples(name: &str) -> Vec<f64> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("ivr-flows/prompts/en")
        .join(format!("{name}.wav"));
    let prompt = hibiki::media::prompt::Prompt::load(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    prompt.pcm().iter().map(|&s| f64::from(s)).collect()
}

/// The digits Hibiki reported for call `call_id` (its own id), in order,
/// each with how it came (`rfc4733`, `sip-info`, `inband`), from the
/// server's `dtmf digit` log lines.
pub fn dtmf_digits(log: &str, call_id: &str) -> Vec<(String, String)> {
    log.lines()
        .filter(|l| l.contains(call_id) && l.contains("dtmf digit"))
        .map(|l| {
            let field = |k: &str| {
                l.split(k)
                    .nth(1)
                    .and_then(|r| r.split_whitespace().next())
                    .unwrap_or("")
                    .trim_matches('"')
                    .to_owned()
            };
            (field("digit="), field("via="))
        })
        .collect()
}

/// Waits (bounded) until the call's recording row is closed, and returns
/// the call's recording rows (whatever they are by then).
pub async fn recordings_once_closed(server: &TestServer, call_id: &str) -> Vec<RecordingRecord> {
    let store = server.store().await;
    let deadline = Instant::now() + RECORDING_CLOSE_TIMEOUT;
    loop {
        let rows = store
            .recordings_for_call(call_id)
            .await
            .expect("recordings_for_call");
        let closed = rows
            .first()
            .is_some_and(|r| r.status == RecordingStatus::Closed);
        if closed || Instant::now() > deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every `.wav` under `dir`, recursively.
pub fn find_wavs(dir: &Path) -> Vec<PathBuf> {
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

/// The WAV file of a recording row, found under the server's directory.
pub fn recording_file(server: &TestServer, rec: &RecordingRecord) -> PathBuf {
    let wavs = find_wavs(server.dir());
    wavs.iter()
        .find(|p| p.ends_with(&rec.path))
        .cloned()
        .unwrap_or_else(|| panic!("{} not among {wavs:?}", rec.path))
}

/// A 16-bit WAV: its spec and its samples, interleaved.
pub fn read_wav(path: &Path) -> (hound::WavSpec, Vec<i16>) {
    let mut reader =
        hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = reader.spec();
    let samples = reader
        .samples::<i16>()
        .collect::<Result<Vec<i16>, _>>()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (spec, samples)
}

/// The left and right channels of interleaved stereo samples.
pub fn split_stereo(samples: &[i16]) -> (Vec<f64>, Vec<f64>) {
    let left = samples.iter().step_by(2).map(|&s| f64::from(s)).collect();
    let right = samples
        .iter()
        .skip(1)
        .step_by(2)
        .map(|&s| f64::from(s))
        .collect();
    (left, right)
}

/// Normalised cross-correlation of two equally long signals: 1 for the
/// same shape at any gain, about 0 for unrelated ones.
pub fn ncc(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let ea: f64 = a.iter().map(|x| x * x).sum();
    let eb: f64 = b.iter().map(|x| x * x).sum();
    dot / (ea * eb).sqrt().max(1e-9)
}

/// The best normalised cross-correlation of `reference` inside `signal`
/// over offsets `0..max_offset`, and its offset in samples.
pub fn best_alignment(signal: &[f64], reference: &[f64], max_offset: usize) -> (f64, usize) {
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

/// [`best_alignment`] at every offset, not every fourth: for short
/// references with high-frequency content (music), whose correlation peak
/// is narrower than the coarse step.
pub fn exact_alignment(signal: &[f64], reference: &[f64]) -> (f64, usize) {
    let mut best = (f64::MIN, 0);
    for off in 0..signal.len().saturating_sub(reference.len()) {
        let c = ncc(&signal[off..off + reference.len()], reference);
        if c > best.0 {
            best = (c, off);
        }
    }
    best
}

/// How [`piecewise_alignment`] matched a reference inside a signal.
#[derive(Clone, Debug)]
pub struct Alignment {
    /// The normalised cross-correlation of the whole reference with the
    /// signal, each window taken at its own best offset.
    pub ncc: f64,
    /// Where the reference's first window starts in the signal.
    pub start: usize,
    /// Each window's offset minus the first one's, in samples.
    pub slips: Vec<i64>,
}

/// The normalised cross-correlation of `reference` with `signal` when the
/// reference may slip a little as it goes: its start is searched over
/// `0..max_offset`, then each `window` of it is taken at the best offset
/// within `max_slip` samples of where the previous voiced window was
/// found. For signals that lost or gained a few samples here and there
/// (a receiver re-anchoring its clock, a jitter buffer dropping a frame),
/// where one offset for the whole reference would understate the match.
/// Unrelated audio or silence still scores near 0.
pub fn piecewise_alignment(
    signal: &[f64],
    reference: &[f64],
    max_offset: usize,
    window: usize,
    max_slip: usize,
) -> Alignment {
    let (_, start) = best_alignment(signal, reference, max_offset);
    let energy = |x: &[f64]| x.iter().map(|v| v * v).sum::<f64>();
    let mean_window_energy = energy(reference) * window as f64 / reference.len().max(1) as f64;
    let (mut dot, mut e_sig, mut e_ref) = (0.0, 0.0, 0.0);
    let mut slips = Vec::new();
    // Where the current window is expected: the previous voiced window's
    // offset (windows of near-silence are placed but do not steer).
    let mut shift = start as i64;
    for (k, piece) in reference.chunks(window).enumerate() {
        let nominal = (k * window) as i64;
        let mut best: Option<(f64, i64)> = None;
        for d in -(max_slip as i64)..=max_slip as i64 {
            let Ok(at) = usize::try_from(nominal + shift + d) else {
                continue;
            };
            let Some(seg) = signal.get(at..at + piece.len()) else {
                continue;
            };
            let c = ncc(seg, piece);
            if best.is_none_or(|(b, _)| c > b) {
                best = Some((c, shift + d));
            }
        }
        let Some((_, found)) = best else {
            // Past the end of the signal: counts as silence.
            e_ref += energy(piece);
            continue;
        };
        let at = usize::try_from(nominal + found).unwrap_or(0);
        let seg = &signal[at..at + piece.len()];
        dot += seg.iter().zip(piece).map(|(x, y)| x * y).sum::<f64>();
        e_sig += energy(seg);
        e_ref += energy(piece);
        slips.push(found - start as i64);
        if energy(piece) >= 0.1 * mean_window_energy {
            shift = found;
        }
    }
    Alignment {
        ncc: dot / (e_sig * e_ref).sqrt().max(1e-9),
        start,
        slips,
    }
}

/// The RTP payloads of a pcap of Ethernet/IPv4/UDP/RTP packets, in order.
pub fn pcap_payloads(path: &str) -> Vec<Vec<u8>> {
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
