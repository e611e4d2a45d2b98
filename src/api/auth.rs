//! [`Caller`]: the extractor every authenticated endpoint and websocket
//! takes. It reads the token, checks it (`crate::auth::Authenticator`:
//! known, not expired, not revoked, user not disabled) and yields who is
//! calling; the handler then states the roles it admits with
//! [`Caller::require`].
//!
//! ```ignore
//! async fn list_queues(caller: Caller, ...) -> Result<Json<..>, ApiError> {
//!     caller.require(&[Role::Supervisor, Role::Manager, Role::Admin])?;
//!     ...
//! }
//! ```
//!
//! ## Where the token comes from
//! - `Authorization: Bearer <token>` (the scheme is case-insensitive).
//! - The `token` query parameter, **only on WebSocket upgrades**
//!   (`Upgrade: websocket`): a browser's `WebSocket` API cannot set
//!   headers. Elsewhere a query token is refused (401), because URLs end
//!   up in proxy logs, browser history and `Referer` headers.
//!
//! The header wins when both are present. Refusals are 401 with
//! `WWW-Authenticate: Bearer` and the JSON error shape (`ApiError`).

use axum::extract::{FromRef, FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};

use super::error::ApiError;
use crate::auth::{Authenticator, Role, TokenHash, TokenRefused};
use crate::store::now_ms;

/// Who is calling: an authenticated user with a valid token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// The hash of the token presented (logout revokes it).
    token_hash: TokenHash,
}

impl Caller {
    /// `Ok` when the caller's role is one of `roles`; otherwise 403
    /// `forbidden` naming the roles needed.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            return Ok(());
        }
        let needed: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        Err(ApiError::forbidden(format!(
            "this needs the role {} (you are {})",
            needed.join(" or "),
            self.role
        )))
    }

    /// The hash of the token this request presented.
    pub fn token_hash(&self) -> &TokenHash {
        &self.token_hash
    }
}

impl<S> FromRequestParts<S> for Caller
where
    Authenticator: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let presented = presented_token(parts)?;
        let auth = Authenticator::from_ref(state);
        let (token, user) = auth.authenticate(&presented, now_ms()).await?;
        Ok(Caller {
            user_id: user.id,
            username: user.username,
            display_name: user.display_name,
            role: user.role,
            token_hash: token.token_hash,
        })
    }
}

/// The `token` query parameter (other parameters are ignored).
#[derive(serde::Deserialize)]
struct TokenParam {
    token: Option<String>,
}

/// The token a request presents: the `Authorization: Bearer` header, or
/// on a WebSocket upgrade the `token` query parameter.
pub fn presented_token(parts: &Parts) -> Result<String, TokenRefused> {
    if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| TokenRefused::Malformed)?;
        let (scheme, token) = value
            .trim()
            .split_once(' ')
            .ok_or(TokenRefused::Malformed)?;
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
            return Err(TokenRefused::Malformed);
        }
        return Ok(token.to_owned());
    }
    let query_token = Query::<TokenParam>::try_from_uri(&parts.uri)
        .ok()
        .and_then(|Query(p)| p.token)
        .filter(|t| !t.is_empty());
    match query_token {
        Some(token) if is_websocket_upgrade(&parts.headers) => Ok(token),
        Some(_) => Err(TokenRefused::QueryNotAllowed),
        None => Err(TokenRefused::Missing),
    }
}

/// `Upgrade: websocket` (RFC 6455 §4.1; the value is case-insensitive).
fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::UPGRADE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("websocket"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut req = Request::builder().uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(()).unwrap().into_parts().0
    }

    #[test]
    fn the_bearer_header_is_read_whatever_the_scheme_case() {
        for value in ["Bearer abc", "bearer abc", "BEARER  abc ", " Bearer abc"] {
            let p = parts("/api/v1/me", &[("authorization", value)]);
            assert_eq!(presented_token(&p).as_deref(), Ok("abc"), "{value:?}");
        }
    }

    #[test]
    fn other_schemes_and_empty_tokens_are_malformed() {
        for value in [
            "Basic YWxpY2U6cHc=",
            "Bearer",
            "Bearer   ",
            "abc",
            "Token abc",
        ] {
            let p = parts("/api/v1/me", &[("authorization", value)]);
            assert_eq!(
                presented_token(&p),
                Err(TokenRefused::Malformed),
                "{value:?}"
            );
        }
    }

    #[test]
    fn no_token_at_all_is_missing() {
        let p = parts("/api/v1/me?other=1", &[]);
        assert_eq!(presented_token(&p), Err(TokenRefused::Missing));
    }

    #[test]
    fn the_query_token_counts_on_websocket_upgrades_only() {
        let ws = [("connection", "Upgrade"), ("upgrade", "websocket")];
        let p = parts("/api/v1/ws?x=1&token=abc-_9", &ws);
        assert_eq!(presented_token(&p).as_deref(), Ok("abc-_9"));
        let p = parts("/api/v1/ws?token=abc", &[("upgrade", "WebSocket")]);
        assert_eq!(presented_token(&p).as_deref(), Ok("abc"));
        let p = parts("/api/v1/me?token=abc", &[]);
        assert_eq!(presented_token(&p), Err(TokenRefused::QueryNotAllowed));
        let p = parts("/api/v1/me?token=abc", &[("upgrade", "h2c")]);
        assert_eq!(presented_token(&p), Err(TokenRefused::QueryNotAllowed));
        // The header wins over the query.
        let mut h = ws.to_vec();
        h.push(("authorization", "Bearer fromheader"));
        let p = parts("/api/v1/ws?token=fromquery", &h);
        assert_eq!(presented_token(&p).as_deref(), Ok("fromheader"));
    }

    #[test]
    fn require_admits_listed_roles_only() {
        let caller = Caller {
            user_id: "u1".into(),
            username: "agent1".into(),
            display_name: "Agent One".into(),
            role: Role::Agent,
            token_hash: TokenHash::of("t"),
        };
        assert!(caller.require(&[Role::Agent]).is_ok());
        assert!(caller.require(&Role::ALL).is_ok());
        let e = caller
            .require(&[Role::Supervisor, Role::Admin])
            .unwrap_err();
        assert_eq!(e.status(), axum::http::StatusCode::FORBIDDEN);
        assert_eq!(e.code(), "forbidden");
        assert_eq!(
            e.message(),
            "this needs the role supervisor or admin (you are agent)"
        );
    }
}
