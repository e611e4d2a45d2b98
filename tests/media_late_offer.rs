//! Late offer (RFC 3261 §13.2.1): some trunks send an INVITE without SDP
//! and expect the offer in the 200 and their answer in the ACK. Checked
//! against the real server's demo route: the 200 carries an offer with
//! PCMU, PCMA and telephone-event; after an ACK answering PCMU, the
//! welcome prompt arrives as RTP at the address the ACK gave; and an ACK
//! with no answer ends the call with BYE rather than a mute call.

mod common;

use std::time::Duration;

use common::media::demo_server;
use common::{Calls, TestServer, UdpPeer};

/// A request from the peer, with our tag and `call_id`.
fn request(
    peer: &UdpPeer,
    server: &TestServer,
    method: &str,
    call_id: &str,
    to_tag: &str,
    body: &str,
) -> String {
    let local = peer.local_addr();
    let cseq = if method == "BYE" { 2 } else { 1 };
    let content_type = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "{method} sip:100@{server} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK{call_id}{method};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:carrier@{local}>;tag=lo1\r\n\
         To: <sip:100@127.0.0.1>{to_tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: <sip:carrier@{local}>\r\n\
         {content_type}Content-Length: {}\r\n\r\n{body}",
        body.len(),
        server = server.sip,
    )
}

/// Sends an INVITE without a body; returns the 200's text and To tag.
async fn invite_without_sdp(
    peer: &UdpPeer,
    server: &TestServer,
    call_id: &str,
) -> (String, String) {
    peer.send(request(peer, server, "INVITE", call_id, "", "").as_bytes())
        .await;
    loop {
        let msg = peer.recv(Duration::from_secs(10)).await.expect("an answer");
        if common::status_code(&msg) == Some(200) {
            let text = String::from_utf8_lossy(&msg).into_owned();
            let tag = text
                .lines()
                .find(|l| l.starts_with("To:"))
                .and_then(|l| l.split("tag=").nth(1))
                .expect("a To tag")
                .trim()
                .to_owned();
            return (text, format!(";tag={tag}"));
        }
        assert!(
            common::status_code(&msg).is_some_and(|c| c < 200),
            "{}",
            String::from_utf8_lossy(&msg)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invite_without_sdp_gets_our_offer_and_the_ack_answers_it() {
    let server = TestServer::start_with(demo_server()).await;
    let peer = UdpPeer::bind(server.sip).await;
    let rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let rtp_port = rtp.local_addr().unwrap().port();
    let call_id = format!("late-{}", common::token());

    let (ok, to_tag) = invite_without_sdp(&peer, &server, &call_id).await;
    assert!(ok.contains("Content-Type: application/sdp"), "{ok}");
    for line in [
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "telephone-event/8000",
        "a=sendrecv",
    ] {
        assert!(ok.contains(line), "the offer lacks {line}: {ok}");
    }
    // Answer with PCMU only, at our RTP socket.
    let answer = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    );
    peer.send(request(&peer, &server, "ACK", &call_id, &to_tag, &answer).as_bytes())
        .await;
    // The welcome prompt comes to the address of the answer, as PCMU.
    let mut buf = [0u8; 2048];
    let mut packets = 0;
    while packets < 10 {
        let (n, _) = tokio::time::timeout(Duration::from_secs(10), rtp.recv_from(&mut buf))
            .await
            .expect("RTP from Hibiki after the ACK's answer")
            .unwrap();
        assert!(n >= 12 + 160, "{n} bytes");
        assert_eq!(buf[1] & 0x7f, 0, "payload type PCMU");
        packets += 1;
    }
    peer.send(request(&peer, &server, "BYE", &call_id, &to_tag, "").as_bytes())
        .await;
    let rows = server
        .wait_for_calls(Calls::SipCallId(&call_id), Duration::from_secs(15))
        .await;
    assert_eq!(
        rows[0].hangup_cause.as_deref(),
        Some("normal"),
        "{:#?}",
        rows[0]
    );
    assert!(
        server.stderr_text().contains("late_offer=true"),
        "{}",
        server.logs()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ack_without_an_answer_ends_the_call() {
    let server = TestServer::start_with(demo_server()).await;
    let peer = UdpPeer::bind(server.sip).await;
    let call_id = format!("late-noanswer-{}", common::token());
    let (_, to_tag) = invite_without_sdp(&peer, &server, &call_id).await;
    peer.send(request(&peer, &server, "ACK", &call_id, &to_tag, "").as_bytes())
        .await;
    // Hibiki hangs up: a BYE comes.
    let bye = loop {
        let msg = peer.recv(Duration::from_secs(10)).await.expect("a BYE");
        if msg.starts_with(b"BYE ") {
            break String::from_utf8_lossy(&msg).into_owned();
        }
    };
    peer.send(common::ok_for(&bye).as_bytes()).await;
    let rows = server
        .wait_for_calls(Calls::SipCallId(&call_id), Duration::from_secs(15))
        .await;
    assert_eq!(
        rows[0].hangup_cause.as_deref(),
        Some("unsupported_media"),
        "{:#?}",
        rows[0]
    );
}
