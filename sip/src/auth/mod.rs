//! Digest authentication for SIP (RFC 3261 §22, RFC 2617, RFC 8760), without IO.
//!
//! This module owns the `Digest` scheme end to end:
//! - the header values: [`Challenge`] (`WWW-Authenticate`,
//!   `Proxy-Authenticate`) and [`Credentials`] (`Authorization`,
//!   `Proxy-Authorization`), parsed from and written to their wire form
//!   (see [`header`]);
//! - the arithmetic: [`compute_response`] for MD5, MD5-sess, SHA-256 and
//!   SHA-256-sess, with `qop=auth` or the RFC 2069 form;
//! - the server side: a [`NonceIssuer`] that mints stateless nonces
//!   (`HMAC(secret, timestamp ‖ algorithm)`) and verifies credentials;
//! - the client side: [`respond`], which answers a challenge.
//!
//! Like the rest of the crate it never reads a clock and never draws a
//! random number: the caller passes `now_ms` (Unix milliseconds) and the
//! client `cnonce`.
//!
//! ## Decisions
//! - **Stateless nonces.** A nonce is `hex(timestamp) ‖ hex(HMAC-SHA-256)`
//!   over the timestamp and the algorithm it was issued for, so any node
//!   holding the secret can check it and a nonce issued for SHA-256 cannot
//!   be replayed with MD5 (no downgrade). Replays are caught apart from
//!   the nonce: [`NonceCounts`] remembers the highest `nc` accepted per
//!   fresh nonce, so a captured `Authorization` opens nothing a second
//!   time (on the node that saw it first). Expired-but-authentic nonces with
//!   a correct response yield [`AuthError::Stale`], so the caller answers
//!   a fresh challenge with `stale=true` and the client retries silently.
//! - **`qop=auth` is required** by [`NonceIssuer::verify`]: our challenges
//!   always offer it and RFC 3261 §22.4 requires clients to support it.
//!   `auth-int` is not supported (it would hash the body).
//! - **Responses are compared in constant time** (`subtle`).
//! - The digest-URI in the credentials is not compared with the request's
//!   Request-URI here; the caller may do so if it wants to.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod header;
mod nonce;
mod replay;
#[cfg(test)]
mod tests;

use std::fmt;

use md5::Md5;
use sha2::{Digest, Sha256};

pub use nonce::{NonceIssuer, DEFAULT_NONCE_LIFETIME_MS};
pub use replay::NonceCounts;

/// A digest algorithm (RFC 8760 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `MD5`, the default when no `algorithm` parameter is present.
    Md5,
    /// `MD5-sess`.
    Md5Sess,
    /// `SHA-256` (RFC 8760).
    Sha256,
    /// `SHA-256-sess` (RFC 8760).
    Sha256Sess,
}

impl Algorithm {
    /// The token as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    /// Parses an algorithm token, case-insensitively. `None` for algorithms
    /// we do not implement (e.g. `SHA-512-256`).
    pub fn from_token(token: &str) -> Option<Algorithm> {
        [
            Algorithm::Md5,
            Algorithm::Md5Sess,
            Algorithm::Sha256,
            Algorithm::Sha256Sess,
        ]
        .into_iter()
        .find(|a| a.as_str().eq_ignore_ascii_case(token))
    }

    fn is_sess(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }

    /// Lower-case hex of the algorithm's hash of `data`.
    fn hash(self, data: &str) -> String {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => hex::encode(Md5::digest(data.as_bytes())),
            Algorithm::Sha256 | Algorithm::Sha256Sess => {
                hex::encode(Sha256::digest(data.as_bytes()))
            }
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `Digest` challenge: the value of `WWW-Authenticate` (in a 401) or
/// `Proxy-Authenticate` (in a 407).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    /// `None` when absent on the wire, which means MD5.
    pub algorithm: Option<Algorithm>,
    /// The offered qop values (`auth`, `auth-int`), in order.
    pub qop: Vec<String>,
    pub opaque: Option<String>,
    /// `stale=true`: the previous credentials were right but the nonce expired.
    pub stale: bool,
    pub domain: Option<String>,
    /// Parameters we do not interpret, kept for round trips.
    pub other: Vec<(String, String)>,
}

impl Challenge {
    /// Parses a `WWW-Authenticate`/`Proxy-Authenticate` value (the same as
    /// `str::parse`).
    pub fn parse(value: &str) -> Result<Challenge, AuthError> {
        value.parse()
    }

    /// The algorithm in force (MD5 when absent).
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm.unwrap_or(Algorithm::Md5)
    }

    /// The same challenge with `stale` set as given.
    pub fn with_stale(mut self, stale: bool) -> Challenge {
        self.stale = stale;
        self
    }
}

/// `Digest` credentials: the value of `Authorization` or
/// `Proxy-Authorization`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    /// The digest-URI (the Request-URI as the client wrote it).
    pub uri: String,
    /// Lower-case hex (compared case-insensitively).
    pub response: String,
    /// `None` when absent on the wire, which means MD5.
    pub algorithm: Option<Algorithm>,
    pub cnonce: Option<String>,
    pub opaque: Option<String>,
    /// `auth` (the only one we produce or accept), or absent (RFC 2069).
    pub qop: Option<String>,
    /// The nonce count, written as 8 hex digits.
    pub nc: Option<u32>,
    /// Parameters we do not interpret, kept for round trips.
    pub other: Vec<(String, String)>,
}

impl Credentials {
    /// Parses an `Authorization`/`Proxy-Authorization` value (the same as
    /// `str::parse`).
    pub fn parse(value: &str) -> Result<Credentials, AuthError> {
        value.parse()
    }

