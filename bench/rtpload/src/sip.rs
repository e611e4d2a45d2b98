//! SIP for a load tool: the requests it originates written as text (one
//! `format!` each, nothing to negotiate), and what it receives parsed by
//! the workspace's `hibiki-sip` parser, whose response builder also
//! writes the tool's answers (every Via, From, To, Call-ID and CSeq copied
//! as RFC 3261 §8.2.6 says).

use std::fmt::Write as _;
use std::net::SocketAddrV4;

use hibiki_sip::transaction::build::{response_to, response_with_tag, tag_of};
use hibiki_sip::{Contact, Headers, Message, Request, Response};

/// RFC 3261 T1 (µs): the first retransmission interval.
pub const T1_US: u64 = 500_000;
/// RFC 3261 T2 (µs): the cap of non-INVITE and 2xx retransmission.
pub const T2_US: u64 = 4_000_000;
/// 64 × T1: how long a transaction is retransmitted before giving up.
pub const TIMEOUT_US: u64 = 64 * T1_US;

/// A request the tool sends.
#[derive(Debug, Clone)]
pub struct OutRequest<'a> {
    pub method: &'a str,
    pub uri: &'a str,
    /// Our address: Via sent-by and Contact.
    pub local: SocketAddrV4,
    pub branch: &'a str,
    /// Whole header values, tags included.
    pub from: &'a str,
    pub to: &'a str,
    pub call_id: &'a str,
    pub cseq: u32,
    pub route: &'a [String],
    /// Whether to add our Contact (dialog-forming and target-refresh
    /// requests).
    pub contact: bool,
    pub sdp: Option<&'a str>,
}

impl OutRequest<'_> {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = String::with_capacity(700);
        let _ = write!(
            s,
            "{m} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\n",
            m = self.method,
            uri = self.uri,
            local = self.local,
            branch = self.branch
        );
        for r in self.route {
            let _ = write!(s, "Route: {r}\r\n");
        }
        let _ = write!(
            s,
            "Max-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} {}\r\n",
            self.from, self.to, self.call_id, self.cseq, self.method
        );
        if self.contact {
            let _ = write!(s, "Contact: <sip:rtpload@{}>\r\n", self.local);
        }
        s.push_str("User-Agent: hibiki-rtpload\r\n");
        match self.sdp {
            Some(body) => {
                let _ = write!(
                    s,
                    "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
            }
            None => s.push_str("Content-Length: 0\r\n\r\n"),
        }
        s.into_bytes()
    }
}

/// Parses a datagram; `None` for anything unreadable (counted by the
/// caller).
pub fn parse(datagram: &[u8]) -> Option<Message> {
    hibiki_sip::parse::parse_message(datagram).ok()
}

/// The tag of a From or To value.
pub fn tag(addr: &hibiki_sip::NameAddr) -> Option<&str> {
    tag_of(addr)
}

/// The first Contact URI, as text.
pub fn contact_uri(headers: &Headers) -> Option<String> {
    headers.contact.iter().find_map(|c| match c {
        Contact::Addr(a) => Some(a.uri.to_string()),
        _ => None,
    })
}

/// The caller's route set from a 2xx: its Record-Route, reversed.
pub fn uac_route_set(resp: &Response) -> Vec<String> {
    resp.headers
        .record_route
        .iter()
        .rev()
        .map(|r| r.to_string())
        .collect()
}

/// The answerer's route set from an INVITE: its Record-Route, in order.
pub fn uas_route_set(req: &Request) -> Vec<String> {
    req.headers
        .record_route
        .iter()
        .map(|r| r.to_string())
        .collect()
}

