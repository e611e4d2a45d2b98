//! One agent's websocket session: `GET /api/v1/agent/ws`.
//!
//! The upgrade request carries the token (`Authorization: Bearer`, or
//! `?token=` since browsers cannot set headers on a websocket) and the
//! role must be agent or supervisor. The session then attaches to the
//! ACD (which logs the agent in, or finds them already logged in: a page
//! reload or a second tab resumes, the call in progress untouched), sends
//! `welcome`, and from then on relays: the page's requests to the ACD,
//! the ACD's events to the page. The token is checked again every
//! [`RECHECK`]; once it has expired or been revoked the session closes
//! (code 4401). When the socket closes the ACD is told; the agent stays
//! logged in for `agents.reconnect_grace_seconds`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::protocol::{Reply, Request, TransferTo, Welcome, VERSION};
use crate::acd::core::AgentError;
use crate::acd::service::{AcdHandle, AgentEvent, Attached, CallControl, Command, TransferTarget};
use crate::api::{ApiError, ApiState, Caller};
use crate::auth::Role;
use crate::softphone::Station;
use crate::store::{now_ms, Disposition};

/// How often a live session's token is checked again.
const RECHECK: Duration = Duration::from_secs(30);

/// The close code for an expired or revoked token.
const CLOSE_UNAUTHORIZED: u16 = 4401;

static SESSIONS: AtomicU64 = AtomicU64::new(1);

/// `GET /api/v1/agent/ws`.
pub async fn upgrade(
    State(state): State<ApiState>,
    caller: Caller,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Agent, Role::Supervisor])?;
    let Some(acd) = state.acd.clone() else {
        return Err(ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "no ACD runs on this server",
        ));
    };
    Ok(ws.on_upgrade(move |socket| async move {
        run(socket, state, acd, caller).await;
    }))
}

async fn run(mut socket: WebSocket, state: ApiState, acd: AcdHandle, caller: Caller) {
    let agent = caller.username.clone();
    let profile = match state.store.agent_profile(&agent).await {
        Ok(p) => p,
        Err(e) => {
            warn!(%agent, error = %e, "cannot read the agent's profile");
            let _ = socket
                .send(close(1011, "the agent's profile cannot be read"))
                .await;
            return;
        }
    };
    let (skills, sip_uri) = match &profile {
        Some(p) => (
            p.skills
                .iter()
                .map(|s| (s.skill.clone(), s.level))
                .collect::<HashMap<_, _>>(),
            p.sip_uri.clone(),
        ),
        None => (HashMap::new(), None),
    };
    let session = SESSIONS.fetch_add(1, Ordering::Relaxed);
    let (outbox, mut events) = mpsc::channel::<AgentEvent>(256);
    let attached = acd
        .ask(|reply| Command::Attach {
            agent: agent.clone(),
            skills: skills.clone(),
            sip_uri,
            session,
            outbox,
            reply,
        })
        .await;
    let Ok(Attached {
        status,
        reason,
        call_id,
        pop,
        station,
    }) = attached
    else {
        let _ = socket.send(close(1011, "the ACD is not running")).await;
        return;
    };
    info!(%agent, session, "agent session attached");
    let mut skill_list: Vec<(String, u8)> = skills.into_iter().collect();
    skill_list.sort();
    let welcome = Welcome {
        kind: "welcome",
        version: VERSION,
        agent: agent.clone(),
        display_name: caller.display_name.clone(),
        role: caller.role.as_str().to_owned(),
        status,
        reason,
        call_id,
        pop,
        device: if station.is_some() { "browser" } else { "sip" },
        ice_servers: if station.is_some() {
            state.ice_servers.to_vec()
        } else {
            Vec::new()
        },
        skills: skill_list,
        dispositions: state.dispositions.to_vec(),
    };
    let mut open = send_json(&mut socket, &welcome).await;
    let mut recheck = tokio::time::interval(RECHECK);
    recheck.tick().await;
    while open {
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => open = send_json(&mut socket, &event).await,
                None => break,
            },
            message = socket.recv() => match message {
                Some(Ok(Message::Text(text))) => {
                    // Every request is made with a token still valid.
                    if state.auth.authenticate_hash(caller.token_hash(), now_ms()).await.is_err() {
                        info!(%agent, "agent session closed: the token expired or was revoked");
                        let _ = socket.send(close(CLOSE_UNAUTHORIZED, "token expired or revoked")).await;
                        break;
                    }
                    let reply = handle(&state, &acd, station.as_ref(), &agent, text.as_str()).await;
                    open = send_json(&mut socket, &reply).await;
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Binary(_))) => {
                    open = send_json(&mut socket, &Reply::Error {
                        id: None,
                        code: "bad_request",
                        message: "messages are JSON text".into(),
                    }).await;
                }
                Some(Ok(Message::Close(_))) | None => break,
                Some(Err(e)) => {
                    debug!(%agent, error = %e, "agent socket error");
                    break;
                }
            },
            _ = recheck.tick() => {
                if state.auth.authenticate_hash(caller.token_hash(), now_ms()).await.is_err() {
                    info!(%agent, "agent session closed: the token expired or was revoked");
                    let _ = socket.send(close(CLOSE_UNAUTHORIZED, "token expired or revoked")).await;
                    break;
                }
            }
        }
    }
    let _ = acd
        .send(Command::Detach {
            agent: agent.clone(),
            session,
        })
        .await;
    info!(%agent, session, "agent session detached");
}

