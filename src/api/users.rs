//! `/api/v1/users`: listing, creating and disabling users. Admins only.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::auth::Caller;
use super::error::{ApiError, Json};
use super::session::UserView;
use crate::auth::{create_account, Authenticator, NewAccount, Role};
use crate::store::now_ms;

/// Who may manage users.
const USER_ADMINS: &[Role] = &[Role::Admin];

/// The body of `POST /api/v1/users`. No `Debug`: it holds a password.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub username: String,
    /// Defaults to the username.
    pub display_name: Option<String>,
    /// `agent`, `supervisor`, `manager` or `admin`; text so that an
    /// unknown role gets our message rather than serde's.
    pub role: String,
    pub password: String,
}

/// `GET /api/v1/users`: every user, by username.
pub async fn list(
    State(auth): State<Authenticator>,
    caller: Caller,
) -> Result<axum::Json<Vec<UserView>>, ApiError> {
    caller.require(USER_ADMINS)?;
    let users = auth.store().users().await?;
    Ok(axum::Json(users.iter().map(UserView::from).collect()))
}

/// `POST /api/v1/users`: 201 with the new user; 409 when the username is
/// taken; 422 for a bad username, display name, role or password.
pub async fn create(
    State(auth): State<Authenticator>,
    caller: Caller,
    Json(body): Json<CreateUser>,
) -> Result<(StatusCode, axum::Json<UserView>), ApiError> {
    caller.require(USER_ADMINS)?;
    let role: Role = body
        .role
        .parse()
        .map_err(|e: crate::auth::UnknownRole| ApiError::invalid(e.to_string()))?;
    let account = NewAccount {
        username: body.username,
        display_name: body.display_name,
        role,
        password: body.password,
    };
    let user = create_account(auth.store(), auth.hasher(), account).await?;
    tracing::info!(by = %caller.username, user = %user.username, role = %user.role, "user created");
    Ok((StatusCode::CREATED, axum::Json(UserView::from(&user))))
}

/// `POST /api/v1/users/{username}/disable`: 200 with the user, now
/// disabled (their tokens revoked); 404 for no such user; 409 for the
/// caller's own account (an admin must not lock themselves out).
pub async fn disable(
    State(auth): State<Authenticator>,
    caller: Caller,
    Path(username): Path<String>,
) -> Result<axum::Json<UserView>, ApiError> {
    caller.require(USER_ADMINS)?;
    if username == caller.username {
        return Err(ApiError::conflict("you cannot disable your own account"));
    }
    let user = auth
        .store()
        .set_user_disabled(&username, true, now_ms())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no user {username:?}")))?;
    tracing::info!(by = %caller.username, user = %user.username, "user disabled");
    Ok(axum::Json(UserView::from(&user)))
}
