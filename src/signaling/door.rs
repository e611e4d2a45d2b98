//! The door: who may start a call, and where a dialled number goes.
//!
//! Pure decisions over configuration, no IO, so every rule is unit-tested:
//! a request is admitted only when it comes from a trunk's listed source
//! addresses or carries valid digest credentials of a trunk; anything else
//! is refused (403) or challenged (401) when some trunk accepts digest.
//! Credentials open one request only: the door remembers the nonce
//! counts it accepted ([`NonceCounts`]), and the same credentials again (a
//! replay) get a fresh challenge, not a call.
//! Nothing here can make Hibiki place an outbound call: inbound routes
//! only answer, and outbound legs (later issues) are started by
//! authenticated API users, never by a SIP request from outside.

use std::collections::HashMap;
use std::net::IpAddr;

use hibiki_sip::auth::{Algorithm, Challenge, Credentials, NonceCounts, NonceIssuer};
use hibiki_sip::{Header, Request, Uri};

use crate::config::{RouteAction, TrunkConfig};

/// The door's verdict on a dialog-creating request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// From this trunk.
    Trunk(String),
    /// Unknown source, but digest could admit it: challenge (401).
    Challenge { stale: bool },
    /// Refused (403), with the reason for logs.
    Forbidden(&'static str),
}

/// Trunks and routes, indexed for the hot path.
pub struct Door {
    trunks: Vec<TrunkConfig>,
    routes: HashMap<String, RouteAction>,
    realm: String,
    nonces: NonceIssuer,
    /// The nonce counts accepted, against replays.
    replays: NonceCounts,
    algorithms: Vec<Algorithm>,
}

/// How many nonces the door remembers against replays at most (each
/// entry is a verified request's nonce, kept for the nonce's lifetime).
const REMEMBERED_NONCES: usize = 100_000;

impl Door {
    pub fn new(
        trunks: Vec<TrunkConfig>,
        routes: impl IntoIterator<Item = (String, RouteAction)>,
        realm: String,
        nonces: NonceIssuer,
        algorithms: Vec<Algorithm>,
    ) -> Door {
        Door {
            trunks,
            routes: routes.into_iter().collect(),
            realm,
            replays: NonceCounts::new(nonces.lifetime_ms(), REMEMBERED_NONCES),
            nonces,
            algorithms,
        }
    }

    /// The challenges of a 401, one per configured algorithm, in order.
    pub fn challenges(&self, now_ms: u64, stale: bool) -> Vec<Challenge> {
        self.algorithms
            .iter()
            .map(|a| {
                self.nonces
                    .challenge(&self.realm, *a, now_ms)
                    .with_stale(stale)
            })
            .collect()
    }

    /// Decides whether `request`, received from `source`, may start a call.
    pub fn admit(&mut self, request: &Request, source: IpAddr, now_ms: u64) -> Admission {
        if let Some(t) = self.trunks.iter().find(|t| {
            t.inbound
                .as_ref()
                .is_some_and(|i| i.sources.iter().any(|net| net.contains(&source)))
        }) {
            return Admission::Trunk(t.name.clone());
        }
        let digest_trunks: Vec<&TrunkConfig> = self
            .trunks
            .iter()
            .filter(|t| {
                t.inbound
                    .as_ref()
                    .is_some_and(|i| i.username.is_some() && i.password.is_some())
            })
            .collect();
        if digest_trunks.is_empty() {
            return Admission::Forbidden("source address is not a trunk");
        }
        let Some(value) = request
            .headers
            .extra
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("Authorization"))
            .map(|h| h.value.as_str())
        else {
            return Admission::Challenge { stale: false };
        };
        let Ok(credentials) = value.parse::<Credentials>() else {
            return Admission::Forbidden("malformed Authorization header");
        };
        let Some(trunk) = digest_trunks.iter().find(|t| {
            t.inbound.as_ref().and_then(|i| i.username.as_deref())
                == Some(credentials.username.as_str())
        }) else {
            return Admission::Forbidden("unknown digest username");
        };
        let Some(password) = trunk.inbound.as_ref().and_then(|i| i.password.as_ref()) else {
            return Admission::Forbidden("trunk has no password");
        };
        match self.nonces.verify(
            &credentials,
            request.method.as_str(),
            &credentials.username,
            password.expose(),
            &self.realm,
            now_ms,
        ) {
            Ok(()) => {
                // `verify` demands qop=auth, hence a count.
                let nc = credentials.nc.unwrap_or(0);
                if self.replays.accept(&credentials.nonce, nc, now_ms) {
                    Admission::Trunk(trunk.name.clone())
                } else {
                    tracing::warn!(
                        username = %credentials.username,
                        nc,
                        "digest credentials used again (a replay, or a client repeating its nonce count): challenged anew"
                    );
                    Admission::Challenge { stale: true }
                }
            }
            Err(e) if e.is_stale() => Admission::Challenge { stale: true },
            Err(_) => Admission::Forbidden("digest credentials refused"),
        }
    }

    /// The route for the dialled number, if any.
    pub fn route(&self, number: &str) -> Option<&RouteAction> {
        self.routes.get(number)
    }
}