/// Carries out one request from the page.
async fn handle(
    state: &ApiState,
    acd: &AcdHandle,
    station: Option<&Station>,
    agent: &str,
    text: &str,
) -> Reply {
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return Reply::Error {
                id: None,
                code: "bad_request",
                message: format!("not JSON: {e}"),
            }
        }
    };
    // The id of a request that is not understood still goes back with the
    // error, so the page knows which one failed.
    let raw_id = value.get("id").and_then(|v| v.as_str()).map(str::to_owned);
    let request: Request = match serde_json::from_value(value) {
        Ok(r) => r,
        Err(e) => {
            return Reply::Error {
                id: raw_id,
                code: "bad_request",
                message: format!("not a request of protocol version {VERSION}: {e}"),
            }
        }
    };
    let id = request.id().map(str::to_owned);
    let agent = agent.to_owned();
    let result: Result<(), Refusal> = match request {
        Request::Ping { .. } => return Reply::Pong { id },
        Request::Available { .. } => ask(acd, |reply| Command::SetAvailable { agent, reply }).await,
        Request::NotReady { reason, .. } => {
            ask(acd, |reply| Command::SetNotReady {
                agent,
                reason,
                reply,
            })
            .await
        }
        Request::Reject { call_id, .. } => {
            ask(acd, |reply| Command::Reject {
                agent,
                entry: call_id,
                reply,
            })
            .await
        }
        Request::SoftphoneOffer { sdp, .. } => {
            let Some(station) = station else {
                return Reply::Error {
                    id,
                    code: "wrong_state",
                    message: "your calls ring on your SIP phone, not in the browser".into(),
                };
            };
            return match station.offer(sdp).await {
                Ok(sdp) => Reply::SoftphoneAnswer { id, sdp },
                Err(e) => {
                    warn!(%agent, error = %e, "softphone offer refused");
                    Reply::Error {
                        id,
                        code: "bad_offer",
                        message: e.to_string(),
                    }
                }
            };
        }
        Request::Answer { call_id, .. } => {
            if station.is_none() {
                return Reply::Error {
                    id,
                    code: "wrong_state",
                    message: "answer on your SIP phone".into(),
                };
            }
            ask(acd, |reply| Command::Answer {
                agent,
                entry: call_id,
                reply,
            })
            .await
        }
        Request::Hold { call_id, .. } => control(acd, agent, call_id, CallControl::Hold).await,
        Request::Resume { call_id, .. } => control(acd, agent, call_id, CallControl::Resume).await,
        Request::Transfer { call_id, to, .. } => match transfer_target(state, to) {
            Ok(target) => control(acd, agent, call_id, CallControl::Transfer(target)).await,
            Err(refused) => Err(refused),
        },
        Request::Consult { call_id, to, .. } => match transfer_target(state, to) {
            Ok(target) => control(acd, agent, call_id, CallControl::Consult(target)).await,
            Err(refused) => Err(refused),
        },
        Request::ConsultComplete { call_id, .. } => {
            control(acd, agent, call_id, CallControl::CompleteConsult).await
        }
        Request::ConsultCancel { call_id, .. } => {
            control(acd, agent, call_id, CallControl::CancelConsult).await
        }
        Request::Hangup { .. } => ask(acd, |reply| Command::Hangup { agent, reply }).await,
        Request::Logout { .. } => ask(acd, |reply| Command::Logout { agent, reply }).await,
        Request::WrapUp {
            call_id,
            disposition,
            notes,
            not_ready,
            ..
        } => wrap_up(state, acd, agent, call_id, disposition, notes, not_ready).await,
    };
    match result {
        Ok(()) => Reply::Ok { id },
        Err(r) => Reply::Error {
            id,
            code: r.code,
            message: r.message,
        },
    }
}

/// Why a request was refused.
struct Refusal {
    code: &'static str,
    message: String,
}

impl From<AgentError> for Refusal {
    fn from(e: AgentError) -> Refusal {
        let code = match e {
            AgentError::NotLoggedIn(_) | AgentError::WrongState { .. } => "wrong_state",
            AgentError::NotTheirs { .. } => "not_yours",
            AgentError::Refused(_) => "refused",
        };
        Refusal {
            code,
            message: e.to_string(),
        }
    }
}

