//! The second level: raw header lines → typed [`Headers`].
//!
//! Via, Contact, Route and Record-Route may come as several lines and as
//! comma-separated lists; they are flattened in order. From, To, Call-ID,
//! CSeq, Max-Forwards and Content-Type are single-valued: a repeat with the
//! same value is tolerated, a different one is refused (RFC 4475 `multi01`).
//! Everything else goes to [`Headers::extra`] in arrival order, lists kept
//! as received; Content-Length is consumed by framing and not kept.

use super::head::Head;
use super::values::{
    check_call_id, check_content_type, parse_addr_list, parse_contacts, parse_cseq,
    parse_name_addr, parse_number, parse_via, split_list,
};
use crate::message::{Header, Headers};

/// The headers RFC 3261 §8.1.1 requires in every request (Max-Forwards is
/// required of senders but not checked on receipt: RFC 2543 peers omit it).
const MANDATORY: [&str; 5] = ["Via", "From", "To", "Call-ID", "CSeq"];

/// Single-valued headers whose repetition with another value is refused.
const SINGLE: [&str; 7] = [
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Max-Forwards",
    "Content-Type",
    "Content-Length",
];

/// Names of the mandatory headers absent from `head`, for the reason
/// phrase (`Missing header: To, Call-ID`).
pub(crate) fn missing(head: &Head) -> Option<String> {
    let absent: Vec<&str> = MANDATORY
        .iter()
        .copied()
        .filter(|n| head.values(n).next().is_none())
        .collect();
    (!absent.is_empty()).then(|| format!("Missing header: {}", absent.join(", ")))
}

/// The one value of a single-valued header, refusing different repeats.
fn single<'a>(head: &'a Head, name: &'static str) -> Result<Option<&'a str>, String> {
    let mut values = head.values(name);
    let first = values.next();
    if let Some(f) = first {
        if values.any(|v| v != f) {
            return Err(format!("Conflicting {name} headers"));
        }
    }
    Ok(first)
}

/// Maps a value's syntax error to the reason phrase naming the header.
fn bad(name: &'static str) -> impl Fn(super::SyntaxError) -> String {
    move |e| format!("Invalid {name}: {}", e.0)
}

/// Parses every typed header; the error is the reason phrase (400).
pub(crate) fn headers(head: &Head) -> Result<Headers, String> {
    if let Some(m) = missing(head) {
        return Err(m);
    }
    for name in SINGLE {
        single(head, name)?;
    }
    let mut via = Vec::new();
    for line in head.values("Via") {
        for v in split_list(line).map_err(bad("Via"))? {
            via.push(parse_via(v).map_err(bad("Via"))?);
        }
    }
    let from = parse_name_addr(single(head, "From")?.unwrap_or_default()).map_err(bad("From"))?;
    let to = parse_name_addr(single(head, "To")?.unwrap_or_default()).map_err(bad("To"))?;
    let call_id = single(head, "Call-ID")?.unwrap_or_default();
    check_call_id(call_id).map_err(bad("Call-ID"))?;
    let cseq = parse_cseq(single(head, "CSeq")?.unwrap_or_default()).map_err(bad("CSeq"))?;
    let max_forwards = match single(head, "Max-Forwards")? {
        None => None,
        Some(v) => Some(
            parse_number(v, 255)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| "Invalid Max-Forwards".to_owned())?,
        ),
    };
    let mut contact = Vec::new();
    for line in head.values("Contact") {
        contact.extend(parse_contacts(line).map_err(bad("Contact"))?);
    }
    if contact.len() > 1 && contact.contains(&crate::message::Contact::Wildcard) {
        return Err("Invalid Contact: '*' mixed with addresses".into());
    }
    let mut route = Vec::new();
    for line in head.values("Route") {
        route.extend(parse_addr_list(line).map_err(bad("Route"))?);
    }
    let mut record_route = Vec::new();
    for line in head.values("Record-Route") {
        record_route.extend(parse_addr_list(line).map_err(bad("Record-Route"))?);
    }
    let content_type = match single(head, "Content-Type")? {
        None => None,
        Some(v) => {
            check_content_type(v).map_err(bad("Content-Type"))?;
            Some(v.to_owned())
        }
    };
    const TYPED: [&str; 11] = [
        "Via",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Max-Forwards",
        "Contact",
        "Route",
        "Record-Route",
        "Content-Type",
        "Content-Length",
    ];
    let extra = head
        .headers
        .iter()
        .filter(|h| !TYPED.contains(&h.name.as_str()))
        .map(|h| Header {
            name: h.name.clone(),
            value: h.value.clone(),
        })
        .collect();
    Ok(Headers {
        via,
        from,
        to,
        call_id: call_id.to_owned(),
        cseq,
        max_forwards,
        contact,
        route,
        record_route,
        content_type,
        extra,
    })
}

