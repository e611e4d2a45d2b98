//! [`SessionDescription`] → text, CRLF line ends, in the order RFC 8866
//! §5 prescribes (`v o s i u e p c b t r z k a`, then each `m i c b k a`).
//! Lines kept verbatim are written in their place in that order, and in
//! the order they were read among themselves.

use std::fmt::{self, Display, Formatter, Write};

use super::{AddrType, Attribute, Connection, Line, MediaSection, SessionDescription};

impl SessionDescription {
    /// The description as an `application/sdp` body.
    pub fn to_bytes(&self) -> bytes::Bytes {
        bytes::Bytes::from(self.to_string())
    }
}

impl Display for SessionDescription {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let o = &self.origin;
        write!(
            f,
            "v=0\r\no={} {} {} {} {} {}\r\ns={}\r\n",
            o.username,
            o.session_id,
            o.session_version,
            o.net_type,
            o.addr_type,
            o.address,
            self.session_name
        )?;
        lines(f, &self.lines, |k| "iuep".contains(k))?;
        if let Some(c) = &self.connection {
            write!(f, "c={c}\r\n")?;
        }
        lines(f, &self.lines, |k| k == 'b')?;
        if self.timing.is_empty() {
            f.write_str("t=0 0\r\n")?;
        }
        for t in &self.timing {
            write!(f, "t={} {}\r\n", t.start, t.stop)?;
            for r in &t.repeats {
                write!(f, "r={r}\r\n")?;
            }
        }
        lines(f, &self.lines, |k| !"iuepb".contains(k))?;
        for a in &self.attributes {
            write!(f, "a={a}\r\n")?;
        }
        for m in &self.media {
            write!(f, "{m}")?;
        }
        Ok(())
    }
}

impl Display for MediaSection {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "m={} {}", self.kind.as_str(), self.port)?;
        if let Some(n) = self.port_count {
            write!(f, "/{n}")?;
        }
        write!(f, " {}", self.transport.as_str())?;
        for fmt in &self.formats {
            write!(f, " {fmt}")?;
        }
        f.write_str("\r\n")?;
        lines(f, &self.lines, |k| k == 'i')?;
        if let Some(c) = &self.connection {
            write!(f, "c={c}\r\n")?;
        }
        lines(f, &self.lines, |k| k != 'i')?;
        for a in &self.attributes {
            write!(f, "a={a}\r\n")?;
        }
        Ok(())
    }
}

fn lines(f: &mut Formatter<'_>, lines: &[Line], keep: impl Fn(char) -> bool) -> fmt::Result {
    for l in lines.iter().filter(|l| keep(l.kind)) {
        f.write_char(l.kind)?;
        write!(f, "={}\r\n", l.value)?;
    }
    Ok(())
}

impl Display for Connection {
    /// `IN IP4 192.0.2.1` (what follows `c=`).
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IN {} {}",
            AddrType::of(self.address).as_str(),
            self.address
        )?;
        if let Some(m) = &self.multicast {
            write!(f, "/{m}")?;
        }
        Ok(())
    }
}

impl Display for Attribute {
    /// What follows `a=`.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Attribute::RtpMap(m) => {
                write!(
                    f,
                    "rtpmap:{} {}/{}",
                    m.payload_type, m.encoding, m.clock_rate
                )?;
                if let Some(c) = m.channels {
                    write!(f, "/{c}")?;
                }
                Ok(())
            }
            Attribute::Fmtp {
                payload_type,
                params,
            } => write!(f, "fmtp:{payload_type} {params}"),
            Attribute::Ptime(p) => write!(f, "ptime:{p}"),
            Attribute::Direction(d) => f.write_str(d.as_str()),
            Attribute::Rtcp { port, connection } => {
                write!(f, "rtcp:{port}")?;
                if let Some(c) = connection {
                    write!(f, " {c}")?;
                }
                Ok(())
            }
            Attribute::Other { name, value } => {
                f.write_str(name)?;
                if let Some(v) = value {
                    write!(f, ":{v}")?;
                }
                Ok(())
            }
        }
    }
}
