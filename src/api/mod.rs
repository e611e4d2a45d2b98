//! The HTTP side of Hibiki (axum).
//!
//! For now: `/metrics` (Prometheus text), `/healthz` (the process is up)
//! and `/readyz` (SIP sockets are bound, the server accepts calls, and the
//! database answers). The REST API, the agent and supervisor websockets
//! and the web UI join this router in later issues; every one of those
//! requires a token and a role, while these three operational endpoints
//! stay open on purpose so that load balancers and Prometheus can reach
//! them (bind `http.listen` to a private address in production).

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::sync::watch;

use crate::store::Store;
use crate::telemetry::Metrics;

/// What the operational endpoints read.
#[derive(Clone)]
pub struct ApiState {
    pub metrics: Metrics,
    pub store: Store,
    /// True while SIP is bound and new calls are accepted; false before
    /// start-up completes and once shutdown begins.
    pub accepting: watch::Receiver<bool>,
}

/// Builds the router.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
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
