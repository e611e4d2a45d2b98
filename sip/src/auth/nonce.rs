//! Stateless nonces and the server-side check of credentials.
//!
//! A nonce is 16 hex digits of the issue time (Unix ms) followed by 64 hex
//! digits of `HMAC-SHA-256(key, time_be ‖ algorithm)`. Nothing is stored:
//! the MAC proves we issued it, the time tells its age.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::{Algorithm, AuthError, Challenge, Credentials};

type HmacSha256 = Hmac<Sha256>;

/// How long a nonce stays fresh unless told otherwise: five minutes.
pub const DEFAULT_NONCE_LIFETIME_MS: u64 = 5 * 60 * 1000;

const TIME_HEX: usize = 16;
const MAC_HEX: usize = 64;

/// Mints and checks stateless nonces, and verifies credentials.
#[derive(Clone)]
pub struct NonceIssuer {
    mac: HmacSha256,
    lifetime_ms: u64,
}

impl std::fmt::Debug for NonceIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NonceIssuer")
            .field("lifetime_ms", &self.lifetime_ms)
            .finish_non_exhaustive()
    }
}

impl NonceIssuer {
    /// An issuer keyed by `secret` (any length; draw at least 32 random
    /// bytes at start, shared by every node that must accept the nonces),
    /// whose nonces go stale after `lifetime_ms`.
    pub fn new(secret: impl AsRef<[u8]>, lifetime_ms: u64) -> NonceIssuer {
        // HMAC keys are zero-padded to the block size, so keying with
        // SHA-256(secret) padded to 64 bytes is HMAC keyed by SHA-256(secret):
        // infallible for any secret length.
        let mut block = [0u8; 64];
        for (b, d) in block.iter_mut().zip(Sha256::digest(secret.as_ref())) {
            *b = d;
        }
        NonceIssuer {
            mac: <HmacSha256 as hmac::digest::KeyInit>::new(&block.into()),
            lifetime_ms,
        }
    }

    /// How long a nonce stays fresh.
    pub fn lifetime_ms(&self) -> u64 {
        self.lifetime_ms
    }

    fn tag(&self, issued_ms: u64, algorithm: Algorithm) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(&issued_ms.to_be_bytes());
        mac.update(algorithm.as_str().as_bytes());
        mac
    }

    /// A fresh nonce for `algorithm`, issued at `now_ms`.
    pub fn nonce(&self, algorithm: Algorithm, now_ms: u64) -> String {
        let tag = self.tag(now_ms, algorithm).finalize().into_bytes();
        format!("{now_ms:016x}{}", hex::encode(tag))
    }

    /// A challenge for `realm` with a fresh nonce, offering `qop="auth"`.
    /// Set `stale` on it when answering [`AuthError::Stale`].
    pub fn challenge(&self, realm: &str, algorithm: Algorithm, now_ms: u64) -> Challenge {
        Challenge {
            realm: realm.to_owned(),
            nonce: self.nonce(algorithm, now_ms),
            algorithm: Some(algorithm),
            qop: vec!["auth".to_owned()],
            opaque: None,
            stale: false,
            domain: None,
            other: Vec::new(),
        }
    }

    /// The challenges to send in one 401/407, one `WWW-Authenticate` each,
    /// most preferred first as RFC 8760 §2.4 asks: SHA-256, then MD5 for
    /// the many devices that only know MD5.
    pub fn challenges(&self, realm: &str, now_ms: u64, stale: bool) -> Vec<Challenge> {
        [Algorithm::Sha256, Algorithm::Md5]
            .into_iter()
            .map(|a| self.challenge(realm, a, now_ms).with_stale(stale))
            .collect()
    }

    /// Checks that `nonce` was issued by us for `algorithm`; returns its
    /// issue time.
    fn authentic(&self, nonce: &str, algorithm: Algorithm) -> Result<u64, AuthError> {
        if nonce.len() != TIME_HEX + MAC_HEX || !nonce.is_ascii() {
            return Err(AuthError::InvalidNonce);
        }
        let (time, mac) = nonce.split_at(TIME_HEX);
        let issued = u64::from_str_radix(time, 16).map_err(|_| AuthError::InvalidNonce)?;
        let mac = hex::decode(mac).map_err(|_| AuthError::InvalidNonce)?;
        self.tag(issued, algorithm)
            .verify_slice(&mac)
            .map_err(|_| AuthError::InvalidNonce)?;
        Ok(issued)
    }

    /// Whether a nonce is ours and still fresh at `now_ms`:
    /// `Err(Stale)` when authentic but expired, `Err(InvalidNonce)` when
    /// not ours.
    pub fn check_nonce(
        &self,
        nonce: &str,
        algorithm: Algorithm,
        now_ms: u64,
    ) -> Result<(), AuthError> {
        let issued = self.authentic(nonce, algorithm)?;
        if now_ms.saturating_sub(issued) > self.lifetime_ms {
            return Err(AuthError::Stale);
        }
        Ok(())
    }

    /// Verifies credentials sent with a request of `method`.
    ///
    /// Checks, in order: the realm, the username, the algorithm (MD5,
    /// MD5-sess, SHA-256, SHA-256-sess), `qop=auth` with its `nc` and
    /// `cnonce`, that the nonce is ours and was issued for that algorithm,
    /// the response (in constant time), and last the nonce's age, so
    /// [`AuthError::Stale`] only ever answers credentials that were right.
    pub fn verify(
        &self,
        credentials: &Credentials,
        method: &str,
        expected_username: &str,
        password: &str,
        realm: &str,
        now_ms: u64,
    ) -> Result<(), AuthError> {
        if credentials.realm != realm {
            return Err(AuthError::WrongRealm);
        }
        if credentials.username != expected_username {
            return Err(AuthError::WrongUsername);
        }
        match credentials.qop.as_deref() {
            Some(q) if q.eq_ignore_ascii_case("auth") => {}
            other => return Err(AuthError::UnsupportedQop(other.unwrap_or("").to_owned())),
        }
        if credentials.nc.is_none() {
            return Err(AuthError::MissingParam("nc"));
        }
        if credentials.cnonce.is_none() {
            return Err(AuthError::MissingParam("cnonce"));
        }
        let algorithm = credentials.algorithm();
        let issued = self.authentic(&credentials.nonce, algorithm)?;
        if !credentials.response_matches(method, password) {
            return Err(AuthError::WrongResponse);
        }
        if now_ms.saturating_sub(issued) > self.lifetime_ms {
            return Err(AuthError::Stale);
        }
        Ok(())
    }
}
