//! Header values: Via, name-addr (From, To, Contact, Route, Record-Route),
//! CSeq, Call-ID, numbers, and the comma and semicolon splitting they share.
//!
//! Header parameter values are stored as received (a quoted-string keeps its
//! quotes) and names keep their case; look them up with
//! [`crate::message::find_param`], which ignores case. Whitespace is allowed
//! around `;`, `=`, `/` and `:` as RFC 3261's SWS and RFC 4475 `wsinv` demand.

use super::uri::{parse_host, parse_uri};
use super::SyntaxError;
use crate::message::{CSeq, Contact, Host, Method, NameAddr, Param, Transport, Via};
use crate::write::is_token_char;

type Result<T> = std::result::Result<T, SyntaxError>;

fn err<T>(reason: impl Into<String>) -> Result<T> {
    Err(SyntaxError(reason.into()))
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_token_char)
}

fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Splits `s` on `sep` where it is outside quoted strings and `<...>`.
/// Fails on an unterminated quoted string.
pub(crate) fn split_outside(s: &str, sep: char) -> Result<Vec<&str>> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    let mut in_angle = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if in_quotes {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quotes = false;
            }
            continue;
        }
        match c {
            '"' => in_quotes = true,
            '<' => in_angle = true,
            '>' => in_angle = false,
            c if c == sep && !in_angle => {
                parts.push(s.get(start..i).unwrap_or_default());
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    if in_quotes {
        return err("Unterminated quoted string");
    }
    parts.push(s.get(start..).unwrap_or_default());
    Ok(parts)
}

/// Splits a comma-separated header value into its elements, refusing
/// empty elements (`a,,b`).
pub(crate) fn split_list(s: &str) -> Result<Vec<&str>> {
    let parts = split_outside(s, ',')?;
    let parts: Vec<&str> = parts.into_iter().map(str::trim).collect();
    if parts.iter().any(|p| p.is_empty()) {
        return err("Empty element in header list");
    }
    Ok(parts)
}

/// Parses `;name[=value]` header parameters (the text after the value
/// proper, starting at the first `;`, or empty).
pub(crate) fn parse_params(s: &str) -> Result<Vec<Param>> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = s.strip_prefix(';') else {
        return err("Garbage before parameters");
    };
    let mut params = Vec::new();
    for p in split_outside(rest, ';')? {
        let (name, value) = match p.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (p.trim(), None),
        };
        if !is_token(name) {
            return err("Malformed parameter");
        }
        let value = match value {
            None => None,
            Some(v) if v.starts_with('"') => {
                quoted_string(v)?;
                Some(v.to_owned())
            }
            Some(v)
                if !v.is_empty() && v.chars().all(|c| is_token_char(c) || "[]:".contains(c)) =>
            {
                Some(v.to_owned())
            }
            Some(_) => return err("Malformed parameter value"),
        };
        params.push(Param {
            name: name.to_owned(),
            value,
        });
    }
    Ok(params)
}

/// Reads a quoted string at the start of `s`; returns the unescaped
/// content and the rest after the closing quote.
fn quoted_string(s: &str) -> Result<(String, &str)> {
    let mut chars = s.char_indices();
    if !matches!(chars.next(), Some((_, '"'))) {
        return err("Expected quoted string");
    }
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, s.get(i + 1..).unwrap_or_default())),
            '\\' => match chars.next() {
                Some((_, '\r' | '\n')) | None => break,
                Some((_, e)) => out.push(e),
            },
            '\r' | '\n' => break,
            c => out.push(c),
        }
    }
    err("Unterminated quoted string")
}

/// Parses one Via value: `SIP/2.0/UDP host[:port][;params]`.
pub fn parse_via(s: &str) -> Result<Via> {
    let (proto, rest) = sent_protocol(s)?;
    let (name, version, transport) = proto;
    if !name.eq_ignore_ascii_case("SIP") || version != "2.0" {
        return err("Unsupported protocol in Via");
    }
    let (sent_by, params) = match rest.find(';') {
        Some(i) => (
            rest.get(..i).unwrap_or_default(),
            rest.get(i..).unwrap_or_default(),
        ),
        None => (rest, ""),
    };
    let (host, port) = via_sent_by(sent_by)?;
    let params = parse_params(params)?;
    Ok(Via {
        transport: match transport.to_ascii_uppercase().as_str() {
            "UDP" => Transport::Udp,
            "TCP" => Transport::Tcp,
            "TLS" => Transport::Tls,
            "SCTP" => Transport::Sctp,
            "WS" => Transport::Ws,
            "WSS" => Transport::Wss,
            _ => Transport::Other(transport.to_owned()),
        },
        host,
        port,
        params,
    })
}

