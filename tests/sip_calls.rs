//! Calls through the real `hibiki serve`, driven by SIPp on 127.0.0.1: the
//! answered call, many calls, CANCEL, refusals (404, 403, 486), metrics,
//! and graceful shutdown with a call up. Each test starts its own server.
//!
//! Runs on SQLite by default and on PostgreSQL with
//! `HIBIKI_TEST_DB=postgres` (see `scripts/test.sh`, which runs both).

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{metric, Calls, ServerConfig, TestServer, DEFAULT_ROUTES};
use hibiki::store::{CallRecord, Direction, Outcome};

/// How long a call record may take to be written after the call ends.
const RECORD_WAIT: Duration = Duration::from_secs(15);

/// The route of `100` rings for 5 s: long enough to CANCEL before answer.
const SLOW_ROUTES: &str = r#"
[[trunks]]
name = "carrier"
[trunks.inbound]
sources = ["127.0.0.1/32"]

[[routes]]
number = "100"
action = "test"
ring_ms = 5000
"#;

/// Waits (bounded) until a metric sample reaches `want`; returns the last
/// text seen for the failure message.
async fn wait_metric(server: &TestServer, name: &str, labels: &[(&str, &str)], want: f64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = server.metrics_text().await;
        if metric(&text, name, labels) == Some(want) {
            return;
        }
        if std::time::Instant::now() > deadline {
            panic!(
                "metric {name}{labels:?} never reached {want}; /metrics:\n{text}\n{}",
                server.logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The only record of one SIPp call, once it has ended.
async fn only_record(server: &TestServer, call_id: &str) -> CallRecord {
    let rows = server
        .wait_for_calls(Calls::SipCallId(call_id), RECORD_WAIT)
        .await;
    assert_eq!(rows.len(), 1, "exactly one record per call: {rows:#?}");
    rows.into_iter().next().unwrap()
}

fn single_call_id(res: &common::SippResult) -> String {
    let ids = res.call_ids();
    assert_eq!(ids.len(), 1, "one call expected, saw {ids:?}");
    ids.into_iter().next().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn answered_call_gets_100_180_200_and_one_record() {
    let server = TestServer::start(DEFAULT_ROUTES).await;
    let res = server.sipp("uac_call", &["-s", "100"]).await;
    res.assert_ok();

    let codes = res.received_codes();
    assert_eq!(
        codes.get(..3),
        Some(&[100, 180, 200][..]),
        "INVITE answered 100, 180, 200: {codes:?}\n{}",
        res.report()
    );
    assert_eq!(codes.last(), Some(&200), "BYE answered 200: {codes:?}");

    let call_id = single_call_id(&res);
    let r = only_record(&server, &call_id).await;
    assert_eq!(r.outcome, Some(Outcome::Answered), "{r:#?}");
    assert_eq!(r.final_sip_code, Some(200), "{r:#?}");
    assert_eq!(r.hangup_cause.as_deref(), Some("normal"), "{r:#?}");
    assert_eq!(r.direction, Direction::Inbound);
    assert_eq!(r.to_number, "100");
    assert_eq!(r.trunk.as_deref(), Some("carrier"));
    let answered = r.answered_at_ms.expect("answered_at set");
    let ended = r.ended_at_ms.expect("ended_at set");
    assert!(
        r.started_at_ms <= answered && answered <= ended,
        "started <= answered <= ended: {r:#?}"
    );
    // SIPp holds the call 200 ms between ACK and BYE.
    assert!(ended - answered >= 150, "call lasted ~200 ms: {r:#?}");

    let store = server.store().await;
    assert_eq!(store.count_calls().await.unwrap(), 1);

    wait_metric(
        &server,
        "hibiki_calls_total",
        &[("outcome", "answered")],
        1.0,
    )
    .await;
    wait_metric(&server, "hibiki_calls_active", &[], 0.0).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_calls_make_ten_records() {
    let server = TestServer::start(DEFAULT_ROUTES).await;
    let res = server
        .sipp(
            "uac_call",
            &["-s", "100", "-m", "10", "-r", "20", "-l", "10"],
        )
        .await;
    res.assert_ok();
    let sent: BTreeSet<String> = res.call_ids().into_iter().collect();
    assert_eq!(sent.len(), 10, "SIPp placed 10 calls");

    let rows = server.wait_for_calls(Calls::Count(10), RECORD_WAIT).await;
    assert_eq!(rows.len(), 10, "{rows:#?}");
    let recorded: BTreeSet<String> = rows.iter().map(|r| r.sip_call_id.clone()).collect();
    assert_eq!(recorded, sent, "one record per SIPp call");
    for r in &rows {
        assert_eq!(r.outcome, Some(Outcome::Answered), "{r:#?}");
        assert_eq!(r.final_sip_code, Some(200), "{r:#?}");
        assert!(r.answered_at_ms.is_some(), "{r:#?}");
    }
    let store = server.store().await;
    assert_eq!(store.count_calls().await.unwrap(), 10);
    wait_metric(
        &server,
        "hibiki_calls_total",
        &[("outcome", "answered")],
        10.0,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_before_answer_gets_487_and_a_cancelled_record() {
    let server = TestServer::start(SLOW_ROUTES).await;
    let res = server.sipp("uac_cancel", &["-s", "100"]).await;
    res.assert_ok();
    let codes = res.received_codes();
    assert!(codes.contains(&180), "{codes:?}");
    assert!(codes.contains(&487), "{codes:?}");
    assert!(!codes.contains(&486), "{codes:?}");

    let r = only_record(&server, &single_call_id(&res)).await;
    assert_eq!(r.outcome, Some(Outcome::Cancelled), "{r:#?}");
    assert_eq!(r.final_sip_code, Some(487), "{r:#?}");
    assert_eq!(r.hangup_cause.as_deref(), Some("cancelled"), "{r:#?}");
    assert_eq!(r.answered_at_ms, None, "never answered: {r:#?}");
    assert!(r.ended_at_ms.is_some(), "{r:#?}");
    wait_metric(
        &server,
        "hibiki_calls_total",
        &[("outcome", "cancelled")],
        1.0,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_number_gets_404_and_a_rejected_record() {
    let server = TestServer::start(DEFAULT_ROUTES).await;
    let res = server.sipp("uac_404", &["-s", "999"]).await;
    res.assert_ok();
    let r = only_record(&server, &single_call_id(&res)).await;
    assert_eq!(r.outcome, Some(Outcome::Rejected), "{r:#?}");
    assert_eq!(r.final_sip_code, Some(404), "{r:#?}");
    assert_eq!(r.to_number, "999");
    assert_eq!(r.answered_at_ms, None, "{r:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_source_gets_403() {
    // The trunk admits 127.0.0.1/32 only; SIPp calls from 127.0.0.2.
    let server = TestServer::start(DEFAULT_ROUTES).await;
    let res = server
        .sipp("uac_403", &["-s", "100", "-i", "127.0.0.2"])
        .await;
    res.assert_ok();
    assert!(!res.received_codes().contains(&180), "never rang");
    // The same call from inside the trunk is answered: the 403 was about
    // the source, not the number.
    server.sipp("uac_call", &["-s", "100"]).await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn reject_route_gets_486_and_a_busy_record() {
    let server = TestServer::start(DEFAULT_ROUTES).await;
    let res = server.sipp("uac_486", &["-s", "486"]).await;
    res.assert_ok();
    let r = only_record(&server, &single_call_id(&res)).await;
    assert_eq!(r.outcome, Some(Outcome::Busy), "{r:#?}");
    assert_eq!(r.final_sip_code, Some(486), "{r:#?}");
    assert_eq!(r.answered_at_ms, None, "{r:#?}");
    wait_metric(&server, "hibiki_calls_total", &[("outcome", "busy")], 1.0).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_the_live_call_finish_and_refuses_new_ones() {
    let grace = 20;
    let mut server = TestServer::start_with(ServerConfig {
        grace_seconds: grace,
        ..ServerConfig::default()
    })
    .await;

    // A call that stays up 3 s after the ACK.
    let live = server.sipp_spawn("uac_hold", &["-s", "100", "-d", "3000"]);
    wait_metric(&server, "hibiki_calls_active", &[], 1.0).await;

    server.terminate();
    // Draining: /readyz stops saying 200 (or the listener is gone).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while server.http_get("/readyz").await.0 == 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "/readyz still 200 5 s after SIGTERM\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        server.wait_exit(Duration::ZERO).await.is_none(),
        "exited with a call still up\n{}",
        server.logs()
    );

    // A new call is refused while the live one drains.
    let refused = server.sipp("uac_503", &["-s", "100"]).await;
    refused.assert_ok();

    // The live call completes, BYE and all.
    let live = live.finish().await;
    live.assert_ok();
    assert_eq!(live.received_codes().last(), Some(&200), "BYE answered");

    // Then the process exits 0, within the grace bound.
    let status = server
        .wait_exit(Duration::from_secs(grace + 5))
        .await
        .unwrap_or_else(|| panic!("still running after the grace bound\n{}", server.logs()));
    assert!(status.success(), "exit status {status}\n{}", server.logs());

    // Nothing lost: the drained call's record was written before exit.
    let r = only_record(&server, &single_call_id(&live)).await;
    assert_eq!(r.outcome, Some(Outcome::Answered), "{r:#?}");
    assert_eq!(r.hangup_cause.as_deref(), Some("normal"), "{r:#?}");
}
