//! The outbound leg of a bridged call, as SIP: where the trunk is, the
//! INVITE Hibiki sends it, and the digest retry when the trunk challenges.
//!
//! Hibiki is a B2BUA: the outbound leg is a new dialog (its own Call-ID,
//! tags and CSeq), not the caller's INVITE forwarded. What passes from the
//! caller's INVITE is the caller's number (From user part) and a
//! Max-Forwards one lower, so a trunk that loops back to us ends the loop.
//! The destination number comes from the route, never from the caller.

use std::net::SocketAddr;

use bytes::Bytes;
use hibiki_sip::auth::{self, Challenge};
use hibiki_sip::transaction::build::tag_of;
use hibiki_sip::{
    CSeq, Contact, Header, Headers, Host, Method, NameAddr, Param, Request, Response, SipUri,
    Transport, Uri,
};

use crate::config::{TransportKind, TrunkOutbound};

/// Why the outbound leg could not be placed.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("trunk address `{0}` is not host[:port]")]
    BadAddress(String),
    #[error("trunk address `{address}` does not resolve: {reason}")]
    Unresolved { address: String, reason: String },
}

/// The outbound side of a trunk, resolved for one call.
#[derive(Debug, Clone)]
pub struct TrunkTarget {
    /// Where requests go (the trunk's proxy).
    pub destination: SocketAddr,
    pub transport: Transport,
    /// Host (and port, when given) of the Request-URI and To.
    pub host: Host,
    pub port: Option<u16>,
    /// The host of our From URI.
    pub from_host: String,
    pub username: Option<String>,
    pub password: Option<String>,
}

/// Splits `host[:port]` (IPv6 in brackets).
fn split_address(address: &str) -> Result<(String, Option<u16>), OutboundError> {
    let bad = || OutboundError::BadAddress(address.to_owned());
    if let Some(rest) = address.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().map_err(|_| bad())?),
            None if after.is_empty() => None,
            None => return Err(bad()),
        };
        return Ok((host.to_owned(), port));
    }
    match address.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => {
            Ok((host.to_owned(), Some(port.parse().map_err(|_| bad())?)))
        }
        Some(_) => Err(bad()),
        None if address.is_empty() => Err(bad()),
        None => Ok((address.to_owned(), None)),
    }
}

impl TrunkTarget {
    /// Resolves the trunk's `address` (DNS A/AAAA; SRV and NAPTR are not
    /// used: give the proxy's host and port).
    pub async fn resolve(
        outbound: &TrunkOutbound,
        our_host: &str,
    ) -> Result<TrunkTarget, OutboundError> {
        let (host, port) = split_address(&outbound.address)?;
        let lookup = (host.as_str(), port.unwrap_or(5060));
        let destination = tokio::net::lookup_host(lookup)
            .await
            .map_err(|e| OutboundError::Unresolved {
                address: outbound.address.clone(),
                reason: e.to_string(),
            })?
            .next()
            .ok_or_else(|| OutboundError::Unresolved {
                address: outbound.address.clone(),
                reason: "no address".into(),
            })?;
        let uri_host = match host.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(a)) => Host::Ipv4(a),
            Ok(std::net::IpAddr::V6(a)) => Host::Ipv6(a),
            Err(_) => Host::Domain(host.clone()),
        };
        Ok(TrunkTarget {
            destination,
            transport: match outbound.transport {
                TransportKind::Udp => Transport::Udp,
                TransportKind::Tcp => Transport::Tcp,
            },
            host: uri_host,
            port,
            from_host: outbound
                .from_domain
                .clone()
                .unwrap_or_else(|| our_host.to_owned()),
            username: outbound.username.clone(),
            password: outbound.password.as_ref().map(|p| p.expose().to_owned()),
        })
    }

    fn uri(&self, user: &str) -> Uri {
        Uri::Sip(SipUri {
            secure: false,
            user: Some(user.to_owned()),
            password: None,
            host: self.host.clone(),
            port: self.port,
            params: Vec::new(),
            headers: Vec::new(),
        })
    }
}

