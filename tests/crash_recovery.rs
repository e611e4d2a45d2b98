//! `kill -9` in the middle of a call leaves a consistent call record (and,
//! for a recorded call, a playable WAV whose header and row the next start
//! repair and close): the
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

/// A server's ports, database and config file in `dir`; `extra` adds
/// sections and routes after the trunk.
struct Setup {
    config: std::path::PathBuf,
    db: std::path::PathBuf,
    sip_port: u16,
    http: String,
}

fn setup(dir: &tempfile::TempDir, node: &str, extra: &str) -> Setup {
    let sip_port = free_port_udp_tcp("127.0.0.1");
    let http_port = free_port_udp_tcp("127.0.0.1");
    let db = dir.path().join("hibiki.db");
    let config = dir.path().join("hibiki.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[node]
id = "{node}"
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
{extra}
"#,
            data = dir.path().display(),
            db = db.display(),
        ),
    )
    .unwrap();
    Setup {
        config,
        db,
        sip_port,
        http: format!("127.0.0.1:{http_port}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_mid_call_leaves_a_record_closed_at_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let Setup {
        config,
        db,
        sip_port,
        http,
    } = setup(
        &dir,
        "crash-test",
        "[[routes]]\nnumber = \"100\"\naction = \"test\"\nring_ms = 60000",
    );
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

/// The port and address of the audio in an SDP body.
fn sdp_audio(body: &str) -> std::net::SocketAddr {
    let ip = body
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))
        .expect("c= line")
        .trim();
    let port = body
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("m=audio line");
    format!("{ip}:{port}").parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_mid_recording_leaves_a_playable_wav_repaired_at_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let media_base = common::media::media_port_base();
    let prompts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-flows/prompts");
    let Setup {
        config,
        db,
        sip_port,
        http,
    } = setup(
        &dir,
        "crash-media",
        &format!(
            "[[routes]]\nnumber = \"100\"\naction = \"demo\"\n\
             [media]\nport_min = {media_base}\nport_max = {}\nprompts_dir = \"{}\"",
            media_base + 20,
            prompts.display()
        ),
    );
    let mut server = spawn(&config, &dir.path().join("first.log"));
    wait_ready(&http).await;

    // The caller: SIP on one socket, RTP on another.
    let server_addr = format!("127.0.0.1:{sip_port}").parse().unwrap();
    let peer = UdpPeer::bind(server_addr).await;
    let rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let rtp_port = rtp.local_addr().unwrap().port();
    let local = peer.local_addr();
    let t = token();
    let call_id = format!("rec-{t}@127.0.0.1");
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\n"
    );
    let invite = format!(
        "INVITE sip:100@127.0.0.1:{sip_port} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK{t};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@{local}>;tag={t}\r\n\
         To: <sip:100@127.0.0.1>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:alice@{local}>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    peer.send(invite.as_bytes()).await;
    let answer = loop {
        let msg = peer
            .recv(Duration::from_secs(10))
            .await
            .expect("an answer to the INVITE");
        if common::status_code(&msg) == Some(200) {
            break String::from_utf8_lossy(&msg).into_owned();
        }
    };
    let answered = Instant::now();
    let to_tag = answer
        .lines()
        .find(|l| l.starts_with("To:"))
        .and_then(|l| l.split("tag=").nth(1))
        .unwrap()
        .trim()
        .to_owned();
    let ack = format!(
        "ACK sip:100@127.0.0.1:{sip_port} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK{t}ack;rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@{local}>;tag={t}\r\n\
         To: <sip:100@127.0.0.1>;tag={to_tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 ACK\r\n\
         Content-Length: 0\r\n\r\n"
    );
    peer.send(ack.as_bytes()).await;
    let body = answer.split("\r\n\r\n").nth(1).unwrap();
    let media_to = sdp_audio(body);

    // Three seconds of a 1 kHz tone, µ-law, 20 ms packets, paced.
    let mut seq: u16 = 1;
    let mut ts: u32 = 0;
    let start = tokio::time::Instant::now();
    for i in 0..150u32 {
        tokio::time::sleep_until(start + Duration::from_millis(20 * u64::from(i))).await;
        let mut pkt = vec![0x80, 0x00];
        pkt.extend_from_slice(&seq.to_be_bytes());
        pkt.extend_from_slice(&ts.to_be_bytes());
        pkt.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        for n in 0..160u32 {
            let phase = f64::from(ts + n) * 2.0 * std::f64::consts::PI * 1000.0 / 8000.0;
            let s = (phase.sin() * 8000.0) as i16;
            pkt.push(hibiki::media::g711::linear_to_ulaw(s));
        }
        rtp.send_to(&pkt, media_to).await.unwrap();
        seq = seq.wrapping_add(1);
        ts = ts.wrapping_add(160);
    }
    let lived = answered.elapsed();
    server.kill().unwrap(); // SIGKILL mid-call, mid-recording.
    server.wait().unwrap();

    let mut again = spawn(&config, &dir.path().join("second.log"));
    wait_ready(&http).await;
    let store = Store::connect(&format!("sqlite://{}", db.display()), 1)
        .await
        .unwrap();
    let calls = store.calls_by_sip_call_id(&call_id).await.unwrap();
    assert_eq!(calls.len(), 1, "{calls:#?}");
    assert_eq!(calls[0].hangup_cause.as_deref(), Some("server_restart"));
    let recs = store.recordings_for_call(&calls[0].id).await.unwrap();
    assert_eq!(recs.len(), 1, "{recs:#?}");
    let rec = &recs[0];
    assert_eq!(
        rec.status,
        hibiki::store::RecordingStatus::Repaired,
        "{rec:#?}"
    );
    assert!(
        rec.ended_at_ms.is_some() && rec.sha256.is_some(),
        "{rec:#?}"
    );

    // The file reads cleanly and holds the call up to about the last second.
    let path = dir.path().join("recordings").join(&rec.path);
    let reader = hound::WavReader::open(&path).unwrap();
    let spec = reader.spec();
    assert_eq!((spec.channels, spec.sample_rate), (2, 8000));
    let seconds = f64::from(reader.duration()) / 8000.0;
    let lived = lived.as_secs_f64();
    assert!(
        seconds <= lived + 0.5 && seconds >= lived - 1.5,
        "recording holds {seconds:.2} s of a call that lived {lived:.2} s"
    );
    assert_eq!(std::fs::metadata(&path).unwrap().len(), rec.bytes);
    let log = std::fs::read_to_string(dir.path().join("second.log")).unwrap();
    assert!(log.contains("repaired a recording"), "{log}");
    store.close().await;
    again.kill().unwrap();
    again.wait().unwrap();
}
