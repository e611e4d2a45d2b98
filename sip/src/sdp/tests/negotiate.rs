//! Offer/answer: answering real offers, payload type and direction
//! mirroring, our own offers, answers checked, hold and resume.

use std::net::{IpAddr, SocketAddr};

use super::samples::{self, crlf};
use crate::sdp::{
    accept_answer, answer, hold, offer, reoffer, resume, Codec, Direction, LocalMedia, MediaKind,
    Negotiated, SdpError, SessionDescription, Transport,
};

fn parse(lf: &str) -> SessionDescription {
    SessionDescription::parse(crlf(lf).as_bytes()).unwrap()
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn local() -> LocalMedia {
    LocalMedia::new(IpAddr::from([203, 0, 113, 10]), 20_000, 777)
}

/// Answers `offer` and checks what every answer must be: parseable back
/// to itself, as many m= lines as the offer, the offer's t=, exactly one
/// stream with a port.
fn answer_checked(
    offer: &SessionDescription,
    local: &LocalMedia,
) -> Result<(SessionDescription, Negotiated), SdpError> {
    let a = answer(offer, local)?;
    let reparsed = SessionDescription::parse(a.sdp.to_string().as_bytes()).unwrap();
    assert_eq!(reparsed, a.sdp);
    assert_eq!(a.sdp.media.len(), offer.media.len());
    if !offer.timing.is_empty() {
        assert_eq!(a.sdp.timing, offer.timing);
    }
    for (o, m) in offer.media.iter().zip(&a.sdp.media) {
        assert_eq!(o.kind, m.kind);
        assert_eq!(o.transport, m.transport);
        assert!(!m.formats.is_empty());
    }
    assert!(a.sdp.media.iter().filter(|m| m.port != 0).count() <= 1);
    assert_eq!(a.sdp.origin.session_id, local.session_id.to_string());
    assert_eq!(a.sdp.origin.session_version, local.session_version);
    assert_eq!(a.sdp.connection.as_ref().unwrap().address, local.addr);
    Ok((a.sdp, a.negotiated))
}

#[test]
fn answers_sipp_pcap_offer_with_pcma_and_its_telephone_event() {
    let (sdp, n) = answer_checked(&parse(samples::SIPP_PCAP_OFFER), &local()).unwrap();
    assert_eq!(
        n,
        Negotiated {
            codec: Codec::Pcma,
            payload_type: 8,
            telephone_event_pt: Some(101),
            remote: addr("127.0.0.1:6000"),
            direction: Direction::SendRecv,
            ptime: 20,
        }
    );
    assert!(n.sends());
    assert_eq!(
        sdp.to_string(),
        "v=0\r\no=hibiki 777 1 IN IP4 203.0.113.10\r\ns=hibiki\r\nc=IN IP4 203.0.113.10\r\n\
         t=0 0\r\nm=audio 20000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-11,16\r\na=ptime:20\r\n\
         a=sendrecv\r\n"
    );
}

#[test]
fn answers_sipp_uac_offer_without_telephone_event() {
    let (sdp, n) = answer_checked(&parse(samples::SIPP_UAC_OFFER), &local()).unwrap();
    assert_eq!(n.codec, Codec::Pcmu);
    assert_eq!(n.payload_type, 0);
    assert_eq!(n.telephone_event_pt, None);
    assert_eq!(n.remote, addr("127.0.1.1:6000"));
    assert_eq!(sdp.media[0].formats, ["0"]);
}

#[test]
fn answers_baresip_with_first_g711_in_offer_order() {
    let (sdp, n) = answer_checked(&parse(samples::BARESIP_OFFER), &local()).unwrap();
    assert_eq!((n.codec, n.payload_type), (Codec::Pcmu, 0));
    assert_eq!(n.telephone_event_pt, Some(101));
    assert_eq!(n.remote, addr("192.168.1.10:10390"));
    let m = &sdp.media[0];
    assert_eq!(m.formats, ["0", "101"]);
    // The offer's event list is mirrored; rtcp-mux is not claimed.
    assert_eq!(m.fmtp(101), Some("0-15"));
    assert_eq!(m.attribute("rtcp-mux"), None);
}

#[test]
fn answers_linphone_with_pcma_8khz_events_and_rejects_video() {
    let offer = parse(samples::LINPHONE_OFFER);
    let (sdp, n) = answer_checked(&offer, &local()).unwrap();
    // PCMA is listed before PCMU in this offer: the offerer's order wins.
    assert_eq!((n.codec, n.payload_type), (Codec::Pcma, 8));
    // Telephone-event at 48 and 16 kHz are skipped for the 8 kHz one.
    assert_eq!(n.telephone_event_pt, Some(100));
    assert_eq!(sdp.media[0].formats, ["8", "100"]);
    assert_eq!(sdp.media[0].rtpmap(100).unwrap().clock_rate, 8000);
    assert_eq!(sdp.media[0].fmtp(100), Some("0-16"));
    let video = &sdp.media[1];
    assert_eq!((video.kind.clone(), video.port), (MediaKind::Video, 0));
    assert_eq!(video.formats, offer.media[1].formats);
    assert!(video.attributes.is_empty());
}

#[test]
fn our_preference_list_restricts_but_does_not_reorder() {
    let offer = parse(samples::BARESIP_OFFER); // … 0 8 …
    let mut only_alaw = local();
    only_alaw.codecs = vec![Codec::Pcma];
    let (_, n) = answer_checked(&offer, &only_alaw).unwrap();
    assert_eq!((n.codec, n.payload_type), (Codec::Pcma, 8));
    let mut reversed = local();
    reversed.codecs = vec![Codec::Pcma, Codec::Pcmu];
    let (_, n) = answer_checked(&offer, &reversed).unwrap();
    assert_eq!(n.codec, Codec::Pcmu);
    let mut no_events = local();
    no_events.telephone_event = false;
    let (sdp, n) = answer_checked(&offer, &no_events).unwrap();
    assert_eq!(n.telephone_event_pt, None);
    assert_eq!(sdp.media[0].formats, ["0"]);
}

#[test]
fn chrome_offer_is_refused_for_its_transport() {
    let offer = parse(samples::CHROME_OFFER);
    let error = answer(&offer, &local()).unwrap_err();
    assert_eq!(error, SdpError::NoCommonTransport);
    assert_eq!(error.sip_status(), 488);
}

#[test]
fn chrome_codecs_over_plain_rtp_pick_pcmu_and_8khz_events() {
    let text = samples::CHROME_OFFER.replace("UDP/TLS/RTP/SAVPF", "RTP/AVPF");
    let mut offer = parse(&text);
    offer.media[0].connection = Some(crate::sdp::Connection::new(IpAddr::from([192, 0, 2, 9])));
    let (sdp, n) = answer_checked(&offer, &local()).unwrap();
    assert_eq!((n.codec, n.payload_type), (Codec::Pcmu, 0));
    assert_eq!(n.telephone_event_pt, Some(126));
    assert_eq!(n.remote, addr("192.0.2.9:9"));
    assert_eq!(sdp.media[0].transport, Transport::RtpAvpf);
    assert_eq!(sdp.media[1].port, 0);
    assert_eq!(sdp.media[1].formats, ["webrtc-datachannel"]);
}

#[test]
fn t38_stream_is_rejected_with_port_zero() {
    let (sdp, n) = answer_checked(&parse(samples::T38_OFFER), &local()).unwrap();
    assert_eq!(n.codec, Codec::Pcmu);
    assert_eq!(n.remote, addr("198.51.100.7:49170"));
    assert!(sdp.to_string().ends_with("m=image 0 udptl t38\r\n"));
}

#[test]
fn no_common_codec_is_an_error_for_488() {
    let offer = parse(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n\
         m=audio 4000 RTP/AVP 9 18 96 101\na=rtpmap:96 opus/48000/2\n\
         a=rtpmap:101 telephone-event/8000\n",
    );
    let error = answer(&offer, &local()).unwrap_err();
    assert_eq!(error, SdpError::NoCommonCodec);
    assert_eq!(error.sip_status(), 488);
    // G.711 offered, but not the one we accept.
    let mut only_ulaw = local();
    only_ulaw.codecs = vec![Codec::Pcmu];
    let alaw = parse(samples::SIPP_PCAP_OFFER);
    assert_eq!(
        answer(&alaw, &only_ulaw).unwrap_err(),
        SdpError::NoCommonCodec
    );
    // G.711 names at the wrong rate or in stereo do not count.
    let odd = parse(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n\
         m=audio 4000 RTP/AVP 96 97\na=rtpmap:96 PCMU/16000\na=rtpmap:97 PCMA/8000/2\n",
    );
    assert_eq!(answer(&odd, &local()).unwrap_err(), SdpError::NoCommonCodec);
}

#[test]
fn no_audio_and_no_connection() {
    let image_only = parse(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=image 4000 udptl t38\n",
    );
    assert_eq!(
        answer(&image_only, &local()).unwrap_err(),
        SdpError::NoAudio
    );
    let nowhere = parse("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\nm=audio 4000 RTP/AVP 0\n");
    assert_eq!(
        answer(&nowhere, &local()).unwrap_err(),
        SdpError::NoConnection(0)
    );
}

#[test]
fn dynamic_payload_types_are_mirrored() {
    let offer = parse(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n\
         m=audio 4000 RTP/AVP 112 97\na=rtpmap:112 pcma/8000\n\
         a=rtpmap:97 Telephone-Event/8000\na=fmtp:97 0-15\n",
    );
    let (sdp, n) = answer_checked(&offer, &local()).unwrap();
    assert_eq!((n.codec, n.payload_type), (Codec::Pcma, 112));
    assert_eq!(n.telephone_event_pt, Some(97));
    let m = &sdp.media[0];
    assert_eq!(m.formats, ["112", "97"]);
    assert_eq!(m.rtpmap(112).unwrap().encoding, "PCMA");
    assert_eq!(m.rtpmap(97).unwrap().encoding, "telephone-event");
    assert_eq!(m.fmtp(97), Some("0-15"));
}

fn with_direction(session: Option<&str>, media: Option<&str>) -> SessionDescription {
    let s = session.map(|d| format!("a={d}\n")).unwrap_or_default();
    let m = media.map(|d| format!("a={d}\n")).unwrap_or_default();
    parse(&format!(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n{s}\
         m=audio 4000 RTP/AVP 0\n{m}"
    ))
}

#[test]
fn direction_is_mirrored() {
    let cases = [
        (None, None, Direction::SendRecv),
        (None, Some("sendrecv"), Direction::SendRecv),
        (None, Some("sendonly"), Direction::RecvOnly),
        (None, Some("recvonly"), Direction::SendOnly),
        (None, Some("inactive"), Direction::Inactive),
        (Some("sendonly"), None, Direction::RecvOnly),
        (Some("inactive"), None, Direction::Inactive),
        // The media-level attribute wins over the session's.
        (Some("sendonly"), Some("sendrecv"), Direction::SendRecv),
        (Some("sendrecv"), Some("recvonly"), Direction::SendOnly),
    ];
    for (session, media, expected) in cases {
        let offer = with_direction(session, media);
        let (sdp, n) = answer_checked(&offer, &local()).unwrap();
        assert_eq!(n.direction, expected, "{session:?} {media:?}");
        assert_eq!(sdp.media[0].direction(), Some(expected));
        assert_eq!(sdp.direction(), None);
        assert_eq!(n.sends(), expected.sends());
    }
}

#[test]
fn our_own_hold_limits_the_answer() {
    let mut holding = local();
    holding.direction = Direction::SendOnly;
    let (_, n) = answer_checked(&with_direction(None, None), &holding).unwrap();
    assert_eq!(n.direction, Direction::SendOnly);
    let (_, n) = answer_checked(&with_direction(None, Some("sendonly")), &holding).unwrap();
    assert_eq!(n.direction, Direction::Inactive);
}

#[test]
fn old_style_hold_with_zero_address() {
    let offer = parse(
        "v=0\no=- 1 2 IN IP4 192.0.2.1\ns=-\nc=IN IP4 0.0.0.0\nt=0 0\nm=audio 4000 RTP/AVP 0\n",
    );
    assert!(offer.is_hold());
    let (sdp, n) = answer_checked(&offer, &local()).unwrap();
    assert_eq!(n.remote, addr("0.0.0.0:4000"));
    assert_eq!(n.direction, Direction::RecvOnly);
    assert!(!n.sends());
    assert_eq!(sdp.media[0].direction(), Some(Direction::RecvOnly));
}

#[test]
fn audio_offered_with_port_zero_is_answered_with_port_zero() {
    let offer = parse(
        "v=0\no=- 1 2 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 0 RTP/AVP 0\n",
    );
    assert!(offer.is_hold());
    let (sdp, n) = answer_checked(&offer, &local()).unwrap();
    assert_eq!(sdp.media[0].port, 0);
    assert_eq!(n.remote.port(), 0);
    assert_eq!(n.direction, Direction::Inactive);
    assert!(!n.sends());
}

#[test]
fn second_audio_stream_is_rejected_and_srtp_stream_skipped() {
    let two = parse(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n\
         m=audio 4000 RTP/AVP 0\nm=audio 4002 RTP/AVP 8\n",
    );
    let (sdp, n) = answer_checked(&two, &local()).unwrap();
    assert_eq!((n.codec, n.remote), (Codec::Pcmu, addr("192.0.2.1:4000")));
    assert_eq!((sdp.media[0].port, sdp.media[1].port), (20_000, 0));
    // Best-effort SRTP: an RTP/SAVP stream first, the plain one second.
    let srtp_first = parse(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n\
         m=audio 4000 RTP/SAVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\n\
         m=audio 4002 RTP/AVP 8\n",
    );
    let (sdp, n) = answer_checked(&srtp_first, &local()).unwrap();
    assert_eq!((n.codec, n.remote), (Codec::Pcma, addr("192.0.2.1:4002")));
    assert_eq!((sdp.media[0].port, sdp.media[1].port), (0, 20_000));
    // A live stream is preferred over a disabled one listed first.
    let disabled_first = parse(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n\
         m=audio 0 RTP/AVP 0\nm=audio 4002 RTP/AVP 0\n",
    );
    let (sdp, n) = answer_checked(&disabled_first, &local()).unwrap();
    assert_eq!(n.remote, addr("192.0.2.1:4002"));
    assert_eq!((sdp.media[0].port, sdp.media[1].port), (0, 20_000));
    // The first audio has nothing in common: the second one is taken.
    let second_fits = parse(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n\
         m=audio 4000 RTP/AVP 9\nm=audio 4002 RTP/AVP 8\n",
    );
    let (_, n) = answer_checked(&second_fits, &local()).unwrap();
    assert_eq!(n.remote, addr("192.0.2.1:4002"));
}

#[test]
fn our_offer_has_the_documented_shape() {
    let sdp = offer(&local());
    assert_eq!(
        sdp.to_string(),
        "v=0\r\no=hibiki 777 1 IN IP4 203.0.113.10\r\ns=hibiki\r\nc=IN IP4 203.0.113.10\r\n\
         t=0 0\r\nm=audio 20000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n\
         a=ptime:20\r\na=sendrecv\r\n"
    );
    let mut v6 = local();
    v6.addr = "2001:db8::10".parse().unwrap();
    v6.codecs = vec![Codec::Pcma];
    v6.telephone_event = false;
    let text = offer(&v6).to_string();
    assert!(
        text.contains("o=hibiki 777 1 IN IP6 2001:db8::10\r\n"),
        "{text}"
    );
    assert!(text.contains("c=IN IP6 2001:db8::10\r\nt=0 0\r\nm=audio 20000 RTP/AVP 8\r\n"));
}

#[test]
fn two_hibikis_negotiate_with_each_other() {
    let ours = local();
    let mut theirs = LocalMedia::new(IpAddr::from([198, 51, 100, 20]), 30_000, 42);
    theirs.codecs = vec![Codec::Pcma];
    let o = offer(&ours);
    let a = answer(&o, &theirs).unwrap();
    assert_eq!(a.negotiated.remote, addr("203.0.113.10:20000"));
    assert_eq!(a.negotiated.codec, Codec::Pcma);
    let wire = SessionDescription::parse(a.sdp.to_string().as_bytes()).unwrap();
    let n = accept_answer(&o, &wire).unwrap();
    assert_eq!(
        n,
        Negotiated {
            codec: Codec::Pcma,
            payload_type: 8,
            telephone_event_pt: Some(101),
            remote: addr("198.51.100.20:30000"),
            direction: Direction::SendRecv,
            ptime: 20,
        }
    );
}

#[test]
fn accepts_asterisk_answer() {
    let o = offer(&local());
    let n = accept_answer(&o, &parse(samples::ASTERISK_ANSWER)).unwrap();
    assert_eq!(
        n,
        Negotiated {
            codec: Codec::Pcma,
            payload_type: 8,
            telephone_event_pt: Some(101),
            remote: addr("10.0.0.5:17354"),
            direction: Direction::SendRecv,
            ptime: 20,
        }
    );
    // Without telephone-event in our offer, the answer's is ignored.
    let mut plain = local();
    plain.telephone_event = false;
    let n = accept_answer(&offer(&plain), &parse(samples::ASTERISK_ANSWER)).unwrap();
    assert_eq!(n.telephone_event_pt, None);
}

#[test]
fn answers_that_do_not_fit_our_offer_are_refused() {
    let o = offer(&local());
    let asterisk = samples::ASTERISK_ANSWER;
    let cases = [
        (
            asterisk.replace("RTP/AVP 8 101", "RTP/AVP 18"),
            SdpError::NoCommonCodec,
        ),
        (
            asterisk.replace("m=audio 17354", "m=audio 0"),
            SdpError::NoCommonCodec,
        ),
        (
            asterisk.replace("RTP/AVP 8 101", "RTP/SAVP 8 101"),
            SdpError::AnswerMismatch("the transport differs from the offer's"),
        ),
        (
            asterisk.replace("m=audio", "m=video"),
            SdpError::AnswerMismatch("our audio stream came back as another media"),
        ),
        (
            format!("{asterisk}m=video 0 RTP/AVP 96\n"),
            SdpError::AnswerMismatch("not as many m= lines as the offer"),
        ),
        (
            asterisk.replace("c=IN IP4 10.0.0.5\n", ""),
            SdpError::NoConnection(0),
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(
            accept_answer(&o, &parse(&text)),
            Err(expected.clone()),
            "{text}"
        );
        assert_eq!(expected.sip_status(), 488);
    }
    // A PCMU-only offer answered with PCMA.
    let mut ulaw = local();
    ulaw.codecs = vec![Codec::Pcmu];
    assert_eq!(
        accept_answer(&offer(&ulaw), &parse(asterisk)),
        Err(SdpError::NoCommonCodec)
    );
}

#[test]
fn hold_and_resume_increment_the_version_and_flip_direction() {
    let first = offer(&local());
    let held = hold(&first);
    assert_eq!(
        held.origin.session_version,
        first.origin.session_version + 1
    );
    assert_eq!(held.media[0].direction(), Some(Direction::SendOnly));
    let resumed = resume(&held);
    assert_eq!(
        resumed.origin.session_version,
        first.origin.session_version + 2
    );
    assert_eq!(resumed.media[0].direction(), Some(Direction::SendRecv));
    // Nothing else changed.
    let mut back = resumed.clone();
    back.origin.session_version = first.origin.session_version;
    assert_eq!(back, first);
    let inactive = reoffer(&held, Direction::Inactive);
    assert_eq!(inactive.media[0].direction(), Some(Direction::Inactive));
    assert_eq!(
        inactive.origin.session_version,
        held.origin.session_version + 1
    );
}

#[test]
fn hold_keeps_rejected_streams_and_clears_session_direction() {
    let mut offer = parse(samples::LINPHONE_OFFER);
    offer
        .attributes
        .push(crate::sdp::Attribute::Direction(Direction::SendRecv));
    let (ours, _) = answer_checked(&offer, &local()).unwrap();
    let mut previous = ours.clone();
    previous
        .attributes
        .push(crate::sdp::Attribute::Direction(Direction::SendRecv));
    let held = hold(&previous);
    assert_eq!(held.direction(), None);
    assert_eq!(held.media[1], ours.media[1]);
    assert_eq!(held.media[1].direction(), None);
    assert_eq!(held.media_direction(0), Direction::SendOnly);
}

#[test]
fn a_peer_hold_is_recognised_and_answered_recvonly() {
    // Hibiki on one leg holds; Hibiki on the other answers the re-INVITE.
    let caller = local();
    let callee = LocalMedia::new(IpAddr::from([198, 51, 100, 20]), 30_000, 42);
    let first = offer(&caller);
    let first_answer = answer(&first, &callee).unwrap().sdp;
    assert!(!first.is_hold());
    let held = hold(&first);
    assert!(held.is_hold());
    let mut callee_next = callee.clone();
    callee_next.session_version = first_answer.origin.session_version;
    let re = answer(&held, &callee_next).unwrap();
    assert_eq!(re.negotiated.direction, Direction::RecvOnly);
    assert!(!re.negotiated.sends());
    // The answer changed (recvonly): its version moves on by one.
    let versioned = re.sdp.versioned_after(&first_answer);
    assert_eq!(
        versioned.origin.session_version,
        first_answer.origin.session_version + 1
    );
    // The holder accepts that answer: it sends, the peer does not.
    let n = accept_answer(&held, &versioned).unwrap();
    assert_eq!(n.direction, Direction::SendOnly);
    // Resume: sendrecv again, and no longer a hold.
    let resumed = resume(&held);
    assert!(!resumed.is_hold());
    let re = answer(&resumed, &callee_next).unwrap();
    assert_eq!(re.negotiated.direction, Direction::SendRecv);
}

#[test]
fn versioned_after_keeps_the_version_when_nothing_changed() {
    let previous = answer(&parse(samples::SIPP_PCAP_OFFER), &local())
        .unwrap()
        .sdp;
    let mut again = local();
    again.session_version = 99; // whatever the caller passed
    let same = answer(&parse(samples::SIPP_PCAP_OFFER), &again)
        .unwrap()
        .sdp
        .versioned_after(&previous);
    assert_eq!(same, previous);
    let changed = answer(&parse(samples::SIPP_UAC_OFFER), &again)
        .unwrap()
        .sdp
        .versioned_after(&previous);
    assert_eq!(
        changed.origin.session_version,
        previous.origin.session_version + 1
    );
}

#[test]
fn is_hold_cases() {
    assert!(!with_direction(None, None).is_hold());
    assert!(!with_direction(None, Some("recvonly")).is_hold());
    assert!(with_direction(None, Some("sendonly")).is_hold());
    assert!(with_direction(None, Some("inactive")).is_hold());
    assert!(with_direction(Some("sendonly"), None).is_hold());
    assert!(!with_direction(Some("sendonly"), Some("sendrecv")).is_hold());
    let media_zero = parse(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n\
         m=audio 4000 RTP/AVP 0\nc=IN IP4 0.0.0.0\n",
    );
    assert!(media_zero.is_hold());
    let v6_zero =
        parse("v=0\no=- 1 1 IN IP6 ::1\ns=-\nc=IN IP6 ::\nt=0 0\nm=audio 4000 RTP/AVP 0\n");
    assert!(v6_zero.is_hold());
    let disabled_then_live = parse(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n\
         m=audio 0 RTP/AVP 0\nm=audio 4002 RTP/AVP 0\n",
    );
    assert!(!disabled_then_live.is_hold());
    let no_audio = parse(samples::T38_OFFER.split("m=audio").next().unwrap());
    assert!(!no_audio.is_hold());
}