#[cfg(test)]
mod tests {
    use super::super::head::split_head;
    use super::*;
    use crate::message::{find_param, Contact, Method};

    fn head(lines: &str) -> Head {
        split_head(format!("OPTIONS sip:a@b SIP/2.0\r\n{lines}").as_bytes())
    }

    const BASE: &str = "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n";

    #[test]
    fn typed_fields_and_extras() {
        let h = headers(&head(&format!(
            "{BASE}v: SIP/2.0/TCP h2, SIP/2.0/UDP h3\r\nMax-Forwards: 0\r\nm: <sip:x@y>, <sip:z@w>\r\n\
             Route: <sip:p1;lr>\r\nRoute: <sip:p2;lr>\r\nk: timer, 100rel\r\nc: application/sdp\r\nl: 0\r\n"
        )))
        .unwrap();
        assert_eq!(h.via.len(), 3);
        assert_eq!(h.max_forwards, Some(0));
        assert_eq!(h.contact.len(), 2);
        assert_eq!(h.route.len(), 2);
        assert_eq!(h.cseq.method, Method::Options);
        assert_eq!(
            find_param(&h.from.params, "tag").unwrap().value.as_deref(),
            Some("1")
        );
        assert_eq!(h.content_type.as_deref(), Some("application/sdp"));
        assert_eq!(
            h.extra,
            vec![Header {
                name: "Supported".into(),
                value: "timer, 100rel".into()
            }]
        );
    }

    #[test]
    fn missing_mandatory_headers_are_named() {
        let e = headers(&head("Via: SIP/2.0/UDP h\r\nCSeq: 1 OPTIONS\r\n")).unwrap_err();
        assert_eq!(e, "Missing header: From, To, Call-ID");
        let e = headers(&head(&BASE.replace("Call-ID: x\r\n", ""))).unwrap_err();
        assert_eq!(e, "Missing header: Call-ID");
    }

    #[test]
    fn duplicates() {
        let e = headers(&head(&format!("{BASE}Call-ID: y\r\n"))).unwrap_err();
        assert_eq!(e, "Conflicting Call-ID headers");
        assert!(headers(&head(&format!("{BASE}Call-ID: x\r\n"))).is_ok());
        assert!(headers(&head(&format!(
            "{BASE}Max-Forwards: 1\r\nMax-Forwards: 2\r\n"
        )))
        .is_err());
    }

    #[test]
    fn numbers_and_wildcards() {
        assert_eq!(
            headers(&head(&format!("{BASE}Max-Forwards: 256\r\n"))).unwrap_err(),
            "Invalid Max-Forwards"
        );
        assert!(headers(&head(&format!("{BASE}Max-Forwards: -1\r\n"))).is_err());
        let h = headers(&head(&format!("{BASE}Contact: *\r\n"))).unwrap();
        assert_eq!(h.contact, vec![Contact::Wildcard]);
        assert!(headers(&head(&format!(
            "{BASE}Contact: *\r\nContact: <sip:a@b>\r\n"
        )))
        .is_err());
        assert!(headers(&head(&format!("{BASE}Content-Type: sdp\r\n"))).is_err());
    }
}
