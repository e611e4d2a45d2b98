//! [`ApiError`]: the one error shape of the REST API, and [`Json`], the
//! body extractor whose refusals take that shape.
//!
//! Every 4xx and 5xx of `/api/v1` is JSON:
//! `{"error": "<code>", "message": "<for a human>"}`. `error` is a stable
//! machine code from a short list (`bad_request`, `unauthorized`,
//! `forbidden`, `not_found`, `method_not_allowed`, `conflict`,
//! `payload_too_large`, `unsupported_media_type`, `range_not_satisfiable`,
//! `invalid`, `too_many_requests`, `internal`); `message` may change wording. A 401
//! carries `WWW-Authenticate: Bearer realm="hibiki"` (RFC 6750), with
//! `error="invalid_token"` when a token was presented and refused.
//! A 5xx never shows internals: the cause is logged, the client reads
//! "internal error".

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tracing::error;

use crate::auth::{AccountError, AuthError, LoginError, TokenRefused};
use crate::store::StoreError;

/// A refused or failed API request, answered as JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// For 401: what follows `Bearer` in `WWW-Authenticate`.
    challenge: Option<&'static str>,
    /// For 429: seconds, for `Retry-After`.
    retry_after: Option<u64>,
}

/// The `WWW-Authenticate` parameters of a 401 without a (valid) token.
const CHALLENGE: &str = "realm=\"hibiki\"";
/// The same for a token presented and refused (RFC 6750 §3.1).
const CHALLENGE_INVALID_TOKEN: &str = "realm=\"hibiki\", error=\"invalid_token\"";

impl ApiError {
    /// An error with any status; `code` is the stable machine code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            challenge: (status == StatusCode::UNAUTHORIZED).then_some(CHALLENGE),
            retry_after: None,
        }
    }

    /// 400 `bad_request`: the request cannot be read.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 401 `unauthorized`: no valid credentials.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403 `forbidden`: authenticated, but not allowed.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409 `conflict`: the request clashes with what exists.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 422 `invalid`: well-formed, but a value is refused.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
    }

    /// 429 `too_many_requests`, with `Retry-After` (at least 1 s).
    pub fn too_many_requests(message: impl Into<String>, retry_after_secs: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after_secs.max(1)),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message)
        }
    }

    /// 500 `internal`: logs `cause`, shows the client nothing of it.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        error!(error = %cause, "API request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error (logged on the server)",
        )
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code,
            message: &self.message,
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(challenge) = self.challenge {
            if let Ok(v) = HeaderValue::from_str(&format!("Bearer {challenge}")) {
                headers.insert(header::WWW_AUTHENTICATE, v);
            }
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        let status = rejection.status();
        let code = match status {
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::UNPROCESSABLE_ENTITY => "invalid",
            s if s.is_server_error() => "internal",
            _ => "bad_request",
        };
        ApiError::new(status, code, rejection.body_text())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError::internal(e)
    }
}

impl From<TokenRefused> for ApiError {
    fn from(refused: TokenRefused) -> ApiError {
        let mut e = ApiError::unauthorized(refused.to_string());
        if !matches!(refused, TokenRefused::Missing) {
            e.challenge = Some(CHALLENGE_INVALID_TOKEN);
        }
        e
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        match e {
            AuthError::Refused(refused) => refused.into(),
            AuthError::Store(e) => e.into(),
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(e: LoginError) -> ApiError {
        match e {
            LoginError::InvalidCredentials => ApiError::unauthorized(e.to_string()),
            LoginError::Disabled => ApiError::forbidden(e.to_string()),
            LoginError::LockedOut { retry_after } => {
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                ApiError::too_many_requests(e.to_string(), secs)
            }
            LoginError::Store(e) => e.into(),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> ApiError {
        match e {
            AccountError::UsernameTaken(_) => ApiError::conflict(e.to_string()),
            AccountError::NoSuchUser(_) => ApiError::not_found(e.to_string()),
            AccountError::Store(e) => e.into(),
            e if e.is_bad_input() => ApiError::invalid(e.to_string()),
            e => ApiError::internal(e),
        }
    }
}

/// `axum::Json`, but a body it cannot read is refused as an [`ApiError`]
/// (JSON, with axum's explanation as the message) instead of plain text.
/// Use it for every API request body.
#[derive(Clone, Copy, Debug, Default)]
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        axum::Json::<T>::from_request(req, state)
            .await
            .map(|axum::Json(value)| Json(value))
            .map_err(ApiError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parts(e: ApiError) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
        let response = e.into_response();
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, headers, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn errors_are_json_with_a_code_and_a_message() {
        let (status, headers, body) = parts(ApiError::conflict("taken")).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(
            body,
            serde_json::json!({"error": "conflict", "message": "taken"})
        );
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert!(headers.get(header::WWW_AUTHENTICATE).is_none());
    }

    #[tokio::test]
    async fn a_401_challenges_for_a_bearer_token() {
        let (_, headers, body) = parts(TokenRefused::Missing.into()).await;
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer realm=\"hibiki\"");
        assert_eq!(body["error"], "unauthorized");
        let (_, headers, _) = parts(TokenRefused::Expired.into()).await;
        assert_eq!(
            headers[header::WWW_AUTHENTICATE],
            "Bearer realm=\"hibiki\", error=\"invalid_token\""
        );
    }

    #[tokio::test]
    async fn a_lockout_says_when_to_retry() {
        let e: ApiError = LoginError::LockedOut {
            retry_after: std::time::Duration::from_millis(12_300),
        }
        .into();
        let (status, headers, body) = parts(e).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers[header::RETRY_AFTER], "13");
        assert_eq!(body["error"], "too_many_requests");
    }

    #[tokio::test]
    async fn internal_errors_hide_their_cause() {
        let e = ApiError::internal("connection refused at db.internal:5432");
        let (status, _, body) = parts(e).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body["message"].as_str().unwrap().contains("db.internal"));
    }
}
