//! The first level: from bytes to a start line and a list of raw header
//! lines (folding removed, names canonical), and the body's place.
//!
//! The header block is scanned leniently: a bad line is skipped and the
//! first fault remembered, so that a refusal can still copy Via, From, To,
//! Call-ID and CSeq from the lines that did frame.

use super::values::parse_number;
use super::{MAX_HEADERS, MAX_MESSAGE};

/// One header line after unfolding: canonical name, trimmed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawHeader {
    pub name: String,
    pub value: String,
}

/// A header block split into lines.
#[derive(Debug, Default)]
pub(crate) struct Head {
    pub start_line: String,
    pub headers: Vec<RawHeader>,
    /// The first fault met in the header block (answered 400).
    pub fault: Option<String>,
}

impl Head {
    /// All values of the header with this canonical name, in order.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |h| h.name == name)
            .map(|h| h.value.as_str())
    }

    fn fault(&mut self, reason: impl Into<String>) {
        if self.fault.is_none() {
            self.fault = Some(reason.into());
        }
    }
}

/// How many CR/LF bytes lead the buffer (RFC 3261 §7.5 keep-alives and
/// stray line ends before a start line).
pub(crate) fn leading_crlf(buf: &[u8]) -> usize {
    buf.iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count()
}

/// Finds the blank line that ends the header block: returns the length of
/// the block (including its last line end) and where the body starts.
/// Lines end in CRLF or, leniently, a bare LF.
pub(crate) fn find_head_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while let Some(off) = buf
        .get(i..)
        .and_then(|b| b.iter().position(|&c| c == b'\n'))
    {
        let nl = i + off;
        match (buf.get(nl + 1), buf.get(nl + 2)) {
            (Some(b'\n'), _) => return Some((nl + 1, nl + 2)),
            (Some(b'\r'), Some(b'\n')) => return Some((nl + 1, nl + 3)),
            _ => i = nl + 1,
        }
    }
    None
}

/// Splits a header block (start line + header lines) into a [`Head`].
pub(crate) fn split_head(block: &[u8]) -> Head {
    let mut head = Head::default();
    let text = String::from_utf8_lossy(block);
    if matches!(text, std::borrow::Cow::Owned(_)) {
        head.fault("Header block is not valid UTF-8");
    }
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    head.start_line = lines.next().unwrap_or_default().to_owned();
    if head.start_line.contains(['\r', '\0']) {
        head.fault("Control character in start line");
    }
    // The index in `headers` of the line a continuation belongs to; `None`
    // after a skipped line, so its continuation is skipped too.
    let mut current: Option<usize> = None;
    for line in lines {
        if line.is_empty() {
            continue; // the final line end of the block
        }
        if line.contains('\r') {
            head.fault("Bare CR in header line");
            current = None;
            continue;
        }
        if line.starts_with([' ', '\t']) {
            match current.and_then(|i| head.headers.get_mut(i)) {
                Some(h) => {
                    let more = line.trim_matches([' ', '\t']);
                    if !more.is_empty() {
                        if !h.value.is_empty() {
                            h.value.push(' ');
                        }
                        h.value.push_str(more);
                    }
                }
                None => head.fault("Continuation line without a header"),
            }
            continue;
        }
        current = None;
        let Some((name, value)) = line.split_once(':') else {
            head.fault("Header line without a colon");
            continue;
        };
        let name = name.trim_end_matches([' ', '\t']);
        if name.is_empty() || !name.chars().all(crate::write::is_token_char) {
            head.fault("Malformed header name");
            continue;
        }
        if head.headers.len() >= MAX_HEADERS {
            head.fault("Too many header lines");
            continue;
        }
        head.headers.push(RawHeader {
            name: canonical_name(name),
            value: value.trim_matches([' ', '\t']).to_owned(),
        });
        current = Some(head.headers.len() - 1);
    }
    for h in &head.headers {
        if has_ctl_outside_quotes(&h.value) {
            let reason = format!("Control character in {}", h.name);
            head.fault(reason);
            break;
        }
    }
    head
}

/// Whether a value holds a control character (other than HT) outside a
/// quoted string; inside one, quoted-pair allows them (RFC 4475 `intmeth`).
fn has_ctl_outside_quotes(v: &str) -> bool {
    let mut in_quotes = false;
    let mut escaped = false;
    for c in v.chars() {
        if in_quotes {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quotes = false;
            }
        } else if c == '"' {
            in_quotes = true;
        } else if (c.is_ascii_control() && c != '\t') || c == '\u{7f}' {
            return true;
        }
    }
    false
}

/// The Content-Length of a head: `Ok(None)` when absent; an error when
/// malformed, out of range, or given twice with different values.
pub(crate) fn content_length(head: &Head) -> Result<Option<usize>, String> {
    let mut found: Option<usize> = None;
    for v in head.values("Content-Length") {
        let n = parse_number(v, MAX_MESSAGE as u64)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| "Invalid Content-Length".to_owned())?;
        if found.is_some_and(|f| f != n) {
            return Err("Conflicting Content-Length headers".into());
        }
        found = Some(n);
    }
    Ok(found)
}

