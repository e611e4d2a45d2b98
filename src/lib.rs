//! # Hibiki — a contact-center engine
//!
//! One binary that answers SIP calls from trunks, runs them through IVR
//! flows, queues them to agents, records them, and shows it all live.
//!
//! ## A tour of the code
//! - [`config`]: the TOML file, `HIBIKI_<SECTION>_<KEY>` overrides, the
//!   embedded default, and validation that names the key at fault.
//! - [`ivr`]: IVR flows: format, loading, validation, the sans-IO
//!   interpreter, the simulator, HTTP data dips.
//! - [`signaling`]: UDP and TCP transports that drive the sans-IO
//!   [`hibiki_sip::endpoint::Endpoint`], and the decisions at the door:
//!   which trunk a request came from, which route a number takes.
//! - [`call`]: one tokio task per call owns that call's state; a registry
//!   of live calls; the call record written when it ends.
//! - [`media`]: G.711, DTMF, RTP, prompts and the call recorder (building
//!   blocks; RTP sessions and bridging come next).
//! - [`acd`]: queues and agents: which waiting call goes to which agent
//!   (a sans-IO core and the one task that owns it and the agents' screens).
//! - [`agent`]: the agent websocket (`docs/agent-protocol.md`).
//! - [`softphone`]: agents' browser softphones: one persistent WebRTC
//!   connection per logged-in agent (offer/answer, audio in and out).
//! - [`customer`]: who is calling: phone numbers to E.164 for the
//!   caller-id lookup, and the demo customers.
//! - [`store`]: the database behind a `Store` with SQLite and PostgreSQL
//!   implementations; never on the path of a SIP retransmission.
//! - [`auth`]: users, roles, Argon2id passwords and expiring bearer
//!   tokens: the rules every API endpoint and websocket applies.
//! - [`api`]: axum: `/metrics`, `/healthz`, `/readyz`, and the REST API
//!   under `/api/v1` (login, users; later websockets and the web UI).
//! - [`telemetry`]: logging (human or JSON) and the Prometheus registry.
//! - [`server`]: wiring it together, and graceful shutdown.

pub mod acd;
pub mod agent;
pub mod api;
pub mod auth;
pub mod call;
pub mod config;
pub mod customer;
pub mod ivr;
pub mod media;
pub mod server;
pub mod signaling;
pub mod softphone;
pub mod store;
pub mod telemetry;
