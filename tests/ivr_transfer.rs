//! IVR `transfer` steps with real peers: SIPp calls an IVR number whose
//! flow transfers the call through an outbound trunk.
//!
//! - A busy far end (SIPp answering 486): the flow goes on at the step's
//!   `next`, its path saying why, and the caller is hung up by the flow.
//! - A caller hanging up while the far end rings (SIPp ringing until
//!   cancelled): the attempt is cancelled (SIPp's scenario fails
//!   otherwise).
//! - A far end that answers: the trunk loops back into Hibiki's own demo
//!   number (a real user agent that detects digits, hangs up after `#`
//!   and records what it hears). The caller's digits reach it once each;
//!   its hang-up reaches the caller; the call's one recording holds the
//!   caller on the left and the far end's prompt on the right; the path
//!   ends `answered by 100`; the far end saw the flow's caller id.
//! - The same far end with a caller that hangs up: both legs end.

mod common;

use std::path::Path;
use std::time::Duration;

use common::ivr::{flows_dir, path_steps};
use common::media::{
    best_alignment, dtmf_digits, media_ports_env, pcap_payloads, prompt_samples, read_wav,
    recording_file, recordings_once_closed, split_stereo,
};
use common::{free_udp_port, Calls, ServerConfig, TestServer};
use hibiki::media::g711::alaw_to_linear;
use hibiki::store::{CallRecord, Outcome, RecordingStatus};

const PCAP: &str = "/usr/share/sip-tester/g711a.pcap";
const PROMPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/ivr-flows/prompts");

/// A flow that transfers to `to` through `trunk` (with `extra` in the
/// step), and on failure plays a prompt and hangs up.
fn transfer_flow(trunk: &str, to: &str, extra: &str) -> String {
    format!(
        r#"[flow]
start = "transfer"

[steps.transfer]
type = "transfer"
trunk = "{trunk}"
to = "{to}"
{extra}
next = "sorry"

[steps.sorry]
type = "play"
prompts = ["invalid"]
next = "bye"

[steps.bye]
type = "hangup"
"#
    )
}

/// A server running `flow` on number 400, the demo on 100, with an
/// outbound trunk `far` to `far_address` (`{sip}`: Hibiki itself).
fn config(flows: &Path, far_address: &str) -> ServerConfig {
    let mut env = vec![("HIBIKI_MEDIA_PROMPTS_DIR".into(), PROMPTS.to_owned())];
    env.extend(media_ports_env());
    ServerConfig {
        routes: format!(
            r#"[ivr]
flows_dir = {flows:?}
watch = false

[[trunks]]
name = "carrier"
[trunks.inbound]
sources = ["127.0.0.1/32"]

[[trunks]]
name = "far"
[trunks.outbound]
address = "{far_address}"

[[routes]]
number = "100"
action = "demo"

[[routes]]
number = "400"
action = "ivr"
flow = "transfer"
"#,
            flows = flows.display().to_string()
        ),
        env,
        ..ServerConfig::default()
    }
}

/// A temp flows folder with `transfer.toml`.
fn flows(text: &str) -> tempfile::TempDir {
    flows_dir(&[("transfer.toml", text.to_owned())])
}

