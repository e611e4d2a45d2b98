//! URIs (RFC 3261 §19.1, §25.1) and hosts, IPv6 references per RFC 5118.
//!
//! `sip:`/`sips:` URIs are parsed into [`SipUri`]; the user part, the
//! password, and URI parameter and header names and values are stored
//! %-decoded (the writer escapes them again), so `%6C%72` and `lr` compare
//! equal as RFC 3261 §19.1.4 requires. Other schemes are kept opaque.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::SyntaxError;
use crate::message::{Host, Param, SipUri, Uri};

type Result<T> = std::result::Result<T, SyntaxError>;

fn err<T>(reason: impl Into<String>) -> Result<T> {
    Err(SyntaxError(reason.into()))
}

/// Parses an absolute URI as it appears in a Request-URI or inside `<>`.
/// The text must not contain whitespace.
pub fn parse_uri(s: &str) -> Result<Uri> {
    if s.is_empty() {
        return err("Empty URI");
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return err("Whitespace or control character in URI");
    }
    let Some((scheme, rest)) = s.split_once(':') else {
        return err("URI without scheme");
    };
    let mut chars = scheme.chars();
    let scheme_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !scheme_ok {
        return err("Malformed URI scheme");
    }
    let scheme = scheme.to_ascii_lowercase();
    match scheme.as_str() {
        "sip" => parse_sip(rest, false).map(Uri::Sip),
        "sips" => parse_sip(rest, true).map(Uri::Sip),
        _ => {
            if rest.is_empty() {
                return err("Empty URI after scheme");
            }
            if rest.contains(['<', '>', '"']) {
                return err("Invalid character in URI");
            }
            Ok(Uri::Other {
                scheme,
                rest: rest.to_owned(),
            })
        }
    }
}

pub(crate) fn is_unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.!~*'()".contains(c)
}

pub(crate) fn user_char(c: char) -> bool {
    is_unreserved(c) || "&=+$,;?/".contains(c)
}

pub(crate) fn password_char(c: char) -> bool {
    is_unreserved(c) || "&=+$,".contains(c)
}

pub(crate) fn param_char(c: char) -> bool {
    is_unreserved(c) || "[]/:&+$".contains(c)
}

pub(crate) fn header_char(c: char) -> bool {
    is_unreserved(c) || "[]/?:+$".contains(c)
}

/// Decodes `%HH` escapes after checking every other character against
/// `allowed`. A bad escape or a character outside the set is an error.
pub(crate) fn unescape(s: &str, allowed: fn(char) -> bool, what: &str) -> Result<String> {
    let mut out: Vec<u8> = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hi = bytes.next().and_then(hex);
            let lo = bytes.next().and_then(hex);
            match (hi, lo) {
                (Some(h), Some(l)) => out.push(h << 4 | l),
                _ => return err(format!("Malformed escape in {what}")),
            }
        } else if b.is_ascii() && allowed(char::from(b)) {
            out.push(b);
        } else {
            return err(format!("Invalid character in {what}"));
        }
    }
    String::from_utf8(out).or_else(|_| err(format!("Escape in {what} is not UTF-8")))
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

fn parse_sip(rest: &str, secure: bool) -> Result<SipUri> {
    // userinfo never holds a literal '@' (it must be escaped), and neither
    // do parameters or headers: the first '@' ends the userinfo.
    let (userinfo, hostpart) = match rest.split_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    if hostpart.contains('@') {
        return err("More than one '@' in SIP URI");
    }
    let (user, password) = match userinfo {
        None => (None, None),
        Some(u) => {
            let (user, pw) = match u.split_once(':') {
                Some((user, pw)) => (user, Some(pw)),
                None => (u, None),
            };
            if user.is_empty() {
                return err("Empty user part in SIP URI");
            }
            let user = unescape(user, user_char, "URI user part")?;
            let password = pw
                .map(|p| unescape(p, password_char, "URI password"))
                .transpose()?;
            (Some(user), password)
        }
    };
    let (before_headers, headers_str) = match hostpart.split_once('?') {
        Some((a, b)) => (a, Some(b)),
        None => (hostpart, None),
    };
    let mut parts = before_headers.split(';');
    let hostport = parts.next().unwrap_or_default();
    let (host, port) = parse_hostport(hostport)?;
    let mut params = Vec::new();
    for p in parts {
        let (name, value) = match p.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (p, None),
        };
        if name.is_empty() {
            return err("Empty URI parameter");
        }
        let name = unescape(name, param_char, "URI parameter")?;
        let value = value
            .map(|v| unescape(v, param_char, "URI parameter"))
            .transpose()?;
        params.push(Param { name, value });
    }
    let mut headers = Vec::new();
    if let Some(hs) = headers_str {
        for h in hs.split('&') {
            let Some((name, value)) = h.split_once('=') else {
                return err("URI header without '='");
            };
            if name.is_empty() {
                return err("Empty URI header name");
            }
            headers.push(Param {
                name: unescape(name, header_char, "URI header")?,
                value: Some(unescape(value, header_char, "URI header")?),
            });
        }
    }
    Ok(SipUri {
        secure,
        user,
        password,
        host,
        port,
        params,
        headers,
    })
}

/// Parses `host[:port]` where host is a domain, IPv4 or `[IPv6]`.
pub fn parse_hostport(s: &str) -> Result<(Host, Option<u16>)> {
    if let Some(inner) = s.strip_prefix('[') {
        let Some((addr, after)) = inner.split_once(']') else {
            return err("Unterminated IPv6 reference");
        };
        let host = parse_ipv6(addr)?;
        let port = match after {
            "" => None,
            p => match p.strip_prefix(':') {
                Some(p) => Some(parse_port(p)?),
                None => return err("Garbage after IPv6 reference"),
            },
        };
        return Ok((host, port));
    }
    let (host, port) = match s.split_once(':') {
        Some((h, p)) => (h, Some(parse_port(p)?)),
        None => (s, None),
    };
    Ok((parse_host(host)?, port))
}

