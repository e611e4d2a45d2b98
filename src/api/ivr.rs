//! `/api/v1/ivr/…` and `/api/v1/admin/ivr/…`: the IVR flows in force and
//! their reload.
//!
//! - `GET /ivr/flows` (supervisor, manager, admin): the version in force,
//!   when it was loaded, each flow's name and file, and why the last
//!   reload was refused, if it was.
//! - `POST /admin/ivr/reload` (admin): reload now. 200 with the new
//!   version; 422 with every problem (file, line, reason) when refused,
//!   the old version staying in force.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::auth::Caller;
use super::error::ApiError;
use super::time::rfc3339_ms;
use crate::auth::Role;
use crate::ivr::registry::{FlowProblem, FlowRegistry};
use crate::ivr::reload::reload_now;

/// Who may read the flows in force.
const FLOW_READERS: &[Role] = &[Role::Supervisor, Role::Manager, Role::Admin];

/// `GET /ivr/flows`.
#[derive(Debug, Serialize)]
pub struct FlowsView {
    pub version: u64,
    /// RFC 3339.
    pub loaded_at: String,
    /// `ivr.flows_dir`.
    pub dir: String,
    pub flows: Vec<FlowView>,
    /// The last reload, when it was refused (a later good one clears it).
    pub last_error: Option<ReloadErrorView>,
}

/// One flow of the set in force.
#[derive(Debug, Serialize)]
pub struct FlowView {
    pub name: String,
    pub path: String,
}

/// A refused reload.
#[derive(Debug, Serialize)]
pub struct ReloadErrorView {
    /// RFC 3339.
    pub at: String,
    /// The version that stayed in force.
    pub kept_version: u64,
    pub problems: Vec<ProblemView>,
}

/// One problem: `file`, `line` (null when unknown), `reason`.
#[derive(Debug, Serialize)]
pub struct ProblemView {
    pub file: String,
    pub line: Option<usize>,
    pub reason: String,
}

impl From<&FlowProblem> for ProblemView {
    fn from(p: &FlowProblem) -> ProblemView {
        ProblemView {
            file: p.file.display().to_string(),
            line: p.line,
            reason: p.reason.clone(),
        }
    }
}

/// `GET /api/v1/ivr/flows`.
pub async fn flows(
    State(registry): State<FlowRegistry>,
    caller: Caller,
) -> Result<axum::Json<FlowsView>, ApiError> {
    caller.require(FLOW_READERS)?;
    let set = registry.current();
    Ok(axum::Json(FlowsView {
        version: set.version,
        loaded_at: rfc3339_ms(set.loaded_at_ms),
        dir: set.dir.display().to_string(),
        flows: set
            .flows()
            .map(|f| FlowView {
                name: f.name.clone(),
                path: f.path.display().to_string(),
            })
            .collect(),
        last_error: registry.last_error().map(|e| ReloadErrorView {
            at: rfc3339_ms(e.at_ms),
            kept_version: e.kept_version,
            problems: e.problems.iter().map(ProblemView::from).collect(),
        }),
    }))
}

/// `POST /admin/ivr/reload`: 200.
#[derive(Debug, Serialize)]
pub struct ReloadedView {
    pub version: u64,
    /// RFC 3339.
    pub loaded_at: String,
    /// The flow names, sorted.
    pub flows: Vec<String>,
}

/// `POST /admin/ivr/reload`: 422 (the API's error shape plus the version
/// kept and the problems).
#[derive(Debug, Serialize)]
struct RefusedView {
    error: &'static str,
    message: String,
    version: u64,
    problems: Vec<ProblemView>,
}

/// `POST /api/v1/admin/ivr/reload`.
pub async fn reload(
    State(registry): State<FlowRegistry>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Admin])?;
    tracing::info!(by = %caller.username, "IVR flow reload requested through the API");
    match reload_now(&registry, "API").await {
        Ok(report) => Ok(axum::Json(ReloadedView {
            version: report.version,
            loaded_at: rfc3339_ms(report.loaded_at_ms),
            flows: report.flows,
        })
        .into_response()),
        Err(problems) => {
            let version = registry.current().version;
            let body = RefusedView {
                error: "invalid",
                message: format!(
                    "the flows have {} problem(s); version {version} stays in force",
                    problems.len()
                ),
                version,
                problems: problems.iter().map(ProblemView::from).collect(),
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)).into_response())
        }
    }
}