/// Canonical full name for a header name: compact forms expanded (RFC 3261
/// §7.3.3 and the IANA registry), known names in their registered case,
/// unknown names as received.
pub(crate) fn canonical_name(name: &str) -> String {
    if name.len() == 1 {
        let full = match name.to_ascii_lowercase().as_str() {
            "i" => "Call-ID",
            "m" => "Contact",
            "e" => "Content-Encoding",
            "l" => "Content-Length",
            "c" => "Content-Type",
            "f" => "From",
            "s" => "Subject",
            "k" => "Supported",
            "t" => "To",
            "v" => "Via",
            "o" => "Event",
            "r" => "Refer-To",
            "b" => "Referred-By",
            "x" => "Session-Expires",
            "u" => "Allow-Events",
            "a" => "Accept-Contact",
            "j" => "Reject-Contact",
            "d" => "Request-Disposition",
            "y" => "Identity",
            "n" => "Identity-Info",
            _ => return name.to_owned(),
        };
        return full.to_owned();
    }
    KNOWN
        .iter()
        .find(|k| k.eq_ignore_ascii_case(name))
        .map_or_else(|| name.to_owned(), |k| (*k).to_owned())
}

/// Registered names, in their canonical case.
const KNOWN: &[&str] = &[
    "Accept",
    "Accept-Contact",
    "Accept-Encoding",
    "Accept-Language",
    "Alert-Info",
    "Allow",
    "Allow-Events",
    "Authentication-Info",
    "Authorization",
    "Call-ID",
    "Call-Info",
    "Contact",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Content-Length",
    "Content-Transfer-Encoding",
    "Content-Type",
    "CSeq",
    "Date",
    "Diversion",
    "Error-Info",
    "Event",
    "Expires",
    "From",
    "History-Info",
    "Identity",
    "Identity-Info",
    "In-Reply-To",
    "Max-Forwards",
    "MIME-Version",
    "Min-Expires",
    "Min-SE",
    "Organization",
    "P-Asserted-Identity",
    "P-Preferred-Identity",
    "Path",
    "Priority",
    "Privacy",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Proxy-Require",
    "RAck",
    "Reason",
    "Record-Route",
    "Refer-To",
    "Referred-By",
    "Reject-Contact",
    "Replaces",
    "Reply-To",
    "Request-Disposition",
    "Require",
    "Retry-After",
    "Route",
    "RSeq",
    "Security-Client",
    "Security-Server",
    "Security-Verify",
    "Server",
    "Service-Route",
    "Session-Expires",
    "SIP-ETag",
    "SIP-If-Match",
    "Subject",
    "Subscription-State",
    "Supported",
    "Timestamp",
    "To",
    "Unsupported",
    "User-Agent",
    "Via",
    "Warning",
    "WWW-Authenticate",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_blank_line() {
        assert_eq!(find_head_end(b"A\r\nB: c\r\n\r\nbody"), Some((9, 11)));
        assert_eq!(find_head_end(b"A\nB: c\n\nbody"), Some((7, 8)));
        assert_eq!(find_head_end(b"A\r\nB: c\r\n"), None);
        assert_eq!(find_head_end(b""), None);
    }

    #[test]
    fn unfolds_and_canonicalises() {
        let h = split_head(b"INVITE sip:a@b SIP/2.0\r\nTO :\r\n sip:a@b ;\r\n\ttag=1\r\ni: x\r\nl: 0\r\nX-Custom:  v \r\n\r\n");
        assert_eq!(h.start_line, "INVITE sip:a@b SIP/2.0");
        assert_eq!(h.fault, None);
        let names: Vec<_> = h.headers.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["To", "Call-ID", "Content-Length", "X-Custom"]);
        assert_eq!(h.headers[0].value, "sip:a@b ; tag=1");
        assert_eq!(h.headers[3].value, "v");
    }

    #[test]
    fn records_first_fault_and_keeps_going() {
        let h = split_head(b"INVITE sip:a@b SIP/2.0\r\nFoobar roobar\r\nVia: SIP/2.0/UDP h\r\n");
        assert_eq!(h.fault.as_deref(), Some("Header line without a colon"));
        assert_eq!(h.headers.len(), 1);
        let h = split_head(b"R\r\n continued\r\nA: b\r\n");
        assert_eq!(
            h.fault.as_deref(),
            Some("Continuation line without a header")
        );
        let h = split_head(b"R\r\nXY: b\0c\r\n");
        assert_eq!(h.fault.as_deref(), Some("Control character in XY"));
        let h = split_head(b"R\r\nTo: \"NUL:\\\0\" <sip:a@b>\r\n");
        assert_eq!(h.fault, None);
        let h = split_head(b"R\r\nA\xff: b\r\n");
        assert!(h.fault.is_some());
    }

    #[test]
    fn limits_header_count() {
        let mut msg = b"R\r\n".to_vec();
        for i in 0..(MAX_HEADERS + 5) {
            msg.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        let h = split_head(&msg);
        assert_eq!(h.headers.len(), MAX_HEADERS);
        assert_eq!(h.fault.as_deref(), Some("Too many header lines"));
    }

    #[test]
    fn content_length_rules() {
        let h = split_head(b"R\r\nl: 5\r\nContent-Length: 5\r\n");
        assert_eq!(content_length(&h), Ok(Some(5)));
        let h = split_head(b"R\r\nContent-Length: 13\r\nContent-Length: 5\r\n");
        assert!(content_length(&h).is_err());
        for bad in ["-999", "1e3", "", "99999999999999999999999", "70000"] {
            let h = split_head(format!("R\r\nContent-Length: {bad}\r\n").as_bytes());
            assert!(content_length(&h).is_err(), "{bad}");
        }
        let h = split_head(b"R\r\nA: b\r\n");
        assert_eq!(content_length(&h), Ok(None));
    }
}
