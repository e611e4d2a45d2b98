//! `/api/v1/agents`: the agents the ACD offers calls to (enabled users
//! whose role is `agent` or `supervisor`), their skills and device, for
//! supervisors and admins; and each agent's state history, which the
//! agent may read too. The live state is the ACD's (the agent websocket);
//! what is here is what the store keeps.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::customers::number;
use super::error::{ApiError, Json};
use super::rfc3339_ms;
use crate::auth::Role;
use crate::store::{now_ms, AgentProfile, AgentSkill, AgentStateChange, AgentStatus, Store};

/// Who manages agents.
const ADMINS: &[Role] = &[Role::Supervisor, Role::Admin];

/// State history `limit` by default, and the most it may be.
const DEFAULT_STATES: u32 = 100;
const MAX_STATES: u32 = 1000;

/// The longest device URI, in bytes.
const MAX_URI_BYTES: usize = 512;

/// The body of `PUT /api/v1/agents/{username}/device`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceBody {
    /// A `sip:` or `sips:` URI; `null`: the browser softphone.
    pub sip_uri: Option<String>,
}

/// The query of `GET /api/v1/agents/{username}/states`.
#[derive(Debug, Deserialize)]
pub struct StatesQuery {
    /// RFC 3339, or epoch milliseconds.
    pub since: Option<String>,
    pub limit: Option<String>,
}

/// A state change as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateView {
    pub id: String,
    pub node_id: String,
    pub username: String,
    pub status: AgentStatus,
    pub reason: Option<String>,
    pub call_id: Option<String>,
    /// RFC 3339.
    pub at: String,
}

impl From<AgentStateChange> for StateView {
    fn from(c: AgentStateChange) -> StateView {
        StateView {
            at: rfc3339_ms(c.at_ms),
            id: c.id,
            node_id: c.node_id,
            username: c.username,
            status: c.status,
            reason: c.reason,
            call_id: c.call_id,
        }
    }
}

/// `GET /api/v1/agents`: every agent, by username.
pub async fn list(
    State(store): State<Store>,
    caller: Caller,
) -> Result<axum::Json<Vec<AgentProfile>>, ApiError> {
    caller.require(ADMINS)?;
    Ok(axum::Json(store.agent_profiles().await?))
}

/// `PUT /api/v1/agents/{username}/skills` with `[{skill, level}]`: the
/// list replaces the agent's skills; 200 with the profile. 404 when no
/// enabled agent or supervisor has the username; 422 for a level outside
/// 1–10, a bad name or a skill listed twice.
pub async fn set_skills(
    State(store): State<Store>,
    caller: Caller,
    Path(username): Path<String>,
    Json(skills): Json<Vec<AgentSkill>>,
) -> Result<axum::Json<AgentProfile>, ApiError> {
    caller.require(ADMINS)?;
    AgentSkill::check_all(&skills).map_err(|e| ApiError::invalid(e.to_string()))?;
    find(&store, &username).await?;
    if !store.set_agent_skills(&username, &skills, now_ms()).await? {
        return Err(not_found(&username));
    }
    tracing::info!(agent = %username, by = %caller.username, skills = skills.len(), "agent skills set");
    Ok(axum::Json(find(&store, &username).await?))
}

/// `PUT /api/v1/agents/{username}/device` with `{"sip_uri": "sip:…"}`
/// or `{"sip_uri": null}`: 200 with the profile. 404 as for skills; 422
/// when the URI is not a `sip:`/`sips:` URI.
pub async fn set_device(
    State(store): State<Store>,
    caller: Caller,
    Path(username): Path<String>,
    Json(body): Json<DeviceBody>,
) -> Result<axum::Json<AgentProfile>, ApiError> {
    caller.require(ADMINS)?;
    let uri = body.sip_uri.as_deref().map(str::trim);
    if let Some(uri) = uri {
        check_sip_uri(uri)?;
    }
    find(&store, &username).await?;
    if !store.set_agent_device(&username, uri, now_ms()).await? {
        return Err(not_found(&username));
    }
    tracing::info!(agent = %username, by = %caller.username, device = ?uri, "agent device set");
    Ok(axum::Json(find(&store, &username).await?))
}

/// `GET /api/v1/agents/{username}/states?since=&limit=`: the agent's
/// state changes at or after `since` (default: all), newest first, at most
/// `limit` (1–1000, default 100). Supervisors and admins, and the agent
/// themself.
pub async fn states(
    State(store): State<Store>,
    caller: Caller,
    Path(username): Path<String>,
    query: Result<Query<StatesQuery>, QueryRejection>,
) -> Result<axum::Json<Vec<StateView>>, ApiError> {
    if caller.username != username {
        caller.require(ADMINS).map_err(|_| {
            ApiError::forbidden("only supervisors and admins read another agent's states")
        })?;
    }
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = number(
        query.limit.as_deref(),
        "limit",
        DEFAULT_STATES,
        1,
        MAX_STATES,
    )?;
    let since = match query.since.as_deref().map(str::trim) {
        None | Some("") => 0,
        Some(s) => parse_instant(s).ok_or_else(|| {
            ApiError::invalid(format!(
                "since {s:?}: an RFC 3339 time (2026-03-21T09:30:00Z) or epoch milliseconds"
            ))
        })?,
    };
    let changes = store.agent_state_changes(&username, since, limit).await?;
    Ok(axum::Json(
        changes.into_iter().map(StateView::from).collect(),
    ))
}

async fn find(store: &Store, username: &str) -> Result<AgentProfile, ApiError> {
    store
        .agent_profile(username)
        .await?
        .ok_or_else(|| not_found(username))
}

fn not_found(username: &str) -> ApiError {
    ApiError::not_found(format!(
        "no enabled agent or supervisor has the username `{username}`"
    ))
}

/// `Ok` for a `sip:` or `sips:` URI our SIP parser reads.
fn check_sip_uri(uri: &str) -> Result<(), ApiError> {
    let refused = |why: String| ApiError::invalid(format!("sip_uri {uri:?}: {why}"));
    if uri.len() > MAX_URI_BYTES {
        return Err(refused(format!("at most {MAX_URI_BYTES} bytes")));
    }
    match hibiki_sip::parse::parse_uri(uri) {
        Ok(hibiki_sip::Uri::Sip(_)) => Ok(()),
        Ok(_) => Err(refused("not a sip: or sips: URI".to_owned())),
        Err(e) => Err(refused(e.to_string())),
    }
}

/// Epoch milliseconds, or an RFC 3339 time.
fn parse_instant(s: &str) -> Option<i64> {
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
        .filter(|ms| *ms >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants() {
        assert_eq!(parse_instant("1700000000123"), Some(1_700_000_000_123));
        assert_eq!(parse_instant("1970-01-01T00:00:01.5Z"), Some(1_500));
        assert_eq!(
            parse_instant("2023-11-15T07:13:20+09:00"),
            Some(1_700_000_000_000)
        );
        assert_eq!(parse_instant("yesterday"), None);
        assert_eq!(parse_instant("-5"), None);
    }

    #[test]
    fn device_uris() {
        for ok in [
            "sip:1001@192.0.2.10",
            "sips:agent@pbx.example.com:5061;transport=tls",
        ] {
            assert!(check_sip_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "tel:+81312345678",
            "1001@192.0.2.10",
            "sip:",
            "sip:a b@x",
            "http://x",
        ] {
            assert!(check_sip_uri(bad).is_err(), "{bad}");
        }
    }
}
