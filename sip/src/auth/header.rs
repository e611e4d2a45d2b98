//! The wire form of `Digest` challenges and credentials.
//!
//! `Digest` followed by comma-separated `name=value` parameters, where a
//! value is a token or a quoted-string (with `\` escapes). Parameter names
//! compare case-insensitively; a known parameter given twice is refused.
//! Unquoted values are read leniently (up to the next comma or
//! whitespace), because real devices send base64 nonces unquoted.
//!
//! Writing quotes what RFC 2617 quotes (`realm`, `nonce`, `uri`,
//! `response`, `cnonce`, `opaque`, `domain`, the challenge's `qop`) and
//! leaves tokens bare (`algorithm`, `stale`, `nc`, the credentials' `qop`).
//! Control characters are never written, so no value can break a header.

use std::fmt;
use std::str::FromStr;

use super::{Algorithm, AuthError, Challenge, Credentials};

/// One parsed `name=value` parameter.
struct RawParam {
    name: String,
    value: String,
}

/// Splits `Digest a=b, c="d"` into its parameters.
fn parse_params(input: &str) -> Result<Vec<RawParam>, AuthError> {
    let input = input.trim();
    let (scheme, rest) = match input.find(|c: char| c.is_ascii_whitespace()) {
        Some(at) => (input.get(..at).unwrap_or(""), input.get(at..).unwrap_or("")),
        None => (input, ""),
    };
    if !scheme.eq_ignore_ascii_case("Digest") {
        return Err(AuthError::UnsupportedScheme(scheme.to_owned()));
    }
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        // Skip separators: whitespace and (possibly empty) commas.
        while chars
            .peek()
            .is_some_and(|c| c.is_ascii_whitespace() || *c == ',')
        {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_ascii_whitespace() || c == ',' {
                break;
            }
            if !is_token_char(c) {
                return Err(AuthError::Malformed(format!(
                    "invalid character {c:?} in parameter name"
                )));
            }
            name.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(AuthError::Malformed(format!(
                "parameter `{name}` has no value"
            )));
        }
        while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => match chars.next() {
                        Some(e) if !e.is_control() => value.push(e),
                        _ => return Err(AuthError::Malformed(format!("bad escape in `{name}`"))),
                    },
                    c if c.is_control() && c != '\t' => {
                        return Err(AuthError::Malformed(format!(
                            "control character in `{name}`"
                        )))
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(AuthError::Malformed(format!(
                    "unterminated quoted string in `{name}`"
                )));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' || c.is_ascii_whitespace() {
                    break;
                }
                if c.is_control() || c == '"' {
                    return Err(AuthError::Malformed(format!(
                        "invalid character {c:?} in `{name}`"
                    )));
                }
                value.push(c);
                chars.next();
            }
            if value.is_empty() {
                return Err(AuthError::Malformed(format!("empty value for `{name}`")));
            }
        }
        // After a value: whitespace, then a comma or the end.
        while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            chars.next();
        }
        match chars.peek() {
            None | Some(',') => {}
            Some(c) => {
                return Err(AuthError::Malformed(format!(
                    "unexpected {c:?} after `{name}`"
                )))
            }
        }
        params.push(RawParam { name, value });
    }
    Ok(params)
}

/// RFC 3261 `token` characters.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c)
}

/// Collects known parameters, refusing duplicates.
struct Fields {
    known: &'static [&'static str],
    values: Vec<Option<String>>,
    other: Vec<(String, String)>,
}

impl Fields {
    fn collect(params: Vec<RawParam>, known: &'static [&'static str]) -> Result<Fields, AuthError> {
        let mut fields = Fields {
            known,
            values: vec![None; known.len()],
            other: Vec::new(),
        };
        for p in params {
            let slot = known
                .iter()
                .position(|k| k.eq_ignore_ascii_case(&p.name))
                .and_then(|i| fields.values.get_mut(i));
            match slot {
                Some(slot) if slot.is_some() => {
                    return Err(AuthError::Malformed(format!(
                        "parameter `{}` given twice",
                        p.name
                    )))
                }
                Some(slot) => *slot = Some(p.value),
                None => fields.other.push((p.name, p.value)),
            }
        }
        Ok(fields)
    }

    fn take(&mut self, name: &'static str) -> Option<String> {
        let i = self.known.iter().position(|k| *k == name)?;
        self.values.get_mut(i)?.take()
    }

    fn require(&mut self, name: &'static str) -> Result<String, AuthError> {
        self.take(name).ok_or(AuthError::MissingParam(name))
    }
}

fn parse_algorithm(value: Option<String>) -> Result<Option<Algorithm>, AuthError> {
    value
        .map(|v| Algorithm::from_token(&v).ok_or(AuthError::UnsupportedAlgorithm(v)))
        .transpose()
}

impl FromStr for Challenge {
    type Err = AuthError;

