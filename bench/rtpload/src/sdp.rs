//! The little SDP a load tool needs: write an offer (the caller side) or
//! an answer (the answering side) for one audio stream, and read the
//! other side's address, port and payload types from the `c=` and `m=`
//! lines. Everything else in a peer's SDP is ignored.

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::rtp::Law;

/// The payload type we offer for RFC 4733 telephone-events.
const TELEPHONE_EVENT_PT: u8 = 101;

/// The caller's offer: `first` then the other law, then telephone-event.
pub fn offer(addr: SocketAddrV4, session_id: u64, first: Law) -> String {
    let second = match first {
        Law::Ulaw => Law::Alaw,
        Law::Alaw => Law::Ulaw,
    };
    format!(
        "v=0\r\no=rtpload {session_id} 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP {p1} {p2} {te}\r\n\
         a=rtpmap:{p1} {n1}/8000\r\na=rtpmap:{p2} {n2}/8000\r\n\
         a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-15\r\na=ptime:20\r\na=sendrecv\r\n",
        ip = addr.ip(),
        port = addr.port(),
        p1 = first.payload_type(),
        p2 = second.payload_type(),
        n1 = first.name(),
        n2 = second.name(),
        te = TELEPHONE_EVENT_PT,
    )
}

/// The answerer's SDP: one codec (and telephone-event when the offer had
/// it, with the offer's payload type).
pub fn answer(
    addr: SocketAddrV4,
    session_id: u64,
    law: Law,
    telephone_event: Option<u8>,
) -> String {
    let mut s = format!(
        "v=0\r\no=rtpload {session_id} 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n",
        ip = addr.ip()
    );
    let pt = law.payload_type();
    match telephone_event {
        Some(te) => s.push_str(&format!(
            "m=audio {port} RTP/AVP {pt} {te}\r\na=rtpmap:{pt} {name}/8000\r\n\
             a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-15\r\n",
            port = addr.port(),
            name = law.name()
        )),
        None => s.push_str(&format!(
            "m=audio {port} RTP/AVP {pt}\r\na=rtpmap:{pt} {name}/8000\r\n",
            port = addr.port(),
            name = law.name()
        )),
    }
    s.push_str("a=ptime:20\r\na=sendrecv\r\n");
    s
}

/// What we read from the other side's SDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteMedia {
    /// Where to send RTP (the audio stream's `c=`, or the session's).
    pub addr: SocketAddrV4,
    /// The `m=audio` payload types in order.
    pub payload_types: Vec<u8>,
    /// The payload type mapped to `telephone-event/8000`, if any.
    pub telephone_event: Option<u8>,
}

impl RemoteMedia {
    /// The first G.711 law listed (what an answer chose, or an offer's
    /// preference).
    pub fn first_law(&self) -> Option<Law> {
        self.payload_types
            .iter()
            .find_map(|&pt| Law::from_payload_type(pt))
    }

    /// Whether `law` is listed.
    pub fn offers(&self, law: Law) -> bool {
        self.payload_types.contains(&law.payload_type())
    }
}

/// Why an SDP was not usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdpError {
    NoAudio,
    NoConnection,
    BadLine(String),
    /// Port 0: the stream was refused.
    Refused,
}

impl std::fmt::Display for SdpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SdpError::NoAudio => write!(f, "no m=audio line"),
            SdpError::NoConnection => write!(f, "no c= line for the audio stream"),
            SdpError::BadLine(l) => write!(f, "unreadable SDP line {l:?}"),
            SdpError::Refused => write!(f, "audio stream refused (port 0)"),
        }
    }
}

impl std::error::Error for SdpError {}

