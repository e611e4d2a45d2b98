//! Parsing and writing: round trips of real descriptions, the typed
//! fields, what is kept verbatim, and refusals that name the line.

use std::net::IpAddr;

use super::samples::{self, crlf};
use crate::sdp::{
    Attribute, Connection, Direction, Line, MediaKind, RtpMap, SdpError, SessionDescription,
    Transport,
};

fn parse(lf: &str) -> SessionDescription {
    SessionDescription::parse(crlf(lf).as_bytes()).unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn every_sample_round_trips_byte_for_byte() {
    for (name, lf) in samples::ALL {
        let wire = crlf(lf);
        let sdp = SessionDescription::parse(wire.as_bytes()).unwrap();
        assert_eq!(sdp.to_string(), wire, "{name}");
        assert_eq!(sdp.to_bytes(), wire.as_bytes(), "{name}");
    }
}

#[test]
fn bare_lf_and_blank_lines_parse_like_crlf() {
    for (name, lf) in samples::ALL {
        let with_lf = SessionDescription::parse(lf.as_bytes()).unwrap();
        let with_blanks: String = lf.replace('\n', "\r\n\r\n");
        let with_blanks = SessionDescription::parse(with_blanks.as_bytes()).unwrap();
        let with_crlf = parse(lf);
        assert_eq!(with_lf, with_crlf, "{name}");
        assert_eq!(with_blanks, with_crlf, "{name}");
    }
}

#[test]
fn sipp_offer_typed_fields() {
    let sdp = parse(samples::SIPP_PCAP_OFFER);
    assert_eq!(sdp.origin.username, "user1");
    assert_eq!(sdp.origin.session_id, "53655765");
    assert_eq!(sdp.origin.session_version, 2_353_687_637);
    assert_eq!(sdp.origin.address, "127.0.0.1");
    assert_eq!(sdp.session_name, "-");
    assert_eq!(sdp.connection, Some(Connection::new(ip("127.0.0.1"))));
    assert_eq!(sdp.timing.len(), 1);
    assert_eq!((sdp.timing[0].start, sdp.timing[0].stop), (0, 0));
    let m = &sdp.media[0];
    assert_eq!(m.kind, MediaKind::Audio);
    assert_eq!(m.port, 6000);
    assert_eq!(m.transport, Transport::RtpAvp);
    assert_eq!(m.payload_types().collect::<Vec<_>>(), [8, 101]);
    assert_eq!(
        m.rtpmap(101),
        Some(&RtpMap {
            payload_type: 101,
            encoding: "telephone-event".into(),
            clock_rate: 8000,
            channels: None
        })
    );
    assert_eq!(m.fmtp(101), Some("0-11,16"));
    assert_eq!(m.fmtp(8), None);
    assert_eq!(m.ptime(), None);
    assert_eq!(m.direction(), None);
    assert_eq!(sdp.media_direction(0), Direction::SendRecv);
}

#[test]
fn baresip_media_level_lines_and_flags() {
    let sdp = parse(samples::BARESIP_OFFER);
    let m = &sdp.media[0];
    assert_eq!(
        m.lines,
        [Line {
            kind: 'b',
            value: "AS:64".into()
        }]
    );
    assert_eq!(m.attribute("rtcp-mux"), Some(None));
    assert_eq!(m.attribute("label"), Some(Some("1")));
    assert_eq!(m.attribute("nonexistent"), None);
    assert_eq!(m.ptime(), Some(20));
    assert_eq!(m.direction(), Some(Direction::SendRecv));
    assert_eq!(m.rtpmap(96).unwrap().channels, Some(2));
    assert_eq!(m.fmtp(96), Some("stereo=1;sprop-stereo=1"));
}

#[test]
fn linphone_session_attributes_and_video_kept() {
    let sdp = parse(samples::LINPHONE_OFFER);
    assert_eq!(sdp.session_name, "Talk");
    assert_eq!(
        sdp.attribute("rtcp-xr"),
        Some(Some(
            "rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics"
        ))
    );
    assert_eq!(sdp.media.len(), 2);
    let video = &sdp.media[1];
    assert_eq!(video.kind, MediaKind::Video);
    assert_eq!(video.port, 9078);
    assert_eq!(video.rtpmap(97).unwrap().encoding, "H264");
    // rtpmap lookups are per section: PT 96 is opus in audio, VP8 in video.
    assert_eq!(sdp.media[0].rtpmap(96).unwrap().encoding, "opus");
    assert_eq!(video.rtpmap(96).unwrap().encoding, "VP8");
    // G.729's PT 18 has an fmtp but no rtpmap (static type).
    assert_eq!(sdp.media[0].rtpmap(18), None);
    assert_eq!(sdp.media[0].fmtp(18), Some("annexb=yes"));
}

#[test]
fn chrome_offer_keeps_every_attribute_verbatim_and_in_order() {
    let wire = crlf(samples::CHROME_OFFER);
    let sdp = SessionDescription::parse(wire.as_bytes()).unwrap();
    assert!(sdp.connection.is_none());
    assert_eq!(sdp.media.len(), 2);
    let audio = &sdp.media[0];
    assert_eq!(audio.transport, Transport::UdpTlsRtpSavpf);
    assert_eq!(audio.connection, Some(Connection::new(ip("0.0.0.0"))));
    assert_eq!(
        audio.rtcp(),
        Some((9, Some(&Connection::new(ip("0.0.0.0")))))
    );
    // The value after the colon is kept exactly, leading space included.
    assert_eq!(
        sdp.attribute("msid-semantic"),
        Some(Some(" WMS 6f1a5c9e-3b1d-4f7e-9a2c-0d3e4b5a6c7d"))
    );
    // Every a= line of the input is an attribute, in the input's order.
    let written: Vec<String> = std::iter::once(&sdp.attributes)
        .chain(sdp.media.iter().map(|m| &m.attributes))
        .flatten()
        .map(|a| format!("a={a}"))
        .collect();
    let input: Vec<&str> = samples::CHROME_OFFER
        .lines()
        .filter(|l| l.starts_with("a="))
        .collect();
    assert_eq!(written, input);
    let data = &sdp.media[1];
    assert_eq!(data.kind, MediaKind::Application);
    assert_eq!(data.transport, Transport::Other("UDP/DTLS/SCTP".into()));
    assert_eq!(data.formats, ["webrtc-datachannel"]);
}

#[test]
fn t38_image_stream_is_kept() {
    let sdp = parse(samples::T38_OFFER);
    let image = &sdp.media[1];
    assert_eq!(image.kind, MediaKind::Image);
    assert_eq!(image.transport, Transport::Other("udptl".into()));
    assert_eq!(image.formats, ["t38"]);
    assert_eq!(image.attribute("T38MaxBitRate"), Some(Some("14400")));
}

#[test]
fn attributes_that_do_not_parse_in_typed_form_are_kept_verbatim() {
    let sdp = parse(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n\
         m=audio 4000 RTP/AVP 0\na=ptime:2.5\na=rtpmap:zero PCMU/8000\n\
         a=rtpmap:0 PCMU\na=fmtp:300 x\na=rtcp:abc\na=sendrecv:junk\na=\n",
    );
    let attributes = &sdp.media[0].attributes;
    assert!(attributes
        .iter()
        .all(|a| matches!(a, Attribute::Other { .. })));
    assert_eq!(attributes.len(), 7);
    assert_eq!(sdp.media[0].ptime(), None);
    assert_eq!(sdp.media[0].rtpmap(0), None);
    assert_eq!(sdp.media[0].direction(), None);
    // … and written back as they came.
    let again = SessionDescription::parse(sdp.to_string().as_bytes()).unwrap();
    assert_eq!(again, sdp);
    assert!(sdp
        .to_string()
        .contains("a=ptime:2.5\r\na=rtpmap:zero PCMU/8000\r\n"));
}

#[test]
fn unknown_and_optional_lines_are_kept_in_rfc_order() {
    // Out of order on input (b= before c=, k= at the end, an unknown y=),
    // RFC 8866 order on output.
    let input = "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nb=AS:80\ni=info\ny=unknown\n\
                 c=IN IP4 192.0.2.1\nt=0 0\nr=7d 1h 0 25h\nz=2882844526 -1h\na=tool:x\n\
                 m=audio 4000 RTP/AVP 0\nb=TIAS:64000\ni=voice\nc=IN IP4 192.0.2.2\n";
    let sdp = parse(input);
    assert_eq!(sdp.timing[0].repeats, ["7d 1h 0 25h"]);
    assert_eq!(sdp.lines.len(), 4);
    assert_eq!(
        sdp.media[0].connection,
        Some(Connection::new(ip("192.0.2.2")))
    );
    assert_eq!(sdp.media_connection(0).unwrap().address, ip("192.0.2.2"));
    assert_eq!(
        sdp.to_string(),
        crlf(
            "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\ni=info\nc=IN IP4 192.0.2.1\nb=AS:80\n\
             t=0 0\nr=7d 1h 0 25h\ny=unknown\nz=2882844526 -1h\na=tool:x\n\
             m=audio 4000 RTP/AVP 0\ni=voice\nc=IN IP4 192.0.2.2\nb=TIAS:64000\n"
        )
    );
}

#[test]
fn missing_session_name_and_timing_are_tolerated_and_written() {
    let sdp = parse("v=0\no=- 1 1 IN IP4 192.0.2.1\nc=IN IP4 192.0.2.1\nm=audio 4000 RTP/AVP 0\n");
    assert_eq!(sdp.session_name, "-");
    assert!(sdp.timing.is_empty());
    let text = sdp.to_string();
    assert!(
        text.contains("\r\ns=-\r\n") && text.contains("\r\nt=0 0\r\n"),
        "{text}"
    );
}

#[test]
fn ipv6_and_multicast_connections() {
    let sdp = parse(
        "v=0\no=- 1 1 IN IP6 2001:db8::1\ns=-\nc=IN IP6 2001:db8::1\nt=0 0\n\
         m=audio 4000 RTP/AVP 0\nm=audio 5000/2 RTP/AVP 8\nc=IN IP4 233.252.0.1/127/3\n",
    );
    assert_eq!(sdp.connection, Some(Connection::new(ip("2001:db8::1"))));
    let m = &sdp.media[1];
    assert_eq!(m.port_count, Some(2));
    let c = m.connection.as_ref().unwrap();
    assert_eq!(c.address, ip("233.252.0.1"));
    assert_eq!(c.multicast.as_deref(), Some("127/3"));
    assert!(sdp
        .to_string()
        .contains("m=audio 5000/2 RTP/AVP 8\r\nc=IN IP4 233.252.0.1/127/3\r\n"));
}

#[test]
fn non_utf8_text_is_replaced_not_refused() {
    let mut body = crlf(samples::SIPP_UAC_OFFER).into_bytes();
    let s = body.windows(4).position(|w| w == b"s=-\r").unwrap();
    body[s + 2] = 0xE9; // 'é' in Latin-1
    let sdp = SessionDescription::parse(&body).unwrap();
    assert_eq!(sdp.session_name, "\u{FFFD}");
    assert_eq!(sdp.media[0].port, 6000);
}

/// A session-level prefix that parses, for building bad bodies.
const HEAD: &str = "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\n";

#[test]
fn malformed_lines_are_refused_naming_the_line() {
    let cases: &[(&str, usize, &str)] = &[
        // (body, line number, the line)
        ("o=- 1 1 IN IP4 192.0.2.1\n", 1, "o=- 1 1 IN IP4 192.0.2.1"),
        ("v=1\n", 1, "v=1"),
        ("v=0\nv=0\n", 2, "v=0"),
        ("v=0\no=- 1 x IN IP4 h\n", 2, "o=- 1 x IN IP4 h"),
        ("v=0\no=- 1 1 IN IP4\n", 2, "o=- 1 1 IN IP4"),
        (
            "v=0\no=- 1 1 IN IP4 a\no=- 1 1 IN IP4 a\n",
            3,
            "o=- 1 1 IN IP4 a",
        ),
        ("v=0\nthis is not sdp\n", 2, "this is not sdp"),
        ("v=0\n=x\n", 2, "=x"),
        ("v=0\n1=x\n", 2, "1=x"),
        ("v=0\nt=0\n", 2, "t=0"),
        ("v=0\nt=now 0\n", 2, "t=now 0"),
        ("v=0\nr=7d 1h 0\n", 2, "r=7d 1h 0"),
    ];
    let connection = [
        "c=IN IP4",
        "c=ATM NSAP 47.0005",
        "c=IN IPX 192.0.2.1",
        "c=IN IP4 pbx.example.com",
        "c=IN IP4 ::1",
        "c=IN IP6 192.0.2.1",
        "c=IN IP4 192.0.2.1 extra",
        "c=IN IP4 192.0.2.1/127",
        "c=IN IP4 233.252.0.1/x",
        "c=IN IP4 999.0.0.1",
    ];
    let media = [
        "m=audio",
        "m=audio 4000",
        "m=audio 70000 RTP/AVP 0",
        "m=audio -1 RTP/AVP 0",
        "m=audio 4000/x RTP/AVP 0",
        "m=audio 4000 RTP/AVP",
        "m=audio 4000 RTP/AVP PCMU",
        "m=audio 4000 RTP/AVP 0 128",
        "m=audio 4000 RTP/AVP 0 -8",
    ];
    let head_lines = HEAD.lines().count();
    let mut all: Vec<(String, usize, String)> = cases
        .iter()
        .map(|(b, n, l)| (b.to_string(), *n, l.to_string()))
        .collect();
    for bad in connection.iter().chain(media.iter()) {
        // At session level (c=) or as the first media line (m=)…
        all.push((format!("{HEAD}{bad}\n"), head_lines + 1, bad.to_string()));
        // …and inside a media section.
        all.push((
            format!("{HEAD}m=audio 4000 RTP/AVP 0\na=sendrecv\n{bad}\n"),
            head_lines + 3,
            bad.to_string(),
        ));
    }
    // A second c= at the same level.
    let twice = "c=IN IP4 192.0.2.1";
    all.push((
        format!("{HEAD}{twice}\n{twice}\n"),
        head_lines + 2,
        twice.into(),
    ));
    all.push((
        format!("{HEAD}m=audio 1 RTP/AVP 0\n{twice}\n{twice}\n"),
        head_lines + 3,
        twice.into(),
    ));
    for (body, line, text) in &all {
        for wire in [body.clone(), crlf(body)] {
            match SessionDescription::parse(wire.as_bytes()) {
                Err(SdpError::Malformed {
                    line: l, text: t, ..
                }) => {
                    assert_eq!((l, &t), (*line, text), "body {body:?}");
                }
                other => panic!("body {body:?} gave {other:?}"),
            }
        }
    }
    let error = SessionDescription::parse(format!("{HEAD}c=IN IP4 pbx\n").as_bytes()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "SDP line 5 (\"c=IN IP4 pbx\"): address is not an IP literal"
    );
    assert_eq!(error.sip_status(), 400);
}

#[test]
fn missing_mandatory_lines() {
    assert_eq!(SessionDescription::parse(b""), Err(SdpError::Missing("v=")));
    assert_eq!(
        SessionDescription::parse(b"\r\n \r\n"),
        Err(SdpError::Missing("v="))
    );
    assert_eq!(
        SessionDescription::parse(b"v=0\r\ns=-\r\nt=0 0\r\n"),
        Err(SdpError::Missing("o="))
    );
}

#[test]
fn quoted_line_is_cut_short() {
    let long = format!("{HEAD}c=IN IP4 {}\n", "9".repeat(10_000));
    let Err(SdpError::Malformed { text, .. }) = SessionDescription::parse(long.as_bytes()) else {
        panic!("accepted");
    };
    assert_eq!(text.chars().count(), 80);
}

#[test]
fn set_direction_replaces_in_place() {
    let mut sdp = parse(samples::BARESIP_OFFER);
    let m = &mut sdp.media[0];
    let position = |m: &crate::sdp::MediaSection| {
        m.attributes
            .iter()
            .position(|a| matches!(a, Attribute::Direction(_)))
    };
    let before = position(m);
    m.attributes.push(Attribute::Direction(Direction::Inactive));
    m.set_direction(Direction::SendOnly);
    assert_eq!(position(m), before);
    assert_eq!(m.direction(), Some(Direction::SendOnly));
    let directions = m
        .attributes
        .iter()
        .filter(|a| matches!(a, Attribute::Direction(_)))
        .count();
    assert_eq!(directions, 1);
    let mut bare = parse(samples::SIPP_UAC_OFFER);
    bare.media[0].set_direction(Direction::RecvOnly);
    assert!(bare
        .to_string()
        .ends_with("a=rtpmap:0 PCMU/8000\r\na=recvonly\r\n"));
}

#[test]
fn direction_algebra() {
    use Direction::*;
    for d in [SendRecv, SendOnly, RecvOnly, Inactive] {
        assert_eq!(d.reversed().reversed(), d);
        assert_eq!(d.intersect(SendRecv), d);
        assert_eq!(d.intersect(Inactive), Inactive);
        assert_eq!(Direction::from_flags(d.sends(), d.receives()), d);
    }
    assert_eq!(SendOnly.reversed(), RecvOnly);
    assert_eq!(SendRecv.reversed(), SendRecv);
    assert_eq!(Inactive.reversed(), Inactive);
    assert_eq!(SendOnly.intersect(RecvOnly), Inactive);
    assert_eq!(SendOnly.to_string(), "sendonly");
}