    /// Parses a `WWW-Authenticate`/`Proxy-Authenticate` value.
    fn from_str(s: &str) -> Result<Challenge, AuthError> {
        const KNOWN: &[&str] = &[
            "realm",
            "nonce",
            "algorithm",
            "qop",
            "opaque",
            "stale",
            "domain",
        ];
        let mut f = Fields::collect(parse_params(s)?, KNOWN)?;
        let qop = f
            .take("qop")
            .map(|q| {
                q.split(',')
                    .map(|t| t.trim().to_owned())
                    .filter(|t| !t.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Challenge {
            realm: f.require("realm")?,
            nonce: f.require("nonce")?,
            algorithm: parse_algorithm(f.take("algorithm"))?,
            qop,
            opaque: f.take("opaque"),
            stale: f
                .take("stale")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            domain: f.take("domain"),
            other: f.other,
        })
    }
}

impl FromStr for Credentials {
    type Err = AuthError;

    /// Parses an `Authorization`/`Proxy-Authorization` value.
    fn from_str(s: &str) -> Result<Credentials, AuthError> {
        const KNOWN: &[&str] = &[
            "username",
            "realm",
            "nonce",
            "uri",
            "response",
            "algorithm",
            "cnonce",
            "opaque",
            "qop",
            "nc",
        ];
        let mut f = Fields::collect(parse_params(s)?, KNOWN)?;
        let nc = f
            .take("nc")
            .map(|v| {
                if v.len() == 8 {
                    u32::from_str_radix(&v, 16).ok()
                } else {
                    None
                }
                .ok_or_else(|| AuthError::Malformed(format!("bad nc `{v}`")))
            })
            .transpose()?;
        let response = f.require("response")?;
        if !response.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(AuthError::Malformed("response is not hex".into()));
        }
        Ok(Credentials {
            username: f.require("username")?,
            realm: f.require("realm")?,
            nonce: f.require("nonce")?,
            uri: f.require("uri")?,
            response,
            algorithm: parse_algorithm(f.take("algorithm"))?,
            cnonce: f.take("cnonce"),
            opaque: f.take("opaque"),
            qop: f.take("qop"),
            nc,
            other: f.other,
        })
    }
}

/// Writes `"value"` with `\` and `"` escaped and control characters dropped.
fn quoted(f: &mut fmt::Formatter<'_>, value: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in value.chars() {
        match c {
            '"' | '\\' => write!(f, "\\{c}")?,
            c if c.is_control() => {}
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

/// Writes a bare token, dropping anything that would end it.
fn bare(f: &mut fmt::Formatter<'_>, value: &str) -> fmt::Result {
    for c in value.chars() {
        if !(c.is_control() || c.is_whitespace() || c == ',' || c == '"') {
            write!(f, "{c}")?;
        }
    }
    Ok(())
}

/// Writes unknown parameters, quoting them unless they are plain tokens.
fn write_other(f: &mut fmt::Formatter<'_>, other: &[(String, String)]) -> fmt::Result {
    for (name, value) in other {
        f.write_str(", ")?;
        bare(f, name)?;
        f.write_str("=")?;
        if !value.is_empty() && value.chars().all(is_token_char) {
            f.write_str(value)?;
        } else {
            quoted(f, value)?;
        }
    }
    Ok(())
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Digest realm=")?;
        quoted(f, &self.realm)?;
        if let Some(domain) = &self.domain {
            f.write_str(", domain=")?;
            quoted(f, domain)?;
        }
        f.write_str(", nonce=")?;
        quoted(f, &self.nonce)?;
        if let Some(opaque) = &self.opaque {
            f.write_str(", opaque=")?;
            quoted(f, opaque)?;
        }
        if self.stale {
            f.write_str(", stale=TRUE")?;
        }
        if let Some(algorithm) = self.algorithm {
            write!(f, ", algorithm={algorithm}")?;
        }
        if !self.qop.is_empty() {
            f.write_str(", qop=")?;
            quoted(f, &self.qop.join(","))?;
        }
        write_other(f, &self.other)
    }
}

impl fmt::Display for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Digest username=")?;
        quoted(f, &self.username)?;
        f.write_str(", realm=")?;
        quoted(f, &self.realm)?;
        f.write_str(", nonce=")?;
        quoted(f, &self.nonce)?;
        f.write_str(", uri=")?;
        quoted(f, &self.uri)?;
        f.write_str(", response=")?;
        quoted(f, &self.response)?;
        if let Some(algorithm) = self.algorithm {
            write!(f, ", algorithm={algorithm}")?;
        }
        if let Some(cnonce) = &self.cnonce {
            f.write_str(", cnonce=")?;
            quoted(f, cnonce)?;
        }
        if let Some(opaque) = &self.opaque {
            f.write_str(", opaque=")?;
            quoted(f, opaque)?;
        }
        if let Some(qop) = &self.qop {
            f.write_str(", qop=")?;
            bare(f, qop)?;
        }
        if let Some(nc) = self.nc {
            write!(f, ", nc={nc:08x}")?;
        }
        write_other(f, &self.other)
    }
}
