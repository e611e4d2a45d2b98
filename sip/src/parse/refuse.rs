//! Building the refusal: the status, and the stateless response bytes that
//! copy what RFC 3261 §8.2.6.2 needs from a request that did not parse.
//!
//! Responses are never answered, nor is ACK (RFC 3261 §17.2.1 has no
//! response to it); a request whose top Via cannot be read is dropped,
//! since there is nowhere to send the answer. The copied Via, From, To,
//! Call-ID and CSeq are the values as received (unfolded); a To without a
//! tag gets one derived from the request, so a retransmission of the same
//! bad request gets the same answer.

use std::fmt::Write as _;

use bytes::Bytes;

use super::head::Head;
use super::values::via_answerable;
use super::ParseError;

/// Longest reason phrase we send.
const MAX_REASON: usize = 120;

/// What kind of start line the bad message had.
pub(crate) enum Kind<'a> {
    /// A request with this method token (as far as it could be read).
    Request(&'a str),
    /// A response, or nothing recognisable: never answered.
    NotRequest,
}

/// Builds the [`ParseError`] for a message refused with `status`.
pub(crate) fn refuse(
    kind: Kind<'_>,
    head: &Head,
    status: u16,
    reason: impl Into<String>,
) -> ParseError {
    let reason = reason.into();
    let answerable = match kind {
        Kind::Request(method) => method != "ACK",
        Kind::NotRequest => false,
    };
    let top_via = head.values("Via").next();
    if !answerable || !top_via.is_some_and(via_answerable) {
        return ParseError {
            status: None,
            reason,
            response: None,
        };
    }
    let response = Some(response_bytes(head, status, &reason));
    ParseError {
        status: Some(status),
        reason,
        response,
    }
}

/// The reason phrase: printable ASCII only, bounded.
pub(crate) fn sanitise_reason(reason: &str) -> String {
    let mut out: String = reason
        .chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .take(MAX_REASON)
        .collect();
    if out.trim().is_empty() {
        out = "Bad Request".into();
    }
    out
}

fn response_bytes(head: &Head, status: u16, reason: &str) -> Bytes {
    let mut out = String::with_capacity(256);
    let _ = write!(out, "SIP/2.0 {status} {}\r\n", sanitise_reason(reason));
    for v in head.values("Via") {
        let _ = write!(out, "Via: {}\r\n", Clean(v));
    }
    if let Some(from) = head.values("From").next() {
        let _ = write!(out, "From: {}\r\n", Clean(from));
    }
    if let Some(to) = head.values("To").next() {
        let _ = write!(out, "To: {}", Clean(to));
        if !has_tag(to) {
            let _ = write!(out, ";tag={:016x}", derived_tag(head));
        }
        out.push_str("\r\n");
    }
    for name in ["Call-ID", "CSeq"] {
        if let Some(v) = head.values(name).next() {
            let _ = write!(out, "{name}: {}\r\n", Clean(v));
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    Bytes::from(out)
}

/// A copied value with the U+FFFD that stood for bytes that were not
/// UTF-8 written as `?`: one byte out per byte in, so a refusal is never
/// much larger than the request it answers (no reflection amplification).
struct Clean<'a>(&'a str);

impl std::fmt::Display for Clean<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in self.0.chars() {
            f.write_char(if c == '\u{fffd}' { '?' } else { c })?;
        }
        Ok(())
    }
}

/// Whether a raw To value carries a `tag` header parameter (after the
/// `<...>` if there is one), whitespace ignored.
fn has_tag(to: &str) -> bool {
    let params = match to.rfind('>') {
        Some(i) => to.get(i..).unwrap_or_default(),
        None => to,
    };
    let compact: String = params
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    compact.contains(";tag=")
}

/// FNV-1a over the identifying headers: stable for retransmissions.
fn derived_tag(head: &Head) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for name in ["Call-ID", "CSeq", "From", "Via"] {
        for b in head.values(name).next().unwrap_or_default().bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::super::head::split_head;
    use super::*;

    const BAD: &[u8] = b"INVITE sip:a@b SIP/2.0\r\n\
        Via: SIP/2.0/UDP h1;branch=z9hG4bK1\r\n\
        v: SIP/2.0/TCP h2\r\n\
        To: <sip:a@b>\r\n\
        From: <sip:c@d>;tag=9\r\n\
        Call-ID: x\r\n\
        CSeq: 1 INVITE\r\n\
        Subject: not copied\r\n";

    #[test]
    fn copies_the_dialog_headers_and_adds_a_tag() {
        let head = split_head(BAD);
        let e = refuse(
            Kind::Request("INVITE"),
            &head,
            400,
            "Missing header: \u{1}Max\r\n",
        );
        assert_eq!(e.status, Some(400));
        let text = String::from_utf8(e.response.unwrap().to_vec()).unwrap();
        let tag = derived_tag(&head);
        assert_eq!(
            text,
            format!(
                "SIP/2.0 400 Missing header: ?Max??\r\n\
                 Via: SIP/2.0/UDP h1;branch=z9hG4bK1\r\n\
                 Via: SIP/2.0/TCP h2\r\n\
                 From: <sip:c@d>;tag=9\r\n\
                 To: <sip:a@b>;tag={tag:016x}\r\n\
                 Call-ID: x\r\n\
                 CSeq: 1 INVITE\r\n\
                 Content-Length: 0\r\n\r\n"
            )
        );
    }

    #[test]
    fn keeps_an_existing_tag() {
        let head =
            split_head(b"X sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nTo: sip:a@b ; TAG = 7\r\n");
        let e = refuse(Kind::Request("X"), &head, 400, "bad");
        let text = String::from_utf8(e.response.unwrap().to_vec()).unwrap();
        assert!(text.contains("To: sip:a@b ; TAG = 7\r\n"), "{text}");
    }

    #[test]
    fn drops_responses_acks_and_unanswerable_vias() {
        let head = split_head(BAD);
        assert_eq!(refuse(Kind::NotRequest, &head, 400, "x").status, None);
        assert_eq!(refuse(Kind::Request("ACK"), &head, 400, "x").status, None);
        let head = split_head(b"INVITE sip:a@b SIP/2.0\r\nVia: garbage\r\n");
        let e = refuse(Kind::Request("INVITE"), &head, 400, "x");
        assert_eq!((e.status, e.response), (None, None));
        let head = split_head(b"INVITE sip:a@b SIP/2.0\r\nTo: <sip:a@b>\r\n");
        assert_eq!(
            refuse(Kind::Request("INVITE"), &head, 400, "x").status,
            None
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_are_copied_one_for_one() {
        let head = split_head(
            b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nCall-ID: \xff\xfe\xfd\r\n",
        );
        let e = refuse(Kind::Request("INVITE"), &head, 400, "x");
        let text = String::from_utf8(e.response.unwrap().to_vec()).unwrap();
        assert!(text.contains("Call-ID: ???\r\n"), "{text}");
    }

    #[test]
    fn reason_is_bounded() {
        assert_eq!(sanitise_reason(&"x".repeat(500)).len(), MAX_REASON);
        assert_eq!(sanitise_reason(""), "Bad Request");
    }
}
