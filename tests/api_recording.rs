//! Pausing a live call's recording over the API while a caller reads out
//! card details: SIPp is on a recorded demo call (its audio on the left,
//! Hibiki's prompts on the right, no agent on it); a supervisor pauses
//! the recording, then resumes it. Checked: the API's answers (roles: an
//! agent may command only the call they are on, see
//! `tests/agent_queue.rs`; 404; idempotence), the pause marker in the
//! recording's row, and the WAV: silent on both channels inside the
//! marker, the caller's audio outside.

mod common;

use std::time::{Duration, Instant};

use common::api::{add_user, Api};
use common::media::{demo_server, read_wav, recording_file, recordings_once_closed, split_stereo};
use common::{free_udp_port, Calls, TestServer};
use serde_json::json;

/// Waits (bounded) for the server to log the start of a recording and
/// returns that call's id.
async fn recorded_call_id(server: &TestServer) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = server.stderr_text();
        let id = log
            .lines()
            .filter(|l| l.contains(" recording path="))
            .find_map(|l| l.split("call{id=").nth(1))
            .and_then(|rest| rest.split([' ', '}']).next())
            .map(str::to_owned);
        if let Some(id) = id {
            return id;
        }
        assert!(
            Instant::now() < deadline,
            "no recording started:\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn energy(samples: &[f64]) -> f64 {
    samples.iter().map(|s| s * s).sum::<f64>() / samples.len().max(1) as f64
}

#[tokio::test(flavor = "multi_thread")]
async fn a_supervisor_pauses_and_resumes_a_live_recording() {
    let server = TestServer::start_with(demo_server()).await;
    add_user(&server, "amy", "agent", "agent-password-1");
    add_user(&server, "sue", "supervisor", "supervisor-password-1");
    add_user(&server, "max", "manager", "manager-password-1");
    let api = Api::new(&server);
    let amy = api.token("amy", "agent-password-1").await;
    let supervisor = api.token("sue", "supervisor-password-1").await;
    let manager = api.token("max", "manager-password-1").await;

    let media_port = free_udp_port("127.0.0.1").to_string();
    let call = server.sipp_spawn("uac_media", &["-mp", &media_port, "-timeout", "60s"]);
    let id = recorded_call_id(&server).await;
    let pause = format!("/calls/{id}/recording/pause");
    let resume = format!("/calls/{id}/recording/resume");

    // Who may not: no token, a manager, an agent not on the call; what
    // does not exist: 404.
    api.post(&pause, None, json!({}))
        .await
        .error(401, "unauthorized");
    api.post(&pause, Some(&manager), json!({}))
        .await
        .error(403, "forbidden");
    api.post(&pause, Some(&amy), json!({}))
        .await
        .error(403, "forbidden");
    api.post(
        "/calls/no-such-call/recording/pause",
        Some(&supervisor),
        json!({}),
    )
    .await
    .error(404, "not_found");

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let paused_at = Instant::now();
    let a = api.post(&pause, Some(&supervisor), json!({})).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["recording"], "paused", "{:?}", a.body);
    assert_eq!(a.body["call_id"], id.as_str());
    // Pausing twice is harmless.
    let a = api.post(&pause, Some(&supervisor), json!({})).await;
    assert_eq!(
        (a.status, a.body["recording"].as_str()),
        (200, Some("paused"))
    );
    tokio::time::sleep(Duration::from_millis(2000).saturating_sub(paused_at.elapsed())).await;
    let a = api.post(&resume, Some(&supervisor), json!({})).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["recording"], "recording", "{:?}", a.body);

    // The call goes on to its end ('#' → goodbye → BYE).
    call.finish().await.assert_ok();
    let rows = server
        .wait_for_calls(Calls::Count(1), Duration::from_secs(15))
        .await;
    assert_eq!(rows[0].id, id);
    // Once over, the call takes no commands.
    api.post(&resume, Some(&supervisor), json!({}))
        .await
        .error(404, "not_found");

    let recordings = recordings_once_closed(&server, &id).await;
    assert_eq!(recordings.len(), 1, "{recordings:#?}");
    let rec = &recordings[0];
    assert_eq!(rec.pauses.len(), 1, "{rec:#?}");
    let p = &rec.pauses[0];
    let length = p.end_ms - p.start_ms;
    assert!(
        (1800..=10_000).contains(&length),
        "the pause lasted {length} ms: {rec:#?}"
    );
    let (_, samples) = read_wav(&recording_file(&server, rec));
    let (left, right) = split_stereo(&samples);
    let at = |ms: u64| usize::try_from(ms * 8).unwrap_or(0);
    // Inside the marker (one frame of margin each side): nothing at all.
    let inside = at(p.start_ms + 20)..at(p.end_ms - 20);
    assert!(
        left[inside.clone()].iter().all(|&s| s == 0.0)
            && right[inside.clone()].iter().all(|&s| s == 0.0),
        "audio inside the pause {p:?}"
    );
    // Before it, the caller was speaking and the prompt playing; after it,
    // the caller's audio is back.
    let before = at(p.start_ms - 1000)..at(p.start_ms);
    let after = at(p.end_ms)..at(p.end_ms + 1000).min(left.len());
    assert!(
        energy(&left[before.clone()]) > 1000.0,
        "caller silent before the pause"
    );
    assert!(
        energy(&right[before]) > 1000.0,
        "prompt silent before the pause"
    );
    assert!(
        energy(&left[after]) > 1000.0,
        "caller silent after the pause"
    );
}
