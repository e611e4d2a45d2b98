//! Real audio through the real server: SIPp calls the demo route, plays
//! a known G.711 recording (`g711a.pcap`, A-law, 30 ms packets) and then
//! the RFC 4733 digits 1, 2 and # from pcaps. Checked, as a user would:
//! Hibiki detects exactly those digits, reads them back and hangs up after
//! `#`; the call's WAV exists with its row closed; its left channel is the
//! caller's audio (normalised cross-correlation with the decoded pcap of at
//! least 0.9) and its right channel is the prompt Hibiki played. And a
//! caller without telephone-event: tones in its audio and SIP INFO are
//! digits too, and a stranger sending to the call's RTP port is shut out.

mod common;

use std::path::Path;
use std::time::Duration;

use common::media::{
    best_alignment, demo_server, dtmf_digits, ncc, pcap_payloads, prompt_samples, read_wav,
    recording_file, recordings_once_closed, split_stereo,
};
use common::{free_udp_port, Calls, TestServer};
use hibiki::media::g711::alaw_to_linear;
use hibiki::store::{Outcome, RecordingStatus};

const PCAP: &str = "/usr/share/sip-tester/g711a.pcap";

#[tokio::test(flavor = "multi_thread")]
async fn caller_audio_and_digits_are_heard_read_back_and_recorded() {
    assert!(
        Path::new(PCAP).exists(),
        "{PCAP} is missing: install Debian's sip-tester (./scripts/test.sh does)"
    );
    let server = TestServer::start_with(demo_server()).await;
    let media_port = free_udp_port("127.0.0.1").to_string();
    let res = server
        .sipp("uac_media", &["-mp", &media_port, "-timeout", "60s"])
        .await;
    // SIPp succeeds only if Hibiki hung up with BYE after '#'.
    res.assert_ok();
    let ids = res.call_ids();
    assert_eq!(ids.len(), 1, "{ids:?}");

    let rows = server
        .wait_for_calls(Calls::SipCallId(&ids[0]), Duration::from_secs(15))
        .await;
    let call = &rows[0];
    assert_eq!(call.outcome, Some(Outcome::Answered), "{call:#?}");
    assert_eq!(call.hangup_cause.as_deref(), Some("normal"), "{call:#?}");

    // Exactly the digits sent, in order, each once, as RFC 4733 events.
    let digits = dtmf_digits(&server.stderr_text(), &call.id);
    let expected: Vec<(String, String)> = ["1", "2", "#"]
        .iter()
        .map(|d| ((*d).to_owned(), "rfc4733".to_owned()))
        .collect();
    assert_eq!(digits, expected, "{}", server.logs());

    // The recording's row, closed, and its file.
    let recordings = recordings_once_closed(&server, &call.id).await;
    assert_eq!(recordings.len(), 1, "{recordings:#?}");
    let rec = &recordings[0];
    assert_eq!(rec.status, RecordingStatus::Closed, "{rec:#?}");
    assert_eq!((rec.channels, rec.sample_rate), (2, 8000));
    assert!(rec.sha256.as_ref().is_some_and(|h| h.len() == 64));
    let wav = recording_file(&server, rec);
    assert_eq!(std::fs::metadata(&wav).unwrap().len(), rec.bytes);

    let (spec, samples) = read_wav(&wav);
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 8000, 16)
    );
    let (left, right) = split_stereo(&samples);
    let seconds = left.len() as f64 / 8000.0;
    assert!(
        (rec.duration_ms as f64 / 1000.0 - seconds).abs() < 0.1,
        "row says {} ms, file holds {seconds} s",
        rec.duration_ms
    );

    // Left: the caller's audio, as sent (A-law decoded), near the start.
    let sent: Vec<f64> = pcap_payloads(PCAP)
        .iter()
        .flatten()
        .map(|&b| f64::from(alaw_to_linear(b)))
        .collect();
    let (c, offset) = best_alignment(&left, &sent, 8000);
    eprintln!("left vs sent: NCC {c:.3} at {offset} samples");
    assert!(
        c >= 0.9,
        "left channel vs sent audio: NCC {c:.3} at {offset} samples"
    );
    // No drift: the second half of the audio sits exactly half a length
    // after the first (within 1 ms).
    let half = sent.len() / 2;
    let (c2, offset2) = best_alignment(&left[offset + half - 400..], &sent[half..], 800);
    let drift = (offset2 as i64 - 400).abs();
    assert!(
        c2 >= 0.9 && drift <= 8,
        "second half: NCC {c2:.3}, drift {drift} samples"
    );

    // Right: the welcome prompt, played from the answer on.
    let welcome = prompt_samples("welcome");
    let (c, offset) = best_alignment(&right, &welcome, 8000);
    eprintln!("right vs welcome: NCC {c:.3} at {offset} samples");
    assert!(
        c >= 0.9,
        "right channel vs the welcome prompt: NCC {c:.3} at {offset} samples"
    );
    // And the caller's audio is not on the right, nor the prompt on the left.
    assert!(
        ncc(
            &right[..sent.len().min(right.len())],
            &sent[..sent.len().min(right.len())]
        ) < 0.5
    );
}