/// Why an INVITE's body or its `Accept` rules out a session with us
/// (RFC 3261 §8.2.3, §21.4.7, §21.4.16): the status, and the header that
/// tells the caller what we do take.
pub fn unacceptable_body(request: &Request) -> Option<(u16, Header)> {
    let accept_sdp = || Header {
        name: "Accept".into(),
        value: SDP.into(),
    };
    let header = |name: &str| {
        request
            .headers
            .extra
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    };
    if !request.body.is_empty() {
        let media = request
            .headers
            .content_type
            .as_deref()
            .map(media_type)
            .unwrap_or_default();
        if media != SDP {
            return Some((415, accept_sdp()));
        }
        if let Some(enc) = header("Content-Encoding") {
            if !enc.trim().eq_ignore_ascii_case("identity") {
                let h = Header {
                    name: "Accept-Encoding".into(),
                    value: "identity".into(),
                };
                return Some((415, h));
            }
        }
    }
    // We answer with SDP: an Accept that rules it out leaves nothing to say.
    if let Some(accept) = header("Accept") {
        let takes_sdp = accept.trim().is_empty()
            || accept
                .split(',')
                .map(media_type)
                .any(|m| m == SDP || m == "application/*" || m == "*/*");
        if !takes_sdp {
            return Some((406, accept_sdp()));
        }
    }
    None
}

const SDP: &str = "application/sdp";

