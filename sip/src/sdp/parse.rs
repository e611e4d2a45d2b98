//! Bytes → [`SessionDescription`].
//!
//! One pass over the lines (CRLF or bare LF, blank lines skipped). Lines
//! before the first `m=` belong to the session, the rest to the last
//! `m=`. Strict on what routes audio (`v=`, `o=`, `c=`, `t=`, `m=`),
//! tolerant of the rest: a typed attribute that does not parse is kept
//! verbatim as [`Attribute::Other`], and unknown line types are kept as
//! [`Line`]s.

use std::net::IpAddr;
use std::str::FromStr;

use super::{
    AddrType, Attribute, Connection, Direction, Line, MediaKind, MediaSection, Origin, RtpMap,
    SdpError, SessionDescription, Timing, Transport,
};

/// How much of an offending line an error quotes.
const QUOTE_CHARS: usize = 80;

impl SessionDescription {
    /// Parses a session description (an `application/sdp` body).
    ///
    /// ```
    /// use hibiki_sip::sdp::SessionDescription;
    /// let sdp = SessionDescription::parse(
    ///     b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n\
    ///       t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n",
    /// )
    /// .unwrap();
    /// assert_eq!(sdp.media[0].port, 4000);
    /// ```
    pub fn parse(bytes: &[u8]) -> Result<SessionDescription, SdpError> {
        let text = String::from_utf8_lossy(bytes);
        let mut builder = Builder::default();
        for (index, raw) in text.split('\n').enumerate() {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.trim().is_empty() {
                continue;
            }
            let at = At {
                number: index.saturating_add(1),
                text: line,
            };
            builder.line(&at)?;
        }
        builder.finish()
    }
}

impl FromStr for SessionDescription {
    type Err = SdpError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SessionDescription::parse(s.as_bytes())
    }
}

/// The line being read, for error messages.
struct At<'a> {
    number: usize,
    text: &'a str,
}

impl At<'_> {
    fn error(&self, reason: &'static str) -> SdpError {
        SdpError::Malformed {
            line: self.number,
            text: self.text.chars().take(QUOTE_CHARS).collect(),
            reason,
        }
    }
}

#[derive(Default)]
struct Builder {
    seen_version: bool,
    origin: Option<Origin>,
    session_name: Option<String>,
    connection: Option<Connection>,
    timing: Vec<Timing>,
    lines: Vec<Line>,
    attributes: Vec<Attribute>,
    media: Vec<MediaSection>,
}

