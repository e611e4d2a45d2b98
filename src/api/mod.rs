//! The HTTP side of Hibiki (axum).
//!
//! - Operational, unauthenticated on purpose: `/metrics` (Prometheus
//!   text), `/healthz` (the process is up) and `/readyz` (SIP sockets are
//!   bound, the server accepts calls, and the database answers). Load
//!   balancers and Prometheus must reach them without credentials: bind
//!   `http.listen` to a private address in production.
//! - The REST API under `/api/v1` (`docs/api.md`, `docs/api/openapi.yaml`):
//!   `auth/login`, `auth/logout`, `me`, `users`, `calls/{id}` (the
//!   stored record), `calls/{id}/recording/…`, `callbacks`, `customers`
//!   (and their import and interactions), `recordings/{id}` (and its
//!   audio), `agents`, `ivr/flows`, `admin/ivr/reload`. Every endpoint there but
//!   login takes a [`Caller`] (a valid bearer token) and names the roles
//!   it admits with [`Caller::require`]; errors are [`ApiError`] JSON;
//!   bodies are read with [`Json`]. The agent websocket
//!   (`crate::agent`) takes the same extractor; the agent page is
//!   `web.rs`. Supervisor dashboards come later.
//!
//! Files: `auth.rs` (the [`Caller`] extractor), `error.rs` ([`ApiError`],
//! [`Json`]), `session.rs` (login, logout, me), `users.rs` (user admin),
//! `calls.rs` (commands for live calls: recording pause/resume),
//! `cdr.rs` (stored call records), `callbacks.rs` (callback requests and
//! their voicemail), `customers.rs` (customers, their interactions, the
//! CSV import), `recordings.rs` (recording metadata and audio),
//! `agents.rs` (agents' skills, devices and state history), `ivr.rs` (the
//! IVR flows in force and their reload), `time.rs` (RFC 3339).

use std::path::PathBuf;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, FromRef, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use tokio::sync::watch;

use crate::auth::Authenticator;
use crate::call::CallControl;
use crate::ivr::registry::FlowRegistry;
use crate::store::Store;
use crate::telemetry::Metrics;

pub mod agents;
pub mod auth;
pub mod callbacks;
pub mod calls;
pub mod cdr;
pub mod customers;
mod error;
pub mod ivr;
pub mod recordings;
pub mod session;
mod time;
pub mod users;
pub mod web;

pub use auth::Caller;
pub use error::{ApiError, Json};
pub use time::rfc3339_ms;

/// What the endpoints read.
#[derive(Clone)]
pub struct ApiState {
    pub metrics: Metrics,
    pub store: Store,
    /// True while SIP is bound and new calls are accepted; false before
    /// start-up completes and once shutdown begins.
    pub accepting: watch::Receiver<bool>,
    /// Logins and token checks (the [`Caller`] extractor reads it).
    pub auth: Authenticator,
    /// Commands for live calls.
    pub calls: CallControl,
    /// Where recordings and voicemails live (`Config::recording_dir`).
    pub recordings_dir: PathBuf,
    /// The IVR flows in force.
    pub flows: FlowRegistry,
    /// The ACD (agent websockets attach to it); `None` in tools and tests
    /// that run no calls.
    pub acd: Option<crate::acd::service::AcdHandle>,
    /// The disposition codes a wrap-up may use (`agents.dispositions`).
    pub dispositions: std::sync::Arc<[String]>,
    /// `customers.default_region`: how the API reads national numbers.
    pub default_region: String,
    /// The STUN/TURN servers a browser agent's page should use
    /// (`softphone.stun`, `softphone.turn`).
    pub ice_servers: std::sync::Arc<[crate::softphone::BrowserIceServer]>,
    /// Whether agents may transfer callers to numbers
    /// (`agents.transfer_trunk` is set).
    pub number_transfers: bool,
}

impl FromRef<ApiState> for FlowRegistry {
    fn from_ref(state: &ApiState) -> FlowRegistry {
        state.flows.clone()
    }
}

impl FromRef<ApiState> for Store {
    fn from_ref(state: &ApiState) -> Store {
        state.store.clone()
    }
}

impl FromRef<ApiState> for CallControl {
    fn from_ref(state: &ApiState) -> CallControl {
        state.calls.clone()
    }
}

impl FromRef<ApiState> for Authenticator {
    fn from_ref(state: &ApiState) -> Authenticator {
        state.auth.clone()
    }
}

/// Builds the router.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/", get(web::root))
        .route("/agent", get(web::agent_page))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .nest("/api/v1", api_v1())
        .with_state(state)
}

/// `/api/v1`: every route, and JSON for unknown paths and methods.
fn api_v1() -> Router<ApiState> {
    Router::new()
        .route("/auth/login", post(session::login))
        .route("/auth/logout", post(session::logout))
        .route("/me", get(session::me))
        .route("/users", get(users::list).post(users::create))
        .route("/users/{username}/disable", post(users::disable))
        .route("/calls/{id}", get(cdr::get))
        .route("/calls/{id}/recording/pause", post(calls::pause))
        .route("/calls/{id}/recording/resume", post(calls::resume))
        .route("/callbacks", get(callbacks::list))
        .route("/callbacks/{id}", get(callbacks::get))
        .route("/callbacks/{id}/voicemail", get(callbacks::voicemail))
        .route("/callbacks/{id}/complete", post(callbacks::complete))
        .route("/customers", get(customers::search).post(customers::create))
        .route(
            "/customers/import",
            post(customers::import).layer(DefaultBodyLimit::max(customers::IMPORT_MAX_BYTES + 1)),
        )
        .route(
            "/customers/{id}",
            get(customers::get).patch(customers::update),
        )
        .route("/customers/{id}/interactions", get(customers::interactions))
        .route("/recordings/{id}", get(recordings::get))
        .route("/recordings/{id}/audio", get(recordings::audio))
        .route("/agents", get(agents::list))
        .route("/agents/{username}/skills", put(agents::set_skills))
        .route("/agents/{username}/device", put(agents::set_device))
        .route("/agents/{username}/states", get(agents::states))
        .route("/ivr/flows", get(ivr::flows))
        .route("/admin/ivr/reload", post(ivr::reload))
        .route("/agent/ws", get(crate::agent::session::upgrade))
        .fallback(|| async { ApiError::not_found("no such API endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not take that method",
            )
        })
}

async fn metrics(State(state): State<ApiState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<ApiState>) -> Response {
    if !*state.accepting.borrow() {
        return (StatusCode::SERVICE_UNAVAILABLE, "not accepting calls\n").into_response();
    }
    match tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n").into_response(),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("database not answering: {e}\n"),
        )
            .into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "database not answering: timed out\n",
        )
            .into_response(),
    }
}
