//! Customers, recordings and agents through the real server's API:
//! creating and updating customers (E.164 numbers, 409 naming the owner
//! of a taken number), searching by phone in national and international
//! forms and by name, the CSV import with good and bad rows, a customer's
//! interactions (calls, dispositions and recording written through the
//! store, as the ACD does), recording metadata and audio (bytes equal to
//! the file, ranges, an agent refused another agent's recording), agent
//! skills, devices and state history, and every endpoint refusing no
//! token, an expired one and the wrong role. On SQLite by default, on
//! PostgreSQL with `HIBIKI_TEST_DB=postgres` (`scripts/test.sh` runs both).

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::api::{add_user, now_ms, parse_rfc3339_ms, Api};
use common::{ServerConfig, TestServer};
use hibiki::store::{
    AgentStateChange, AgentStatus, CallRecord, Direction, Disposition, Outcome, RecordEvent,
    RecordWriter, RecordingRecord, RecordingStatus,
};
use serde_json::{json, Value};

const PW: &str = "test-only-password";

/// A server with users agent1, agent2 (agents), supervisor, manager,
/// admin; their tokens by username.
async fn server_with_users(
    config: ServerConfig,
) -> (TestServer, Api, HashMap<&'static str, String>) {
    let server = TestServer::start_with(config).await;
    let api = Api::new(&server);
    let mut tokens = HashMap::new();
    for (username, role) in [
        ("agent1", "agent"),
        ("agent2", "agent"),
        ("supervisor", "supervisor"),
        ("manager", "manager"),
        ("admin", "admin"),
    ] {
        add_user(&server, username, role, PW);
        tokens.insert(username, api.token(username, PW).await);
    }
    (server, api, tokens)
}

async fn put(api: &Api, path: &str, token: Option<&str>, body: Value) -> common::api::Answer {
    let req = api.client.put(format!("{}{path}", api.base)).json(&body);
    api.send(req, token).await
}

async fn patch(api: &Api, path: &str, token: Option<&str>, body: Value) -> common::api::Answer {
    let req = api.client.patch(format!("{}{path}", api.base)).json(&body);
    api.send(req, token).await
}

async fn import(
    api: &Api,
    token: Option<&str>,
    content_type: &str,
    csv: &str,
) -> common::api::Answer {
    let req = api
        .client
        .post(format!("{}/customers/import", api.base))
        .header("content-type", content_type)
        .body(csv.to_owned());
    api.send(req, token).await
}

