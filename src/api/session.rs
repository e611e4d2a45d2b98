//! `POST /api/v1/auth/login`, `POST /api/v1/auth/logout`, `GET
//! /api/v1/me`: getting a token, giving it back, and asking who it
//! belongs to. The rules are `crate::auth`'s; this is their HTTP face.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::error::{ApiError, Json};
use super::rfc3339_ms;
use crate::auth::Authenticator;
use crate::store::UserRecord;

/// A user as the API shows them (never the password hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub role: crate::auth::Role,
    pub disabled: bool,
    /// RFC 3339.
    pub created_at: String,
}

impl From<&UserRecord> for UserView {
    fn from(u: &UserRecord) -> UserView {
        UserView {
            id: u.id.clone(),
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            role: u.role,
            disabled: u.disabled,
            created_at: rfc3339_ms(u.created_at_ms),
        }
    }
}

/// The login body. No `Debug`: it holds a password.
#[derive(Deserialize)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// The login answer: the token (shown this once), when it expires, and
/// whose it is.
#[derive(Serialize)]
pub struct LoginResponse {
    pub token: String,
    /// RFC 3339.
    pub expires_at: String,
    pub user: UserView,
}

/// `POST /api/v1/auth/login`: 200 with a token; 401 for an unknown user
/// or a wrong password (one answer for both), 403 for a disabled
/// account, 429 while the username is locked after repeated failures.
pub async fn login(
    State(auth): State<Authenticator>,
    Json(body): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    let session = auth.login(&body.username, body.password).await?;
    let answer = LoginResponse {
        token: session.token.expose().to_owned(),
        expires_at: rfc3339_ms(session.expires_at_ms),
        user: UserView::from(&session.user),
    };
    // A token must not sit in a cache (RFC 6749 §5.1).
    Ok(([(header::CACHE_CONTROL, "no-store")], axum::Json(answer)).into_response())
}

/// `POST /api/v1/auth/logout`: revokes the token presented; 204.
pub async fn logout(
    State(auth): State<Authenticator>,
    caller: Caller,
) -> Result<StatusCode, ApiError> {
    auth.logout(caller.token_hash()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/me`: the caller's own user, any role.
pub async fn me(
    State(auth): State<Authenticator>,
    caller: Caller,
) -> Result<axum::Json<UserView>, ApiError> {
    // The extractor read the user a moment ago; read it again whole
    // rather than widen `Caller` with fields few endpoints need.
    let user = auth
        .store()
        .user_by_id(&caller.user_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("this account no longer exists"))?;
    Ok(axum::Json(UserView::from(&user)))
}
