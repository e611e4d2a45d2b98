//! Every message of `../shared/sip-torture/` (RFC 4475, RFC 5118) replayed
//! to the real server over UDP and over TCP, checked against
//! `sip/tests/torture-expectations.toml`; after each one the server must
//! still answer OPTIONS with 200. Plus oversized and garbage input.
//!
//! The rules (see the expectations file's header):
//! - `valid = false`: exactly `status`, or no answer for `"drop"`;
//! - `layer = "endpoint"`: exactly `status` (`"drop"`: no answer);
//! - other valid requests: a final answer that is not 400/416/505;
//! - responses (`kind = "response"`): never answered.
//!
//! Transport details, each a property of the transport, not of the server:
//! - UDP: the server answers at the top Via's sent-by (RFC 3261 §18.2.2),
//!   and the corpus names hosts such as 192.0.2.x and port 5060. So before
//!   sending, the top Via's transport and sent-by are rewritten to
//!   `UDP 127.0.0.1:<our port>`; everything else (folding, parameters, odd
//!   spacing, body) is left byte for byte. TCP replays send the files
//!   unmodified.
//! - TCP: the raw RFC 5118 files (bare LF, Content-Length counted with
//!   CRLF) are replayed in their `wire/` form only, as the expectations
//!   say; `baddn.dat` lacks its final CRLF so its header never ends on a
//!   stream (its `variants/` twin is replayed instead); `clerr.dat`'s
//!   Content-Length beyond the data just means "more to come" on a stream,
//!   so it may go unanswered there; a request marked `"drop"` may get a
//!   400 over TCP, which has a return path even without a usable Via.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{options_request, status_code, TcpPeer, TestServer, UdpPeer, DEFAULT_ROUTES};
use rand::RngCore;
use serde::Deserialize;

/// How long to wait for the answer a message must get.
const ANSWER_WAIT: Duration = Duration::from_secs(3);
/// How long to wait before concluding that no answer is coming.
const SILENCE_WAIT: Duration = Duration::from_millis(400);

#[derive(Debug, Deserialize)]
struct Expectations {
    message: Vec<Expected>,
}

#[derive(Clone, Debug, Deserialize)]
struct Expected {
    file: String,
    kind: String,
    valid: bool,
    status: Option<Status>,
    layer: Option<String>,
    /// The malformed corpus also names the exact reason phrase.
    reason: Option<String>,
    #[serde(default)]
    why: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
enum Status {
    Code(u16),
    Word(String),
}

/// What the server must do with one message.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Want {
    /// Exactly this final status.
    Exactly(u16),
    /// Any final status except 400, 416, 505.
    Normal,
    /// No answer at all.
    Silence,
}

impl Expected {
    fn want(&self) -> Want {
        if self.kind == "response" && self.layer.is_none() && self.valid {
            return Want::Silence;
        }
        match (&self.status, self.valid, self.layer.as_deref()) {
            (Some(Status::Code(c)), false, _) | (Some(Status::Code(c)), true, Some(_)) => {
                Want::Exactly(*c)
            }
            (Some(Status::Word(w)), _, _) if w == "drop" => Want::Silence,
            (None, true, None) if self.kind == "request" => Want::Normal,
            (None, true, None) => Want::Silence,
            _ => panic!("expectation not understood: {self:?}"),
        }
    }
}

fn corpus_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/sip-torture");
    assert!(
        dir.is_dir(),
        "the SIP torture corpus is missing: expected {} (the shared/ folder beside the repo)",
        dir.display()
    );
    dir
}

fn expectations() -> Vec<Expected> {
    expectations_in("sip/tests/torture-expectations.toml")
}

fn expectations_in(relative: &str) -> Vec<Expected> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let parsed: Expectations =
        toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(parsed.message.len() >= 30, "expectations cover the corpus");
    parsed.message
}

