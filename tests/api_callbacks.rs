//! Callback requests and stored call records through the real server's
//! API: listing, reading and completing callback requests (roles, 404,
//! 409, 422), downloading a voicemail (and never a file outside the
//! recordings directory), and `GET /calls/{id}` with the IVR path and
//! recordings. Requests reach the database as calls write them: through
//! the record writer. On SQLite by default, on PostgreSQL with
//! `HIBIKI_TEST_DB=postgres` (`scripts/test.sh` runs both).

mod common;

use common::api::{add_user, parse_rfc3339_ms, Api};
use common::TestServer;
use hibiki::store::{
    CallRecord, CallbackRequest, Direction, Outcome, Pause, RecordEvent, RecordWriter,
    RecordingRecord, RecordingStatus, Voicemail,
};
use serde_json::json;

const PW: &str = "test-only-password";

/// A server with one user of each role; their tokens, by role name.
async fn server_with_roles() -> (
    TestServer,
    Api,
    std::collections::HashMap<&'static str, String>,
) {
    let server = TestServer::start(common::DEFAULT_ROUTES).await;
    let mut tokens = std::collections::HashMap::new();
    let api = Api::new(&server);
    for role in ["agent", "supervisor", "manager", "admin"] {
        let username = format!("{role}-user");
        add_user(&server, &username, role, PW);
        tokens.insert(role, api.token(&username, PW).await);
    }
    (server, api, tokens)
}

fn request(id: &str, created_at_ms: i64) -> CallbackRequest {
    CallbackRequest::open(
        id,
        format!("call-{id}"),
        "node-a",
        "+81312345678",
        "0120123456",
        "support",
        created_at_ms,
    )
}

/// Writes requests the way call actors do: through the record writer.
async fn write(server: &TestServer, requests: Vec<CallbackRequest>) {
    let (sink, handle) = RecordWriter::spawn(server.store().await);
    for r in requests {
        assert!(sink.send(RecordEvent::CallbackRequested(r)));
    }
    let stats = handle.finish().await;
    assert_eq!((stats.failed, stats.dropped), (0, 0));
}