/// `protocol-name SLASH version SLASH transport LWS`, with SWS around the
/// slashes; returns the three tokens and the rest (the sent-by onwards).
fn sent_protocol(s: &str) -> Result<((&str, &str, &str), &str)> {
    let mut parts = s.splitn(3, '/');
    let name = parts.next().unwrap_or_default().trim();
    let version = parts.next().unwrap_or_default().trim();
    let tail = parts.next().unwrap_or_default().trim_start();
    let Some(split) = tail.find(is_ws) else {
        return err("Malformed Via: no sent-by");
    };
    let transport = tail.get(..split).unwrap_or_default();
    let rest = tail.get(split..).unwrap_or_default().trim();
    if !is_token(name) || !is_token(version) || !is_token(transport) {
        return err("Malformed Via protocol");
    }
    Ok(((name, version, transport), rest))
}

/// `host [SWS ":" SWS port]`.
fn via_sent_by(s: &str) -> Result<(Host, Option<u16>)> {
    let s = s.trim();
    let (host, port) = if s.starts_with('[') {
        match s.find(']') {
            Some(i) => (
                s.get(..=i).unwrap_or_default(),
                s.get(i + 1..).unwrap_or_default(),
            ),
            None => return err("Unterminated IPv6 reference in Via"),
        }
    } else {
        match s.find(':') {
            Some(i) => (
                s.get(..i).unwrap_or_default(),
                s.get(i..).unwrap_or_default(),
            ),
            None => (s, ""),
        }
    };
    let host = parse_host(host.trim_end()).or_else(|_| err("Malformed Via host"))?;
    let port = port.trim();
    let port = if port.is_empty() {
        None
    } else {
        let Some(p) = port.strip_prefix(':') else {
            return err("Malformed Via sent-by");
        };
        let p = p.trim();
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return err("Malformed Via port");
        }
        Some(p.parse::<u16>().or_else(|_| err("Via port out of range"))?)
    };
    Ok((host, port))
}

/// Whether the top Via is good enough to send a response to: any
/// `name/version/transport` and a parseable sent-by, parameters ignored.
pub(crate) fn via_answerable(s: &str) -> bool {
    let first = split_outside(s, ',')
        .ok()
        .and_then(|v| v.first().copied())
        .unwrap_or(s);
    let Ok((_, rest)) = sent_protocol(first) else {
        return false;
    };
    let sent_by = rest.split(';').next().unwrap_or_default();
    via_sent_by(sent_by).is_ok()
}

/// Parses a name-addr or addr-spec followed by header parameters (From,
/// To, Contact, Route, Record-Route).
pub fn parse_name_addr(s: &str) -> Result<NameAddr> {
    let s = s.trim();
    let (display_name, after_name) = if s.starts_with('"') {
        let (name, rest) = quoted_string(s)?;
        if !rest.trim_start().starts_with('<') {
            return err("Quoted display name without <URI>");
        }
        (Some(name), rest.trim_start())
    } else if let Some(lt) = s.find('<') {
        let name = s.get(..lt).unwrap_or_default().trim();
        if !name.split(is_ws).filter(|t| !t.is_empty()).all(is_token) {
            return err("Invalid display name");
        }
        let name = (!name.is_empty()).then(|| name.to_owned());
        (name, s.get(lt..).unwrap_or_default())
    } else {
        (None, s)
    };
    if let Some(inner) = after_name.strip_prefix('<') {
        let Some(gt) = inner.find('>') else {
            return err("Unterminated <URI>");
        };
        let uri = parse_uri(inner.get(..gt).unwrap_or_default())?;
        let params = parse_params(inner.get(gt + 1..).unwrap_or_default())?;
        return Ok(NameAddr {
            display_name,
            uri,
            params,
        });
    }
    // addr-spec: parameters after the first ';' belong to the header
    // (RFC 3261 §20.10), and a URI with ',', '?' or ';' must use <>.
    let (uri, params) = match s.find(';') {
        Some(i) => (
            s.get(..i).unwrap_or_default().trim_end(),
            s.get(i..).unwrap_or_default(),
        ),
        None => (s, ""),
    };
    if uri.contains(['?', ',']) {
        return err("URI with headers or commas must be enclosed in <>");
    }
    if uri.contains(['<', '>']) {
        return err("Malformed address");
    }
    Ok(NameAddr {
        display_name: None,
        uri: parse_uri(uri)?,
        params: parse_params(params)?,
    })
}