    /// The algorithm in force (MD5 when absent).
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm.unwrap_or(Algorithm::Md5)
    }

    /// Recomputes the response from `password` and compares it with the
    /// one carried, in constant time. Checks nothing else (not the nonce,
    /// realm or qop): [`NonceIssuer::verify`] does the full check.
    pub fn response_matches(&self, method: &str, password: &str) -> bool {
        use subtle::ConstantTimeEq;
        let qop = match (&self.qop, self.nc, &self.cnonce) {
            (Some(qop), Some(nc), Some(cnonce)) => Some(QopParams { qop, nc, cnonce }),
            (None, _, _) => None,
            // A qop without its nc/cnonce cannot be computed: no match.
            _ => return false,
        };
        if self.algorithm().is_sess() && self.cnonce.is_none() {
            return false;
        }
        let expected = compute_response(
            self.algorithm(),
            &self.username,
            &self.realm,
            password,
            method,
            &self.uri,
            &self.nonce,
            qop,
        );
        let given = self.response.to_ascii_lowercase();
        expected.as_bytes().ct_eq(given.as_bytes()).into()
    }
}

/// The `qop`-related inputs of a response: `qop`, `nc` and `cnonce`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QopParams<'a> {
    pub qop: &'a str,
    pub nc: u32,
    pub cnonce: &'a str,
}

/// Computes the digest `response` (RFC 2617 §3.2.2, RFC 7616 §3.4.1).
///
/// With `qop`: `H(HA1:nonce:nc:cnonce:qop:HA2)`; without (RFC 2069):
/// `H(HA1:nonce:HA2)`, where `HA2 = H(method:uri)` and
/// `HA1 = H(username:realm:password)`, or for the `-sess` algorithms
/// `H(H(username:realm:password):nonce:cnonce)` (an absent cnonce counts
/// as empty).
#[allow(clippy::too_many_arguments)]
pub fn compute_response(
    algorithm: Algorithm,
    username: &str,
    realm: &str,
    password: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    qop: Option<QopParams<'_>>,
) -> String {
    let mut ha1 = algorithm.hash(&format!("{username}:{realm}:{password}"));
    if algorithm.is_sess() {
        let cnonce = qop.map(|q| q.cnonce).unwrap_or("");
        ha1 = algorithm.hash(&format!("{ha1}:{nonce}:{cnonce}"));
    }
    let ha2 = algorithm.hash(&format!("{method}:{uri}"));
    match qop {
        Some(q) => algorithm.hash(&format!(
            "{ha1}:{nonce}:{:08x}:{}:{}:{ha2}",
            q.nc, q.cnonce, q.qop
        )),
        None => algorithm.hash(&format!("{ha1}:{nonce}:{ha2}")),
    }
}

/// Answers a challenge (the client side).
///
/// Chooses `qop=auth` when the challenge offers it (then `cnonce` and `nc`
/// are used; `nc` counts the requests made with this nonce, from 1), and
/// the RFC 2069 form otherwise. `uri` is the Request-URI of the request
/// being authorised; `method` its method.
pub fn respond(
    challenge: &Challenge,
    method: &str,
    uri: &str,
    username: &str,
    password: &str,
    cnonce: &str,
    nc: u32,
) -> Credentials {
    let algorithm = challenge.algorithm();
    let offers_auth = challenge.qop.iter().any(|q| q.eq_ignore_ascii_case("auth"));
    let qop = offers_auth.then_some(QopParams {
        qop: "auth",
        nc,
        cnonce,
    });
    let response = compute_response(
        algorithm,
        username,
        &challenge.realm,
        password,
        method,
        uri,
        &challenge.nonce,
        qop,
    );
    Credentials {
        username: username.to_owned(),
        realm: challenge.realm.clone(),
        nonce: challenge.nonce.clone(),
        uri: uri.to_owned(),
        response,
        algorithm: challenge.algorithm,
        cnonce: (offers_auth || algorithm.is_sess()).then(|| cnonce.to_owned()),
        opaque: challenge.opaque.clone(),
        qop: offers_auth.then(|| "auth".to_owned()),
        nc: offers_auth.then_some(nc),
        other: Vec::new(),
    }
}

/// Why credentials or a header value were refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The header value is not a well-formed `Digest` value.
    #[error("malformed digest header: {0}")]
    Malformed(String),
    /// A required parameter is missing.
    #[error("digest parameter `{0}` missing")]
    MissingParam(&'static str),
    /// The scheme is not `Digest`.
    #[error("unsupported authentication scheme `{0}`")]
    UnsupportedScheme(String),
    /// An algorithm we do not implement.
    #[error("unsupported digest algorithm `{0}`")]
    UnsupportedAlgorithm(String),
    /// A qop other than `auth`, or none where `auth` is required.
    #[error("unsupported or missing qop `{0}`")]
    UnsupportedQop(String),
    /// The credentials are for another realm.
    #[error("wrong realm")]
    WrongRealm,
    /// The credentials are for another user.
    #[error("unknown username")]
    WrongUsername,
    /// The nonce was not issued by us (or was tampered with).
    #[error("invalid nonce")]
    InvalidNonce,
    /// The response is right but the nonce has expired: challenge again
    /// with `stale=true`.
    #[error("stale nonce")]
    Stale,
    /// The response does not match (wrong password, usually).
    #[error("wrong digest response")]
    WrongResponse,
}

impl AuthError {
    /// True when the next challenge should carry `stale=true`.
    pub fn is_stale(&self) -> bool {
        matches!(self, AuthError::Stale)
    }
}