/// Rewrites the first Via header so that its answer comes back to us on
/// loopback: transport and sent-by become `UDP <sent_by>`, and the value of
/// a `received` or `maddr` parameter (where RFC 3261 §18.2.2 sends the
/// answer first) becomes `127.0.0.1`. Every other byte is left alone
/// (folding included). Returns the message unchanged when it has no Via it
/// can read.
fn rewrite_top_via(msg: &[u8], sent_by: &str) -> Vec<u8> {
    let Some((start, end, t_start, t_end)) = top_via_spans(msg) else {
        return msg.to_vec();
    };
    let mut edits: Vec<(usize, usize, &[u8])> =
        vec![(t_start, t_end, b"UDP"), (start, end, sent_by.as_bytes())];
    for (a, b) in via_address_param_spans(msg, end) {
        edits.push((a, b, b"127.0.0.1"));
    }
    edits.sort_by_key(|e| e.0);
    let mut out = Vec::with_capacity(msg.len() + 32);
    let mut at = 0;
    for (a, b, with) in edits {
        out.extend_from_slice(&msg[at..a]);
        out.extend_from_slice(with);
        at = b;
    }
    out.extend_from_slice(&msg[at..]);
    out
}

/// The value spans of `received=` and `maddr=` parameters of the via-parm
/// that starts its parameters at `from` (up to `,` or the header's end).
fn via_address_param_spans(msg: &[u8], from: usize) -> Vec<(usize, usize)> {
    // The end of this via-parm: a comma, or a line break not followed by a fold.
    let mut end = from;
    while let Some(&b) = msg.get(end) {
        if b == b',' {
            break;
        }
        if b == b'\n' && !matches!(msg.get(end + 1), Some(b' ' | b'\t')) {
            break;
        }
        end += 1;
    }
    let mut spans = Vec::new();
    let mut i = from;
    while i < end {
        if msg[i] != b';' {
            i += 1;
            continue;
        }
        let name_start = i + 1;
        let eq = (name_start..end).find(|&j| matches!(msg[j], b'=' | b';'));
        let Some(eq) = eq.filter(|&j| msg[j] == b'=') else {
            i += 1;
            continue;
        };
        let name = String::from_utf8_lossy(&msg[name_start..eq])
            .trim()
            .to_ascii_lowercase();
        let mut v_start = eq + 1;
        while v_start < end && msg[v_start].is_ascii_whitespace() {
            v_start += 1;
        }
        let mut v_end = v_start;
        while v_end < end && !matches!(msg[v_end], b';' | b' ' | b'\t' | b'\r' | b'\n') {
            v_end += 1;
        }
        if (name == "received" || name == "maddr") && v_end > v_start {
            spans.push((v_start, v_end));
        }
        i = v_end.max(i + 1);
    }
    spans
}

