//! Unit tests of the message entry points: [`parse_message`], [`frame`],
//! and round trips through the writer.

use super::*;
use crate::message::{find_param, Contact, Host, Transport};
use crate::write::write_message;

const INVITE: &str = "INVITE sip:100@example.com SIP/2.0\r\n\
    Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776;rport\r\n\
    Max-Forwards: 70\r\n\
    f: \"Alice\" <sip:alice@example.net>;tag=1928\r\n\
    t: <sip:100@example.com>\r\n\
    i: a84b4c76e66710\r\n\
    CSeq: 314159 INVITE\r\n\
    m: <sip:alice@192.0.2.1>\r\n\
    c: application/sdp\r\n\
    k: timer\r\n\
    l: 4\r\n\r\nv=0\r\n";

fn req(text: &str) -> Request {
    match parse_message(text.as_bytes()) {
        Ok(Message::Request(r)) => r,
        other => panic!("not a request: {other:?}"),
    }
}

fn refused(text: &str) -> ParseError {
    parse_message(text.as_bytes()).expect_err("should be refused")
}

#[test]
fn parses_a_plain_invite() {
    let r = req(INVITE);
    assert_eq!(r.method, Method::Invite);
    let Uri::Sip(u) = &r.uri else { panic!() };
    assert_eq!(u.user.as_deref(), Some("100"));
    assert_eq!(r.headers.via[0].transport, Transport::Udp);
    assert_eq!(
        r.headers.via[0].host,
        Host::Ipv4("192.0.2.1".parse().unwrap())
    );
    assert!(find_param(&r.headers.via[0].params, "rport").is_some());
    assert_eq!(r.headers.from.display_name.as_deref(), Some("Alice"));
    assert_eq!(r.headers.call_id, "a84b4c76e66710");
    assert_eq!(r.headers.cseq.seq, 314159);
    assert_eq!(r.headers.max_forwards, Some(70));
    assert_eq!(r.headers.content_type.as_deref(), Some("application/sdp"));
    assert_eq!(r.headers.extra[0].name, "Supported");
    assert!(matches!(r.headers.contact[0], Contact::Addr(_)));
    // Content-Length 4 truncates the 5-byte body.
    assert_eq!(&r.body[..], b"v=0\r");
}

#[test]
fn datagram_body_rules() {
    let no_cl = INVITE.replace("l: 4\r\n", "");
    assert_eq!(&req(&no_cl).body[..], b"v=0\r\n");
    let e = refused(&INVITE.replace("l: 4", "l: 6"));
    assert_eq!(e.status, Some(400));
    assert_eq!(e.reason, "Body shorter than Content-Length");
    let e = refused(&INVITE.replace("l: 4", "l: -4"));
    assert_eq!(e.reason, "Invalid Content-Length");
}

#[test]
fn refusals_carry_status_and_response() {
    let e = refused(&INVITE.replace("i: a84b4c76e66710\r\n", ""));
    assert_eq!(e.status, Some(400));
    assert_eq!(e.reason, "Missing header: Call-ID");
    let resp = String::from_utf8(e.response.unwrap().to_vec()).unwrap();
    assert!(
        resp.starts_with("SIP/2.0 400 Missing header: Call-ID\r\n"),
        "{resp}"
    );
    assert!(resp.contains("Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776;rport\r\n"));
    assert!(resp.contains("To: <sip:100@example.com>;tag="));
    assert!(resp.ends_with("Content-Length: 0\r\n\r\n"));

    let e = refused(&INVITE.replace("SIP/2.0\r\n", "SIP/3.0\r\n"));
    assert_eq!(e.status, Some(505));
    let e = refused(&INVITE.replace("sip:100@example.com SIP", "mailto:x@y SIP"));
    assert_eq!(e.status, Some(416));
    let e = refused(&INVITE.replace("CSeq: 314159 INVITE", "CSeq: 314159 BYE"));
    assert_eq!(
        (e.status, e.reason.as_str()),
        (Some(400), "CSeq method does not match request method")
    );
    let e = refused(&INVITE.replace("Max-Forwards: 70", "Max-Forwards: 70000"));
    assert_eq!(e.reason, "Invalid Max-Forwards");
}