/// A response to `req`: our tag on the To when it has none (`to_tag`),
/// our Contact when `contact` is given, an SDP body when `sdp` is.
pub fn respond(
    req: &Request,
    status: u16,
    to_tag: Option<&str>,
    contact: Option<SocketAddrV4>,
    sdp: Option<String>,
) -> Vec<u8> {
    let mut resp = match to_tag {
        Some(t) => response_with_tag(req, status, t),
        None => response_to(req, status),
    };
    if let Some(local) = contact {
        if let Ok(uri) = hibiki_sip::parse::parse_uri(&format!("sip:rtpload@{local}")) {
            resp.headers.contact = vec![Contact::Addr(hibiki_sip::NameAddr {
                display_name: None,
                uri,
                params: Vec::new(),
            })];
        }
    }
    if let Some(body) = sdp {
        resp.headers.content_type = Some("application/sdp".into());
        resp.body = body.into_bytes().into();
    }
    hibiki_sip::write::write_response(&resp).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn local() -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, 5090)
    }

    fn invite_text(sdp: &str) -> Vec<u8> {
        OutRequest {
            method: "INVITE",
            uri: "sip:200@127.0.0.1:5060",
            local: local(),
            branch: "z9hG4bK-rl1",
            from: "<sip:9000001@127.0.0.1>;tag=f1",
            to: "<sip:200@127.0.0.1>",
            call_id: "rl1-x@127.0.0.1",
            cseq: 1,
            route: &[],
            contact: true,
            sdp: Some(sdp),
        }
        .to_bytes()
    }

    #[test]
    fn our_requests_parse_as_what_we_meant() {
        let sdp = "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n";
        let Some(Message::Request(req)) = parse(&invite_text(sdp)) else {
            panic!("not a request");
        };
        assert_eq!(req.method, hibiki_sip::Method::Invite);
        assert_eq!(req.uri.to_string(), "sip:200@127.0.0.1:5060");
        assert_eq!(req.headers.call_id, "rl1-x@127.0.0.1");
        assert_eq!(req.headers.cseq.seq, 1);
        assert_eq!(tag(&req.headers.from), Some("f1"));
        assert_eq!(tag(&req.headers.to), None);
        assert_eq!(
            contact_uri(&req.headers).as_deref(),
            Some("sip:rtpload@127.0.0.1:5090")
        );
        assert_eq!(&req.body[..], sdp.as_bytes());

        let route = vec!["<sip:10.0.0.1;lr>".to_owned()];
        let bye = OutRequest {
            method: "BYE",
            uri: "sip:hibiki@127.0.0.1:5060",
            local: local(),
            branch: "z9hG4bK-b",
            from: "<sip:9000001@127.0.0.1>;tag=f1",
            to: "<sip:200@127.0.0.1>;tag=t9",
            call_id: "rl1-x@127.0.0.1",
            cseq: 2,
            route: &route,
            contact: false,
            sdp: None,
        }
        .to_bytes();
        let Some(Message::Request(req)) = parse(&bye) else {
            panic!("not a request");
        };
        assert_eq!(req.method, hibiki_sip::Method::Bye);
        assert_eq!(tag(&req.headers.to), Some("t9"));
        assert_eq!(req.headers.route.len(), 1);
        assert!(req.body.is_empty());
    }

    #[test]
    fn answers_copy_the_request_and_add_our_tag_and_sdp() {
        let Some(Message::Request(req)) = parse(&invite_text("v=0\r\n")) else {
            panic!("not a request");
        };
        let sdp = "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4002 RTP/AVP 8\r\n".to_owned();
        let bytes = respond(&req, 200, Some("uas7"), Some(local()), Some(sdp.clone()));
        let Some(Message::Response(resp)) = parse(&bytes) else {
            panic!("not a response");
        };
        assert_eq!(resp.status, 200);
        assert_eq!(resp.headers.call_id, req.headers.call_id);
        assert_eq!(resp.headers.via, req.headers.via);
        assert_eq!(tag(&resp.headers.to), Some("uas7"));
        assert_eq!(
            resp.headers.content_type.as_deref(),
            Some("application/sdp")
        );
        assert_eq!(&resp.body[..], sdp.as_bytes());
        assert_eq!(
            contact_uri(&resp.headers).as_deref(),
            Some("sip:rtpload@127.0.0.1:5090")
        );
        assert!(uac_route_set(&resp).is_empty());

        let bytes = respond(&req, 481, None, None, None);
        let Some(Message::Response(resp)) = parse(&bytes) else {
            panic!("not a response");
        };
        assert_eq!((resp.status, tag(&resp.headers.to)), (481, None));
    }
}
