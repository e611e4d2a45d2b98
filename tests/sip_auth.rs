//! Trunks that authenticate by digest, through the real server with SIPp
//! as the trunk: the right password gets the call answered on that trunk;
//! a wrong one gets 403 and a `forbidden` record; nobody is let in on the
//! strength of a challenge alone; credentials captured and sent again (a
//! replay, by a hand-written UAC) get a fresh challenge, not a second
//! call. (SIPp 3.6 answers MD5 only, so these servers offer MD5; SHA-256
//! is covered by the `auth` and `door` unit tests with the RFC 7616
//! vectors.)

mod common;

use std::time::Duration;

use common::{header, status_code, token, Calls, ServerConfig, TestServer, UdpPeer};
use hibiki::store::Outcome;
use hibiki_sip::auth::{respond, Challenge};

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

[[routes]]
number = "486"
action = "reject"
status = 486
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

/// One INVITE from `peer` to number 486 (which the server refuses with
/// 486 once the door lets it in), with `authorization` if any; returns
/// the final response, after acknowledging it.
async fn invite(peer: &UdpPeer, call_id: &str, cseq: u32, authorization: Option<&str>) -> Vec<u8> {
    let local = peer.local_addr();
    let branch = format!("z9hG4bK{}", token());
    let from_tag = format!("{call_id}-tag");
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let head = |method: &str, to_tag: &str| {
        format!(
            "{method} sip:486@127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch={branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:pbx@127.0.0.2>;tag={from_tag}\r\n\
             To: <sip:486@127.0.0.1>{to_tag}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} {method}\r\n\
             Contact: <sip:pbx@{local}>\r\n"
        )
    };
    let request = format!("{}{auth}Content-Length: 0\r\n\r\n", head("INVITE", ""));
    peer.send(request.as_bytes()).await;
    let responses = peer.recv_until_final(Duration::from_secs(10)).await;
    let last = responses.last().cloned().unwrap_or_default();
    assert!(
        status_code(&last).is_some_and(|c| c >= 300),
        "a final refusal: {}",
        String::from_utf8_lossy(&last)
    );
    // The ACK of a non-2xx final response takes its To tag.
    let to_tag = header(&last, "To")
        .and_then(|to| to.split_once(";tag=").map(|(_, t)| format!(";tag={t}")))
        .unwrap_or_default();
    let ack = format!("{}Content-Length: 0\r\n\r\n", head("ACK", &to_tag));
    peer.send(ack.as_bytes()).await;
    last
}

#[tokio::test(flavor = "multi_thread")]
async fn replayed_credentials_get_a_fresh_challenge_not_a_call() {
    let server = TestServer::start_with(digest_server()).await;
    // 127.0.0.2 is no trunk's source: only the credentials can admit it.
    let peer = UdpPeer::bind_on("127.0.0.2", server.sip).await;
    let call_a = token();

    let challenged = invite(&peer, &call_a, 1, None).await;
    assert_eq!(status_code(&challenged), Some(401));
    let challenge: Challenge = header(&challenged, "WWW-Authenticate")
        .expect("a challenge")
        .parse()
        .expect("a digest challenge");
    let credentials = |nc: u32| {
        respond(
            &challenge,
            "INVITE",
            "sip:486@127.0.0.1",
            "pbx",
            PASSWORD,
            "c1",
            nc,
        )
        .to_string()
    };

    // The right credentials: let in, routed (486 is the route's answer).
    let first = credentials(1);
    let admitted = invite(&peer, &call_a, 2, Some(&first)).await;
    assert_eq!(
        status_code(&admitted),
        Some(486),
        "{}",
        String::from_utf8_lossy(&admitted)
    );

    // The same Authorization on a new call: challenged again, stale.
    let replayed = invite(&peer, &token(), 1, Some(&first)).await;
    assert_eq!(
        status_code(&replayed),
        Some(401),
        "{}",
        String::from_utf8_lossy(&replayed)
    );
    let again = header(&replayed, "WWW-Authenticate").unwrap_or_default();
    assert!(again.to_ascii_lowercase().contains("stale=true"), "{again}");

    // The client's next request with that nonce counts on: let in.
    let next = invite(&peer, &token(), 1, Some(&credentials(2))).await;
    assert_eq!(
        status_code(&next),
        Some(486),
        "{}",
        String::from_utf8_lossy(&next)
    );

    // Two calls were let in, both on the trunk; the replay made none.
    let rows = server
        .wait_for_calls(Calls::Count(2), Duration::from_secs(15))
        .await;
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert!(
        rows.iter()
            .all(|r| r.trunk.as_deref() == Some("pbx") && r.final_sip_code == Some(486)),
        "{rows:#?}"
    );
}