/// Parses a host with no port: domain, IPv4, `[IPv6]`, and (leniently, for
/// Via `received`) a bare IPv6 address.
pub fn parse_host(s: &str) -> Result<Host> {
    if let Some(inner) = s.strip_prefix('[') {
        return match inner.strip_suffix(']') {
            Some(addr) => parse_ipv6(addr),
            None => err("Unterminated IPv6 reference"),
        };
    }
    if s.is_empty() {
        return err("Empty host");
    }
    if s.contains(':') {
        return err("IPv6 address without brackets");
    }
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return match s.parse::<Ipv4Addr>() {
            Ok(a) => Ok(Host::Ipv4(a)),
            Err(_) => err("Malformed IPv4 address"),
        };
    }
    let labels_ok = s
        .trim_end_matches('.')
        .split('.')
        .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if !labels_ok {
        return err("Malformed host name");
    }
    Ok(Host::Domain(s.to_owned()))
}

fn parse_ipv6(addr: &str) -> Result<Host> {
    if addr.contains('%') {
        // RFC 5118 §4 / RFC 4007: zone identifiers have no meaning off-link
        // and are not part of the SIP grammar.
        return err("Scoped IPv6 address");
    }
    match addr.parse::<Ipv6Addr>() {
        Ok(a) => Ok(Host::Ipv6(a)),
        Err(_) => err("Malformed IPv6 address"),
    }
}

fn parse_port(p: &str) -> Result<u16> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return err("Malformed port");
    }
    p.parse::<u16>().or_else(|_| err("Port out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sip(s: &str) -> SipUri {
        match parse_uri(s).unwrap() {
            Uri::Sip(u) => u,
            other => panic!("not sip: {other:?}"),
        }
    }

    #[test]
    fn plain_sip_uri() {
        let u = sip("sip:alice:secret@example.com:5070;transport=tcp;lr?subject=hi&x=y");
        assert!(!u.secure);
        assert_eq!(u.user.as_deref(), Some("alice"));
        assert_eq!(u.password.as_deref(), Some("secret"));
        assert_eq!(u.host, Host::Domain("example.com".into()));
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.params.len(), 2);
        assert_eq!(u.params[1], Param::new("lr", None));
        assert_eq!(u.headers[0], Param::new("subject", Some("hi".into())));
    }

    #[test]
    fn escapes_are_decoded() {
        let u = sip("sip:sips%3Auser%40example.com@example.net");
        assert_eq!(u.user.as_deref(), Some("sips:user@example.com"));
        let u = sip("sip:null-%00-null@example.com");
        assert_eq!(u.user.as_deref(), Some("null-\0-null"));
        let u = sip("sip:cal%6Cer@h;%6C%72;n%61me=v%61lue%25%34%31");
        assert_eq!(u.params[0].name, "lr");
        assert_eq!(u.params[1], Param::new("name", Some("value%41".into())));
        assert!(parse_uri("sip:a%Zb@h").is_err());
        assert!(parse_uri("sip:a%4@h").is_err());
    }

    #[test]
    fn user_part_may_hold_semicolons_and_marks() {
        let u = sip("sip:user;par=u%40example.net@example.com");
        assert_eq!(u.user.as_deref(), Some("user;par=u@example.net"));
        assert!(u.params.is_empty());
        let u = sip("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com");
        assert_eq!(
            u.user.as_deref(),
            Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
        );
        assert_eq!(
            u.password.as_deref(),
            Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
        );
    }

    #[test]
    fn ipv6_references() {
        let u = sip("sip:[2001:db8::10]:5070");
        assert_eq!(u.host, Host::Ipv6("2001:db8::10".parse().unwrap()));
        assert_eq!(u.port, Some(5070));
        let u = sip("sip:[2001:db8::10:5070]");
        assert_eq!(u.port, None);
        assert!(parse_uri("sip:2001:db8::10").is_err());
        assert!(parse_uri("sip:user@[2001:db8:::192.0.2.1]").is_err());
        assert!(parse_uri("sip:user@[2001:db8::192.0.2.1]").is_ok());
        assert!(parse_uri("sip:[fe80::1%25eth0]").is_err());
        assert!(parse_uri("sip:[::ffff:192.0.2.2]").is_ok());
    }

    #[test]
    fn other_schemes_are_opaque() {
        assert_eq!(
            parse_uri("TEL:+15551234").unwrap(),
            Uri::Other {
                scheme: "tel".into(),
                rest: "+15551234".into()
            }
        );
        assert!(parse_uri("<sip:a@b>").is_err());
        assert!(parse_uri("sip:a@b c").is_err());
        assert!(parse_uri("nocolon").is_err());
    }

    #[test]
    fn bad_hosts_and_ports() {
        assert!(parse_uri("sip:a@").is_err());
        assert!(parse_uri("sip:a@h:").is_err());
        assert!(parse_uri("sip:a@h:65536").is_err());
        assert!(parse_uri("sip:a@h_x").is_err());
        assert!(parse_uri("sip:a@1.2.3.256").is_err());
        assert!(parse_uri("sip:@h").is_err());
        assert_eq!(
            sip("sip:10.0.0.1").host,
            Host::Ipv4("10.0.0.1".parse().unwrap())
        );
    }
}