/// Parses a Contact header value: `*` or a list of addresses.
pub fn parse_contacts(s: &str) -> Result<Vec<Contact>> {
    if s.trim() == "*" {
        return Ok(vec![Contact::Wildcard]);
    }
    split_list(s)?
        .into_iter()
        .map(|c| {
            if c == "*" {
                err("Contact '*' mixed with addresses")
            } else {
                parse_name_addr(c).map(Contact::Addr)
            }
        })
        .collect()
}

/// Parses a comma-separated list of addresses (Route, Record-Route).
pub fn parse_addr_list(s: &str) -> Result<Vec<NameAddr>> {
    split_list(s)?.into_iter().map(parse_name_addr).collect()
}

/// Parses `CSeq: 1*DIGIT LWS Method`; the number must be below 2^31
/// (RFC 3261 §8.1.1.5).
pub fn parse_cseq(s: &str) -> Result<CSeq> {
    let s = s.trim();
    let Some(split) = s.find(is_ws) else {
        return err("Malformed CSeq");
    };
    let num = s.get(..split).unwrap_or_default();
    let method = s.get(split..).unwrap_or_default().trim();
    let seq = parse_number(num, u64::from(i32::MAX.unsigned_abs()))
        .ok_or_else(|| SyntaxError("Invalid CSeq number".into()))?;
    if !is_token(method) {
        return err("Malformed CSeq method");
    }
    Ok(CSeq {
        seq: u32::try_from(seq).or_else(|_| err("Invalid CSeq number"))?,
        method: Method::from_token(method),
    })
}

/// A decimal number of digits only, at most `max`; `None` otherwise
/// (signs, spaces, overflow).
pub(crate) fn parse_number(s: &str, max: u64) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = s.trim_start_matches('0');
    if digits.len() > 19 {
        return None;
    }
    let n = if digits.is_empty() {
        0
    } else {
        digits.parse::<u64>().ok()?
    };
    (n <= max).then_some(n)
}

/// Checks a Call-ID: `word ["@" word]`, no whitespace.
pub(crate) fn check_call_id(s: &str) -> Result<()> {
    let word_char = |c: char| is_token_char(c) || "()<>:\\/\"[]?{}".contains(c);
    let ok = match s.split_once('@') {
        Some((a, b)) => {
            !a.is_empty() && !b.is_empty() && a.chars().all(word_char) && b.chars().all(word_char)
        }
        None => !s.is_empty() && s.chars().all(word_char),
    };
    if ok {
        Ok(())
    } else {
        err("Invalid Call-ID")
    }
}