/// One RTP packet: PCMU, 20 ms of `samples`.
fn pcmu_packet(seq: u16, ts: u32, ssrc: u32, samples: &[i16]) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend(
        samples
            .iter()
            .map(|&s| hibiki::media::g711::linear_to_ulaw(s)),
    );
    p
}

/// `n` samples of the sum of sines at `freqs` (Hz), from sample `start`.
fn tones(freqs: &[f64], start: u32, n: usize, amplitude: f64) -> Vec<i16> {
    (0..n)
        .map(|i| {
            let t = f64::from(start + i as u32) / 8000.0;
            let v: f64 = freqs
                .iter()
                .map(|f| (2.0 * std::f64::consts::PI * f * t).sin())
                .sum();
            (v * amplitude) as i16
        })
        .collect()
}

/// Goertzel power of `freq` in `x`, per sample.
fn power_at(x: &[f64], freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / 8000.0;
    let (mut s1, mut s2) = (0.0, 0.0);
    for &v in x {
        let s = v + 2.0 * w.cos() * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    (s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2) / x.len().max(1) as f64
}

/// A caller without telephone-event: its key press is a tone in the audio
/// (detected in-band), its last key comes as SIP INFO; meanwhile a
/// stranger sends loud audio at the call's RTP port, which must be neither
/// heard nor recorded.
#[tokio::test(flavor = "multi_thread")]
async fn inband_tones_and_sip_info_are_digits_and_a_stranger_is_shut_out() {
    let server = TestServer::start_with(demo_server()).await;
    let peer = common::UdpPeer::bind(server.sip).await;
    let rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let stranger = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = peer.local_addr();
    let rtp_port = rtp.local_addr().unwrap().port();
    let sip_port = server.sip.port();
    let t = common::token();
    let call_id = format!("inband-{t}@127.0.0.1");
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    );
    let head = |method: &str, cseq: u32, to_tag: &str, extra: &str, body: &str| {
        format!(
            "{method} sip:100@127.0.0.1:{sip_port} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK{t}{cseq}{method};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:alice@{local}>;tag={t}\r\n\
             To: <sip:100@127.0.0.1>{to_tag}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} {method}\r\n\
             Contact: <sip:alice@{local}>\r\n\
             {extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    peer.send(head("INVITE", 1, "", "Content-Type: application/sdp\r\n", &sdp).as_bytes())
        .await;
    let answer = loop {
        let msg = peer.recv(Duration::from_secs(10)).await.expect("answer");
        if common::status_code(&msg) == Some(200) {
            break String::from_utf8_lossy(&msg).into_owned();
        }
    };
    assert!(
        !answer.contains("telephone-event"),
        "none was offered: {answer}"
    );
    let to_tag = answer
        .lines()
        .find(|l| l.starts_with("To:"))
        .and_then(|l| l.split("tag=").nth(1))
        .unwrap()
        .trim()
        .to_owned();
    let to_tag = format!(";tag={to_tag}");
    let ack = head("ACK", 1, &to_tag, "", "");
    peer.send(ack.as_bytes()).await;
    let body = answer.split("\r\n\r\n").nth(1).unwrap();
    let port: u16 = body
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    let media_to: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();

    // 2.4 s of audio from the caller: silence, key 5 (770 + 1336 Hz) for
    // 120 ms at 0.6 s, silence again. From 1.2 s to 1.8 s a stranger sends a
    // loud 2 kHz tone at the same port.
    let start = tokio::time::Instant::now();
    let mut stranger_sent = 0u32;
    for i in 0..120u32 {
        tokio::time::sleep_until(start + Duration::from_millis(20 * u64::from(i))).await;
        let ts = i * 160;
        let audio = if (30..36).contains(&i) {
            tones(&[770.0, 1336.0], ts, 160, 6000.0)
        } else {
            vec![0; 160]
        };
        rtp.send_to(&pcmu_packet(i as u16, ts, 0x1111, &audio), media_to)
            .await
            .unwrap();
        if (60..90).contains(&i) {
            let loud = tones(&[2000.0], ts, 160, 12000.0);
            stranger
                .send_to(&pcmu_packet(i as u16, ts, 0x2222, &loud), media_to)
                .await
                .unwrap();
            stranger_sent += 1;
        }
    }
    // The last key by SIP INFO: Hibiki says goodbye and hangs up.
    let info = head(
        "INFO",
        2,
        &to_tag,
        "Content-Type: application/dtmf-relay\r\n",
        "Signal=#\r\nDuration=160\r\n",
    );
    peer.send(info.as_bytes()).await;
    let mut bye = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while bye.is_none() && std::time::Instant::now() < deadline {
        // Keep the media flowing (silence) so the call stays alive.
        let i = (start.elapsed().as_millis() / 20) as u32;
        rtp.send_to(&pcmu_packet(i as u16, i * 160, 0x1111, &[0; 160]), media_to)
            .await
            .unwrap();
        if let Some(msg) = peer.recv(Duration::from_millis(20)).await {
            if msg.starts_with(b"BYE ") {
                bye = Some(String::from_utf8_lossy(&msg).into_owned());
            }
        }
    }
    let bye = bye.expect("Hibiki hangs up after '#'");
    // Answer the BYE so the call ends cleanly.
    peer.send(common::ok_for(&bye).as_bytes()).await;

    let rows = server
        .wait_for_calls(Calls::SipCallId(&call_id), Duration::from_secs(15))
        .await;
    let call = &rows[0];
    let log = server.stderr_text();
    let digits = dtmf_digits(&log, &call.id);
    assert_eq!(
        digits,
        [
            ("5".to_owned(), "inband".to_owned()),
            ("#".to_owned(), "sip-info".to_owned())
        ],
        "{}",
        server.logs()
    );
    let rejected: u32 = log
        .lines()
        .find(|l| l.contains(&call.id) && l.contains("media ended"))
        .and_then(|l| l.split("rejected_source=").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("media ended line");
    assert_eq!(rejected, stranger_sent, "every stranger packet dropped");

    // The stranger's tone is not in the recording.
    let recs = recordings_once_closed(&server, &call.id).await;
    let rec = recs.first().expect("a recording");
    let (_, samples) = read_wav(&recording_file(&server, rec));
    let (left, _) = split_stereo(&samples);
    let key = power_at(&left, 1336.0);
    let intruder = power_at(&left, 2000.0);
    assert!(
        key > 100.0 * intruder.max(1e-6),
        "the caller's key tone is recorded ({key:.1}), the stranger's 2 kHz is not ({intruder:.1})"
    );
}

/// The first final response the peer receives, as text.
async fn final_response(peer: &common::UdpPeer) -> String {
    loop {
        let msg = peer.recv(Duration::from_secs(10)).await.expect("an answer");
        if common::status_code(&msg).is_some_and(|c| c >= 200) {
            return String::from_utf8_lossy(&msg).into_owned();
        }
    }
}

/// Hold by re-INVITE: the caller puts Hibiki on an inactive hold (no media
/// either way). Hibiki answers `inactive` and, though no RTP comes for
/// longer than the media timeout, keeps the call up; a key pressed by SIP
/// INFO is still read back and `#` ends the call.
#[tokio::test(flavor = "multi_thread")]
async fn an_inactive_hold_suspends_the_media_timeout() {
    let mut cfg = demo_server();
    cfg.env
        .push(("HIBIKI_MEDIA_TIMEOUT_SECONDS".into(), "1".into()));
    let server = TestServer::start_with(cfg).await;
    let peer = common::UdpPeer::bind(server.sip).await;
    let local = peer.local_addr();
    let sip_port = server.sip.port();
    let t = common::token();
    let call_id = format!("hold-{t}@127.0.0.1");
    let sdp = |version: u32, direction: &str| {
        format!(
            "v=0\r\no=- 1 {version} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na={direction}\r\n"
        )
    };
    let request = |method: &str, cseq: u32, to_tag: &str, ctype: &str, body: &str| {
        format!(
            "{method} sip:100@127.0.0.1:{sip_port} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK{t}{cseq}{method};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:alice@{local}>;tag={t}\r\n\
             To: <sip:100@127.0.0.1>{to_tag}\r\nCall-ID: {call_id}\r\n\
             CSeq: {cseq} {method}\r\nContact: <sip:alice@{local}>\r\n\
             {ctype}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let ct = "Content-Type: application/sdp\r\n";
    peer.send(request("INVITE", 1, "", ct, &sdp(1, "sendrecv")).as_bytes())
        .await;
    let ok = final_response(&peer).await;
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    let tag = ok
        .lines()
        .find(|l| l.starts_with("To:"))
        .and_then(|l| l.split("tag=").nth(1))
        .unwrap()
        .trim()
        .to_owned();
    let to_tag = format!(";tag={tag}");
    peer.send(request("ACK", 1, &to_tag, "", "").as_bytes())
        .await;

    peer.send(request("INVITE", 2, &to_tag, ct, &sdp(2, "inactive")).as_bytes())
        .await;
    let held = final_response(&peer).await;
    assert!(held.starts_with("SIP/2.0 200"), "{held}");
    assert!(held.contains("a=inactive"), "answered inactive: {held}");
    peer.send(request("ACK", 2, &to_tag, "", "").as_bytes())
        .await;

    // Twice the media timeout without a packet: the call must survive.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let dtmf = "Content-Type: application/dtmf-relay\r\n";
    peer.send(request("INFO", 3, &to_tag, dtmf, "Signal=#\r\n").as_bytes())
        .await;
    let mut saw_bye = false;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !saw_bye && std::time::Instant::now() < deadline {
        if let Some(msg) = peer.recv(Duration::from_millis(200)).await {
            saw_bye = msg.starts_with(b"BYE ");
        }
    }
    assert!(
        saw_bye,
        "the held call was still up to read back '#' and hang up\n{}",
        server.logs()
    );
    let rows = server
        .wait_for_calls(Calls::SipCallId(&call_id), Duration::from_secs(15))
        .await;
    assert_eq!(rows[0].hangup_cause.as_deref(), Some("normal"), "{rows:#?}");
}