#[test]
fn unknown_methods_parse_and_tel_is_served() {
    let r = req(&INVITE
        .replace("INVITE sip", "FOO sip")
        .replace("314159 INVITE", "314159 BAR"));
    assert_eq!(r.method, Method::Extension("FOO".into()));
    let r = req(&INVITE.replace("sip:100@example.com SIP", "tel:+15551234 SIP"));
    assert!(matches!(r.uri, Uri::Other { .. }));
}

#[test]
fn bad_responses_and_acks_are_dropped() {
    let resp = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nFrom: <sip:a@b>;tag=1\r\nl: 0\r\n\r\n";
    let e = refused(resp);
    assert_eq!((e.status, e.response), (None, None));
    let ack = INVITE
        .replace("INVITE", "ACK")
        .replace("i: a84b4c76e66710\r\n", "");
    assert_eq!(refused(&ack).status, None);
    let e = refused("SIP/2.0 4294967301 better not\r\nVia: SIP/2.0/UDP h\r\n\r\n");
    assert_eq!(e.status, None);
}

#[test]
fn parses_responses() {
    let text = "SIP/2.0 180 Ringing Now\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nFrom: <sip:a@b>;tag=1\r\nContent-Length: 0\r\n\r\n";
    let Ok(Message::Response(r)) = parse_message(text.as_bytes()) else {
        panic!()
    };
    assert_eq!((r.status, r.reason.as_str()), (180, "Ringing Now"));
    let Ok(Message::Response(r)) = parse_message(text.replace("Ringing Now", "").as_bytes()) else {
        panic!()
    };
    assert_eq!(r.reason, "");
}

#[test]
fn oversized_messages_get_513() {
    let big = INVITE.replace("k: timer", &format!("k: {}", "x".repeat(MAX_MESSAGE)));
    let e = refused(&big);
    assert_eq!(e.status, Some(513));
    assert!(e.response.is_some());
}

#[test]
fn garbage_never_panics_and_is_dropped() {
    for g in [
        &b""[..],
        b"\r\n\r\n",
        b"\0\0\0\0",
        b"\xff\xfe\xfd",
        b"INVITE",
        b"SIP/2.0",
        b":::\r\n\r\n",
    ] {
        let e = parse_message(g).expect_err("garbage");
        assert_eq!(e.status, None, "{g:?}");
    }
}

#[test]
fn frames_a_stream() {
    let one = INVITE.replace("l: 4", "l: 5");
    let mut stream = b"\r\n\r\n".to_vec();
    stream.extend_from_slice(one.as_bytes());
    stream.extend_from_slice(one.as_bytes());
    assert_eq!(frame(&stream), Ok(Framed::KeepAlive { len: 4 }));
    let rest = &stream[4..];
    assert_eq!(frame(rest), Ok(Framed::Message { len: one.len() }));
    assert!(parse_message(&rest[..one.len()]).is_ok());
    for cut in [0, 10, one.len() - 20, one.len() - 1] {
        assert_eq!(frame(&rest[..cut]), Ok(Framed::Incomplete), "cut at {cut}");
    }
    let e = frame(INVITE.replace("l: 4\r\n", "").as_bytes()).unwrap_err();
    assert_eq!(
        (e.status, e.reason.as_str()),
        (Some(400), "Missing header: Content-Length")
    );
    let e = frame(INVITE.replace("l: 4", "l: x").as_bytes()).unwrap_err();
    assert_eq!(e.reason, "Invalid Content-Length");
    let e = frame(&vec![b'a'; MAX_MESSAGE + 1]).unwrap_err();
    assert_eq!(e.status, None);
    let e = frame(INVITE.replace("l: 4", "l: 65536").as_bytes()).unwrap_err();
    assert_eq!(e.status, Some(513));
    // A head that does not end within the limit is refused, answered from
    // the lines that fit.
    let huge = INVITE.replace("k: timer", &format!("k: {}", "t".repeat(2 * MAX_MESSAGE)));
    let e = frame(huge.as_bytes()).unwrap_err();
    assert_eq!(e.status, Some(513));
    assert!(e
        .response
        .unwrap()
        .starts_with(b"SIP/2.0 513 Message Too Large\r\n"));
}

