//! The trunk route's signaling with real peers on both sides: SIPp calls
//! Hibiki, and a second SIPp plays the carrier behind an outbound trunk.
//! Checked as a caller and an operator see it: the far end's refusal
//! reaches the caller, a caller's CANCEL reaches the far end, a far end
//! that rings too long is cancelled and the caller hears 480, a carrier's
//! digest challenge is answered with the configured credentials, and each
//! call leaves the CDR an operator expects.

mod common;

use std::time::Duration;

use common::{free_udp_port, Calls, ServerConfig, TestServer};
use hibiki::store::Outcome;

/// A server with one inbound trunk (127.0.0.1) and an outbound trunk
/// `far` to a SIPp UAS on `far_port`, with `route` appended.
fn server_config(far_port: u16, outbound_extra: &str, route: &str) -> ServerConfig {
    ServerConfig {
        routes: format!(
            r#"
[[trunks]]
name = "carrier"
[trunks.inbound]
sources = ["127.0.0.1/32"]

[[trunks]]
name = "far"
[trunks.outbound]
address = "127.0.0.1:{far_port}"
{outbound_extra}

{route}
"#
        ),
        env: common::media::media_ports_env(),
        ..ServerConfig::default()
    }
}

/// The one call record of the caller's SIPp run.
async fn caller_record(server: &TestServer, ids: &[String]) -> hibiki::store::CallRecord {
    assert_eq!(ids.len(), 1, "{ids:?}");
    let rows = server
        .wait_for_calls(Calls::SipCallId(&ids[0]), Duration::from_secs(15))
        .await;
    rows.into_iter().next().expect("a call record")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_far_ends_refusal_reaches_the_caller() {
    let far_port = free_udp_port("127.0.0.1");
    let server = TestServer::start_with(server_config(
        far_port,
        "",
        "[[routes]]\nnumber = \"201\"\naction = \"trunk\"\ntrunk = \"far\"\nto = \"5551234\"\n",
    ))
    .await;
    let far = server.sipp_uas("uas_486", far_port, &[]);
    let caller = server.sipp("uac_486", &["-s", "201"]).await;
    caller.assert_ok();
    // The far end saw the route's number and the caller's number.
    far.finish().await.assert_ok();
    let call = caller_record(&server, &caller.call_ids()).await;
    assert_eq!(call.outcome, Some(Outcome::Busy), "{call:#?}");
    assert_eq!(call.final_sip_code, Some(486), "{call:#?}");
    assert_eq!(
        call.hangup_cause.as_deref(),
        Some("callee_rejected"),
        "{call:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callers_cancel_reaches_the_far_end() {
    let far_port = free_udp_port("127.0.0.1");
    let server = TestServer::start_with(server_config(
        far_port,
        "",
        "[[routes]]\nnumber = \"202\"\naction = \"trunk\"\ntrunk = \"far\"\n",
    ))
    .await;
    let far = server.sipp_uas("uas_ring", far_port, &[]);
    // The caller cancels on its first 180, which Hibiki sends only once
    // the far end rings: the CANCEL must travel on.
    let caller = server.sipp("uac_cancel", &["-s", "202"]).await;
    caller.assert_ok();
    far.finish().await.assert_ok();
    let call = caller_record(&server, &caller.call_ids()).await;
    assert_eq!(call.outcome, Some(Outcome::Cancelled), "{call:#?}");
    assert_eq!(call.hangup_cause.as_deref(), Some("cancelled"), "{call:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_far_end_that_rings_too_long_is_cancelled() {
    let far_port = free_udp_port("127.0.0.1");
    let server = TestServer::start_with(server_config(
        far_port,
        "",
        "[[routes]]\nnumber = \"203\"\naction = \"trunk\"\ntrunk = \"far\"\nring_timeout_seconds = 1\n",
    ))
    .await;
    let far = server.sipp_uas("uas_ring", far_port, &[]);
    let caller = server.sipp("uac_480", &["-s", "203"]).await;
    caller.assert_ok();
    far.finish().await.assert_ok();
    let call = caller_record(&server, &caller.call_ids()).await;
    assert_eq!(call.outcome, Some(Outcome::NoAnswer), "{call:#?}");
    assert_eq!(call.final_sip_code, Some(480), "{call:#?}");
    assert_eq!(
        call.hangup_cause.as_deref(),
        Some("ring_timeout"),
        "{call:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_carriers_digest_challenge_is_answered_and_the_call_bridged() {
    let far_port = free_udp_port("127.0.0.1");
    // The test carrier's fixture password (in tests/sipp/uas_auth.xml).
    let password = "test-trunk-pw".to_owned();
    let mut config = server_config(
        far_port,
        "username = \"hibiki\"\npassword_env = \"HIBIKI_SECRET_FAR\"",
        "[[routes]]\nnumber = \"204\"\naction = \"trunk\"\ntrunk = \"far\"\n",
    );
    config
        .env
        .push(("HIBIKI_SECRET_FAR".into(), password.clone()));
    let server = TestServer::start_with(config).await;
    let far_media = free_udp_port("127.0.0.1").to_string();
    let far = server.sipp_uas("uas_auth", far_port, &["-mp", &far_media]);
    // Answered through the carrier, then the caller hangs up: Hibiki must
    // BYE the carrier (uas_auth waits for it).
    let caller = server.sipp("uac_call", &["-s", "204"]).await;
    caller.assert_ok();
    far.finish().await.assert_ok();
    let call = caller_record(&server, &caller.call_ids()).await;
    assert_eq!(call.outcome, Some(Outcome::Answered), "{call:#?}");
    assert_eq!(call.hangup_cause.as_deref(), Some("normal"), "{call:#?}");
    assert!(
        !server.stderr_text().contains(&password),
        "the trunk password was logged"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_trunk_credentials_end_in_503_not_a_loop() {
    let far_port = free_udp_port("127.0.0.1");
    let mut config = server_config(
        far_port,
        "username = \"hibiki\"\npassword_env = \"HIBIKI_SECRET_FAR\"",
        "[[routes]]\nnumber = \"205\"\naction = \"trunk\"\ntrunk = \"far\"\n",
    );
    config
        .env
        .push(("HIBIKI_SECRET_FAR".into(), "not-the-password".into()));
    let server = TestServer::start_with(config).await;
    // The carrier challenges again: Hibiki must not retry forever (one
    // authenticated attempt), and the caller hears 503.
    let far = server.sipp_uas("uas_auth", far_port, &[]);
    let caller = server.sipp("uac_503", &["-s", "205"]).await;
    caller.assert_ok();
    far.finish().await.assert_ok();
    let invites = server
        .stderr_text()
        .matches("the trunk challenged: sending credentials")
        .count();
    assert_eq!(invites, 1, "{}", server.logs());
    let call = caller_record(&server, &caller.call_ids()).await;
    assert_eq!(call.final_sip_code, Some(503), "{call:#?}");
    assert_eq!(
        call.hangup_cause.as_deref(),
        Some("trunk_failed"),
        "{call:#?}"
    );
}
