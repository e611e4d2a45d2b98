//! Agents take queued calls, end to end through the real server.
//!
//! - A known customer (SIPp, From +819012345678) calls the demo flow and
//!   presses 1 (support). An agent is logged in on the agent websocket,
//!   available, with the support skill and a SIP phone (a SIPp UAS that
//!   answers and talks). Checked: the screen pop reaches the agent's
//!   socket with the right customer, the IVR's variables and the queue;
//!   the agent's phone rings and answers; the agent hangs up from the
//!   socket and both phones get a BYE; the agent wraps up with a
//!   disposition; the call record names the queue, the agent and the
//!   customer; the recording holds the caller's audio on the left and the
//!   agent's on the right; the customer's history lists the call with its
//!   disposition and recording; every state change was stored.
//! - Ring-no-answer: an agent whose phone rings out is made not ready
//!   (`ring_no_answer`) and the call goes to the next agent.
//! - The same call taken on the agent page in real headless Chromium: log
//!   in, go available, the pop shows the customer and the IVR's data, the
//!   agent hangs up and saves a disposition from the page; Japanese text.
//! - The socket refuses a missing token and the wrong role, and closes
//!   once the token is revoked.
//! - The pop carries an external CRM's record; a slow CRM leaves it out
//!   (`timeout`) rather than hold the call up.
//! - An agent on a SIP phone holds (the caller hears the music) and
//!   transfers to the billing queue from the socket: their phone gets a
//!   BYE, the billing agent's phone rings with the same pop.

mod common;

use std::path::Path;
use std::time::Duration;

use common::agent::{refused_status, AgentSocket};
use common::api::{add_user, Api};
use common::browser::Browser;
use common::media::{
    best_alignment, pcap_payloads, read_wav, recording_file, recordings_once_closed, split_stereo,
};
use common::{free_udp_port, Calls, TestServer};
use hibiki::media::g711::alaw_to_linear;
use hibiki::store::Outcome;
use serde_json::json;

use common::queue::{
    config, hanako, page_login, support_agent_with_phone, PAGE_STATUS, PASSWORD, PCAP,
};