/// `type/subtype` of a media type, lower-cased, parameters dropped.
fn media_type(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// The dialled number: the request-URI's user part (`tel:` URIs: the
/// number before any parameter).
pub fn dialled_number(uri: &Uri) -> Option<String> {
    match uri {
        Uri::Sip(sip) => sip.user.clone(),
        Uri::Other { scheme, rest } if scheme == "tel" => rest.split(';').next().map(str::to_owned),
        Uri::Other { .. } => None,
    }
}

/// The caller's number for records: the From URI's user part, else the
/// whole URI.
pub fn caller_number(request: &Request) -> String {
    match &request.headers.from.uri {
        Uri::Sip(sip) => sip.user.clone().unwrap_or_else(|| sip.host.to_string()),
        Uri::Other { scheme, rest } => format!("{scheme}:{rest}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Secret, TrunkInbound};
    use hibiki_sip::Message;

    const SECRET: &str = "pbx-secret";

    fn invite(authorization: Option<String>) -> Request {
        let text = "INVITE sip:100@127.0.0.1 SIP/2.0\r\n\
            Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK1\r\n\
            From: <sip:alice@10.0.0.9>;tag=a\r\n\
            To: <sip:100@127.0.0.1>\r\n\
            Call-ID: c1\r\n\
            CSeq: 1 INVITE\r\n\
            Content-Length: 0\r\n\r\n";
        let Ok(Message::Request(mut r)) = hibiki_sip::parse::parse_message(text.as_bytes()) else {
            panic!("test INVITE must parse");
        };
        if let Some(value) = authorization {
            r.headers.extra.push(Header {
                name: "Authorization".into(),
                value,
            });
        }
        r
    }

    fn trunk(name: &str, sources: &[&str], user: Option<&str>) -> TrunkConfig {
        TrunkConfig {
            name: name.into(),
            inbound: Some(TrunkInbound {
                sources: sources.iter().map(|s| s.parse().unwrap()).collect(),
                username: user.map(Into::into),
                password: user.map(|_| Secret::new(SECRET)),
                password_env: None,
            }),
            outbound: None,
        }
    }

    fn door(trunks: Vec<TrunkConfig>) -> Door {
        Door::new(
            trunks,
            [("100".to_owned(), RouteAction::Test { ring_ms: 0 })],
            "hibiki".into(),
            NonceIssuer::new(b"test-secret", 60_000),
            vec![Algorithm::Sha256, Algorithm::Md5],
        )
    }

    fn answer(d: &Door, now_ms: u64, password: &str, algorithm: usize) -> String {
        let challenges = d.challenges(now_ms, false);
        let c = &challenges[algorithm];
        hibiki_sip::auth::respond(
            c,
            "INVITE",
            "sip:100@127.0.0.1",
            "pbx",
            password,
            "cn0nce",
            1,
        )
        .to_string()
    }

    #[test]
    fn a_listed_source_is_its_trunk() {
        let mut d = door(vec![trunk("carrier", &["10.0.0.0/24"], None)]);
        let from = "10.0.0.9".parse().unwrap();
        assert_eq!(
            d.admit(&invite(None), from, 0),
            Admission::Trunk("carrier".into())
        );
    }

    #[test]
    fn an_unknown_source_is_forbidden_when_no_trunk_takes_digest() {
        let mut d = door(vec![trunk("carrier", &["10.0.0.0/24"], None)]);
        let from = "192.0.2.7".parse().unwrap();
        assert!(matches!(
            d.admit(&invite(None), from, 0),
            Admission::Forbidden(_)
        ));
    }

    #[test]
    fn digest_trunks_challenge_then_admit_the_right_password() {
        let mut d = door(vec![trunk("pbx", &[], Some("pbx"))]);
        let from = "192.0.2.7".parse().unwrap();
        assert_eq!(
            d.admit(&invite(None), from, 1_000),
            Admission::Challenge { stale: false }
        );
        for alg in [0, 1] {
            let ok = invite(Some(answer(&d, 1_000, SECRET, alg)));
            assert_eq!(d.admit(&ok, from, 2_000), Admission::Trunk("pbx".into()));
        }
        let bad = invite(Some(answer(&d, 1_000, "guess", 0)));
        assert!(matches!(
            d.admit(&bad, from, 2_000),
            Admission::Forbidden(_)
        ));
    }

    #[test]
    fn the_same_credentials_open_one_request_only() {
        let mut d = door(vec![trunk("pbx", &[], Some("pbx"))]);
        let from = "192.0.2.7".parse().unwrap();
        let challenge = d.challenges(1_000, false).remove(0);
        let with = |nc: u32| {
            let credentials = hibiki_sip::auth::respond(
                &challenge,
                "INVITE",
                "sip:100@127.0.0.1",
                "pbx",
                SECRET,
                "cn0nce",
                nc,
            );
            invite(Some(credentials.to_string()))
        };
        let first = with(1);
        assert_eq!(d.admit(&first, from, 2_000), Admission::Trunk("pbx".into()));
        // Captured and sent again (a new call): a fresh challenge.
        assert_eq!(
            d.admit(&first, from, 3_000),
            Admission::Challenge { stale: true }
        );
        // The client's next request with the same nonce counts on.
        assert_eq!(
            d.admit(&with(2), from, 4_000),
            Admission::Trunk("pbx".into())
        );
        assert_eq!(
            d.admit(&with(2), from, 5_000),
            Admission::Challenge { stale: true }
        );
    }

    #[test]
    fn an_expired_nonce_with_the_right_password_is_challenged_stale() {
        let mut d = door(vec![trunk("pbx", &[], Some("pbx"))]);
        let from = "192.0.2.7".parse().unwrap();
        let late = invite(Some(answer(&d, 1_000, SECRET, 0)));
        assert_eq!(
            d.admit(&late, from, 1_000 + 120_000),
            Admission::Challenge { stale: true }
        );
    }

    #[test]
    fn challenges_follow_the_configured_order() {
        let d = door(vec![]);
        let c = d.challenges(5, true);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].algorithm(), Algorithm::Sha256);
        assert_eq!(c[1].algorithm(), Algorithm::Md5);
        assert!(c.iter().all(|c| c.stale));
    }

    #[test]
    fn dialled_numbers_come_from_sip_and_tel_uris() {
        let r = invite(None);
        assert_eq!(dialled_number(&r.uri).as_deref(), Some("100"));
        let tel = Uri::Other {
            scheme: "tel".into(),
            rest: "+81312345678;phone-context=example.com".into(),
        };
        assert_eq!(dialled_number(&tel).as_deref(), Some("+81312345678"));
        assert_eq!(caller_number(&r), "alice");
    }

    #[test]
    fn bodies_we_cannot_answer_are_refused() {
        let mut r = invite(None);
        assert_eq!(unacceptable_body(&r), None, "no body, no Accept: fine");
        r.body = bytes::Bytes::from_static(b"v=0\r\n");
        r.headers.content_type = Some("Application/SDP; charset=utf-8".into());
        assert_eq!(unacceptable_body(&r), None);
        r.headers.content_type = Some("application/unknownformat".into());
        assert_eq!(unacceptable_body(&r).map(|(s, _)| s), Some(415));
        r.headers.content_type = Some("application/sdp".into());
        r.headers.extra.push(Header {
            name: "Content-Encoding".into(),
            value: "gzip".into(),
        });
        let (status, h) = unacceptable_body(&r).unwrap();
        assert_eq!((status, h.name.as_str()), (415, "Accept-Encoding"));
        let mut r = invite(None);
        r.headers.extra.push(Header {
            name: "Accept".into(),
            value: "text/nonsense".into(),
        });
        assert_eq!(unacceptable_body(&r).map(|(s, _)| s), Some(406));
        r.headers.extra[0].value = "text/plain, application/*".into();
        assert_eq!(unacceptable_body(&r), None);
    }

    #[test]
    fn routes_match_the_number_exactly() {
        let d = door(vec![]);
        assert!(d.route("100").is_some());
        assert!(d.route("1000").is_none());
        assert!(d.route("999").is_none());
    }
}