/// The first INVITE of the outbound leg: to `number` at the trunk, from
/// the caller's number at our From host, with our SDP `offer`. Max-Forwards
/// goes on from the `inbound` INVITE the leg serves (70 for a call we
/// place ourselves).
pub fn invite(
    target: &TrunkTarget,
    number: &str,
    caller: &str,
    inbound: Option<&Request>,
    contact: &Uri,
    offer: Bytes,
) -> Request {
    let from_host = match target.from_host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(a)) => Host::Ipv4(a),
        Ok(std::net::IpAddr::V6(a)) => Host::Ipv6(a),
        Err(_) => Host::Domain(target.from_host.clone()),
    };
    let caller_user = if caller.is_empty() {
        "anonymous"
    } else {
        caller
    };
    let from = NameAddr {
        display_name: None,
        uri: Uri::Sip(SipUri {
            secure: false,
            user: Some(caller_user.to_owned()),
            password: None,
            host: from_host,
            port: None,
            params: Vec::new(),
            headers: Vec::new(),
        }),
        params: vec![Param::new("tag", Some(crate::signaling::engine::new_tag()))],
    };
    let call_id = format!("{}@{}", uuid::Uuid::new_v4().simple(), target.from_host);
    let max_forwards = inbound.map_or(70, |r| {
        r.headers
            .max_forwards
            .unwrap_or(70)
            .saturating_sub(1)
            .min(70)
    });
    Request {
        method: Method::Invite,
        uri: target.uri(number),
        headers: Headers {
            via: Vec::new(),
            from,
            to: NameAddr {
                display_name: None,
                uri: target.uri(number),
                params: Vec::new(),
            },
            call_id,
            cseq: CSeq {
                seq: 1,
                method: Method::Invite,
            },
            max_forwards: Some(max_forwards),
            contact: vec![Contact::Addr(NameAddr {
                display_name: None,
                uri: contact.clone(),
                params: Vec::new(),
            })],
            route: Vec::new(),
            record_route: Vec::new(),
            content_type: Some("application/sdp".into()),
            extra: vec![
                Header {
                    name: "Allow".into(),
                    value: "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO".into(),
                },
                Header {
                    name: "User-Agent".into(),
                    value: concat!("Hibiki/", env!("CARGO_PKG_VERSION")).into(),
                },
            ],
        },
        body: offer,
    }
}

/// The INVITE again with credentials for the trunk's 401/407 challenge
/// (CSeq + 1, same Call-ID and From tag; the endpoint gives it a new
/// branch). `None` when the trunk has no credentials, the challenge is
/// unreadable, or `sent` already carried credentials for this realm that
/// were refused (no loop of retries).
pub fn authorized_retry(
    sent: &Request,
    challenge: &Response,
    target: &TrunkTarget,
) -> Option<Request> {
    let (username, password) = (target.username.as_deref()?, target.password.as_deref()?);
    let (challenge_header, answer_header) = match challenge.status {
        401 => ("WWW-Authenticate", "Authorization"),
        407 => ("Proxy-Authenticate", "Proxy-Authorization"),
        _ => return None,
    };
    // Several challenges (RFC 8760), most preferred first: take the first
    // one we can answer.
    let chosen = challenge
        .headers
        .extra
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(challenge_header))
        .find_map(|h| Challenge::parse(&h.value).ok())?;
    let had_credentials = sent
        .headers
        .extra
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case(answer_header));
    if had_credentials && !chosen.stale {
        // Our credentials were refused: retrying would only loop.
        return None;
    }
    let uri = sent.uri.to_string();
    let cnonce = format!("{:016x}", rand::random::<u64>());
    let credentials = auth::respond(
        &chosen,
        sent.method.as_str(),
        &uri,
        username,
        password,
        &cnonce,
        1,
    );
    let mut retry = sent.clone();
    retry.headers.via.clear();
    retry
        .headers
        .extra
        .retain(|h| !h.name.eq_ignore_ascii_case(answer_header));
    retry.headers.extra.push(Header {
        name: answer_header.into(),
        value: credentials.to_string(),
    });
    retry.headers.cseq.seq = sent.headers.cseq.seq.wrapping_add(1);
    Some(retry)
}

/// Whether `response` answers the outbound leg's INVITE (not a BYE or
/// CANCEL of ours, not the inbound leg's business).
pub fn is_invite_response(response: &Response, leg_call_id: &str) -> bool {
    response.headers.call_id == leg_call_id && response.headers.cseq.method == Method::Invite
}

/// The remote tag of a response (the dialog it belongs to).
pub fn remote_tag(response: &Response) -> Option<&str> {
    tag_of(&response.headers.to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split_into_host_and_port() {
        assert_eq!(
            split_address("sip.example:5080").ok(),
            Some(("sip.example".into(), Some(5080)))
        );
        assert_eq!(
            split_address("127.0.0.1").ok(),
            Some(("127.0.0.1".into(), None))
        );
        assert_eq!(
            split_address("[::1]:5062").ok(),
            Some(("::1".into(), Some(5062)))
        );
        assert!(split_address("host:port").is_err());
        assert!(split_address("").is_err());
        assert!(split_address("::1").is_err());
    }
}