/// The record of the caller's call and of the far end's (to 100).
async fn both_records(server: &TestServer, caller_call_id: &str) -> (CallRecord, CallRecord) {
    let rows = server
        .wait_for_calls(Calls::Count(2), Duration::from_secs(15))
        .await;
    let ivr = rows
        .iter()
        .find(|r| r.sip_call_id == caller_call_id)
        .unwrap_or_else(|| panic!("no record of the caller's call: {rows:#?}"))
        .clone();
    let far = rows
        .iter()
        .find(|r| r.to_number == "100")
        .unwrap_or_else(|| panic!("no record of the far end's call: {rows:#?}"))
        .clone();
    (ivr, far)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_busy_far_end_sends_the_flow_on_to_next() {
    let far_port = free_udp_port("127.0.0.1");
    // Keep the caller's number: uas_486 checks the From user is `sipp`.
    let dir = flows(&transfer_flow("far", "5551234", ""));
    let server = TestServer::start_with(config(dir.path(), &format!("127.0.0.1:{far_port}"))).await;
    let far = server.sipp_uas("uas_486", far_port, &[]);
    let media_port = free_udp_port("127.0.0.1").to_string();
    let res = server
        .sipp(
            "uac_ivr_listen",
            &["-s", "400", "-mp", &media_port, "-key", "caller", "sipp"],
        )
        .await;
    // SIPp succeeds only if the flow hung up after the refusal.
    res.assert_ok();
    far.finish().await.assert_ok();
    let ids = res.call_ids();
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
    let path = path_steps(call);
    assert_eq!(
        path,
        [
            ("transfer".to_owned(), "failed: 486 Busy Here".to_owned()),
            ("sorry".to_owned(), "played".to_owned()),
            ("bye".to_owned(), "hang up".to_owned()),
        ],
        "{path:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_caller_hanging_up_while_it_rings_cancels_the_transfer() {
    let far_port = free_udp_port("127.0.0.1");
    let dir = flows(&transfer_flow("far", "5551234", ""));
    let server = TestServer::start_with(config(dir.path(), &format!("127.0.0.1:{far_port}"))).await;
    let far = server.sipp_uas("uas_ring", far_port, &[]);
    let media_port = free_udp_port("127.0.0.1").to_string();
    let res = server
        .sipp(
            "uac_ivr_hangup",
            &[
                "-s",
                "400",
                "-mp",
                &media_port,
                "-key",
                "caller",
                "sipp",
                "-d",
                "2000",
            ],
        )
        .await;
    res.assert_ok();
    // The far end saw the CANCEL (its scenario waits for one).
    far.finish().await.assert_ok();
    let ids = res.call_ids();
    let rows = server
        .wait_for_calls(Calls::SipCallId(&ids[0]), Duration::from_secs(15))
        .await;
    let call = &rows[0];
    assert_eq!(call.outcome, Some(Outcome::Answered), "{call:#?}");
    assert_eq!(call.hangup_cause.as_deref(), Some("normal"), "{call:#?}");
    let path = path_steps(call);
    assert_eq!(
        path,
        [("transfer".to_owned(), "caller hung up".to_owned())],
        "{path:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answered_transfer_bridges_records_both_sides_and_ends_with_the_far_end() {
    assert!(
        Path::new(PCAP).exists(),
        "{PCAP} is missing: install Debian's sip-tester"
    );
    let dir = flows(&transfer_flow("far", "100", "caller_id = \"+81300000000\""));
    let server = TestServer::start_with(config(dir.path(), "{sip}")).await;
    let media_port = free_udp_port("127.0.0.1").to_string();
    // The caller speaks, presses 1 2 #, and waits for the far end's BYE.
    let res = server
        .sipp(
            "uac_media",
            &["-s", "400", "-mp", &media_port, "-timeout", "60s"],
        )
        .await;
    res.assert_ok();
    let ids = res.call_ids();
    let (ivr, far) = both_records(&server, &ids[0]).await;
    assert_eq!(ivr.outcome, Some(Outcome::Answered), "{ivr:#?}");
    assert_eq!(
        ivr.hangup_cause.as_deref(),
        Some("callee_hung_up"),
        "{ivr:#?}"
    );
    assert_eq!(
        path_steps(&ivr),
        [("transfer".to_owned(), "answered by 100".to_owned())],
        "{ivr:#?}"
    );
    assert_eq!(far.outcome, Some(Outcome::Answered), "{far:#?}");
    assert_eq!(far.hangup_cause.as_deref(), Some("normal"), "{far:#?}");
    // The flow's caller id, not the caller's number.
    assert_eq!(far.from_number, "+81300000000", "{far:#?}");

    // The caller's keys, pressed once bridged, reached the far end once each.
    let log = server.stderr_text();
    let expected: Vec<(String, String)> = ["1", "2", "#"]
        .iter()
        .map(|d| ((*d).to_owned(), "rfc4733".to_owned()))
        .collect();
    assert_eq!(dtmf_digits(&log, &far.id), expected, "{}", server.logs());

    // One recording of the IVR call: the caller left, the far end right.
    let rows = recordings_once_closed(&server, &ivr.id).await;
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].status, RecordingStatus::Closed, "{rows:#?}");
    let (spec, samples) = read_wav(&recording_file(&server, &rows[0]));
    assert_eq!((spec.channels, spec.sample_rate), (2, 8000));
    let (left, right) = split_stereo(&samples);
    let sent: Vec<f64> = pcap_payloads(PCAP)
        .iter()
        .flatten()
        .map(|&b| f64::from(alaw_to_linear(b)))
        .collect();
    let (c, offset) = best_alignment(&left, &sent, 16_000);
    assert!(
        c >= 0.9,
        "left channel vs the caller's audio: NCC {c:.3} at {offset} samples"
    );
    let welcome = prompt_samples("welcome");
    let (c, offset) = best_alignment(&right, &welcome, 16_000);
    assert!(
        c >= 0.9,
        "right channel vs the far end's welcome: NCC {c:.3} at {offset} samples"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_callers_hang_up_ends_an_answered_transfer() {
    let dir = flows(&transfer_flow("far", "100", "caller_id = \"trunk\""));
    let server = TestServer::start_with(config(dir.path(), "{sip}")).await;
    let media_port = free_udp_port("127.0.0.1").to_string();
    let res = server
        .sipp(
            "uac_ivr_hangup",
            &[
                "-s",
                "400",
                "-mp",
                &media_port,
                "-key",
                "caller",
                "+819012345678",
                "-d",
                "3000",
            ],
        )
        .await;
    res.assert_ok();
    let ids = res.call_ids();
    let (ivr, far) = both_records(&server, &ids[0]).await;
    assert_eq!(ivr.hangup_cause.as_deref(), Some("normal"), "{ivr:#?}");
    assert_eq!(
        path_steps(&ivr),
        [("transfer".to_owned(), "answered by 100".to_owned())],
        "{ivr:#?}"
    );
    // The far end was hung up too.
    assert_eq!(far.outcome, Some(Outcome::Answered), "{far:#?}");
    assert_eq!(far.hangup_cause.as_deref(), Some("normal"), "{far:#?}");
    // The trunk has no username: its own number is the one dialled.
    assert_eq!(far.from_number, "400", "{far:#?}");
}
