//! Bytes → [`Message`]: framing, header unfolding, typed headers, and a
//! precise refusal for everything else.
//!
//! ## Why Hibiki parses SIP itself
//! `rsip` 0.4 is unmaintained (last release 2022) and, read from its
//! source, accepts neither compact header names nor folded lines and
//! ignores Content-Length, so it can neither frame a TCP stream nor read
//! half of RFC 4475. Hibiki parses in this module and keeps `rsip` only as
//! a test oracle (`sip/tests/oracle.rs`): for every valid torture message
//! that rsip parses, both parsers must agree on method, Request-URI user
//! and host, Call-ID and CSeq. Measured on the 75 files of
//! `../shared/sip-torture/` (RFC 4475, RFC 5118 raw and wire forms): of the
//! 47 messages Hibiki accepts, rsip parses only 22 (it fails on folding,
//! extra SP in the start line, unknown methods, IPv6 references, bare-LF
//! line ends) and agrees on all compared fields in 21 (in `dblreq` it misses
//! the compact `I:` Call-ID); of the 28 messages Hibiki refuses, rsip
//! accepts 15, including `clerr` and `mcl01`, since it never reads
//! Content-Length.
//!
//! ## Two levels
//! 1. Framing (`head`): skip leading CRLFs, find the blank line (CRLF,
//!    or leniently bare LF), unfold continuation lines, expand compact
//!    names and canonicalise known ones. The body is given by
//!    Content-Length: in a datagram ([`parse_message`]) a longer body is
//!    truncated to it (RFC 3261 §18.3: the rest is ignored, RFC 4475
//!    `dblreq`), a shorter one is a 400, and without Content-Length the
//!    rest of the datagram is the body; on a stream ([`frame`])
//!    Content-Length is mandatory.
//! 2. Typed headers (`typed`, `values`, `uri`).
//!
//! ## Refusals
//! Every refusal is a [`ParseError`] with the status to answer (`None`:
//! drop) and, for requests, the stateless response to send (`refuse`).
//! In order of checking: a start line that is not `Method SP URI SP
//! SIP/x.y` → 400; a version other than 2.0 → 505; a fault in the header
//! block → 400; a missing Via, From, To, Call-ID or CSeq → 400 naming them;
//! a malformed or conflicting typed header → 400; a bad Content-Length →
//! 400; a CSeq method other than the request's → 400 (unless the method is
//! unknown: the endpoint answers those 501, RFC 4475 `mismatch02`); a
//! Request-URI scheme other than sip, sips or tel → 416. Unknown methods
//! parse. Responses that do not parse, ACKs that do not parse, and
//! requests whose top Via cannot be read are dropped.
//!
//! ## Choices where RFC 4475 leaves one
//! - Extra SP between Request-Line elements (`lwsstart`) and after the
//!   version (`trws`) are tolerated, as RFC 4475 §3.1.2.9/10 allow; LWS
//!   inside the Request-URI (`lwsruri`) is not.
//! - Escaped headers in the Request-URI (`escruri`) are refused with 400
//!   (RFC 3261 §19.1.1 forbids them there).
//! - A header block missing its final CRLF in a datagram (`baddn`) is read
//!   to the end of the datagram.
//!
//! ## Limits
//! A message over [`MAX_MESSAGE`] (64 KiB) is refused with 513 "Message
//! Too Large" (RFC 3261 §21.5.13; 413 is about bodies only), answered when
//! its head can be read and dropped otherwise; over UDP it cannot happen,
//! so this is the stream case. At most [`MAX_HEADERS`] header lines. The
//! parser never recurses, never panics, and allocates at most a small
//! multiple of its input.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

use bytes::Bytes;

use crate::message::{Message, Method, Request, Response, Uri, SIP_VERSION};

mod head;
mod refuse;
mod typed;
pub(crate) mod uri;
mod values;

use head::{content_length, find_head_end, leading_crlf, split_head, Head};
use refuse::{refuse, Kind};

pub use uri::{parse_host, parse_hostport, parse_uri};
pub use values::{parse_addr_list, parse_contacts, parse_cseq, parse_name_addr, parse_via};

/// The largest message accepted, head and body.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// The most header lines accepted in one message.
pub const MAX_HEADERS: usize = 200;

/// Why a message was refused, and what to answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct ParseError {
    /// The status to answer with (400, 505, 416…), or `None` when the
    /// message must be dropped silently (responses, unparseable Via…).
    pub status: Option<u16>,
    /// What is wrong, for the reason phrase and logs.
    pub reason: String,
    /// The wire response to send back to the source, when one can be built.
    pub response: Option<Bytes>,
}