/// Reads the first `m=audio` stream of `body`.
pub fn parse(body: &str) -> Result<RemoteMedia, SdpError> {
    let mut session_ip: Option<Ipv4Addr> = None;
    let mut media_ip: Option<Ipv4Addr> = None;
    let mut audio: Option<(u16, Vec<u8>)> = None;
    let mut telephone_event = None;
    // Which section we are in: None = session, Some(true) = the first
    // audio stream, Some(false) = any other media section.
    let mut in_audio: Option<bool> = None;
    for line in body.lines() {
        let line = line.trim_end();
        if let Some(rest) = line.strip_prefix("m=") {
            let mut it = rest.split_whitespace();
            let kind = it.next().unwrap_or_default();
            if kind == "audio" && audio.is_none() {
                let port = it
                    .next()
                    .and_then(|p| p.split('/').next())
                    .and_then(|p| p.parse::<u16>().ok())
                    .ok_or_else(|| SdpError::BadLine(line.to_owned()))?;
                let _proto = it.next();
                let pts = it
                    .map(|p| p.parse::<u8>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| SdpError::BadLine(line.to_owned()))?;
                audio = Some((port, pts));
                in_audio = Some(true);
            } else {
                in_audio = Some(false);
            }
        } else if let Some(rest) = line.strip_prefix("c=") {
            let ip = rest
                .strip_prefix("IN IP4 ")
                .and_then(|a| a.split('/').next())
                .and_then(|a| a.trim().parse::<Ipv4Addr>().ok())
                .ok_or_else(|| SdpError::BadLine(line.to_owned()))?;
            match in_audio {
                None => session_ip = Some(ip),
                Some(true) => media_ip = Some(ip),
                Some(false) => {}
            }
        } else if let Some(rest) = line.strip_prefix("a=rtpmap:") {
            if in_audio == Some(true) {
                let (pt, enc) = rest.split_once(' ').unwrap_or((rest, ""));
                if enc.to_ascii_lowercase().starts_with("telephone-event/8000") {
                    telephone_event = pt.parse::<u8>().ok();
                }
            }
        }
    }
    let (port, payload_types) = audio.ok_or(SdpError::NoAudio)?;
    if port == 0 {
        return Err(SdpError::Refused);
    }
    let ip = media_ip.or(session_ip).ok_or(SdpError::NoConnection)?;
    Ok(RemoteMedia {
        addr: SocketAddrV4::new(ip, port),
        payload_types,
        telephone_event,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, 40000)
    }

    #[test]
    fn our_offer_reads_back() {
        let sdp = offer(local(), 7, Law::Ulaw);
        assert!(sdp.contains("m=audio 40000 RTP/AVP 0 8 101\r\n"), "{sdp}");
        let remote = parse(&sdp).expect("parses");
        assert_eq!(remote.addr, local());
        assert_eq!(remote.payload_types, vec![0, 8, 101]);
        assert_eq!(remote.telephone_event, Some(101));
        assert_eq!(remote.first_law(), Some(Law::Ulaw));
        let sdp = offer(local(), 7, Law::Alaw);
        assert_eq!(parse(&sdp).expect("parses").payload_types, vec![8, 0, 101]);
    }

    #[test]
    fn our_answer_reads_back() {
        let sdp = answer(local(), 9, Law::Alaw, Some(96));
        let remote = parse(&sdp).expect("parses");
        assert_eq!(remote.payload_types, vec![8, 96]);
        assert_eq!(remote.telephone_event, Some(96));
        assert_eq!(remote.first_law(), Some(Law::Alaw));
        let sdp = answer(local(), 9, Law::Ulaw, None);
        assert_eq!(parse(&sdp).expect("parses").payload_types, vec![0]);
    }

    #[test]
    fn media_level_connection_wins_and_other_streams_are_ignored() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
                   m=video 5000 RTP/AVP 96\r\nc=IN IP4 10.0.0.9\r\na=rtpmap:96 telephone-event/8000\r\n\
                   m=audio 20002 RTP/AVP 8 0 101\r\nc=IN IP4 127.0.0.1\r\n\
                   a=rtpmap:101 telephone-event/8000\r\n";
        let remote = parse(sdp).expect("parses");
        assert_eq!(remote.addr, SocketAddrV4::new(Ipv4Addr::LOCALHOST, 20002));
        assert_eq!(remote.first_law(), Some(Law::Alaw));
        assert!(remote.offers(Law::Ulaw));
        assert_eq!(remote.telephone_event, Some(101));
    }

    #[test]
    fn session_connection_applies_to_audio_and_lf_lines_are_fine() {
        let sdp = "v=0\nc=IN IP4 127.0.0.1\nm=audio 30000 RTP/AVP 0\n";
        let remote = parse(sdp).expect("parses");
        assert_eq!(remote.addr, SocketAddrV4::new(Ipv4Addr::LOCALHOST, 30000));
        assert_eq!(remote.telephone_event, None);
    }

    #[test]
    fn unusable_sdp_says_why() {
        assert_eq!(
            parse("v=0\r\nc=IN IP4 127.0.0.1\r\n"),
            Err(SdpError::NoAudio)
        );
        assert_eq!(
            parse("v=0\r\nm=audio 4000 RTP/AVP 0\r\n"),
            Err(SdpError::NoConnection)
        );
        assert_eq!(
            parse("c=IN IP4 127.0.0.1\r\nm=audio 0 RTP/AVP 0\r\n"),
            Err(SdpError::Refused)
        );
        assert!(matches!(
            parse("c=IN IP6 ::1\r\nm=audio 4000 RTP/AVP 0\r\n"),
            Err(SdpError::BadLine(_))
        ));
        assert!(matches!(
            parse("c=IN IP4 127.0.0.1\r\nm=audio x RTP/AVP 0\r\n"),
            Err(SdpError::BadLine(_))
        ));
    }
}
