//! `kill -9` in the middle of a call leaves a consistent call record: the
//! row written when the call started is closed, with cause
//! `server_restart`, by the next start of the same node on the same
//! database. (SQLite here; the store contract tests run the underlying
//! `close_orphaned_calls` on PostgreSQL too.)

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port_udp_tcp, token, UdpPeer};
use hibiki::store::{Outcome, Store};

fn spawn(config: &std::path::Path, log: &std::path::Path) -> Child {
    let log = std::fs::File::create(log).unwrap();
    Command::new(env!("CARGO_BIN_EXE_hibiki"))
        .args(["serve", "--config"])
        .arg(config)
        .env_remove("HIBIKI_DATABASE_URL")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

async fn wait_ready(http: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(r) = reqwest::get(format!("http://{http}/readyz")).await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("hibiki at {http} not ready in time");
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_mid_call_leaves_a_record_closed_at_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let sip_port = free_port_udp_tcp("127.0.0.1");
    let http_port = free_port_udp_tcp("127.0.0.1");
    let db = dir.path().join("hibiki.db");
    let config = dir.path().join("hibiki.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[node]
id = "crash-test"
[sip]
listen = "127.0.0.1:{sip_port}"
[http]
listen = "127.0.0.1:{http_port}"
[data]
dir = "{data}"
[database]
url = "sqlite://{db}"
[[trunks]]
name = "carrier"
[trunks.inbound]
sources = ["127.0.0.1/32"]
[[routes]]
number = "100"
action = "test"
ring_ms = 60000
"#,
            data = dir.path().display(),
            db = db.display()
        ),
    )
    .unwrap();
    let http = format!("127.0.0.1:{http_port}");
    let mut server = spawn(&config, &dir.path().join("first.log"));
    wait_ready(&http).await;

    // A call that rings for a minute: it is live when the server dies.
    let server_addr = format!("127.0.0.1:{sip_port}").parse().unwrap();
    let peer = UdpPeer::bind(server_addr).await;
    let local = peer.local_addr();
    let t = token();
    let call_id = format!("crash-{t}@127.0.0.1");
    let invite = format!(
        "INVITE sip:100@127.0.0.1:{sip_port} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK{t};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@{local}>;tag={t}\r\n\
         To: <sip:100@127.0.0.1>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:alice@{local}>\r\n\
         Content-Length: 0\r\n\r\n"
    );
    peer.send(invite.as_bytes()).await;
    let mut ringing = false;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ringing && Instant::now() < deadline {
        if let Some(msg) = peer.recv(Duration::from_secs(1)).await {
            ringing = common::status_code(&msg) == Some(180);
        }
    }
    assert!(ringing, "the call should be ringing");

    // The started row reaches the database off the SIP path: wait for it.
    let store = Store::connect(&format!("sqlite://{}", db.display()), 1)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let rows = store.calls_by_sip_call_id(&call_id).await.unwrap();
        if let Some(r) = rows.first() {
            assert_eq!(r.ended_at_ms, None, "the call is live: {r:#?}");
            break;
        }
        assert!(Instant::now() < deadline, "started row never written");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    server.kill().unwrap(); // SIGKILL: no shutdown path runs.
    server.wait().unwrap();
    let rows = store.calls_by_sip_call_id(&call_id).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].ended_at_ms, None, "nothing closed it yet");
    store.close().await;

    let mut again = spawn(&config, &dir.path().join("second.log"));
    wait_ready(&http).await;
    let store = Store::connect(&format!("sqlite://{}", db.display()), 1)
        .await
        .unwrap();
    let rows = store.calls_by_sip_call_id(&call_id).await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let r = &rows[0];
    assert!(r.ended_at_ms.is_some(), "closed at restart: {r:#?}");
    assert!(r.ended_at_ms >= Some(r.started_at_ms), "{r:#?}");
    assert_eq!(r.outcome, Some(Outcome::Failed), "{r:#?}");
    assert_eq!(r.hangup_cause.as_deref(), Some("server_restart"), "{r:#?}");
    let log = std::fs::read_to_string(dir.path().join("second.log")).unwrap();
    assert!(log.contains("left open by a previous run"), "{log}");
    store.close().await;
    again.kill().unwrap();
    again.wait().unwrap();
}
