//! [`Message`] → bytes, and the `Display` forms of the header values.
//!
//! The writer is canonical: full header names (never compact forms), one
//! header line per Via, Route, Record-Route and Contact value in order,
//! display names quoted when they are not a plain token sequence, IPv6
//! hosts bracketed, and a `Content-Length` computed from the body (the
//! message model never stores one). The header order is Via, Route,
//! Record-Route, From, To, Call-ID, CSeq, Max-Forwards, Contact,
//! Content-Type, then [`Headers::extra`] in order, then Content-Length.
//!
//! Values come from our own code, but some of them were copied from the
//! network (a display name, an extension header): CR and LF are replaced by
//! spaces wherever a value is written, so no value can inject a header.
//!
//! The `Display` impls here ([`Uri`], [`SipUri`], [`NameAddr`], [`Via`],
//! [`Contact`], [`CSeq`], [`Param`], [`Transport`]) write exactly what goes
//! after `Name: ` on the wire, so other modules build headers with
//! `format!("{}", via)`.

use std::fmt::{self, Write as _};

use bytes::Bytes;

use crate::parse::uri::{header_char, param_char, password_char, user_char};

use crate::message::{
    CSeq, Contact, Headers, Message, NameAddr, Param, Request, Response, SipUri, Transport, Uri,
    Via, SIP_VERSION,
};

/// Writes a request, with a Content-Length derived from its body.
pub fn write_request(req: &Request) -> Bytes {
    let mut out = String::with_capacity(512);
    let _ = write!(out, "{} {} {SIP_VERSION}\r\n", req.method, req.uri);
    finish(out, &req.headers, &req.body)
}

/// Writes a response, with a Content-Length derived from its body.
pub fn write_response(resp: &Response) -> Bytes {
    let mut out = String::with_capacity(512);
    let _ = write!(out, "{SIP_VERSION} {} ", resp.status);
    push_clean(&mut out, &resp.reason);
    out.push_str("\r\n");
    finish(out, &resp.headers, &resp.body)
}

/// Writes either kind.
pub fn write_message(msg: &Message) -> Bytes {
    match msg {
        Message::Request(r) => write_request(r),
        Message::Response(r) => write_response(r),
    }
}

/// Appends the headers, the blank line and the body.
fn finish(mut out: String, h: &Headers, body: &Bytes) -> Bytes {
    write_headers(&mut out, h);
    let _ = write!(out, "Content-Length: {}\r\n\r\n", body.len());
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    Bytes::from(bytes)
}

fn header(out: &mut String, name: &str, value: impl fmt::Display) {
    let start = out.len();
    let _ = write!(out, "{name}: {value}");
    // A value is one line: CR/LF that slipped in from elsewhere become spaces.
    if out.as_bytes().get(start..).is_some_and(has_crlf) {
        let cleaned: String = out
            .get(start..)
            .unwrap_or_default()
            .chars()
            .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
            .collect();
        out.truncate(start);
        out.push_str(&cleaned);
    }
    out.push_str("\r\n");
}

fn has_crlf(b: &[u8]) -> bool {
    b.iter().any(|&c| c == b'\r' || c == b'\n')
}

fn push_clean(out: &mut String, s: &str) {
    out.extend(
        s.chars()
            .map(|c| if c == '\r' || c == '\n' { ' ' } else { c }),
    );
}

fn write_headers(out: &mut String, h: &Headers) {
    for v in &h.via {
        header(out, "Via", v);
    }
    for r in &h.route {
        header(out, "Route", r);
    }
    for r in &h.record_route {
        header(out, "Record-Route", r);
    }
    header(out, "From", &h.from);
    header(out, "To", &h.to);
    header(out, "Call-ID", &h.call_id);
    header(out, "CSeq", &h.cseq);
    if let Some(mf) = h.max_forwards {
        header(out, "Max-Forwards", mf);
    }
    for c in &h.contact {
        header(out, "Contact", c);
    }
    if let Some(ct) = &h.content_type {
        header(out, "Content-Type", ct);
    }
    for x in &h.extra {
        header(out, &x.name, &x.value);
    }
}

/// Writes `s` with every character outside `allowed` %-escaped (as UTF-8).
fn escape(f: &mut fmt::Formatter<'_>, s: &str, allowed: fn(char) -> bool) -> fmt::Result {
    for c in s.chars() {
        if allowed(c) {
            f.write_char(c)?;
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                write!(f, "%{b:02X}")?;
            }
        }
    }
    Ok(())
}

impl fmt::Display for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(v) = &self.value {
            write!(f, "={v}")?;
        }
        Ok(())
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.secure { "sips:" } else { "sip:" })?;
        if let Some(user) = &self.user {
            escape(f, user, user_char)?;
            if let Some(pw) = &self.password {
                f.write_char(':')?;
                escape(f, pw, password_char)?;
            }
            f.write_char('@')?;
        }
        write!(f, "{}", self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        // Parameter and header names and values are stored unescaped.
        for p in &self.params {
            f.write_char(';')?;
            escape(f, &p.name, param_char)?;
            if let Some(v) = &p.value {
                f.write_char('=')?;
                escape(f, v, param_char)?;
            }
        }
        for (i, h) in self.headers.iter().enumerate() {
            f.write_char(if i == 0 { '?' } else { '&' })?;
            // URI headers always carry a value (`hname "=" hvalue`).
            escape(f, &h.name, header_char)?;
            f.write_char('=')?;
            escape(f, h.value.as_deref().unwrap_or(""), header_char)?;
        }
        Ok(())
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uri::Sip(u) => u.fmt(f),
            Uri::Other { scheme, rest } => write!(f, "{scheme}:{rest}"),
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Sctp => "SCTP",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
            Transport::Other(s) => s,
        })
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SIP_VERSION}/{} {}", self.transport, self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        for p in &self.params {
            write!(f, ";{p}")?;
        }
        Ok(())
    }
}