/// Checks a Content-Type: `type "/" subtype *(SEMI m-parameter)`.
pub(crate) fn check_content_type(s: &str) -> Result<()> {
    let (media, params) = match s.find(';') {
        Some(i) => (
            s.get(..i).unwrap_or_default(),
            s.get(i..).unwrap_or_default(),
        ),
        None => (s, ""),
    };
    let ok = media
        .split_once('/')
        .is_some_and(|(t, st)| is_token(t.trim()) && is_token(st.trim()));
    if !ok {
        return err("Invalid Content-Type");
    }
    parse_params(params).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{find_param, Uri};

    #[test]
    fn via_with_whitespace_everywhere() {
        let v = parse_via("SIP  /   2.0 /UDP 192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(v.transport, Transport::Udp);
        assert_eq!(v.host, Host::Ipv4("192.0.2.2".parse().unwrap()));
        assert_eq!(
            find_param(&v.params, "BRANCH").unwrap().value.as_deref(),
            Some("390skdjuw")
        );
        let v = parse_via("SIP/2.0/TCP h.example.com : 5061 ; rport ; received = 1.2.3.4").unwrap();
        assert_eq!(v.port, Some(5061));
        assert_eq!(v.params[0], Param::new("rport", None));
        assert_eq!(v.params[1].value.as_deref(), Some("1.2.3.4"));
    }

    #[test]
    fn via_ipv6_and_received() {
        let v = parse_via("SIP/2.0/UDP [2001:db8::9:1]:6050;received=[2001:db8::9:255]").unwrap();
        assert_eq!(v.port, Some(6050));
        assert_eq!(v.params[0].value.as_deref(), Some("[2001:db8::9:255]"));
        let v = parse_via("SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255").unwrap();
        assert_eq!(v.params[0].value.as_deref(), Some("2001:db8::9:255"));
        let v = parse_via("SIP/2.0/unknown t4.example.com").unwrap();
        assert_eq!(v.transport, Transport::Other("unknown".into()));
    }

    #[test]
    fn bad_vias() {
        assert!(parse_via("SIP/2.0/UDP 192.0.2.15;;").is_err());
        assert!(parse_via("SIP/7.0/UDP c.example.com").is_err());
        assert!(via_answerable("SIP/7.0/UDP c.example.com;branch=z9hG4bK"));
        assert!(via_answerable("SIP/2.0/UDP 192.0.2.15;;,;,,"));
        assert!(!via_answerable("SIP/2.0/UDP"));
        assert!(parse_via("SIP/2.0/UDP h:99999").is_err());
        assert!(parse_via("SIP/2.0/UDP h;branch=\"x").is_err());
        assert!(parse_via("garbage").is_err());
    }

    #[test]
    fn name_addr_forms() {
        let a = parse_name_addr(
            "\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com> ; tag = 98asjd8",
        )
        .unwrap();
        assert_eq!(a.display_name.as_deref(), Some("J Rosenberg \\\""));
        assert_eq!(a.params, vec![Param::new("tag", Some("98asjd8".into()))]);
        let a = parse_name_addr("caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(a.display_name.as_deref(), Some("caller"));
        let a =
            parse_name_addr("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n").unwrap();
        assert_eq!(a.display_name, None);
        assert_eq!(
            find_param(&a.params, "tag").unwrap().value.as_deref(),
            Some("1918181833n")
        );
        let a = parse_name_addr("sip:+1972@gw1.example.net;unknownparam").unwrap();
        assert_eq!(a.params, vec![Param::new("unknownparam", None)]);
        let a = parse_name_addr("isbn:2983792873").unwrap();
        assert!(matches!(a.uri, Uri::Other { .. }));
        let a = parse_name_addr("<sip:a@b;lr>").unwrap();
        assert!(a.params.is_empty());
    }

    #[test]
    fn bad_name_addrs() {
        assert!(parse_name_addr("\"Mr. J. User <sip:j.user@example.com>").is_err());
        assert!(parse_name_addr("Bell, Alexander <sip:a.g.bell@example.com>;tag=43").is_err());
        assert!(parse_name_addr("\"Watson\" < sip:t.watson@example.org >").is_err());
        assert!(parse_name_addr("sip:user@example.com?Route=%3Csip:sip.example.com%3E").is_err());
        assert!(parse_name_addr("\"Joe\" <sip:joe@example.org>;;;;").is_err());
        assert!(parse_name_addr("<sip:a@b").is_err());
        assert!(parse_name_addr("").is_err());
    }

    #[test]
    fn contacts_and_lists() {
        assert_eq!(parse_contacts(" * ").unwrap(), vec![Contact::Wildcard]);
        assert!(parse_contacts("*, <sip:a@b>").is_err());
        let c = parse_contacts("<sip:a@b>;q=0.5, \"x, y\" <sip:c,1@d;p=2>").unwrap();
        assert_eq!(c.len(), 2);
        assert!(parse_addr_list("<sip:a@b>,,<sip:c@d>").is_err());
        assert_eq!(
            parse_addr_list("<sip:p1;lr>, <sip:p2;lr>").unwrap().len(),
            2
        );
    }

    #[test]
    fn cseq_and_numbers() {
        let c = parse_cseq("0009\r\n  INVITE".replace("\r\n", "").as_str()).unwrap();
        assert_eq!((c.seq, c.method), (9, Method::Invite));
        assert!(parse_cseq("36893488147419103232 REGISTER").is_err());
        assert!(parse_cseq("2147483648 INVITE").is_err());
        assert!(parse_cseq("2147483647 INVITE").is_ok());
        assert!(parse_cseq("-1 INVITE").is_err());
        assert!(parse_cseq("1").is_err());
        assert_eq!(parse_number("0068", 255), Some(68));
        assert_eq!(parse_number("256", 255), None);
        assert_eq!(parse_number("+1", 255), None);
        assert_eq!(parse_number("00000000000000000000000000001", 5), Some(1));
    }

    #[test]
    fn call_id_and_content_type() {
        assert!(check_call_id("intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{").is_ok());
        assert!(check_call_id("a b").is_err());
        assert!(check_call_id("").is_err());
        assert!(check_call_id("a@").is_err());
        assert!(check_content_type("application/sdp").is_ok());
        assert!(check_content_type("multipart/mixed;boundary=\"x y\"").is_ok());
        assert!(check_content_type("sdp").is_err());
    }
}