impl Builder {
    fn line(&mut self, at: &At<'_>) -> Result<(), SdpError> {
        let mut chars = at.text.chars();
        let (kind, value) = match (chars.next(), chars.next()) {
            (Some(kind), Some('=')) if kind.is_ascii_alphabetic() => (kind, chars.as_str()),
            _ => return Err(at.error("expected <type>=<value>")),
        };
        if !self.seen_version {
            if kind != 'v' {
                return Err(at.error("the first line must be v=0"));
            }
            if value.trim() != "0" {
                return Err(at.error("unsupported SDP version"));
            }
            self.seen_version = true;
            return Ok(());
        }
        let in_media = !self.media.is_empty();
        match kind {
            'v' => return Err(at.error("v= may appear only once, first")),
            'o' if in_media => return Err(at.error("o= inside a media section")),
            'o' if self.origin.is_some() => return Err(at.error("second o= line")),
            'o' => self.origin = Some(origin(value).ok_or_else(|| at.error("bad origin"))?),
            's' if !in_media && self.session_name.is_none() => {
                self.session_name = Some(value.to_owned());
            }
            'c' => {
                let c = connection(value).map_err(|reason| at.error(reason))?;
                let slot = match self.media.last_mut() {
                    Some(m) => &mut m.connection,
                    None => &mut self.connection,
                };
                if slot.is_some() {
                    return Err(at.error("second c= line at the same level"));
                }
                *slot = Some(c);
            }
            't' if !in_media => self
                .timing
                .push(timing(value).ok_or_else(|| at.error("bad timing"))?),
            'r' if !in_media => match self.timing.last_mut() {
                Some(t) => t.repeats.push(value.to_owned()),
                None => return Err(at.error("r= before any t=")),
            },
            'm' => self
                .media
                .push(media(value).map_err(|reason| at.error(reason))?),
            'a' => {
                let a = attribute(value);
                match self.media.last_mut() {
                    Some(m) => m.attributes.push(a),
                    None => self.attributes.push(a),
                }
            }
            _ => {
                let line = Line {
                    kind,
                    value: value.to_owned(),
                };
                match self.media.last_mut() {
                    Some(m) => m.lines.push(line),
                    None => self.lines.push(line),
                }
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<SessionDescription, SdpError> {
        if !self.seen_version {
            return Err(SdpError::Missing("v="));
        }
        Ok(SessionDescription {
            origin: self.origin.ok_or(SdpError::Missing("o="))?,
            session_name: self.session_name.unwrap_or_else(|| "-".to_owned()),
            connection: self.connection,
            timing: self.timing,
            lines: self.lines,
            attributes: self.attributes,
            media: self.media,
        })
    }
}

fn origin(value: &str) -> Option<Origin> {
    let mut f = value.split_ascii_whitespace();
    let o = Origin {
        username: f.next()?.to_owned(),
        session_id: f.next()?.to_owned(),
        session_version: f.next()?.parse().ok()?,
        net_type: f.next()?.to_owned(),
        addr_type: f.next()?.to_owned(),
        address: f.next()?.to_owned(),
    };
    f.next().is_none().then_some(o)
}

/// `IN <IP4|IP6> <address>[/ttl[/count]]`.
pub(super) fn connection(value: &str) -> Result<Connection, &'static str> {
    let mut f = value.split_ascii_whitespace();
    let (Some(net), Some(family), Some(addr), None) = (f.next(), f.next(), f.next(), f.next())
    else {
        return Err("expected IN <IP4|IP6> <address>");
    };
    if net != "IN" {
        return Err("network type is not IN");
    }
    let family = match family {
        "IP4" => AddrType::Ip4,
        "IP6" => AddrType::Ip6,
        _ => return Err("address type is not IP4 or IP6"),
    };
    let (addr, multicast) = match addr.split_once('/') {
        Some((a, rest)) => (a, Some(rest.to_owned())),
        None => (addr, None),
    };
    let address: IpAddr = addr.parse().map_err(|_| "address is not an IP literal")?;
    if AddrType::of(address) != family {
        return Err("address does not match its address type");
    }
    if let Some(suffix) = &multicast {
        let numeric = suffix
            .split('/')
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if !address.is_multicast() || !numeric {
            return Err("bad multicast suffix");
        }
    }
    Ok(Connection { address, multicast })
}

fn timing(value: &str) -> Option<Timing> {
    let mut f = value.split_ascii_whitespace();
    let t = Timing {
        start: f.next()?.parse().ok()?,
        stop: f.next()?.parse().ok()?,
        repeats: Vec::new(),
    };
    f.next().is_none().then_some(t)
}

/// `<media> <port>[/<count>] <proto> <fmt> …`.
fn media(value: &str) -> Result<MediaSection, &'static str> {
    let mut f = value.split_ascii_whitespace();
    let (Some(kind), Some(port), Some(proto)) = (f.next(), f.next(), f.next()) else {
        return Err("expected <media> <port> <proto> <fmt>…");
    };
    let (port, port_count) = match port.split_once('/') {
        Some((p, n)) => (p, Some(n.parse::<u16>().map_err(|_| "bad port count")?)),
        None => (port, None),
    };
    let port: u16 = port.parse().map_err(|_| "bad port")?;
    let transport = Transport::from_token(proto);
    let formats: Vec<String> = f.map(str::to_owned).collect();
    if formats.is_empty() && port != 0 {
        return Err("no formats");
    }
    if transport.is_rtp()
        && !formats
            .iter()
            .all(|fmt| fmt.parse::<u8>().is_ok_and(|pt| pt <= 127))
    {
        return Err("RTP format is not a payload type 0-127");
    }
    Ok(MediaSection {
        kind: MediaKind::from_token(kind),
        port,
        port_count,
        transport,
        formats,
        connection: None,
        lines: Vec::new(),
        attributes: Vec::new(),
    })
}

/// An `a=` value; never fails (what does not parse is kept verbatim).
fn attribute(value: &str) -> Attribute {
    let (name, arg) = match value.split_once(':') {
        Some((n, v)) => (n, Some(v)),
        None => (value, None),
    };
    let typed = match (name, arg) {
        ("rtpmap", Some(v)) => rtpmap(v).map(Attribute::RtpMap),
        ("fmtp", Some(v)) => fmtp(v),
        ("ptime", Some(v)) => v.trim().parse().ok().map(Attribute::Ptime),
        ("rtcp", Some(v)) => rtcp(v),
        (n, None) => Direction::from_name(n).map(Attribute::Direction),
        _ => None,
    };
    typed.unwrap_or_else(|| Attribute::other(name, arg))
}

fn payload_type(s: &str) -> Option<u8> {
    s.parse::<u8>().ok().filter(|pt| *pt <= 127)
}

fn rtpmap(v: &str) -> Option<RtpMap> {
    let (pt, rest) = v.trim().split_once(' ')?;
    let mut parts = rest.trim().split('/');
    let map = RtpMap {
        payload_type: payload_type(pt)?,
        encoding: parts.next().filter(|e| !e.is_empty())?.to_owned(),
        clock_rate: parts.next()?.parse().ok()?,
        channels: match parts.next() {
            Some(c) => Some(c.parse().ok()?),
            None => None,
        },
    };
    parts.next().is_none().then_some(map)
}

fn fmtp(v: &str) -> Option<Attribute> {
    let (pt, params) = v.split_once(' ')?;
    Some(Attribute::Fmtp {
        payload_type: payload_type(pt)?,
        params: params.to_owned(),
    })
}

fn rtcp(v: &str) -> Option<Attribute> {
    let v = v.trim();
    let (port, rest) = match v.split_once(' ') {
        Some((p, r)) => (p, Some(r)),
        None => (v, None),
    };
    let connection = match rest {
        Some(r) => Some(connection(r).ok()?),
        None => None,
    };
    Some(Attribute::Rtcp {
        port: port.parse().ok()?,
        connection,
    })
}
