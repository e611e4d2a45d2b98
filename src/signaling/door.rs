//! The door: who may start a call, and where a dialled number goes.
//!
//! Pure decisions over configuration, no IO, so every rule is unit-tested:
//! a request is admitted only when it comes from a trunk's listed source
//! addresses or carries valid digest credentials of a trunk; anything else
//! is refused (403) or challenged (401) when some trunk accepts digest.
//! Nothing here can make Hibiki place an outbound call: inbound routes
//! only answer, and outbound legs (later issues) are started by
//! authenticated API users, never by a SIP request from outside.

use std::collections::HashMap;
use std::net::IpAddr;

use hibiki_sip::auth::{Credentials, NonceIssuer};
use hibiki_sip::{Request, Uri};

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
}

impl Door {
    pub fn new(
        trunks: Vec<TrunkConfig>,
        routes: impl IntoIterator<Item = (String, RouteAction)>,
        realm: String,
        nonces: NonceIssuer,
    ) -> Door {
        Door {
            trunks,
            routes: routes.into_iter().collect(),
            realm,
            nonces,
        }
    }

    /// The digest realm challenges carry.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The nonce issuer for challenges.
    pub fn nonces(&self) -> &NonceIssuer {
        &self.nonces
    }

    /// Decides whether `request`, received from `source`, may start a call.
    pub fn admit(&self, request: &Request, source: IpAddr, now_ms: u64) -> Admission {
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
            Ok(()) => Admission::Trunk(trunk.name.clone()),
            Err(e) if e.is_stale() => Admission::Challenge { stale: true },
            Err(_) => Admission::Forbidden("digest credentials refused"),
        }
    }

    /// The route for the dialled number, if any.
    pub fn route(&self, number: &str) -> Option<&RouteAction> {
        self.routes.get(number)
    }
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
