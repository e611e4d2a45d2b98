//! IVR flows run by real calls through the real server.
//!
//! - A known caller (SIPp, From +819012345678, a customer of the test's
//!   database) calls the demo flow (its schedule opened round the clock,
//!   so the test does not depend on the hour), is greeted by name,
//!   presses 2 (RFC 4733) during the main menu, finds the billing queue
//!   unserved, leaves a message (g711a.pcap) ended by `#`, and is hung up
//!   on. Checked: the digits detected, the call record's IVR path step by
//!   step, the callback request with its voicemail WAV holding the
//!   caller's audio, and the call's recording.
//! - HTTP data dips against a local server: a found record steers the
//!   flow and is read out; a server slower than the step's timeout sends
//!   the call down the error branch in time.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::ivr::{flows_dir, path_steps};
use common::media::{best_alignment, dtmf_digits, pcap_payloads, read_wav, split_stereo};
use common::{free_udp_port, Calls, ServerConfig, TestServer};
use hibiki::media::g711::alaw_to_linear;
use hibiki::store::{CallbackStatus, Customer, Outcome};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PCAP: &str = "/usr/share/sip-tester/g711a.pcap";
const PROMPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/ivr-flows/prompts");

/// Server config: `flows` as the flows folder, the shipped prompts, and
/// `routes` (number → flow).
fn config(flows: &Path, routes: &[(&str, &str)]) -> ServerConfig {
    let mut text = format!(
        "[ivr]\nflows_dir = {:?}\nwatch = false\n\n[media]\nprompts_dir = {PROMPTS:?}\n\n\
         [[trunks]]\nname = \"local\"\n[trunks.inbound]\nsources = [\"127.0.0.1/32\"]\n",
        flows.display().to_string()
    );
    for (number, flow) in routes {
        text.push_str(&format!(
            "\n[[routes]]\nnumber = \"{number}\"\naction = \"ivr\"\nflow = \"{flow}\"\n"
        ));
    }
    ServerConfig {
        routes: text,
        env: common::media::media_ports_env(),
        ..ServerConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_known_caller_navigates_the_demo_flow_and_leaves_a_message() {
    known_caller_leaves_a_message(None).await;
}

/// The same call with `media.workers = 0`: the flow's prompts, keys and
/// recordings move through the call's own task, not the media plane.
#[tokio::test(flavor = "multi_thread")]
async fn a_flow_without_the_media_plane_plays_hears_keys_and_records() {
    known_caller_leaves_a_message(Some("0")).await;
}

async fn known_caller_leaves_a_message(media_workers: Option<&str>) {
    assert!(
        Path::new(PCAP).exists(),
        "{PCAP} is missing: install Debian's sip-tester"
    );
    let flows = flows_dir(&[("demo.toml", common::ivr::demo_always_open())]);
    let mut config = config(flows.path(), &[("100", "demo")]);
    if let Some(workers) = media_workers {
        config
            .env
            .push(("HIBIKI_MEDIA_WORKERS".into(), workers.into()));
    }
    let server = TestServer::start_with(config).await;
    let store = server.store().await;
    store
        .create_customer(
            &Customer {
                id: "c-hanako".into(),
                name: "Hanako Yamada".into(),
                name_prompt: Some("customer-hanako-yamada".into()),
                email: None,
                notes: String::new(),
                phones: vec!["+819012345678".into()],
            },
            hibiki::store::now_ms(),
        )
        .await
        .unwrap();

    let media_port = free_udp_port("127.0.0.1").to_string();
    let res = server
        .sipp(
            "uac_ivr",
            &[
                "-mp",
                &media_port,
                "-key",
                "caller",
                "+819012345678",
                "-timeout",
                "90s",
            ],
        )
        .await;
    // SIPp succeeds only if the flow hung up after the message.
    res.assert_ok();
    let ids = res.call_ids();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let rows = server
        .wait_for_calls(Calls::SipCallId(&ids[0]), Duration::from_secs(15))
        .await;
    let call = &rows[0];
    assert_eq!(call.outcome, Some(Outcome::Answered), "{call:#?}");
    assert_eq!(
        call.hangup_cause.as_deref(),
        Some("flow_ended"),
        "{call:#?}"
    );

    // The keys, each once, as RFC 4733 events.
    let digits = dtmf_digits(&server.stderr_text(), &call.id);
    let expected: Vec<(String, String)> = ["2", "#"]
        .iter()
        .map(|d| ((*d).to_owned(), "rfc4733".to_owned()))
        .collect();
    assert_eq!(digits, expected, "{}", server.logs());

    // The IVR path, step by step.
    let path = path_steps(call);
    let steps: Vec<&str> = path.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        steps,
        [
            "lookup_caller",
            "greet_customer",
            "hours",
            "main_menu",
            "billing",
            "agents_busy",
            "callback",
            "thanks",
            "bye"
        ],
        "{path:#?}"
    );
    assert!(
        path[0].1.contains("customer_name = \"Hanako Yamada\""),
        "{path:#?}"
    );
    assert!(path[2].1.starts_with("open"), "{path:#?}");
    assert_eq!(path[3].1, "key 2");
    assert!(
        path[6].1.starts_with("recorded") && path[6].1.ends_with("[ended by #]"),
        "{path:#?}"
    );
    assert_eq!(path[8].1, "hang up");

    // The callback request, with the caller's words in its voicemail.
    let requests = wait_for(
        || {
            let store = store.clone();
            async move { store.callback_requests(None, 10).await.unwrap() }
        },
        |r| !r.is_empty(),
    )
    .await;
    assert_eq!(requests.len(), 1, "{requests:#?}");
    let request = &requests[0];
    assert_eq!(request.status, CallbackStatus::Open);
    assert_eq!(request.call_id, call.id);
    assert_eq!(request.caller_number, "+819012345678");
    assert_eq!(request.flow, "demo");
    assert_eq!(request.customer_id.as_deref(), Some("c-hanako"));
    let voicemail = request.voicemail.as_ref().expect("a voicemail");
    assert!(voicemail.path.starts_with("voicemail/"), "{voicemail:?}");
    let wav: PathBuf = server.dir().join("data/recordings").join(&voicemail.path);
    assert_eq!(std::fs::metadata(&wav).unwrap().len(), voicemail.bytes);
    let (spec, samples) = read_wav(&wav);
    assert_eq!((spec.sample_rate, spec.bits_per_sample), (8000, 16));
    let (left, _) = split_stereo(&samples);
    let seconds = left.len() as f64 / 8000.0;
    assert!(
        (6.5..12.0).contains(&seconds),
        "the message lasts from the beep to #: {seconds} s"
    );
    let sent: Vec<f64> = pcap_payloads(PCAP)
        .iter()
        .flatten()
        .map(|&b| f64::from(alaw_to_linear(b)))
        .collect();
    let (c, offset) = best_alignment(&left, &sent, 4 * 8000);
    assert!(
        c >= 0.9,
        "voicemail vs sent audio: NCC {c:.3} at {offset} samples"
    );

    // Where the media went: through the plane unless it has no workers.
    let metrics = server.metrics_text().await;
    let read = common::metric(&metrics, "hibiki_media_plane_datagrams_total", &[]);
    match media_workers {
        Some("0") => assert_eq!(read, Some(0.0), "{metrics}"),
        _ => assert!(read.is_some_and(|n| n > 100.0), "{metrics}"),
    }
}

/// Polls `read` until `done` holds (at most 15 s), returning the last value.
async fn wait_for<T, F, Fut>(mut read: F, done: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let value = read().await;
        if done(&value) || tokio::time::Instant::now() > deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A local HTTP server answering every request with `body` after
/// `delay`; the request lines it saw.
async fn data_service(body: &'static str, delay: Duration) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                let text = String::from_utf8_lossy(&buf[..n]).to_string();
                log.lock()
                    .unwrap()
                    .push(text.lines().next().unwrap_or("").to_owned());
                tokio::time::sleep(delay).await;
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (port, seen)
}

/// A flow dipping into `http://127.0.0.1:<port>/accounts?caller=…`.
fn dip_flow(port: u16) -> String {
    format!(
        r#"[flow]
start = "dip"

[steps.dip]
type = "lookup"
source = "http"
url = "http://127.0.0.1:{port}/accounts?caller={{caller}}"
timeout_ms = 1000
map = {{ "/account/tier" = "tier", "/account/balance" = "balance" }}
next = "tier"
not_found = "unknown"
error = "sorry"

[steps.tier]
type = "branch"
cases = [{{ when = "tier == \"gold\"", goto = "gold" }}]
else = "unknown"

[steps.gold]
type = "play"
prompts = ["welcome-back", {{ say = "amount", var = "balance" }}]
next = "bye"

[steps.unknown]
type = "play"
prompts = ["hello"]
next = "bye"

[steps.sorry]
type = "play"
prompts = ["invalid"]
next = "bye"

[steps.bye]
type = "hangup"
"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn http_data_dips_steer_the_flow_and_time_out_to_the_error_branch() {
    let record = r#"{"account":{"tier":"gold","balance":1234.5}}"#;
    let (fast, fast_seen) = data_service(record, Duration::ZERO).await;
    let (slow, slow_seen) = data_service(record, Duration::from_secs(6)).await;
    let flows = flows_dir(&[("fast.toml", dip_flow(fast)), ("slow.toml", dip_flow(slow))]);
    let server =
        TestServer::start_with(config(flows.path(), &[("200", "fast"), ("201", "slow")])).await;

    for (number, seen, steps, outcome) in [
        (
            "200",
            &fast_seen,
            ["dip", "tier", "gold", "bye"],
            "found: balance = 1234.5, tier = \"gold\"",
        ),
        (
            "201",
            &slow_seen,
            ["dip", "sorry", "bye", ""],
            "error: no answer in 1000 ms",
        ),
    ] {
        let media_port = free_udp_port("127.0.0.1").to_string();
        let res = server
            .sipp(
                "uac_ivr_listen",
                &[
                    "-s",
                    number,
                    "-mp",
                    &media_port,
                    "-key",
                    "caller",
                    "+81312345678",
                ],
            )
            .await;
        res.assert_ok();
        let ids = res.call_ids();
        let rows = server
            .wait_for_calls(Calls::SipCallId(&ids[0]), Duration::from_secs(15))
            .await;
        let path = path_steps(&rows[0]);
        let taken: Vec<&str> = path.iter().map(|(s, _)| s.as_str()).collect();
        let want: Vec<&str> = steps.iter().copied().filter(|s| !s.is_empty()).collect();
        assert_eq!(taken, want, "{number}: {path:#?}");
        assert_eq!(path[0].1, outcome, "{number}: {path:#?}");
        // The request carried the caller's number, percent-encoded.
        let lines = seen.lock().unwrap().clone();
        assert_eq!(
            lines,
            ["GET /accounts?caller=%2B81312345678 HTTP/1.1"],
            "{number}"
        );
        let took = rows[0].ivr_path.as_ref().unwrap()[0]["duration_ms"]
            .as_u64()
            .unwrap();
        if number == "201" {
            assert!(
                (1000..3000).contains(&took),
                "the timeout bounds the dip: {took} ms"
            );
        }
    }
}
