//! [`Authenticator`]: logging in (password → token), checking a presented
//! token on every request, and logging out. Transport-free: the HTTP
//! extractor (`crate::api::auth`) and, later, the websockets call it.
//!
//! ## Login
//! 1. The username is lower-cased (usernames are lower case, see
//!    [`super::check_username`]); a locked username ([`super::lockout`])
//!    is refused at once.
//! 2. The password is verified on a blocking thread against the user's
//!    hash, or against [`super::password::dummy_hash`] when there is no
//!    such user, so both cost the same Argon2 work and give the same
//!    [`LoginError::InvalidCredentials`].
//! 3. A disabled user with the right password gets
//!    [`LoginError::Disabled`] (a wrong password never learns that).
//! 4. A [`Token`] is issued; its hash is stored with
//!    `expires_at = now + auth.token_ttl_seconds`.
//!
//! ## Every request
//! The presented token is hashed and looked up with its user in one
//! query; unknown, expired, revoked, or belonging to a disabled user →
//! [`TokenRefused`]. There is no cache: a logout or a disable takes
//! effect on the next request, on every node.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::lockout::Lockout;
use super::password::Hasher;
use super::token::{Token, TokenHash};
use crate::store::{now_ms, Store, StoreError, TokenRecord, UserRecord};

/// Expired tokens are deleted this long after they expire (until then a
/// client presenting one is told it expired rather than unknown).
const PURGE_AFTER_MS: i64 = 24 * 3600 * 1000;

/// Why a login is refused.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown username or wrong password: deliberately one answer.
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("this account is disabled")]
    Disabled,
    #[error("too many failed logins for this username: try again in {} s", retry_after.as_secs().max(1))]
    LockedOut { retry_after: Duration },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a presented token is refused. The messages are safe to show the
/// client: they say nothing about other users or tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefused {
    #[error("no token: send `Authorization: Bearer <token>` (log in at POST /api/v1/auth/login)")]
    Missing,
    #[error("the Authorization header is not `Bearer <token>`")]
    Malformed,
    #[error("the token query parameter is accepted on WebSocket upgrades only; send `Authorization: Bearer <token>`")]
    QueryNotAllowed,
    #[error("unknown token")]
    Unknown,
    #[error("the token has expired: log in again")]
    Expired,
    #[error("the token was revoked (logged out, password changed or account disabled)")]
    Revoked,
    #[error("this account is disabled")]
    UserDisabled,
}

/// Why a token could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Refused(#[from] TokenRefused),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A successful login.
#[derive(Debug)]
pub struct Session {
    /// Shown to the client once, never stored.
    pub token: Token,
    pub expires_at_ms: i64,
    pub user: UserRecord,
}

/// Logins and token checks. Cheap to clone; one per server.
#[derive(Clone, Debug)]
pub struct Authenticator {
    store: Store,
    hasher: Hasher,
    token_ttl: Duration,
    lockout: Arc<Mutex<Lockout>>,
}

impl Authenticator {
    /// Tokens issued live `token_ttl`.
    pub fn new(store: Store, hasher: Hasher, token_ttl: Duration) -> Authenticator {
        Authenticator {
            store,
            hasher,
            token_ttl,
            lockout: Arc::new(Mutex::new(Lockout::new())),
        }
    }

    /// The store behind it (the user endpoints use it directly).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The hasher (the user endpoints hash new passwords with it).
    pub fn hasher(&self) -> &Hasher {
        &self.hasher
    }

    /// How long issued tokens live.
    pub fn token_ttl(&self) -> Duration {
        self.token_ttl
    }

    fn lockout(&self) -> std::sync::MutexGuard<'_, Lockout> {
        // The lock guards plain counters; a panic elsewhere cannot leave
        // them inconsistent, so a poisoned lock is used as is.
        self.lockout.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks a username and password; on success issues a token.
    pub async fn login(&self, username: &str, password: String) -> Result<Session, LoginError> {
        let username = username.to_ascii_lowercase();
        if let Err(retry_after) = self.lockout().check(&username, Instant::now()) {
            return Err(LoginError::LockedOut { retry_after });
        }
        let user = self.store.user_by_username(&username).await?;
        let hash = user.as_ref().map(|u| u.password_hash.clone());
        let matches = self.hasher.verify(password, hash).await;
        let user = match user {
            Some(user) if matches => user,
            _ => {
                self.lockout().failed(&username, Instant::now());
                return Err(LoginError::InvalidCredentials);
            }
        };
        self.lockout().succeeded(&username);
        if user.disabled {
            return Err(LoginError::Disabled);
        }
        let token = Token::generate();
        let now = now_ms();
        let ttl_ms = i64::try_from(self.token_ttl.as_millis()).unwrap_or(i64::MAX);
        let record = TokenRecord {
            token_hash: token.hash(),
            user_id: user.id.clone(),
            created_at_ms: now,
            expires_at_ms: now.saturating_add(ttl_ms),
            revoked: false,
        };
        self.store.insert_token(&record).await?;
        match self
            .store
            .purge_expired_tokens(now.saturating_sub(PURGE_AFTER_MS))
            .await
        {
            Ok(0) => {}
            Ok(n) => info!(tokens = n, "deleted expired API tokens"),
            Err(e) => warn!(error = %e, "could not delete expired API tokens"),
        }
        Ok(Session {
            token,
            expires_at_ms: record.expires_at_ms,
            user,
        })
    }

    /// Checks a presented token at `now_ms`: its row and its user.
    pub async fn authenticate(
        &self,
        presented: &str,
        now_ms: i64,
    ) -> Result<(TokenRecord, UserRecord), AuthError> {
        self.authenticate_hash(&TokenHash::of(presented), now_ms)
            .await
    }

    /// [`Authenticator::authenticate`] for a token known by its hash (a
    /// long-lived websocket checks its token again with it).
    pub async fn authenticate_hash(
        &self,
        hash: &TokenHash,
        now_ms: i64,
    ) -> Result<(TokenRecord, UserRecord), AuthError> {
        let Some((token, user)) = self.store.token_with_user(hash).await? else {
            return Err(TokenRefused::Unknown.into());
        };
        if token.revoked {
            return Err(TokenRefused::Revoked.into());
        }
        if now_ms >= token.expires_at_ms {
            return Err(TokenRefused::Expired.into());
        }
        if user.disabled {
            return Err(TokenRefused::UserDisabled.into());
        }
        Ok((token, user))
    }

    /// Revokes a token (logout). False when it was unknown or revoked.
    pub async fn logout(&self, token_hash: &TokenHash) -> Result<bool, StoreError> {
        self.store.revoke_token(token_hash).await
    }
}
