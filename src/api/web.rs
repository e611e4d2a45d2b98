//! The web UI Hibiki serves itself: the agent page at `/agent` (one HTML
//! file with its script and styles inline, embedded in the binary, so
//! the server needs no web root and no build step). The page is public;
//! everything it shows comes over the authenticated API and websocket.

use axum::http::header;
use axum::response::{IntoResponse, Redirect};

const AGENT_PAGE: &str = include_str!("web/agent.html");

/// `GET /agent`.
pub async fn agent_page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            // The page runs only its own inline script and talks only to
            // this server.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                 connect-src 'self'; media-src 'self' blob:; frame-ancestors 'none'",
            ),
        ],
        AGENT_PAGE,
    )
}

/// `GET /`: to the agent page.
pub async fn root() -> Redirect {
    Redirect::to("/agent")
}
