//! Trunks that authenticate by digest, through the real server with SIPp
//! as the trunk: the right password gets the call answered on that trunk;
//! a wrong one gets 403 and a `forbidden` record; nobody is let in on the
//! strength of a challenge alone. (SIPp 3.6 answers MD5 only, so these
//! servers offer MD5; SHA-256 is covered by the `auth` and `door` unit
//! tests with the RFC 7616 vectors.)

mod common;

use std::time::Duration;

use common::{Calls, ServerConfig, TestServer};
use hibiki::store::Outcome;

const PASSWORD: &str = "test-only-pbx-password";

fn digest_server() -> ServerConfig {
    ServerConfig {
        routes: r#"
[[trunks]]
name = "pbx"
[trunks.inbound]
username = "pbx"
password_env = "HIBIKI_SECRET_PBX"

[[routes]]
number = "100"
action = "test"
ring_ms = 0
"#
        .to_owned(),
        env: vec![
            ("HIBIKI_SECRET_PBX".into(), PASSWORD.into()),
            ("HIBIKI_SIP_DIGEST_ALGORITHMS".into(), "MD5".into()),
        ],
        ..ServerConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_right_password_gets_the_call_answered_on_its_trunk() {
    let server = TestServer::start_with(digest_server()).await;
    // 127.0.0.2 is no trunk's source: only the credentials can admit it.
    let res = server
        .sipp(
            "uac_digest",
            &["-i", "127.0.0.2", "-au", "pbx", "-ap", PASSWORD],
        )
        .await;
    res.assert_ok();
    let codes = res.received_codes();
    assert!(codes.contains(&401), "challenged first: {codes:?}");
    assert!(codes.contains(&180) && codes.contains(&200), "{codes:?}");

    let ids = res.call_ids();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let rows = server
        .wait_for_calls(Calls::SipCallId(&ids[0]), Duration::from_secs(15))
        .await;
    // The 401 is a step of the call, not a call: one record.
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].outcome, Some(Outcome::Answered), "{rows:#?}");
    assert_eq!(rows[0].trunk.as_deref(), Some("pbx"), "{rows:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_is_refused_with_403_and_recorded() {
    let server = TestServer::start_with(digest_server()).await;
    let res = server
        .sipp(
            "uac_digest_refused",
            &["-i", "127.0.0.2", "-au", "pbx", "-ap", "not-the-password"],
        )
        .await;
    res.assert_ok();
    let ids = res.call_ids();
    let rows = server
        .wait_for_calls(Calls::SipCallId(&ids[0]), Duration::from_secs(15))
        .await;
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].outcome, Some(Outcome::Rejected), "{rows:#?}");
    assert_eq!(rows[0].final_sip_code, Some(403), "{rows:#?}");
    assert_eq!(
        rows[0].hangup_cause.as_deref(),
        Some("forbidden"),
        "{rows:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_user_is_refused_too() {
    let server = TestServer::start_with(digest_server()).await;
    let res = server
        .sipp(
            "uac_digest_refused",
            &["-i", "127.0.0.2", "-au", "mallory", "-ap", PASSWORD],
        )
        .await;
    res.assert_ok();
}