fn ids(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn customers_are_created_updated_searched_and_conflicts_name_the_owner() {
    let (_server, api, t) = server_with_users(ServerConfig::default()).await;
    let a = api
        .post(
            "/customers",
            Some(&t["agent1"]),
            json!({"name": " Hanako Yamada ", "phones": ["03-1234-5678", "+81 90 1234 5678"],
                   "email": "hanako@example.com"}),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    let hanako = a.body["id"].as_str().unwrap().to_owned();
    assert_eq!(a.body["name"], "Hanako Yamada");
    assert_eq!(a.body["phones"], json!(["+81312345678", "+819012345678"]));
    assert_eq!(a.body["email"], "hanako@example.com");
    assert_eq!(a.body["notes"], "");

    // Read back, by every role that may.
    for who in ["agent2", "supervisor", "manager", "admin"] {
        let a = api
            .get(&format!("/customers/{hanako}"), Some(&t[who]))
            .await;
        assert_eq!(a.status, 200, "{who}: {:?}", a.body);
        assert_eq!(a.body["phones"], json!(["+81312345678", "+819012345678"]));
    }
    api.get("/customers/nope", Some(&t["agent1"]))
        .await
        .error(404, "not_found");

    // A number another customer has, in another form: 409 naming them;
    // nothing is created.
    let taken = api
        .post(
            "/customers",
            Some(&t["agent2"]),
            json!({"name": "Someone Else", "phones": ["+1 415 555 0100", "0312345678"]}),
        )
        .await
        .error(409, "conflict");
    assert!(
        taken.contains("+81312345678") && taken.contains(&hanako),
        "{taken}"
    );
    assert!(taken.contains("Hanako Yamada"), "{taken}");
    let a = api.get("/customers?q=someone", Some(&t["agent2"])).await;
    assert_eq!(a.body, json!([]), "nothing written");

    // Bad input.
    for (body, why) in [
        (json!({"name": "  ", "phones": []}), "name"),
        (json!({"name": "X", "phones": ["1001"]}), "1001"),
        (
            json!({"name": "X", "phones": ["+81312345678"], "colour": "red"}),
            "colour",
        ),
        (
            json!({"name": "X", "name_prompt": "../../etc/passwd"}),
            "name_prompt",
        ),
    ] {
        let m = api
            .post("/customers", Some(&t["agent1"]), body)
            .await
            .error(422, "invalid");
        assert!(m.contains(why), "{why}: {m}");
    }
    api.post("/customers", Some(&t["agent1"]), json!({"phones": []}))
        .await
        .error(422, "invalid");

    // A second customer, then updates.
    let a = api
        .post(
            "/customers",
            Some(&t["supervisor"]),
            json!({"name": "John Smith", "phones": ["+14155550100"], "notes": "VIP"}),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    let john = a.body["id"].as_str().unwrap().to_owned();
    let a = patch(
        &api,
        &format!("/customers/{john}"),
        Some(&t["agent1"]),
        json!({"email": "john@example.com", "name_prompt": "customer-john-smith",
               "phones": ["+14155550100", "0667890123"]}),
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["name"], "John Smith", "kept");
    assert_eq!(a.body["notes"], "VIP", "kept");
    assert_eq!(a.body["email"], "john@example.com");
    assert_eq!(a.body["name_prompt"], "customer-john-smith");
    assert_eq!(a.body["phones"], json!(["+14155550100", "+81667890123"]));
    // Taking Hanako's number: 409, and John is unchanged.
    let m = patch(
        &api,
        &format!("/customers/{john}"),
        Some(&t["agent1"]),
        json!({"name": "Johnny", "phones": ["090-1234-5678"]}),
    )
    .await
    .error(409, "conflict");
    assert!(m.contains("+819012345678") && m.contains(&hanako), "{m}");
    let a = api
        .get(&format!("/customers/{john}"), Some(&t["agent1"]))
        .await;
    assert_eq!(a.body["name"], "John Smith");
    assert_eq!(a.body["phones"], json!(["+14155550100", "+81667890123"]));
    // null removes the email.
    let a = patch(
        &api,
        &format!("/customers/{john}"),
        Some(&t["agent1"]),
        json!({"email": null}),
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert!(a.body["email"].is_null());
    patch(
        &api,
        "/customers/nope",
        Some(&t["agent1"]),
        json!({"name": "X"}),
    )
    .await
    .error(404, "not_found");
    patch(
        &api,
        &format!("/customers/{john}"),
        Some(&t["agent1"]),
        json!({"name": ""}),
    )
    .await
    .error(422, "invalid");

    // Search by phone: national and E.164 forms find the same customer.
    for form in [
        "03-1234-5678",
        "0312345678",
        "%2B81312345678",
        "%2B819012345678",
        "81312345678",
    ] {
        let a = api
            .get(&format!("/customers?phone={form}"), Some(&t["agent2"]))
            .await;
        assert_eq!(a.status, 200, "{form}: {:?}", a.body);
        assert_eq!(ids(&a.body), [hanako.as_str()], "{form}");
    }
    let a = api
        .get("/customers?phone=06-6789-0123", Some(&t["agent2"]))
        .await;
    assert_eq!(ids(&a.body), [john.as_str()]);
    let a = api
        .get("/customers?phone=0399999999", Some(&t["agent2"]))
        .await;
    assert_eq!(a.body, json!([]));
    api.get("/customers?phone=1001", Some(&t["agent2"]))
        .await
        .error(422, "invalid");

    // Search by name: contains, ignoring case; limit and offset.
    let a = api.get("/customers?q=SMITH", Some(&t["agent2"])).await;
    assert_eq!(ids(&a.body), [john.as_str()]);
    let a = api.get("/customers?q=a", Some(&t["agent2"])).await;
    assert_eq!(ids(&a.body), [hanako.as_str()], "only names with an a");
    let a = api.get("/customers?q=h", Some(&t["agent2"])).await;
    assert_eq!(ids(&a.body), [hanako.as_str(), john.as_str()], "by name");
    let a = api
        .get("/customers?q=h&limit=1&offset=1", Some(&t["agent2"]))
        .await;
    assert_eq!(ids(&a.body), [john.as_str()]);
    let a = api.get("/customers?q=%25", Some(&t["agent2"])).await;
    assert_eq!(a.body, json!([]), "% is literal");
    for bad in [
        "",
        "?q=",
        "?q=a&phone=0312345678",
        "?q=a&limit=0",
        "?q=a&limit=101",
        "?q=a&offset=x",
    ] {
        api.get(&format!("/customers{bad}"), Some(&t["agent2"]))
            .await
            .error(422, "invalid");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_csv_import_creates_and_updates_and_reports_bad_rows() {
    let (server, api, t) = server_with_users(ServerConfig::default()).await;
    let store = server.store().await;
    let csv = "id,name,phones,email,notes\r\n\
               ,Hanako Yamada,03-1234-5678;090-1234-5678,hanako@example.com,\"likes tea, not coffee\"\r\n\
               c-john,John Smith,+1 415 555 0100|,,\r\n\
               ,,0311112222,,no name\r\n\
               ,Bad Phone,12,,\r\n\
               ,Taken Number,0312345678,,\r\n\
               c-taro,Taro Suzuki,06-1234-5678,,\"multi\nline\"\r\n";
    for who in ["agent1", "supervisor"] {
        import(&api, Some(&t[who]), "text/csv", csv)
            .await
            .error(403, "forbidden");
    }
    let a = import(&api, Some(&t["manager"]), "text/csv; charset=utf-8", csv).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(
        (a.body["created"].as_u64(), a.body["updated"].as_u64()),
        (Some(3), Some(0))
    );
    let errors = a.body["errors"].as_array().unwrap();
    let rows: Vec<u64> = errors.iter().map(|e| e["row"].as_u64().unwrap()).collect();
    assert_eq!(rows, [4, 5, 6], "{errors:?}");
    assert!(errors[0]["reason"].as_str().unwrap().contains("name"));
    assert!(errors[1]["reason"].as_str().unwrap().contains("\"12\""));
    let taken = errors[2]["reason"].as_str().unwrap();
    assert!(
        taken.contains("+81312345678") && taken.contains("Hanako Yamada"),
        "{taken}"
    );

    let hanako = store
        .customer_by_phone("+819012345678")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hanako.name, "Hanako Yamada");
    assert_eq!(hanako.notes, "likes tea, not coffee");
    assert_eq!(hanako.email.as_deref(), Some("hanako@example.com"));
    let john = store.customer("c-john").await.unwrap().unwrap();
    assert_eq!(john.phones, ["+14155550100"]);
    assert_eq!(john.email, None);
    let taro = store.customer("c-taro").await.unwrap().unwrap();
    assert_eq!(
        (taro.notes.as_str(), taro.phones.as_slice()),
        ("multi\nline", &["+81612345678".to_owned()][..])
    );

    // A second file updates by id (any column order, header case).
    let again = "Name,ID,Phones\nJohn Q. Smith,c-john,+14155550100;03-9999-0000\nNew Person,,\n";
    let a = import(&api, Some(&t["admin"]), "text/csv", again).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body, json!({"created": 1, "updated": 1, "errors": []}));
    let john = store.customer("c-john").await.unwrap().unwrap();
    assert_eq!(john.name, "John Q. Smith");
    assert_eq!(john.phones, ["+14155550100", "+81399990000"]);

    // Files refused whole.
    for (ct, body, status, code) in [
        (
            "application/json",
            "name\nX\n",
            415,
            "unsupported_media_type",
        ),
        ("text/csv", "", 422, "invalid"),
        ("text/csv", "name,colour\nX,red\n", 422, "invalid"),
        ("text/csv", "phones\n0312345678\n", 422, "invalid"),
        ("text/csv", "name\n\"open\n", 422, "invalid"),
    ] {
        import(&api, Some(&t["admin"]), ct, body)
            .await
            .error(status, code);
    }
    let big = format!("name\n{}", "x\n".repeat(3 * 1024 * 1024));
    import(&api, Some(&t["admin"]), "text/csv", &big)
        .await
        .error(413, "payload_too_large");
    assert_eq!(store.count_customers().await.unwrap(), 4, "nothing more");
}

/// A small valid WAV: 8 kHz stereo 16-bit, `frames` frames of a ramp.
fn wav(frames: u32) -> Vec<u8> {
    let data_len = frames * 4;
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&8000u32.to_le_bytes());
    out.extend_from_slice(&32000u32.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..frames * 2 {
        out.extend_from_slice(&((i.wrapping_mul(37) & 0x7fff) as i16).to_le_bytes());
    }
    out
}

fn call(id: &str, customer: &str, agent: Option<&str>, started_at_ms: i64) -> CallRecord {
    CallRecord {
        id: id.to_owned(),
        node_id: "node-a".to_owned(),
        sip_call_id: format!("{id}@10.0.0.1"),
        direction: Direction::Inbound,
        trunk: Some("carrier".to_owned()),
        from_number: "+81312345678".to_owned(),
        to_number: "0120123456".to_owned(),
        started_at_ms,
        answered_at_ms: Some(started_at_ms + 1_000),
        ended_at_ms: Some(started_at_ms + 60_000),
        outcome: Some(Outcome::Answered),
        final_sip_code: Some(200),
        hangup_cause: Some("normal".to_owned()),
        ivr_path: None,
        customer_id: Some(customer.to_owned()),
        queue: Some("support".to_owned()),
        queued_at_ms: Some(started_at_ms + 2_000),
        agent: agent.map(str::to_owned),
        connected_at_ms: agent.map(|_| started_at_ms + 5_000),
        out_trunk: None,
        out_sip_call_id: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn interactions_and_recordings_follow_the_agent_rules() {
    let (server, api, t) = server_with_users(ServerConfig::default()).await;
    let store = server.store().await;
    let a = api
        .post(
            "/customers",
            Some(&t["agent1"]),
            json!({"name": "Hanako Yamada", "phones": ["0312345678"]}),
        )
        .await;
    let cust = a.body["id"].as_str().unwrap().to_owned();

    // Three calls of the customer through the record writer (as the call
    // actors write them), a disposition, a recording file.
    let (sink, handle) = RecordWriter::spawn(store.clone());
    let base = 1_700_000_000_000;
    for c in [
        call("call-1", &cust, Some("agent1"), base),
        call("call-2", &cust, Some("agent2"), base + 100_000),
        call("call-3", &cust, None, base + 200_000),
        call("call-x", "someone-else", Some("agent1"), base + 300_000),
    ] {
        assert!(sink.send(RecordEvent::Ended(c)));
    }
    let stats = handle.finish().await;
    assert_eq!((stats.failed, stats.dropped), (0, 0));
    store
        .save_disposition(&Disposition {
            call_id: "call-1".into(),
            username: "agent1".into(),
            customer_id: Some(cust.clone()),
            code: "resolved".into(),
            notes: "reset the router".into(),
            at_ms: base + 70_000,
        })
        .await
        .unwrap();
    let audio = wav(8000);
    let recordings = server.dir().join("data").join("recordings");
    std::fs::create_dir_all(recordings.join("2023/11/14")).unwrap();
    std::fs::write(recordings.join("2023/11/14/call-1.wav"), &audio).unwrap();
    std::fs::write(recordings.join("2023/11/14/call-2.wav"), wav(10)).unwrap();
    for (id, call_id) in [("rec-1", "call-1"), ("rec-2", "call-2")] {
        let mut rec = RecordingRecord::started(
            id,
            call_id,
            "node-a",
            format!("2023/11/14/{call_id}.wav"),
            base + 1_000,
        );
        rec.status = RecordingStatus::Closed;
        rec.ended_at_ms = Some(base + 2_000);
        rec.duration_ms = 1_000;
        rec.bytes = audio.len() as u64;
        store.recording_closed(&rec).await.unwrap();
    }
    let mut escape =
        RecordingRecord::started("rec-escape", "call-1", "node-a", "../hibiki.toml", base);
    escape.status = RecordingStatus::Closed;
    store.recording_closed(&escape).await.unwrap();

    // Interactions: newest first, default 5, limit.
    let a = api
        .get(
            &format!("/customers/{cust}/interactions"),
            Some(&t["agent2"]),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let calls: Vec<&str> = a
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["call_id"].as_str().unwrap())
        .collect();
    assert_eq!(calls, ["call-3", "call-2", "call-1"]);
    let first = &a.body[2];
    assert_eq!(first["agent"], "agent1");
    assert_eq!(first["queue"], "support");
    assert_eq!(first["outcome"], "answered");
    assert_eq!(first["direction"], "inbound");
    assert_eq!(
        parse_rfc3339_ms(first["started_at"].as_str().unwrap()),
        base
    );
    assert_eq!(
        parse_rfc3339_ms(first["answered_at"].as_str().unwrap()),
        base + 1_000
    );
    assert_eq!(
        parse_rfc3339_ms(first["ended_at"].as_str().unwrap()),
        base + 60_000
    );
    assert_eq!(
        first["dispositions"],
        json!([{"username": "agent1", "code": "resolved", "notes": "reset the router",
                "at": "2023-11-14T22:14:30.000Z"}])
    );
    // call-1's first recording by start time: rec-escape and rec-1 start
    // apart; rec-escape starts first.
    assert_eq!(first["recording"]["id"], "rec-escape");
    assert_eq!(a.body[1]["recording"]["id"], "rec-2");
    assert_eq!(a.body[1]["recording"]["status"], "closed");
    assert_eq!(a.body[1]["recording"]["duration_ms"], 1_000);
    assert!(a.body[0]["recording"].is_null());
    assert!(a.body[0]["agent"].is_null());
    let a = api
        .get(
            &format!("/customers/{cust}/interactions?limit=1"),
            Some(&t["agent2"]),
        )
        .await;
    assert_eq!(a.body.as_array().map(Vec::len), Some(1));
    for bad in ["0", "51", "x"] {
        api.get(
            &format!("/customers/{cust}/interactions?limit={bad}"),
            Some(&t["agent2"]),
        )
        .await
        .error(422, "invalid");
    }
    api.get("/customers/nope/interactions", Some(&t["agent2"]))
        .await
        .error(404, "not_found");

    // Recording metadata and audio: agent1 took call-1, agent2 did not.
    let a = api.get("/recordings/rec-1", Some(&t["agent1"])).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["call_id"], "call-1");
    assert_eq!(a.body["audio_url"], "/api/v1/recordings/rec-1/audio");
    assert_eq!(a.body["status"], "closed");
    assert!(a.body.get("path").is_none(), "no server path: {:?}", a.body);
    let fetch = |token: String, range: Option<&'static str>| {
        let mut req = api
            .client
            .get(format!("{}/recordings/rec-1/audio", api.base))
            .bearer_auth(token);
        if let Some(r) = range {
            req = req.header("range", r);
        }
        req.send()
    };
    for who in ["agent1", "supervisor", "manager", "admin"] {
        let resp = fetch(t[who].clone(), None).await.unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{who}");
        assert_eq!(resp.headers()["content-type"], "audio/wav");
        assert_eq!(resp.headers()["accept-ranges"], "bytes");
        assert_eq!(
            resp.bytes().await.unwrap().as_ref(),
            audio.as_slice(),
            "{who}"
        );
    }
    let resp = fetch(t["admin"].clone(), Some("bytes=40-47"))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 206);
    assert_eq!(
        resp.headers()["content-range"],
        format!("bytes 40-47/{}", audio.len())
    );
    assert_eq!(resp.bytes().await.unwrap().as_ref(), &audio[40..48]);
    let resp = fetch(t["admin"].clone(), Some("bytes=-4")).await.unwrap();
    assert_eq!(resp.status().as_u16(), 206);
    assert_eq!(
        resp.bytes().await.unwrap().as_ref(),
        &audio[audio.len() - 4..]
    );
    let resp = fetch(t["admin"].clone(), Some("bytes=999999-"))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 416);
    assert_eq!(
        resp.headers()["content-range"],
        format!("bytes */{}", audio.len())
    );

    for path in ["/recordings/rec-1", "/recordings/rec-1/audio"] {
        let m = api
            .get(path, Some(&t["agent2"]))
            .await
            .error(403, "forbidden");
        assert!(m.contains("calls they took"), "{m}");
    }
    let resp = api
        .client
        .get(format!("{}/recordings/rec-2/audio", api.base))
        .bearer_auth(&t["agent2"])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200, "agent2 took call-2");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), wav(10).as_slice());
    api.get("/recordings/nope", Some(&t["admin"]))
        .await
        .error(404, "not_found");
    api.get("/recordings/rec-escape/audio", Some(&t["admin"]))
        .await
        .error(404, "not_found");
    assert!(server
        .stderr_text()
        .contains("leaves the recordings directory"));
}