/// A small valid WAV: 8 kHz mono 16-bit, `samples` samples of a ramp.
fn wav(samples: u16) -> Vec<u8> {
    let data_len = u32::from(samples) * 2;
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&8000u32.to_le_bytes());
    out.extend_from_slice(&16000u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..samples {
        out.extend_from_slice(&(i.wrapping_mul(37) as i16).to_le_bytes());
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn callback_requests_are_listed_read_and_completed_once() {
    let (server, api, t) = server_with_roles().await;
    let mut requests: Vec<CallbackRequest> = (0..4)
        .map(|i| request(&format!("cb-{i}"), 1_700_000_000_000 + i))
        .collect();
    requests[2].customer_id = Some("demo-hanako-yamada".to_owned());
    write(&server, requests).await;

    // Who may list: every role; without a token nobody.
    api.get("/callbacks", None).await.error(401, "unauthorized");
    for role in ["agent", "supervisor", "manager", "admin"] {
        let a = api.get("/callbacks?status=open", Some(&t[role])).await;
        assert_eq!(a.status, 200, "{role}: {:?}", a.body);
        let ids: Vec<&str> = a
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            ["cb-3", "cb-2", "cb-1", "cb-0"],
            "{role}: newest first"
        );
    }
    let a = api.get("/callbacks?limit=2", Some(&t["agent"])).await;
    assert_eq!(a.body.as_array().map(Vec::len), Some(2), "{:?}", a.body);
    api.get("/callbacks?status=pending", Some(&t["agent"]))
        .await
        .error(422, "invalid");
    for bad in ["0", "501", "many", "-1"] {
        api.get(&format!("/callbacks?limit={bad}"), Some(&t["agent"]))
            .await
            .error(422, "invalid");
    }

    // One request, as the API shows it.
    let a = api.get("/callbacks/cb-2", Some(&t["manager"])).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let r = &a.body;
    assert_eq!(r["call_id"], "call-cb-2");
    assert_eq!(r["caller_number"], "+81312345678");
    assert_eq!(
        (r["dialled"].as_str(), r["flow"].as_str()),
        (Some("0120123456"), Some("support"))
    );
    assert_eq!(r["customer_id"], "demo-hanako-yamada");
    assert_eq!(r["status"], "open");
    assert_eq!(
        parse_rfc3339_ms(r["created_at"].as_str().unwrap()),
        1_700_000_000_002
    );
    assert_eq!(
        (r["done_at"].is_null(), r["voicemail"].is_null()),
        (true, true)
    );
    api.get("/callbacks/nope", Some(&t["agent"]))
        .await
        .error(404, "not_found");
    api.get("/callbacks/cb-2", None)
        .await
        .error(401, "unauthorized");

    // Completing: not for managers; once; 404 for nothing.
    let complete = "/callbacks/cb-1/complete";
    let notes = json!({"notes": "called back: resolved"});
    api.post(complete, None, notes.clone())
        .await
        .error(401, "unauthorized");
    api.post(complete, Some(&t["manager"]), notes.clone())
        .await
        .error(403, "forbidden");
    api.post(
        complete,
        Some(&t["agent"]),
        json!({"notes": "x".repeat(10_001)}),
    )
    .await
    .error(422, "invalid");
    api.post(complete, Some(&t["agent"]), json!({"note": "typo"}))
        .await
        .error(422, "invalid");
    let a = api.post(complete, Some(&t["agent"]), notes.clone()).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["status"], "done");
    assert_eq!(a.body["done_by"], "agent-user");
    assert_eq!(a.body["notes"], "called back: resolved");
    assert!(a.body["done_at"].is_string(), "{:?}", a.body);
    let msg = api
        .post(complete, Some(&t["supervisor"]), json!({}))
        .await
        .error(409, "conflict");
    assert!(msg.contains("done"), "{msg}");
    api.post("/callbacks/nope/complete", Some(&t["agent"]), json!({}))
        .await
        .error(404, "not_found");

    // The lists follow.
    let open = api.get("/callbacks?status=open", Some(&t["agent"])).await;
    assert_eq!(open.body.as_array().map(Vec::len), Some(3));
    let done = api.get("/callbacks?status=done", Some(&t["agent"])).await;
    let done = done.body.as_array().unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["id"], "cb-1");
    let stored = server
        .store()
        .await
        .callback_request("cb-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.done_by.as_deref(), Some("agent-user"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_voicemail_downloads_as_wav_and_nothing_outside_the_recordings_dir_does() {
    let (server, api, t) = server_with_roles().await;
    let recordings = server.dir().join("data").join("recordings");
    let relative = "voicemail/2026/11/30/vm-1.wav";
    let audio = wav(4000);
    std::fs::create_dir_all(recordings.join("voicemail/2026/11/30")).unwrap();
    std::fs::write(recordings.join(relative), &audio).unwrap();

    let voicemail = |path: &str| Voicemail {
        path: path.to_owned(),
        duration_ms: 500,
        bytes: audio.len() as u64,
        sha256: None,
    };
    let mut with_vm = request("vm-1", 10);
    with_vm.voicemail = Some(voicemail(relative));
    let mut escaping = request("vm-escape", 11);
    // The server's own config file, one level above the data dir.
    escaping.voicemail = Some(voicemail("../../hibiki.toml"));
    let mut missing = request("vm-missing", 12);
    missing.voicemail = Some(voicemail("voicemail/2026/11/30/gone.wav"));
    write(
        &server,
        vec![with_vm, escaping, missing, request("no-vm", 13)],
    )
    .await;

    // The request shows where to download it, not the server's path.
    let a = api.get("/callbacks/vm-1", Some(&t["agent"])).await;
    assert_eq!(
        a.body["voicemail"]["url"],
        "/api/v1/callbacks/vm-1/voicemail"
    );
    assert_eq!(a.body["voicemail"]["duration_ms"], 500);
    assert!(!a.body.to_string().contains("2026/11/30"), "{:?}", a.body);

    let download = |id: &str, token: Option<&str>| {
        let mut req = api
            .client
            .get(format!("{}/callbacks/{id}/voicemail", api.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send()
    };
    let resp = download("vm-1", Some(&t["agent"])).await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "audio/wav");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), audio.as_slice());
    let resp = download("vm-1", Some(&t["manager"])).await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);

    // No token; no request; no voicemail; a path leaving the recordings
    // dir; a file gone: JSON errors, and never the file.
    let resp = download("vm-1", None).await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    for id in ["nope", "no-vm", "vm-escape", "vm-missing"] {
        let resp = download(id, Some(&t["admin"])).await.unwrap();
        assert_eq!(resp.status().as_u16(), 404, "{id}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "not_found", "{id}: {body}");
    }
    assert!(
        server
            .stderr_text()
            .contains("leaves the recordings directory"),
        "the refused path is logged"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_record_shows_its_ivr_path_and_recordings() {
    let (server, api, t) = server_with_roles().await;
    let store = server.store().await;
    let ivr_path = json!([
        {"node": "greeting", "at_ms": 0},
        {"node": "menu", "digits": "1", "at_ms": 4200},
        {"node": "callback", "at_ms": 9000}
    ]);
    let call = CallRecord {
        id: "cdr-1".to_owned(),
        node_id: "node-a".to_owned(),
        sip_call_id: "abc@10.0.0.1".to_owned(),
        direction: Direction::Inbound,
        trunk: Some("carrier".to_owned()),
        from_number: "0312345678".to_owned(),
        to_number: "0120123456".to_owned(),
        started_at_ms: 1_700_000_000_000,
        answered_at_ms: Some(1_700_000_001_000),
        ended_at_ms: Some(1_700_000_061_000),
        outcome: Some(Outcome::Answered),
        final_sip_code: Some(200),
        hangup_cause: Some("normal".to_owned()),
        ivr_path: Some(ivr_path.clone()),
        customer_id: Some("demo-hanako-yamada".to_owned()),
        queue: Some("support".to_owned()),
        queued_at_ms: Some(1_700_000_010_000),
        agent: Some("agent1".to_owned()),
        connected_at_ms: Some(1_700_000_012_500),
        out_trunk: None,
        out_sip_call_id: None,
    };
    store.call_ended(&call).await.unwrap();
    let mut rec = RecordingRecord::started(
        "rec-1",
        "cdr-1",
        "node-a",
        "2023/11/14/cdr-1.wav",
        1_700_000_001_000,
    );
    rec.ended_at_ms = Some(1_700_000_061_000);
    rec.duration_ms = 60_000;
    rec.bytes = 44 + 60 * 32_000;
    rec.status = RecordingStatus::Closed;
    rec.sha256 = Some("cd".repeat(32));
    rec.pauses = vec![Pause {
        start_ms: 1_000,
        end_ms: 2_000,
    }];
    store.recording_closed(&rec).await.unwrap();

    api.get("/calls/cdr-1", None)
        .await
        .error(401, "unauthorized");
    api.get("/calls/cdr-1", Some(&t["agent"]))
        .await
        .error(403, "forbidden");
    api.get("/calls/nope", Some(&t["supervisor"]))
        .await
        .error(404, "not_found");
    for role in ["supervisor", "manager", "admin"] {
        let a = api.get("/calls/cdr-1", Some(&t[role])).await;
        assert_eq!(a.status, 200, "{role}: {:?}", a.body);
        let c = &a.body;
        assert_eq!(c["ivr_path"], ivr_path);
        assert_eq!(
            (c["from_number"].as_str(), c["to_number"].as_str()),
            (Some("0312345678"), Some("0120123456"))
        );
        assert_eq!(
            (c["outcome"].as_str(), c["final_sip_code"].as_u64()),
            (Some("answered"), Some(200))
        );
        assert_eq!(c["hangup_cause"], "normal");
        assert_eq!(
            parse_rfc3339_ms(c["ended_at"].as_str().unwrap()),
            1_700_000_061_000
        );
        assert_eq!(
            (&c["customer_id"], &c["queue"], &c["agent"]),
            (
                &json!("demo-hanako-yamada"),
                &json!("support"),
                &json!("agent1")
            )
        );
        assert_eq!(
            parse_rfc3339_ms(c["queued_at"].as_str().unwrap()),
            1_700_000_010_000
        );
        assert_eq!(c["connected_at"], "2023-11-14T22:13:32.500Z");
        assert_eq!(
            parse_rfc3339_ms(c["connected_at"].as_str().unwrap()),
            1_700_000_012_500
        );
        let recs = c["recordings"].as_array().unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0]["id"], "rec-1");
        assert_eq!(recs[0]["status"], "closed");
        assert_eq!(recs[0]["duration_ms"], 60_000);
        assert_eq!(
            recs[0]["pauses"],
            json!([{"start_ms": 1000, "end_ms": 2000}])
        );
        assert!(recs[0].get("path").is_none(), "no server paths: {c}");
    }

    // A call that ran no flow: `ivr_path` is null, no recordings.
    let plain = CallRecord {
        id: "cdr-2".to_owned(),
        ivr_path: None,
        customer_id: None,
        queue: None,
        queued_at_ms: None,
        agent: None,
        connected_at_ms: None,
        out_trunk: None,
        out_sip_call_id: None,
        ..call
    };
    store.call_ended(&plain).await.unwrap();
    let a = api.get("/calls/cdr-2", Some(&t["admin"])).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert!(a.body["ivr_path"].is_null(), "{:?}", a.body);
    for absent in [
        "customer_id",
        "queue",
        "queued_at",
        "agent",
        "connected_at",
        "out_trunk",
        "out_sip_call_id",
    ] {
        assert!(a.body[absent].is_null(), "{absent}: {:?}", a.body);
    }
    assert_eq!(a.body["recordings"], json!([]));
}