#[test]
fn round_trips_through_the_writer() {
    let samples = [
        INVITE.to_owned(),
        "REGISTER sips:[2001:db8::10]:5071 SIP/2.0\r\n\
         Via: SIP/2.0/TLS [2001:db8::9:1];branch=z9hG4bKas3;received=[2001:db8::9:255]\r\n\
         Via: SIP/2.0/WSS ws.example.com:443;branch=z9hG4bK2, SIP/2.0/SCTP s.example.com;branch=z9hG4bK3\r\n\
         From: \"Bell, \\\"Alexander\\\"\" <sip:a%20b:pw@example.com;user=phone?x=%3C>;tag=81x2\r\n\
         To: sip:user@example.com\r\n\
         Call-ID: reg@h\r\n\
         CSeq: 2147483647 REGISTER\r\n\
         Contact: *\r\n\
         Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n\
         Expires: 0\r\n\
         Content-Length: 0\r\n\r\n"
            .to_owned(),
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1;rport=5060;received=10.0.0.1\r\n\
         To: Bob <sip:bob@b>;tag=2\r\nFrom: <tel:+1555>;tag=1\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:bob@10.0.0.2>;expires=60;q=0.5, <sip:bob@10.0.0.3>\r\n\
         Content-Type: text/plain\r\nl: 2\r\n\r\nhi"
            .to_owned(),
    ];
    for text in samples {
        let m = parse_message(text.as_bytes()).unwrap();
        let written = write_message(&m);
        let again = parse_message(&written).unwrap();
        assert_eq!(m, again, "{}", String::from_utf8_lossy(&written));
        // Writing is canonical: a second round gives the same bytes.
        assert_eq!(written, write_message(&again));
    }
}

mod stream_framer {
    use super::super::{Framed, StreamFramer};

    const MSG: &[u8] = b"OPTIONS sip:100@127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK1\r\n\
From: <sip:a@127.0.0.1>;tag=1\r\n\
To: <sip:100@127.0.0.1>\r\n\
Call-ID: framer\r\n\
CSeq: 1 OPTIONS\r\n\
Content-Length: 4\r\n\r\nbody";

    #[test]
    fn trickled_bytes_frame_exactly_once_at_the_end() {
        let mut framer = StreamFramer::default();
        for end in 1..MSG.len() {
            assert_eq!(
                framer.next(&MSG[..end]).unwrap(),
                Framed::Incomplete,
                "at {end}"
            );
        }
        assert_eq!(
            framer.next(MSG).unwrap(),
            Framed::Message { len: MSG.len() }
        );
    }

    #[test]
    fn agrees_with_frame_on_two_messages_and_keepalives() {
        let mut stream = b"\r\n\r\n".to_vec();
        stream.extend_from_slice(MSG);
        stream.extend_from_slice(MSG);
        let mut framer = StreamFramer::default();
        let mut buf: Vec<u8> = Vec::new();
        let mut seen = Vec::new();
        for chunk in stream.chunks(7) {
            buf.extend_from_slice(chunk);
            loop {
                match framer.next(&buf).unwrap() {
                    Framed::Incomplete => break,
                    Framed::KeepAlive { len } => {
                        buf.drain(..len);
                        seen.push("keepalive");
                    }
                    Framed::Message { len } => {
                        assert_eq!(&buf[..len], MSG);
                        buf.drain(..len);
                        seen.push("message");
                    }
                }
            }
        }
        assert_eq!(seen, ["keepalive", "message", "message"]);
        assert!(buf.is_empty());
    }

    #[test]
    fn a_head_that_never_ends_is_refused_at_the_limit() {
        let mut framer = StreamFramer::default();
        let mut buf =
            b"OPTIONS sip:x@h SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK2\r\nX: "
                .to_vec();
        let mut refused = false;
        while buf.len() <= super::super::MAX_MESSAGE + 10 {
            buf.extend_from_slice(&[b'a'; 1000]);
            match framer.next(&buf) {
                Ok(Framed::Incomplete) => {}
                Ok(other) => panic!("{other:?}"),
                Err(e) => {
                    assert_eq!(e.status, Some(513));
                    refused = true;
                    break;
                }
            }
        }
        assert!(refused);
    }
}