#[tokio::test(flavor = "multi_thread")]
async fn agents_skills_devices_and_state_history() {
    let (server, api, t) = server_with_users(ServerConfig::default()).await;
    let store = server.store().await;
    let a = api.get("/agents", Some(&t["supervisor"])).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let names: Vec<&str> = a
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["username"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["agent1", "agent2", "supervisor"],
        "agents and supervisors"
    );

    let a = put(
        &api,
        "/agents/agent1/skills",
        Some(&t["admin"]),
        json!([{"skill": "support", "level": 5}, {"skill": "billing", "level": 3}]),
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(
        a.body["skills"],
        json!([{"skill": "billing", "level": 3}, {"skill": "support", "level": 5}])
    );
    assert_eq!(a.body["role"], "agent");
    for bad in [
        json!([{"skill": "support", "level": 11}]),
        json!([{"skill": "support", "level": 0}]),
        json!([{"skill": "support", "level": 300}]),
        json!([{"skill": "two words", "level": 3}]),
        json!([{"skill": "a", "level": 1}, {"skill": "a", "level": 2}]),
        json!({"skill": "a", "level": 1}),
    ] {
        put(&api, "/agents/agent1/skills", Some(&t["supervisor"]), bad)
            .await
            .error(422, "invalid");
    }
    let a = api.get("/agents", Some(&t["admin"])).await;
    assert_eq!(
        a.body[0]["skills"].as_array().map(Vec::len),
        Some(2),
        "unchanged"
    );
    put(&api, "/agents/manager/skills", Some(&t["admin"]), json!([]))
        .await
        .error(404, "not_found");
    put(&api, "/agents/nobody/skills", Some(&t["admin"]), json!([]))
        .await
        .error(404, "not_found");

    let a = put(
        &api,
        "/agents/agent2/device",
        Some(&t["supervisor"]),
        json!({"sip_uri": "sip:1002@192.0.2.20:5070"}),
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["sip_uri"], "sip:1002@192.0.2.20:5070");
    for bad in ["tel:+81312345678", "1002@192.0.2.20", "sip:a b@x"] {
        put(
            &api,
            "/agents/agent2/device",
            Some(&t["admin"]),
            json!({"sip_uri": bad}),
        )
        .await
        .error(422, "invalid");
    }
    let a = put(
        &api,
        "/agents/agent2/device",
        Some(&t["admin"]),
        json!({"sip_uri": null}),
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert!(a.body["sip_uri"].is_null());

    // State history, written by the record writer as the ACD does.
    let (sink, handle) = RecordWriter::spawn(store.clone());
    let base = 1_700_000_000_000;
    for (i, status) in [
        AgentStatus::Available,
        AgentStatus::Offered,
        AgentStatus::OnCall,
        AgentStatus::WrapUp,
    ]
    .into_iter()
    .enumerate()
    {
        assert!(sink.send(RecordEvent::AgentState(AgentStateChange {
            id: format!("st-{i}"),
            node_id: "node-a".into(),
            username: "agent1".into(),
            status,
            reason: None,
            call_id: (i > 0).then(|| "call-1".to_owned()),
            at_ms: base + i as i64 * 1_000,
        })));
    }
    handle.finish().await;
    for who in ["agent1", "supervisor", "admin"] {
        let a = api.get("/agents/agent1/states", Some(&t[who])).await;
        assert_eq!(a.status, 200, "{who}: {:?}", a.body);
        let got: Vec<&str> = a
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["status"].as_str().unwrap())
            .collect();
        assert_eq!(got, ["wrap_up", "on_call", "offered", "available"], "{who}");
    }
    let a = api
        .get(
            "/agents/agent1/states?since=2023-11-14T22:13:22.000Z&limit=1",
            Some(&t["agent1"]),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body.as_array().map(Vec::len), Some(1));
    assert_eq!(a.body[0]["id"], "st-3");
    assert_eq!(a.body[0]["call_id"], "call-1");
    assert_eq!(
        parse_rfc3339_ms(a.body[0]["at"].as_str().unwrap()),
        base + 3_000
    );
    let a = api
        .get(
            &format!("/agents/agent1/states?since={}", base + 2_000),
            Some(&t["agent1"]),
        )
        .await;
    assert_eq!(a.body.as_array().map(Vec::len), Some(2));
    api.get("/agents/agent1/states", Some(&t["agent2"]))
        .await
        .error(403, "forbidden");
    api.get("/agents/agent1/states", Some(&t["manager"]))
        .await
        .error(403, "forbidden");
    for bad in ["since=yesterday", "limit=0", "limit=1001"] {
        api.get(&format!("/agents/agent1/states?{bad}"), Some(&t["agent1"]))
            .await
            .error(422, "invalid");
    }
}

/// Every endpoint of this file: method, path, and the roles it admits.
const ENDPOINTS: &[(&str, &str, &[&str])] = &[
    (
        "POST",
        "/customers",
        &["agent", "supervisor", "manager", "admin"],
    ),
    (
        "GET",
        "/customers/c-1",
        &["agent", "supervisor", "manager", "admin"],
    ),
    (
        "PATCH",
        "/customers/c-1",
        &["agent", "supervisor", "manager", "admin"],
    ),
    (
        "GET",
        "/customers?q=a",
        &["agent", "supervisor", "manager", "admin"],
    ),
    ("POST", "/customers/import", &["manager", "admin"]),
    (
        "GET",
        "/customers/c-1/interactions",
        &["agent", "supervisor", "manager", "admin"],
    ),
    (
        "GET",
        "/recordings/r-1",
        &["agent", "supervisor", "manager", "admin"],
    ),
    (
        "GET",
        "/recordings/r-1/audio",
        &["agent", "supervisor", "manager", "admin"],
    ),
    ("GET", "/agents", &["supervisor", "admin"]),
    ("PUT", "/agents/agent-user/skills", &["supervisor", "admin"]),
    ("PUT", "/agents/agent-user/device", &["supervisor", "admin"]),
    (
        "GET",
        "/agents/agent-user/states",
        &["agent", "supervisor", "admin"],
    ),
];

async fn call_endpoint(
    api: &Api,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> common::api::Answer {
    let url = format!("{}{path}", api.base);
    let req = match method {
        "GET" => api.client.get(url),
        "POST" if path.ends_with("/import") => api
            .client
            .post(url)
            .header("content-type", "text/csv")
            .body("name\n"),
        "POST" => api.client.post(url).json(&json!({"name": "X"})),
        "PATCH" => api.client.patch(url).json(&json!({})),
        "PUT" if path.ends_with("/skills") => api.client.put(url).json(&json!([])),
        "PUT" => api.client.put(url).json(&json!({"sip_uri": null})),
        other => panic!("method {other}"),
    };
    api.send(req, token).await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_endpoint_refuses_no_token_an_expired_token_and_the_wrong_role() {
    let config = ServerConfig {
        env: vec![("HIBIKI_AUTH_TOKEN_TTL_SECONDS".into(), "8".into())],
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(config).await;
    let api = Api::new(&server);
    let mut tokens = HashMap::new();
    for role in ["agent", "supervisor", "manager", "admin"] {
        add_user(&server, &format!("{role}-user"), role, PW);
    }
    for role in ["agent", "supervisor", "manager", "admin"] {
        tokens.insert(role, api.token(&format!("{role}-user"), PW).await);
    }
    let logged_in = now_ms();
    for (method, path, admitted) in ENDPOINTS {
        call_endpoint(&api, method, path, None)
            .await
            .error(401, "unauthorized");
        call_endpoint(&api, method, path, Some("not-a-token"))
            .await
            .error(401, "unauthorized");
        for role in ["agent", "supervisor", "manager", "admin"] {
            let a = call_endpoint(&api, method, path, Some(&tokens[role])).await;
            if admitted.contains(&role) {
                assert!(
                    a.status != 401 && a.status != 403,
                    "{method} {path} as {role}: {} {:?}",
                    a.status,
                    a.body
                );
            } else {
                a.error(403, "forbidden");
            }
        }
    }
    // The tokens expire 8 s after their login (all before `logged_in`).
    while now_ms() <= logged_in + 8_000 + 500 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (method, path, _) in ENDPOINTS {
        let m = call_endpoint(&api, method, path, Some(&tokens["admin"]))
            .await
            .error(401, "unauthorized");
        assert!(m.contains("expired"), "{method} {path}: {m}");
    }
}