/// Creates `agent` with the support skill and a SIP phone at `phone`,
/// logs them in on the socket and makes them available.
async fn ready_agent(server: &TestServer, api: &Api, agent: &str, phone: u16) -> AgentSocket {
    add_user(server, agent, "agent", PASSWORD);
    support_agent_with_phone(server, agent, phone).await;
    let token = api.token(agent, PASSWORD).await;
    let (mut socket, welcome) = AgentSocket::connect(server.http, &token).await;
    assert_eq!(welcome["version"], 1, "{welcome}");
    assert_eq!(welcome["agent"], agent, "{welcome}");
    assert_eq!(
        welcome["status"], "not_ready",
        "agents log in not ready: {welcome}"
    );
    assert_eq!(welcome["device"], "sip", "{welcome}");
    let ok = socket.request(json!({ "type": "state.available" })).await;
    assert_eq!(ok["type"], "ok", "{ok}");
    socket.state("available", Duration::from_secs(5)).await;
    socket
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queued_caller_reaches_the_agent_with_the_screen_pop() {
    assert!(
        Path::new(PCAP).exists(),
        "{PCAP} is missing: install Debian's sip-tester"
    );
    let flows = common::ivr::flows_dir(&[("demo.toml", common::ivr::demo_always_open())]);
    let server = TestServer::start_with(config(flows.path(), 10)).await;
    hanako(&server).await;
    let api = Api::new(&server);
    add_user(&server, "boss", "admin", PASSWORD);
    let admin = api.token("boss", PASSWORD).await;

    let phone_port = free_udp_port("127.0.0.1");
    let phone_media = free_udp_port("127.0.0.1").to_string();
    let phone = server.sipp_uas("uas_agent", phone_port, &["-mp", &phone_media]);
    let mut agent = ready_agent(&server, &api, "ann", phone_port).await;

    let caller_media = free_udp_port("127.0.0.1").to_string();
    let caller = server.sipp_spawn(
        "uac_queue",
        &[
            "-mp",
            &caller_media,
            "-key",
            "caller",
            "+819012345678",
            "-timeout",
            "90s",
        ],
    );

    // The pop, before anyone says hello.
    let offer = agent.next_of("call.offered", Duration::from_secs(30)).await;
    let pop = &offer["pop"];
    assert_eq!(offer["queue"], "support", "{offer}");
    assert_eq!(offer["kind"], "call", "{offer}");
    assert_eq!(pop["customer"]["name"], "Hanako Yamada", "{offer}");
    assert_eq!(pop["customer"]["id"], "c-hanako", "{offer}");
    assert_eq!(pop["caller"], "+819012345678", "{offer}");
    assert_eq!(pop["dialled"], "100", "{offer}");
    assert_eq!(
        pop["ivr"]["customer_name"], "Hanako Yamada",
        "the IVR's variables: {offer}"
    );
    assert!(
        pop["history"].as_array().is_some_and(Vec::is_empty),
        "no past calls yet: {offer}"
    );
    let call_id = offer["call_id"].as_str().unwrap().to_owned();
    agent.state("offered", Duration::from_secs(5)).await;

    // The phone answers: the agent is on the call.
    let connected = agent
        .next_of("call.connected", Duration::from_secs(20))
        .await;
    assert_eq!(connected["call_id"], call_id.as_str());
    agent.state("on_call", Duration::from_secs(5)).await;

    // The recording's pause (card details) is the agent's on the call:
    // another agent may not touch it.
    add_user(&server, "bea", "agent", PASSWORD);
    let other = api.token("bea", PASSWORD).await;
    let ann = api.token("ann", PASSWORD).await;
    let pause = format!("/calls/{call_id}/recording/pause");
    let resume = format!("/calls/{call_id}/recording/resume");
    api.post(&pause, Some(&other), json!({}))
        .await
        .error(403, "forbidden");
    for (path, state) in [(&pause, "paused"), (&resume, "recording")] {
        let a = api.post(path, Some(&ann), json!({})).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        assert_eq!(a.body["recording"], state, "{:?}", a.body);
    }

    // Both talk (the caller's pcap starts 6 s after the key, the agent's
    // 1 s after the answer; each lasts about 7 s), then the agent hangs up
    // from the screen.
    tokio::time::sleep(Duration::from_secs(13)).await;
    let hangup = agent
        .request(json!({ "type": "call.hangup", "call_id": call_id }))
        .await;
    assert_eq!(hangup["type"], "ok", "{hangup}");
    let ended = agent.next_of("call.ended", Duration::from_secs(10)).await;
    assert_eq!(ended["call_id"], call_id.as_str());
    agent.state("wrap_up", Duration::from_secs(5)).await;
    caller.finish().await.assert_ok();
    phone.finish().await.assert_ok();

    // Wrap-up: an unknown code is refused, a known one saved.
    let bad = agent
        .request(json!({ "type": "call.wrapup", "call_id": call_id, "disposition": "nonsense" }))
        .await;
    assert_eq!(bad["code"], "unknown_disposition", "{bad}");
    let wrapped = agent
        .request(json!({
            "type": "call.wrapup", "call_id": call_id,
            "disposition": "resolved", "notes": "reset her password"
        }))
        .await;
    assert_eq!(wrapped["type"], "ok", "{wrapped}");
    agent.state("available", Duration::from_secs(5)).await;

    // The call record.
    let rows = server
        .wait_for_calls(Calls::Id(&call_id), Duration::from_secs(15))
        .await;
    let call = &rows[0];
    assert_eq!(call.outcome, Some(Outcome::Answered), "{call:#?}");
    assert_eq!(
        call.hangup_cause.as_deref(),
        Some("agent_hangup"),
        "{call:#?}"
    );
    assert_eq!(call.queue.as_deref(), Some("support"), "{call:#?}");
    assert_eq!(call.agent.as_deref(), Some("ann"), "{call:#?}");
    assert_eq!(call.customer_id.as_deref(), Some("c-hanako"), "{call:#?}");
    let (queued, connected) = (call.queued_at_ms.unwrap(), call.connected_at_ms.unwrap());
    assert!(
        connected >= queued && queued >= call.started_at_ms,
        "{call:#?}"
    );
    let path = common::ivr::path_steps(call);
    let last = path.last().unwrap();
    assert_eq!(last.0, "support", "{path:?}");
    assert_eq!(last.1, "answered by agent ann", "{path:?}");

    // The recording: the caller on the left, the agent on the right.
    let recordings = recordings_once_closed(&server, &call_id).await;
    assert_eq!(recordings.len(), 1, "{recordings:#?}");
    assert_eq!(
        recordings[0].pauses.len(),
        1,
        "ann's pause is marked: {recordings:#?}"
    );
    let (spec, samples) = read_wav(&recording_file(&server, &recordings[0]));
    assert_eq!((spec.channels, spec.sample_rate), (2, 8000));
    let (left, right) = split_stereo(&samples);
    let sent: Vec<f64> = pcap_payloads(PCAP)
        .iter()
        .flat_map(|p| p.iter().map(|b| f64::from(alaw_to_linear(*b))))
        .collect();
    let (ncc_left, _) = best_alignment(&left, &sent, left.len());
    assert!(
        ncc_left >= 0.9,
        "the caller's audio on the left: NCC {ncc_left}"
    );
    let (ncc_right, _) = best_alignment(&right, &sent, right.len());
    assert!(
        ncc_right >= 0.9,
        "the agent's audio on the right: NCC {ncc_right}"
    );

    // The customer's history lists the call, its disposition, its recording.
    let history = api
        .get("/customers/c-hanako/interactions", Some(&admin))
        .await;
    assert_eq!(history.status, 200, "{:?}", history.body);
    let text = history.body.to_string();
    assert!(text.contains(&call_id), "{text}");
    assert!(
        text.contains("resolved") && text.contains("reset her password"),
        "{text}"
    );
    assert!(
        text.contains(&recordings[0].id),
        "the recording is linked: {text}"
    );

    // Every state change was stored, in order.
    let states = api.get("/agents/ann/states?limit=50", Some(&admin)).await;
    assert_eq!(states.status, 200, "{:?}", states.body);
    let mut seen: Vec<String> = states
        .body
        .as_array()
        .or_else(|| states.body["states"].as_array())
        .expect("a list of states")
        .iter()
        .map(|s| s["status"].as_str().unwrap_or_default().to_owned())
        .collect();
    seen.reverse(); // newest first
    for wanted in [
        "not_ready",
        "available",
        "offered",
        "on_call",
        "wrap_up",
        "available",
    ] {
        let at = seen.iter().position(|s| s == wanted);
        assert!(at.is_some(), "{wanted} in {seen:?}");
        seen.drain(..=at.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ring_no_answer_makes_the_agent_not_ready_and_the_next_agent_gets_the_call() {
    let flows = common::ivr::flows_dir(&[("demo.toml", common::ivr::demo_always_open())]);
    let server = TestServer::start_with(config(flows.path(), 3)).await;
    let api = Api::new(&server);

    // Ann's phone rings until cancelled; Bob's answers. Ann is idle longer.
    let ann_port = free_udp_port("127.0.0.1");
    let ann_phone = server.sipp_uas("uas_ring", ann_port, &[]);
    let mut ann = ready_agent(&server, &api, "ann", ann_port).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let bob_port = free_udp_port("127.0.0.1");
    let bob_media = free_udp_port("127.0.0.1").to_string();
    let bob_phone = server.sipp_uas("uas_agent", bob_port, &["-mp", &bob_media]);
    let mut bob = ready_agent(&server, &api, "bob", bob_port).await;

    let caller_media = free_udp_port("127.0.0.1").to_string();
    let caller = server.sipp_spawn(
        "uac_queue",
        &[
            "-mp",
            &caller_media,
            "-key",
            "caller",
            "+819098765432",
            "-timeout",
            "90s",
        ],
    );
    let first = ann.next_of("call.offered", Duration::from_secs(30)).await;
    let call_id = first["call_id"].as_str().unwrap().to_owned();
    assert!(
        first["pop"]["customer"].is_null(),
        "an unknown caller: {first}"
    );
    let withdrawn = ann.next_of("call.withdrawn", Duration::from_secs(15)).await;
    assert_eq!(withdrawn["call_id"], call_id.as_str());
    assert_eq!(withdrawn["reason"], "ring_no_answer", "{withdrawn}");
    let state = ann.state("not_ready", Duration::from_secs(5)).await;
    assert_eq!(state["reason"], "ring_no_answer", "{state}");
    ann_phone.finish().await.assert_ok();

    let second = bob.next_of("call.offered", Duration::from_secs(10)).await;
    assert_eq!(
        second["call_id"],
        call_id.as_str(),
        "the same call, next agent"
    );
    bob.next_of("call.connected", Duration::from_secs(20)).await;
    // The caller's scenario waits for the BYE from 12 s after its key on.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let hangup = bob
        .request(json!({ "type": "call.hangup", "call_id": call_id }))
        .await;
    assert_eq!(hangup["type"], "ok", "{hangup}");
    caller.finish().await.assert_ok();
    bob_phone.finish().await.assert_ok();
    let rows = server
        .wait_for_calls(Calls::Id(&call_id), Duration::from_secs(15))
        .await;
    assert_eq!(rows[0].agent.as_deref(), Some("bob"), "{:#?}", rows[0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_agent_socket_checks_the_token_and_the_role() {
    let flows = common::ivr::flows_dir(&[("demo.toml", common::ivr::demo_always_open())]);
    let server = TestServer::start_with(config(flows.path(), 10)).await;
    let api = Api::new(&server);
    assert_eq!(refused_status(server.http, "").await, Some(401));
    assert_eq!(
        refused_status(server.http, "?token=not-a-token").await,
        Some(401)
    );
    add_user(&server, "mgr", "manager", PASSWORD);
    let manager = api.token("mgr", PASSWORD).await;
    assert_eq!(
        refused_status(server.http, &format!("?token={manager}")).await,
        Some(403),
        "managers do not take calls"
    );
    add_user(&server, "ann", "agent", PASSWORD);
    let token = api.token("ann", PASSWORD).await;
    let (mut socket, welcome) = AgentSocket::connect(server.http, &token).await;
    assert_eq!(welcome["device"], "browser", "no SIP phone set: {welcome}");
    let pong = socket.request(json!({ "type": "ping" })).await;
    assert_eq!(pong["type"], "pong");
    let bad = socket.request(json!({ "type": "state.dance" })).await;
    assert_eq!(bad["code"], "bad_request", "{bad}");
    // Logging out on REST revokes the token: the socket closes.
    let out = api.post("/auth/logout", Some(&token), json!({})).await;
    assert!(out.status < 300, "{:?}", out.body);
    socket.send_text(r#"{"type":"ping"}"#).await;
    assert_eq!(socket.closed(Duration::from_secs(10)).await, Some(4401));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_agent_page_takes_a_call_in_chromium() {
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let flows = common::ivr::flows_dir(&[("demo.toml", common::ivr::demo_always_open())]);
    let server = TestServer::start_with(config(flows.path(), 10)).await;
    hanako(&server).await;
    add_user(&server, "ann", "agent", PASSWORD);
    let phone_port = free_udp_port("127.0.0.1");
    let phone_media = free_udp_port("127.0.0.1").to_string();
    let phone = server.sipp_uas("uas_agent", phone_port, &["-mp", &phone_media]);
    support_agent_with_phone(&server, "ann", phone_port).await;
    let store = server.store().await;

    let mut page = page_login(&browser, &server, "ann").await;
    let status = PAGE_STATUS;
    page.click("go-available").await;
    page.wait_for(
        &format!("{status} === 'available'"),
        Duration::from_secs(10),
    )
    .await;

    let caller_media = free_udp_port("127.0.0.1").to_string();
    let caller = server.sipp_spawn(
        "uac_queue",
        &[
            "-mp",
            &caller_media,
            "-key",
            "caller",
            "+819012345678",
            "-timeout",
            "90s",
        ],
    );
    // The pop: the customer and what the IVR gathered, on screen.
    let name = page
        .wait_for(
            "document.getElementById('c-name').textContent === 'Hanako Yamada' && document.getElementById('c-name').textContent",
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(name, "Hanako Yamada");
    let ivr = page
        .eval("document.getElementById('ivr').textContent")
        .await;
    assert!(
        ivr.as_str().unwrap_or("").contains("customer_name"),
        "the IVR's variables on screen: {ivr}"
    );
    assert_eq!(
        page.eval("document.getElementById('call-caller').textContent")
            .await,
        "+819012345678"
    );
    page.wait_for(&format!("{status} === 'on_call'"), Duration::from_secs(20))
        .await;
    let call_id = page.eval("agent.callId").await;
    let call_id = call_id.as_str().expect("the call on screen").to_owned();

    // Talk, hang up from the page, wrap up from the page.
    tokio::time::sleep(Duration::from_secs(13)).await;
    page.click("hangup").await;
    page.wait_for(
        "!document.getElementById('wrapup-panel').classList.contains('hidden')",
        Duration::from_secs(10),
    )
    .await;
    caller.finish().await.assert_ok();
    phone.finish().await.assert_ok();
    page.eval("document.getElementById('disposition').value = 'follow_up'")
        .await;
    page.fill("notes", "call back on Monday").await;
    page.eval("document.getElementById('wrapup-form').requestSubmit()")
        .await;
    page.wait_for(
        &format!("{status} === 'available'"),
        Duration::from_secs(10),
    )
    .await;
    let saved = store.dispositions_for_call(&call_id).await.unwrap();
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert_eq!(
        (
            saved[0].username.as_str(),
            saved[0].code.as_str(),
            saved[0].notes.as_str()
        ),
        ("ann", "follow_up", "call back on Monday")
    );
    assert_eq!(saved[0].customer_id.as_deref(), Some("c-hanako"));

    // The page speaks Japanese too.
    page.eval("document.getElementById('lang').value = 'ja'; document.getElementById('lang').dispatchEvent(new Event('change'))")
        .await;
    assert_eq!(
        page.eval("document.getElementById('hangup').textContent")
            .await,
        "切断"
    );
    assert_eq!(
        page.eval("document.getElementById('state').textContent")
            .await,
        "受付可"
    );
}

/// A CRM for the test: `GET /lookup?phone=…` with the bearer token
/// answers Hanako's account; its second request answers only after 3 s.
async fn crm_server() -> std::net::SocketAddr {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use axum::extract::{Query, State};
    use axum::http::{HeaderMap, StatusCode};

    async fn lookup(
        State(count): State<Arc<AtomicUsize>>,
        Query(query): Query<std::collections::HashMap<String, String>>,
        headers: HeaderMap,
    ) -> (StatusCode, axum::Json<serde_json::Value>) {
        if headers.get("authorization").and_then(|v| v.to_str().ok())
            != Some("Bearer test-crm-token")
        {
            return (StatusCode::UNAUTHORIZED, axum::Json(json!({})));
        }
        if count.fetch_add(1, Ordering::SeqCst) == 1 {
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        match query.get("phone").map(String::as_str) {
            Some("+819012345678") => (
                StatusCode::OK,
                axum::Json(json!({ "account": "A-1001", "tier": "gold" })),
            ),
            _ => (StatusCode::NOT_FOUND, axum::Json(json!({}))),
        }
    }

    let app = axum::Router::new()
        .route("/lookup", axum::routing::get(lookup))
        .with_state(Arc::new(AtomicUsize::new(0)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pop_carries_the_crms_record_and_a_slow_crm_does_not_hold_it_up() {
    let crm = crm_server().await;
    let flows = common::ivr::flows_dir(&[("demo.toml", common::ivr::demo_always_open())]);
    let mut cfg = config(flows.path(), 10);
    cfg.routes.push_str(&format!(
        "\n[crm]\nurl = \"http://{crm}/lookup?phone={{caller}}\"\ntimeout_ms = 500\n"
    ));
    // The token comes from the environment, as an operator's would.
    cfg.env
        .push(("HIBIKI_CRM_TOKEN".into(), "test-crm-token".into()));
    let server = TestServer::start_with(cfg).await;
    hanako(&server).await;
    let api = Api::new(&server);
    let phone_port = free_udp_port("127.0.0.1");
    let mut agent = ready_agent(&server, &api, "ann", phone_port).await;

    for (round, wanted) in [(1, "found"), (2, "timeout")] {
        let phone_media = free_udp_port("127.0.0.1").to_string();
        let phone = server.sipp_uas("uas_agent", phone_port, &["-mp", &phone_media]);
        let caller_media = free_udp_port("127.0.0.1").to_string();
        let caller = server.sipp_spawn(
            "uac_queue",
            &["-mp", &caller_media, "-key", "caller", "+819012345678"],
        );
        let offer = agent.next_of("call.offered", Duration::from_secs(30)).await;
        let crm = &offer["pop"]["crm"];
        assert_eq!(crm["status"], wanted, "round {round}: {offer}");
        if wanted == "found" {
            assert_eq!(crm["record"]["account"], "A-1001", "{offer}");
            assert_eq!(crm["record"]["tier"], "gold", "{offer}");
        }
        // The customer found by the flow is there either way.
        assert_eq!(offer["pop"]["customer"]["name"], "Hanako Yamada");
        let call_id = offer["call_id"].clone();
        agent
            .next_of("call.connected", Duration::from_secs(20))
            .await;
        let hangup = agent
            .request(json!({ "type": "call.hangup", "call_id": call_id }))
            .await;
        assert_eq!(hangup["type"], "ok", "{hangup}");
        agent.next_of("call.ended", Duration::from_secs(10)).await;
        // (Hung up before their scenarios' audio: SIPp calls that BYE
        // unexpected and exits; the call itself ended, as `call.ended`
        // says. Waited for, so the next round's phone finds its port.)
        let _ = caller.finish().await;
        let _ = phone.finish().await;
        let wrapped = agent
            .request(
                json!({ "type": "call.wrapup", "call_id": call_id, "disposition": "resolved" }),
            )
            .await;
        assert_eq!(wrapped["type"], "ok", "{wrapped}");
        agent.state("available", Duration::from_secs(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_on_a_sip_phone_holds_and_transfers_to_a_queue_from_the_socket() {
    let flows = common::ivr::flows_dir(&[("demo.toml", common::ivr::demo_always_open())]);
    let server = TestServer::start_with(config(flows.path(), 10)).await;
    hanako(&server).await;
    let api = Api::new(&server);
    let (ann_port, bob_port) = (free_udp_port("127.0.0.1"), free_udp_port("127.0.0.1"));
    let (ann_media, bob_media) = (
        free_udp_port("127.0.0.1").to_string(),
        free_udp_port("127.0.0.1").to_string(),
    );
    let ann_phone = server.sipp_uas("uas_agent", ann_port, &["-mp", &ann_media]);
    let bob_phone = server.sipp_uas("uas_agent", bob_port, &["-mp", &bob_media]);
    let mut ann = ready_agent(&server, &api, "ann", ann_port).await;
    // Bob takes billing calls only.
    add_user(&server, "bob", "agent", PASSWORD);
    let store = server.store().await;
    let now = hibiki::store::now_ms();
    let billing = hibiki::store::AgentSkill::new("billing", 5).unwrap();
    assert!(store
        .set_agent_skills("bob", &[billing], now)
        .await
        .unwrap());
    assert!(store
        .set_agent_device("bob", Some(&format!("sip:bob@127.0.0.1:{bob_port}")), now)
        .await
        .unwrap());
    let (mut bob, _) = AgentSocket::connect(server.http, &api.token("bob", PASSWORD).await).await;
    let ok = bob.request(json!({ "type": "state.available" })).await;
    assert_eq!(ok["type"], "ok", "{ok}");

    let caller_media = free_udp_port("127.0.0.1").to_string();
    let caller = server.sipp_spawn(
        "uac_queue",
        &[
            "-mp",
            &caller_media,
            "-key",
            "caller",
            "+819012345678",
            "-timeout",
            "90s",
        ],
    );
    let offer = ann.next_of("call.offered", Duration::from_secs(30)).await;
    let call_id = offer["call_id"].as_str().unwrap().to_owned();
    ann.next_of("call.connected", Duration::from_secs(20)).await;

    // Hold from the screen: the caller hears the queue's music.
    let held = ann
        .request(json!({ "type": "call.hold", "call_id": call_id }))
        .await;
    assert_eq!(held["type"], "ok", "{held}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let resumed = ann
        .request(json!({ "type": "call.resume", "call_id": call_id }))
        .await;
    assert_eq!(resumed["type"], "ok", "{resumed}");
    // A consult is the browser's; refused with a reason.
    let consult = ann
        .request(json!({ "type": "call.consult", "call_id": call_id, "to": {"agent": "bob"} }))
        .await;
    assert_eq!(consult["code"], "refused", "{consult}");
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Blind transfer to billing: ann's phone gets a BYE, bob's rings with
    // the same pop.
    let moved = ann
        .request(json!({ "type": "call.transfer", "call_id": call_id, "to": {"queue": "billing"} }))
        .await;
    assert_eq!(moved["type"], "ok", "{moved}");
    ann.next_of("call.ended", Duration::from_secs(10)).await;
    ann.state("wrap_up", Duration::from_secs(5)).await;
    ann_phone.finish().await.assert_ok();
    let offer = bob.next_of("call.offered", Duration::from_secs(20)).await;
    assert_eq!(offer["call_id"], call_id.as_str());
    assert_eq!(offer["queue"], "billing");
    assert_eq!(offer["pop"]["customer"]["name"], "Hanako Yamada", "{offer}");
    bob.next_of("call.connected", Duration::from_secs(20)).await;

    // Bob and the caller talk (the caller's pcap and bob's), then bob
    // hangs up from his screen.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let hangup = bob
        .request(json!({ "type": "call.hangup", "call_id": call_id }))
        .await;
    assert_eq!(hangup["type"], "ok", "{hangup}");
    bob.next_of("call.ended", Duration::from_secs(10)).await;
    bob_phone.finish().await.assert_ok();
    caller.finish().await.assert_ok();

    let rows = server
        .wait_for_calls(Calls::Id(&call_id), Duration::from_secs(15))
        .await;
    let call = &rows[0];
    assert_eq!(call.agent.as_deref(), Some("bob"), "{call:#?}");
    assert_eq!(call.queue.as_deref(), Some("billing"), "{call:#?}");
    assert_eq!(call.hangup_cause.as_deref(), Some("agent_hangup"));

    let recordings = recordings_once_closed(&server, &call_id).await;
    assert_eq!(recordings.len(), 1, "{recordings:#?}");
    let (_, samples) = read_wav(&recording_file(&server, &recordings[0]));
    let (left, right) = split_stereo(&samples);
    let sent: Vec<f64> = pcap_payloads(PCAP)
        .iter()
        .flat_map(|p| p.iter().map(|b| f64::from(alaw_to_linear(*b))))
        .collect();
    let (ncc_left, _) = best_alignment(&left, &sent, left.len());
    assert!(ncc_left >= 0.9, "the caller on the left: NCC {ncc_left}");
    let (ncc_bob, _) = best_alignment(&right, &sent, right.len());
    assert!(ncc_bob >= 0.9, "bob's phone on the right: NCC {ncc_bob}");
    let music = common::media::prompt_samples("hold-music");
    let (ncc_music, _) = common::media::exact_alignment(&right, &music[12_000..14_000]);
    assert!(
        ncc_music >= 0.9,
        "the hold music on the right: NCC {ncc_music}"
    );
}
