//! Building the messages the transaction layer and its users derive from
//! other messages: responses copied from a request (§8.2.6), the ACK for a
//! non-2xx final response (§17.1.1.3), CANCEL (§9.1), and fresh branches,
//! tags and Call-IDs from a seeded generator (the crate never reads an
//! unseeded random source: the server passes a random seed).

use crate::message::{
    find_param, CSeq, Header, Headers, Method, NameAddr, Param, Request, Response, Via,
    BRANCH_MAGIC,
};

/// A small, fast, seeded generator (SplitMix64) for branches, tags and
/// Call-IDs. Not cryptographic: uniqueness is what SIP asks of these values,
/// and the seed comes from the operating system in the server.
#[derive(Debug, Clone)]
pub struct IdGen {
    state: u64,
}

impl IdGen {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        IdGen { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A new RFC 3261 branch: the magic cookie then 16 hex digits.
    pub fn branch(&mut self) -> String {
        format!("{BRANCH_MAGIC}{:016x}", self.next_u64())
    }

    /// A new From/To tag (12 hex digits, 48 bits).
    pub fn tag(&mut self) -> String {
        format!("{:012x}", self.next_u64() & 0xFFFF_FFFF_FFFF)
    }

    /// A new Call-ID, `<32 hex digits>@<host>`.
    pub fn call_id(&mut self, host: &str) -> String {
        format!("{:016x}{:016x}@{host}", self.next_u64(), self.next_u64())
    }
}

/// The `branch` parameter of a Via, if any.
pub fn branch_of(via: &Via) -> Option<&str> {
    find_param(&via.params, "branch").and_then(|p| p.value.as_deref())
}

/// The `tag` parameter of a From or To header, if any.
pub fn tag_of(addr: &NameAddr) -> Option<&str> {
    find_param(&addr.params, "tag").and_then(|p| p.value.as_deref())
}

/// Sets (or replaces) the `tag` parameter of a From or To header.
pub fn set_tag(addr: &mut NameAddr, tag: &str) {
    match addr
        .params
        .iter_mut()
        .find(|p| p.name.eq_ignore_ascii_case("tag"))
    {
        Some(p) => p.value = Some(tag.to_owned()),
        None => addr.params.push(Param::new("tag", Some(tag.to_owned()))),
    }
}

/// The first value of an untyped header, by case-insensitive name.
pub fn header_value<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .extra
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

/// Every comma-separated token of every header named `name`, trimmed.
pub fn header_tokens<'a>(headers: &'a Headers, name: &'a str) -> impl Iterator<Item = &'a str> {
    headers
        .extra
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
        .flat_map(|h| h.value.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The standard reason phrase for a status code (RFC 3261 §21 and common
/// extensions), or a generic one for the class.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ => match status / 100 {
            1 => "Provisional",
            2 => "Success",
            3 => "Redirection",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Global Failure",
        },
    }
}

/// A response to `req` per RFC 3261 §8.2.6.2: every Via, From, To, Call-ID
/// and CSeq copied, and for 101–299 the Record-Route set too (§12.1.1).
/// The To tag is left as the request had it: use [`response_with_tag`]
/// when the response must carry ours.
pub fn response_to(req: &Request, status: u16) -> Response {
    let record_route = if (101..300).contains(&status) {
        req.headers.record_route.clone()
    } else {
        Vec::new()
    };
    Response {
        status,
        reason: reason_phrase(status).to_owned(),
        headers: Headers {
            via: req.headers.via.clone(),
            from: req.headers.from.clone(),
            to: req.headers.to.clone(),
            call_id: req.headers.call_id.clone(),
            cseq: req.headers.cseq.clone(),
            max_forwards: None,
            contact: Vec::new(),
            route: Vec::new(),
            record_route,
            content_type: None,
            extra: Vec::new(),
        },
        body: bytes::Bytes::new(),
    }
}

/// Like [`response_to`], and adds `to_tag` to the To header when the
/// request's To carries no tag (a request inside a dialog keeps its own).
pub fn response_with_tag(req: &Request, status: u16, to_tag: &str) -> Response {
    let mut resp = response_to(req, status);
    if tag_of(&resp.headers.to).is_none() {
        set_tag(&mut resp.headers.to, to_tag);
    }
    resp
}

/// The ACK for a non-2xx final response to `invite` (§17.1.1.3): same
/// Request-URI, top Via only (same branch), From, Call-ID and CSeq number
/// from the INVITE, To from the response (with its tag), Route from the
/// INVITE.
pub fn ack_for_non_2xx(invite: &Request, resp: &Response) -> Request {
    Request {
        method: Method::Ack,
        uri: invite.uri.clone(),
        headers: Headers {
            via: invite.headers.via.first().cloned().into_iter().collect(),
            from: invite.headers.from.clone(),
            to: resp.headers.to.clone(),
            call_id: invite.headers.call_id.clone(),
            cseq: CSeq {
                seq: invite.headers.cseq.seq,
                method: Method::Ack,
            },
            max_forwards: Some(70),
            contact: Vec::new(),
            route: invite.headers.route.clone(),
            record_route: Vec::new(),
            content_type: None,
            extra: Vec::new(),
        },
        body: bytes::Bytes::new(),
    }
}

/// The CANCEL for `invite` (§9.1): same Request-URI, Call-ID, To, From,
/// CSeq number, top Via (same branch) and Route.
pub fn cancel_for(invite: &Request) -> Request {
    Request {
        method: Method::Cancel,
        uri: invite.uri.clone(),
        headers: Headers {
            via: invite.headers.via.first().cloned().into_iter().collect(),
            from: invite.headers.from.clone(),
            to: invite.headers.to.clone(),
            call_id: invite.headers.call_id.clone(),
            cseq: CSeq {
                seq: invite.headers.cseq.seq,
                method: Method::Cancel,
            },
            max_forwards: Some(70),
            contact: Vec::new(),
            route: invite.headers.route.clone(),
            record_route: Vec::new(),
            content_type: None,
            extra: Vec::new(),
        },
        body: bytes::Bytes::new(),
    }
}

/// Adds an untyped header.
pub fn push_header(headers: &mut Headers, name: &str, value: impl Into<String>) {
    headers.extra.push(Header {
        name: name.to_owned(),
        value: value.into(),
    });
}