/// (sent-by start, sent-by end, transport start, transport end) of the
/// first Via header, or `None`.
fn top_via_spans(msg: &[u8]) -> Option<(usize, usize, usize, usize)> {
    let head_end = find(msg, b"\r\n\r\n")
        .or_else(|| find(msg, b"\n\n"))
        .unwrap_or(msg.len());
    let mut pos = msg.iter().position(|&b| b == b'\n')? + 1;
    while pos < head_end {
        let line_end = msg[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(msg.len(), |i| pos + i);
        let line = &msg[pos..line_end];
        let colon = line.iter().position(|&b| b == b':');
        if let Some(colon) = colon {
            let name = String::from_utf8_lossy(&line[..colon])
                .trim()
                .to_ascii_lowercase();
            if name == "via" || name == "v" {
                return via_value_spans(msg, pos + colon + 1);
            }
        }
        pos = line_end + 1;
    }
    None
}

/// Walks `SIP / 2.0 / TRANSPORT LWS sent-by` from `i`, where whitespace may
/// include line folds.
fn via_value_spans(msg: &[u8], mut i: usize) -> Option<(usize, usize, usize, usize)> {
    let skip = |msg: &[u8], mut i: usize| -> Option<usize> {
        loop {
            match msg.get(i)? {
                b' ' | b'\t' => i += 1,
                b'\r' | b'\n' => {
                    let mut j = i;
                    if msg.get(j) == Some(&b'\r') {
                        j += 1;
                    }
                    if msg.get(j) == Some(&b'\n') {
                        j += 1;
                    }
                    // A fold continues the header; anything else ends it.
                    if matches!(msg.get(j), Some(b' ' | b'\t')) {
                        i = j;
                    } else {
                        return None;
                    }
                }
                _ => return Some(i),
            }
        }
    };
    let token = |msg: &[u8], i: usize| -> usize {
        let mut j = i;
        while let Some(&b) = msg.get(j) {
            if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_' {
                j += 1;
            } else {
                break;
            }
        }
        j
    };
    i = skip(msg, i)?;
    let proto_end = token(msg, i); // "SIP"
    if proto_end == i {
        return None;
    }
    i = skip(msg, proto_end)?;
    if msg.get(i) != Some(&b'/') {
        return None;
    }
    i = skip(msg, i + 1)?;
    let version_end = token(msg, i);
    if version_end == i {
        return None;
    }
    i = skip(msg, version_end)?;
    if msg.get(i) != Some(&b'/') {
        return None;
    }
    let t_start = skip(msg, i + 1)?;
    let t_end = token(msg, t_start);
    if t_end == t_start {
        return None;
    }
    let start = skip(msg, t_end)?;
    if start == t_end {
        return None; // LWS is required before sent-by
    }
    let mut end = start;
    while let Some(&b) = msg.get(end) {
        if matches!(b, b';' | b',' | b' ' | b'\t' | b'\r' | b'\n') {
            break;
        }
        end += 1;
    }
    (end > start).then_some((start, end, t_start, t_end))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Judges the responses one message got; `Err` says what was wrong.
fn judge(want: Want, got: &[Vec<u8>], tcp_leniency: Option<Want>) -> Result<(), String> {
    let finals: Vec<u16> = got
        .iter()
        .filter_map(|m| status_code(m))
        .filter(|c| *c >= 200)
        .collect();
    let codes: Vec<u16> = got.iter().filter_map(|m| status_code(m)).collect();
    let requests = got.iter().filter(|m| status_code(m).is_none()).count();
    if requests > 0 {
        return Err(format!("server sent {requests} non-response message(s)"));
    }
    let ok = |want: Want| match want {
        Want::Exactly(c) => finals.first() == Some(&c),
        Want::Normal => finals.first().is_some_and(|c| ![400, 416, 505].contains(c)),
        Want::Silence => codes.is_empty(),
    };
    if ok(want) || tcp_leniency.is_some_and(ok) {
        Ok(())
    } else {
        Err(format!("wanted {want:?}, got responses {codes:?}"))
    }
}

fn first_line(msg: &[u8]) -> String {
    let end = msg.iter().position(|&b| b == b'\n').unwrap_or(msg.len());
    String::from_utf8_lossy(&msg[..end]).trim_end().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn torture_corpus_over_udp() {
    let dir = corpus_dir();
    let server = TestServer::start(DEFAULT_ROUTES).await;
    let mut failures = Vec::new();
    let mut replayed = 0;
    for exp in expectations() {
        let bytes =
            std::fs::read(dir.join(&exp.file)).unwrap_or_else(|e| panic!("{}: {e}", exp.file));
        let want = exp.want();
        let peer = UdpPeer::bind(server.sip).await;
        let msg = rewrite_top_via(&bytes, &peer.local_addr().to_string());
        peer.send(&msg).await;
        let wait = if want == Want::Silence {
            SILENCE_WAIT
        } else {
            ANSWER_WAIT
        };
        let mut got = peer.recv_until_final(wait).await;
        server
            .assert_answers_options(&format!("after {} over UDP", exp.file))
            .await;
        if want == Want::Silence {
            // Anything that arrived while the server answered the probe.
            if let Some(late) = peer.recv(Duration::from_millis(50)).await {
                got.push(late);
            }
        }
        replayed += 1;
        if let Err(e) = judge(want, &got, None) {
            failures.push(format!(
                "{} ({}): {e}; first line sent: {:?}; why: {}",
                exp.file,
                "UDP",
                first_line(&msg),
                exp.why
            ));
        }
    }
    assert!(replayed >= 50, "replayed {replayed} messages");
    assert!(
        failures.is_empty(),
        "{} of {replayed} torture messages answered wrongly over UDP:\n{}\n{}",
        failures.len(),
        failures.join("\n"),
        server.logs()
    );
}

/// Hibiki's own malformed corpus (`sip/tests/malformed/`, 50-odd messages
/// named for their fault) against the real server over UDP: each gets its
/// exact status and reason phrase, or no answer where it must be dropped,
/// and the server keeps answering OPTIONS. (The one message larger than a
/// datagram goes over TCP.)
#[tokio::test(flavor = "multi_thread")]
async fn malformed_corpus_over_udp() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("sip/tests/malformed");
    let server = TestServer::start(DEFAULT_ROUTES).await;
    let mut failures = Vec::new();
    let mut replayed = 0;
    for exp in expectations_in("sip/tests/malformed/expectations.toml") {
        let bytes =
            std::fs::read(dir.join(&exp.file)).unwrap_or_else(|e| panic!("{}: {e}", exp.file));
        let want = exp.want();
        let wait = if want == Want::Silence {
            SILENCE_WAIT
        } else {
            ANSWER_WAIT
        };
        let got = if bytes.len() > 65_000 {
            // Larger than any UDP datagram: only a stream can carry it.
            let mut peer = TcpPeer::connect(server.sip).await;
            peer.send(&bytes).await;
            peer.recv_until_final(wait).await
        } else {
            let peer = UdpPeer::bind(server.sip).await;
            let msg = rewrite_top_via(&bytes, &peer.local_addr().to_string());
            peer.send(&msg).await;
            let mut got = peer.recv_until_final(wait).await;
            if want == Want::Silence {
                if let Some(late) = peer.recv(Duration::from_millis(400)).await {
                    got.push(late);
                }
            }
            got
        };
        server
            .assert_answers_options(&format!("after {}", exp.file))
            .await;
        replayed += 1;
        let mut verdict = judge(want, &got, None);
        if let (Ok(()), Some(reason), false) = (&verdict, &exp.reason, exp.valid) {
            let line = got
                .iter()
                .find(|m| status_code(m).is_some_and(|c| c >= 200))
                .map(|m| first_line(m))
                .unwrap_or_default();
            if !line.is_empty() && !line.contains(reason.as_str()) {
                verdict = Err(format!("reason phrase {line:?} does not say {reason:?}"));
            }
        }
        if let Err(e) = verdict {
            failures.push(format!("{}: {e}; why: {}", exp.file, exp.why));
        }
    }
    assert!(replayed >= 30, "replayed {replayed} messages");
    assert!(
        failures.is_empty(),
        "{} of {replayed} malformed messages answered wrongly over UDP:\n{}\n{}",
        failures.len(),
        failures.join("\n"),
        server.logs()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn torture_corpus_over_tcp() {
    let dir = corpus_dir();
    let server = TestServer::start(DEFAULT_ROUTES).await;
    let mut failures = Vec::new();
    let mut replayed = 0;
    for exp in expectations() {
        let raw_5118 = exp.file.starts_with("rfc5118/") && !exp.file.starts_with("rfc5118/wire/");
        if raw_5118 || exp.file == "baddn.dat" {
            continue; // see the module doc
        }
        let bytes =
            std::fs::read(dir.join(&exp.file)).unwrap_or_else(|e| panic!("{}: {e}", exp.file));
        let mut want = exp.want();
        let mut lenient = None;
        if exp.file == "clerr.dat" {
            lenient = Some(want);
            want = Want::Silence;
        } else if want == Want::Silence && exp.kind == "request" {
            lenient = Some(Want::Exactly(400));
        } else if exp.kind == "request"
            && common::header(&bytes, "content-length").is_none()
            && common::header(&bytes, "l").is_none()
        {
            // RFC 3261 §18.3: a stream needs Content-Length to frame a
            // message; refusing one without it is fine there.
            lenient = Some(Want::Exactly(400));
        }
        let mut peer = TcpPeer::connect(server.sip).await;
        let mut got = Vec::new();
        if peer.send(&bytes).await {
            let wait = if want == Want::Silence {
                SILENCE_WAIT
            } else {
                ANSWER_WAIT
            };
            got = peer.recv_until_final(wait).await;
        }
        server
            .assert_answers_options(&format!("after {} over TCP", exp.file))
            .await;
        replayed += 1;
        if let Err(e) = judge(want, &got, lenient) {
            failures.push(format!(
                "{} (TCP): {e}; first line sent: {:?}; why: {}",
                exp.file,
                first_line(&bytes),
                exp.why
            ));
        }
    }
    assert!(replayed >= 50, "replayed {replayed} messages");
    assert!(
        failures.is_empty(),
        "{} of {replayed} torture messages answered wrongly over TCP:\n{}\n{}",
        failures.len(),
        failures.join("\n"),
        server.logs()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_and_oversized_input_do_not_stop_the_server() {
    let mut server = TestServer::start(DEFAULT_ROUTES).await;
    let mut rng = rand::rng();

    // The largest UDP datagram IPv4 carries (65,507 bytes; a 70 KB one
    // cannot be sent at all), first random bytes, then an oversized request.
    let udp = UdpPeer::bind(server.sip).await;
    let mut noise = vec![0u8; 65_507];
    rng.fill_bytes(&mut noise);
    udp.send(&noise).await;
    let mut oversized = options_request("UDP", udp.local_addr(), server.sip);
    let at = oversized.len() - 2; // before the final CRLF
    let filler = format!(
        "X-Filler: {}\r\n",
        "a".repeat(65_507 - oversized.len() - 14)
    );
    oversized.splice(at..at, filler.into_bytes());
    assert!(oversized.len() <= 65_507);
    udp.send(&oversized).await;
    if let Some(answer) = udp.recv(SILENCE_WAIT).await {
        let code = status_code(&answer);
        assert!(
            code.is_some(),
            "only SIP responses come back: {:?}",
            first_line(&answer)
        );
    }
    server.assert_answers_options("after 64 KB datagrams").await;

    // A TCP stream of garbage (1 MiB, bounded): the server may close the
    // connection at any point; it must not stop.
    let mut tcp = TcpPeer::connect(server.sip).await;
    for _ in 0..64 {
        let mut chunk = vec![0u8; 16_384];
        rng.fill_bytes(&mut chunk);
        if !tcp.send(&chunk).await {
            break;
        }
    }
    drop(tcp);
    // A header that never ends.
    let mut tcp = TcpPeer::connect(server.sip).await;
    let _ = tcp
        .send(b"INVITE sip:100@127.0.0.1 SIP/2.0\r\nX-Long: ")
        .await;
    for _ in 0..64 {
        if !tcp.send(&[b'a'; 16_384]).await {
            break;
        }
    }
    server.assert_answers_options("after TCP garbage").await;
    drop(tcp);
    assert!(
        server.wait_exit(Duration::ZERO).await.is_none(),
        "the server exited\n{}",
        server.logs()
    );
}

#[test]
fn via_rewrite_keeps_everything_else() {
    let msg = b"OPTIONS sip:a@b SIP/2.0\r\nVia  : SIP  /   2.0\r\n /TCP\r\n    192.0.2.2;branch=x\r\nv: SIP/2.0/UDP other\r\n\r\n";
    let out = rewrite_top_via(msg, "127.0.0.1:5000");
    assert_eq!(
        out,
        b"OPTIONS sip:a@b SIP/2.0\r\nVia  : SIP  /   2.0\r\n /UDP\r\n    127.0.0.1:5000;branch=x\r\nv: SIP/2.0/UDP other\r\n\r\n"
    );
    let lf = b"INVITE sip:a@b SIP/2.0\nv: SIP/2.0/UDP [2001:db8::9:1];branch=z\n\n";
    assert_eq!(
        rewrite_top_via(lf, "127.0.0.1:1"),
        b"INVITE sip:a@b SIP/2.0\nv: SIP/2.0/UDP 127.0.0.1:1;branch=z\n\n"
    );
    let params = b"BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z;maddr=192.0.2.1, SIP/2.0/UDP h;received=192.0.2.9\r\n\r\n";
    assert_eq!(
        rewrite_top_via(params, "127.0.0.1:7"),
        b"BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:7;received=127.0.0.1;branch=z;maddr=127.0.0.1, SIP/2.0/UDP h;received=192.0.2.9\r\n\r\n"
    );
    let none = b"INVITE sip:a@b\r\nTo: x\r\n\r\n";
    assert_eq!(rewrite_top_via(none, "127.0.0.1:1"), none.to_vec());
}

#[test]
fn every_corpus_file_is_rewritable_or_has_no_via() {
    // The rewrite must find the top Via of every message that has one.
    let dir = corpus_dir();
    for exp in expectations() {
        let bytes = std::fs::read(dir.join(&exp.file)).unwrap();
        let has_via = String::from_utf8_lossy(&bytes).lines().any(|l| {
            let l = l.to_ascii_lowercase();
            l.starts_with("via") || l.starts_with("v:") || l.starts_with("v :")
        });
        let rewritten = rewrite_top_via(&bytes, "127.0.0.1:9");
        assert_eq!(
            rewritten != bytes,
            has_via,
            "{}: Via found = {}, rewritten = {}",
            exp.file,
            has_via,
            rewritten != bytes
        );
    }
}