/// A syntax error in one header value or URI, from the public helpers
/// ([`parse_uri`], [`parse_name_addr`], [`parse_via`]…).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SyntaxError(pub String);

/// What sits at the front of a stream buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framed {
    /// More bytes are needed.
    Incomplete,
    /// A complete message occupies the first `len` bytes.
    Message { len: usize },
    /// `len` bytes of CRLF keep-alive (RFC 5626 §3.5.1) to discard.
    KeepAlive { len: usize },
}

/// URI schemes Hibiki serves in a Request-URI; others get 416.
const SERVED_SCHEMES: [&str; 1] = ["tel"];

/// Parses one complete message (a datagram, or a frame from [`frame`]).
pub fn parse_message(buf: &[u8]) -> Result<Message, ParseError> {
    let buf = buf.get(leading_crlf(buf)..).unwrap_or_default();
    if buf.is_empty() {
        return Err(drop_it("Empty message"));
    }
    if buf.len() > MAX_MESSAGE {
        let scan = buf.get(..MAX_MESSAGE).unwrap_or_default();
        let block = find_head_end(scan).map_or(scan, |(h, _)| scan.get(..h).unwrap_or(scan));
        let head = split_head(block);
        return Err(refuse(kind_of(&head), &head, 513, "Message Too Large"));
    }
    let (head_len, body_start) = find_head_end(buf).unwrap_or((buf.len(), buf.len()));
    let head = split_head(buf.get(..head_len).unwrap_or_default());
    let rest = buf.get(body_start..).unwrap_or_default();
    if head.start_line.starts_with("SIP/") {
        parse_response(&head, rest).map(Message::Response)
    } else {
        parse_request(&head, rest).map(Message::Request)
    }
}

fn drop_it(reason: &str) -> ParseError {
    ParseError {
        status: None,
        reason: reason.into(),
        response: None,
    }
}

fn kind_of(head: &Head) -> Kind<'_> {
    if head.start_line.starts_with("SIP/") {
        Kind::NotRequest
    } else {
        Kind::Request(head.start_line.split(' ').next().unwrap_or_default())
    }
}

/// The body of a datagram per Content-Length: truncated if longer, an
/// error if shorter, the rest if absent.
fn body(head: &Head, rest: &[u8]) -> Result<Bytes, String> {
    match content_length(head)? {
        None => Ok(Bytes::copy_from_slice(rest)),
        Some(n) => match rest.get(..n) {
            Some(b) => Ok(Bytes::copy_from_slice(b)),
            None => Err("Body shorter than Content-Length".into()),
        },
    }
}

fn parse_request(head: &Head, rest: &[u8]) -> Result<Request, ParseError> {
    let parts: Vec<&str> = head
        .start_line
        .split(' ')
        .filter(|p| !p.is_empty())
        .collect();
    let method_token = parts.first().copied().unwrap_or_default();
    let fail =
        |status: u16, reason: String| refuse(Kind::Request(method_token), head, status, reason);
    let [method, uri, version] = parts.as_slice() else {
        return Err(fail(400, "Malformed Request-Line".into()));
    };
    if !is_sip_version(version) {
        return Err(fail(400, "Malformed SIP-Version".into()));
    }
    if !version.eq_ignore_ascii_case(SIP_VERSION) {
        return Err(fail(505, "Version Not Supported".into()));
    }
    if !method.chars().all(crate::write::is_token_char) {
        return Err(fail(400, "Malformed method".into()));
    }
    let uri = parse_uri(uri).map_err(|e| fail(400, format!("Invalid Request-URI: {}", e.0)))?;
    if let Uri::Sip(u) = &uri {
        if !u.headers.is_empty() {
            return Err(fail(400, "Request-URI must not contain headers".into()));
        }
    }
    if let Some(f) = &head.fault {
        return Err(fail(400, f.clone()));
    }
    let headers = typed::headers(head).map_err(|r| fail(400, r))?;
    let body = body(head, rest).map_err(|r| fail(400, r))?;
    let method = Method::from_token(method);
    if !matches!(method, Method::Extension(_)) && headers.cseq.method != method {
        return Err(fail(
            400,
            "CSeq method does not match request method".into(),
        ));
    }
    if let Uri::Other { scheme, .. } = &uri {
        if !SERVED_SCHEMES.contains(&scheme.as_str()) {
            return Err(fail(416, format!("Unsupported URI Scheme: {scheme}")));
        }
    }
    Ok(Request {
        method,
        uri,
        headers,
        body,
    })
}

/// `SIP/1*DIGIT.1*DIGIT`, case-insensitive name.
fn is_sip_version(v: &str) -> bool {
    let Some(num) = v
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("SIP/"))
        .and(v.get(4..))
    else {
        return false;
    };
    num.split_once('.').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && a.bytes().all(|c| c.is_ascii_digit())
            && b.bytes().all(|c| c.is_ascii_digit())
    })
}