fn unavailable() -> Refusal {
    Refusal {
        code: "unavailable",
        message: "the ACD is not running".into(),
    }
}

async fn ask(
    acd: &AcdHandle,
    make: impl FnOnce(tokio::sync::oneshot::Sender<Result<(), AgentError>>) -> Command,
) -> Result<(), Refusal> {
    match acd.ask(make).await {
        Ok(result) => result.map_err(Refusal::from),
        Err(_) => Err(unavailable()),
    }
}

/// A number an agent may transfer to: `+` then 2 to 20 digits, `*`, `#`.
fn is_dialable(number: &str) -> bool {
    let digits = number.strip_prefix('+').unwrap_or(number);
    (2..=20).contains(&digits.len())
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#')
}

async fn control(
    acd: &AcdHandle,
    agent: String,
    entry: String,
    control: CallControl,
) -> Result<(), Refusal> {
    ask(acd, |reply| Command::Control {
        agent,
        entry,
        control,
        reply,
    })
    .await
}

/// Stores the disposition of a call the agent handled, then ends the
/// wrap-up (available, or not ready with the given reason).
async fn wrap_up(
    state: &ApiState,
    acd: &AcdHandle,
    agent: String,
    call_id: String,
    disposition: String,
    notes: String,
    not_ready: Option<String>,
) -> Result<(), Refusal> {
    if !state.dispositions.contains(&disposition) {
        return Err(Refusal {
            code: "unknown_disposition",
            message: format!(
                "`{disposition}` is not a disposition code here (one of: {})",
                state.dispositions.join(", ")
            ),
        });
    }
    if notes.len() > 10_000 {
        return Err(Refusal {
            code: "bad_request",
            message: "notes are limited to 10,000 bytes".into(),
        });
    }
    let handled = acd
        .ask(|reply| Command::HandledBy {
            agent: agent.clone(),
            entry: call_id.clone(),
            reply,
        })
        .await
        .map_err(|_| unavailable())?;
    let Some(customer_id) = handled else {
        return Err(Refusal {
            code: "not_yours",
            message: format!("call `{call_id}` is not your last call"),
        });
    };
    let record = Disposition {
        call_id,
        username: agent.clone(),
        customer_id,
        code: disposition,
        notes,
        at_ms: now_ms(),
    };
    if let Err(e) = state.store.save_disposition(&record).await {
        warn!(error = %e, "saving a disposition failed");
        return Err(Refusal {
            code: "unavailable",
            message: "the disposition could not be saved; try again".into(),
        });
    }
    let next = match not_ready {
        Some(reason) => {
            ask(acd, |reply| Command::SetNotReady {
                agent: agent.clone(),
                reason,
                reply,
            })
            .await
        }
        None => {
            ask(acd, |reply| Command::SetAvailable {
                agent: agent.clone(),
                reply,
            })
            .await
        }
    };
    // Wrap-up may have ended by its timer already (the agent is available
    // or on the next offer): the disposition is saved all the same.
    match next {
        Err(Refusal {
            code: "wrong_state",
            ..
        }) => Ok(()),
        other => other,
    }
}

async fn send_json(socket: &mut WebSocket, value: &impl serde::Serialize) -> bool {
    match serde_json::to_string(value) {
        Ok(text) => socket.send(Message::Text(text.into())).await.is_ok(),
        Err(e) => {
            warn!(error = %e, "an agent message could not be encoded");
            true
        }
    }
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// Where a transfer or consult goes; a number only when numbers can be
/// dialled here (`agents.transfer_trunk`) and it looks like one.
fn transfer_target(state: &ApiState, to: TransferTo) -> Result<TransferTarget, Refusal> {
    Ok(match to {
        TransferTo::Queue(q) => TransferTarget::Queue(q),
        TransferTo::Agent(a) => TransferTarget::Agent(a),
        TransferTo::Number(n) => {
            if !state.number_transfers {
                return Err(Refusal {
                    code: "refused",
                    message: "calls to numbers are not set up here (agents.transfer_trunk)".into(),
                });
            }
            if !is_dialable(&n) {
                return Err(Refusal {
                    code: "bad_request",
                    message: format!(
                        "`{n}` is not a number: digits, `*` and `#`, 2 to 20, an optional leading `+`"
                    ),
                });
            }
            TransferTarget::Number(n)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::is_dialable;

    #[test]
    fn transfer_numbers_are_digits_with_an_optional_plus() {
        assert!(is_dialable("+81312345678"));
        assert!(is_dialable("400"));
        assert!(is_dialable("*72#"));
        assert!(!is_dialable("+"));
        assert!(!is_dialable("sip:evil@example.net"));
        assert!(!is_dialable("1 2"));
        assert!(!is_dialable(&"9".repeat(21)));
    }
}