/// RFC 3261 `token` characters.
pub(crate) fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c)
}

/// Whether a display name can go on the wire unquoted (`*(token LWS)`).
fn display_name_is_tokens(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(' ')
        && !name.ends_with(' ')
        && !name.contains("  ")
        && name.chars().all(|c| c == ' ' || is_token_char(c))
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = &self.display_name {
            if display_name_is_tokens(name) {
                write!(f, "{name} ")?;
            } else {
                f.write_char('"')?;
                for c in name.chars() {
                    match c {
                        '"' | '\\' => write!(f, "\\{c}")?,
                        '\r' | '\n' => f.write_char(' ')?,
                        c => f.write_char(c)?,
                    }
                }
                f.write_str("\" ")?;
            }
        }
        // Always the `<uri>` form: it is never ambiguous about which
        // parameters belong to the URI and which to the header.
        write!(f, "<{}>", self.uri)?;
        for p in &self.params {
            write!(f, ";{p}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Contact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Contact::Wildcard => f.write_char('*'),
            Contact::Addr(a) => a.fmt(f),
        }
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Header, Host, Method};
    use std::net::Ipv6Addr;

    fn sip(user: Option<&str>, host: Host) -> Uri {
        Uri::Sip(SipUri {
            secure: false,
            user: user.map(str::to_owned),
            password: None,
            host,
            port: None,
            params: vec![],
            headers: vec![],
        })
    }

    fn addr(name: Option<&str>, uri: Uri, tag: Option<&str>) -> NameAddr {
        NameAddr {
            display_name: name.map(str::to_owned),
            uri,
            params: tag
                .map(|t| vec![Param::new("tag", Some(t.to_owned()))])
                .unwrap_or_default(),
        }
    }

    fn request() -> Request {
        Request {
            method: Method::Invite,
            uri: sip(Some("100"), Host::Domain("example.com".into())),
            headers: Headers {
                via: vec![
                    Via {
                        transport: Transport::Udp,
                        host: Host::Ipv6("2001:db8::1".parse::<Ipv6Addr>().unwrap()),
                        port: Some(5060),
                        params: vec![
                            Param::new("branch", Some("z9hG4bK1".into())),
                            Param::new("rport", None),
                        ],
                    },
                    Via {
                        transport: Transport::Tcp,
                        host: Host::Domain("b.example.com".into()),
                        port: None,
                        params: vec![Param::new("branch", Some("z9hG4bK2".into()))],
                    },
                ],
                from: addr(
                    Some("Bell, Alexander"),
                    sip(Some("a"), Host::Domain("x".into())),
                    Some("1"),
                ),
                to: addr(Some("Bob"), sip(Some("b"), Host::Domain("y".into())), None),
                call_id: "abc@host".into(),
                cseq: CSeq {
                    seq: 1,
                    method: Method::Invite,
                },
                max_forwards: Some(70),
                contact: vec![Contact::Wildcard],
                route: vec![],
                record_route: vec![addr(None, sip(None, Host::Domain("p".into())), None)],
                content_type: Some("application/sdp".into()),
                extra: vec![Header {
                    name: "Subject".into(),
                    value: "hi\r\nInjected: yes".into(),
                }],
            },
            body: Bytes::from_static(b"v=0\r\n"),
        }
    }

    #[test]
    fn writes_canonical_request() {
        let text = String::from_utf8(write_request(&request()).to_vec()).unwrap();
        let expected = "INVITE sip:100@example.com SIP/2.0\r\n\
            Via: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1;rport\r\n\
            Via: SIP/2.0/TCP b.example.com;branch=z9hG4bK2\r\n\
            Record-Route: <sip:p>\r\n\
            From: \"Bell, Alexander\" <sip:a@x>;tag=1\r\n\
            To: Bob <sip:b@y>\r\n\
            Call-ID: abc@host\r\n\
            CSeq: 1 INVITE\r\n\
            Max-Forwards: 70\r\n\
            Contact: *\r\n\
            Content-Type: application/sdp\r\n\
            Subject: hi  Injected: yes\r\n\
            Content-Length: 5\r\n\r\nv=0\r\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn escapes_user_and_quotes_display_names() {
        let u = sip(Some("I have 100%"), Host::Domain("h".into()));
        assert_eq!(u.to_string(), "sip:I%20have%20100%25@h");
        let a = addr(Some("a \"quoted\" \\ name"), u, None);
        assert_eq!(
            a.to_string(),
            "\"a \\\"quoted\\\" \\\\ name\" <sip:I%20have%20100%25@h>"
        );
        let empty = addr(Some(""), sip(None, Host::Domain("h".into())), None);
        assert_eq!(empty.to_string(), "\"\" <sip:h>");
    }

    #[test]
    fn writes_response_reason_on_one_line() {
        let r = request();
        let resp = Response {
            status: 400,
            reason: "Bad\r\nX: y".into(),
            headers: r.headers,
            body: Bytes::new(),
        };
        let text = String::from_utf8(write_response(&resp).to_vec()).unwrap();
        assert!(text.starts_with("SIP/2.0 400 Bad  X: y\r\nVia: "));
        assert!(text.ends_with("Content-Length: 0\r\n\r\n"));
    }
}