fn parse_response(head: &Head, rest: &[u8]) -> Result<Response, ParseError> {
    let fail = |reason: String| refuse(Kind::NotRequest, head, 400, reason);
    let line = head.start_line.as_str();
    let (version, after) = line.split_once(' ').unwrap_or((line, ""));
    if !version.eq_ignore_ascii_case(SIP_VERSION) {
        return Err(fail("Unsupported version in Status-Line".into()));
    }
    let after = after.trim_start_matches(' ');
    let (code, reason) = after.split_once(' ').unwrap_or((after, ""));
    let status = match code.parse::<u16>() {
        Ok(s) if code.len() == 3 && (100..=699).contains(&s) => s,
        _ => return Err(fail("Invalid status code".into())),
    };
    if let Some(f) = &head.fault {
        return Err(fail(f.clone()));
    }
    let headers = typed::headers(head).map_err(fail)?;
    let body = body(head, rest).map_err(fail)?;
    Ok(Response {
        status,
        reason: reason.to_owned(),
        headers,
        body,
    })
}

/// Finds the first message in a stream buffer using Content-Length.
///
/// On `Err` the stream cannot be resynchronised: send
/// [`ParseError::response`] if there is one, then close the connection.
pub fn frame(buf: &[u8]) -> Result<Framed, ParseError> {
    let lead = leading_crlf(buf);
    if lead > 0 {
        return Ok(Framed::KeepAlive { len: lead });
    }
    // Never look further than the limit for the end of the head.
    let window = buf.get(..MAX_MESSAGE).unwrap_or(buf);
    let Some((head_len, body_start)) = find_head_end(window) else {
        if buf.len() > MAX_MESSAGE {
            let head = split_head(buf.get(..MAX_MESSAGE).unwrap_or_default());
            return Err(refuse(kind_of(&head), &head, 513, "Message Too Large"));
        }
        return Ok(Framed::Incomplete);
    };
    let head = split_head(buf.get(..head_len).unwrap_or_default());
    let kind = || kind_of(&head);
    let len = match content_length(&head) {
        Err(r) => return Err(refuse(kind(), &head, 400, r)),
        Ok(None) => {
            return Err(refuse(kind(), &head, 400, "Missing header: Content-Length"));
        }
        Ok(Some(n)) => body_start + n,
    };
    if len > MAX_MESSAGE {
        return Err(refuse(kind(), &head, 513, "Message Too Large"));
    }
    if buf.len() < len {
        return Ok(Framed::Incomplete);
    }
    Ok(Framed::Message { len })
}

/// Incremental framing for one stream connection.
///
/// [`frame`] looks at the whole buffer each time, so a peer that trickles
/// a message in one byte at a time would make a reader that calls it after
/// every read do quadratic work. A `StreamFramer` remembers how far it has
/// searched for the end of the head and, once the head is in, how long the
/// message is, so it calls [`frame`] only when a message can be complete:
/// linear work whatever the peer does.
#[derive(Debug, Default, Clone)]
pub struct StreamFramer {
    /// Bytes already searched for the end of the head, without success.
    searched: usize,
    /// The message's total length, once its head has been read.
    total: Option<usize>,
}

impl StreamFramer {
    /// Like [`frame`] on `buf`, the connection's unconsumed bytes. After a
    /// `Message` or `KeepAlive`, the caller removes that many bytes from
    /// the front before calling again.
    pub fn next(&mut self, buf: &[u8]) -> Result<Framed, ParseError> {
        match self.total {
            Some(total) if buf.len() < total => return Ok(Framed::Incomplete),
            Some(_) => {}
            None if self.searched > 0 && buf.len() <= MAX_MESSAGE => {
                // A head end ("\n\n" or "\n\r\n") may straddle the old edge.
                let from = self.searched.saturating_sub(2);
                if buf.get(from..).and_then(head::find_head_end).is_none() {
                    self.searched = buf.len();
                    return Ok(Framed::Incomplete);
                }
            }
            None => {}
        }
        let framed = frame(buf);
        match &framed {
            Ok(Framed::Incomplete) => {
                let window = buf.get(..MAX_MESSAGE).unwrap_or(buf);
                match head::find_head_end(window) {
                    Some((head_len, body_start)) => {
                        let head = head::split_head(buf.get(..head_len).unwrap_or_default());
                        self.total = content_length(&head).ok().flatten().map(|n| body_start + n);
                    }
                    None => self.searched = buf.len(),
                }
            }
            _ => *self = StreamFramer::default(),
        }
        framed
    }
}

#[cfg(test)]
mod tests;
