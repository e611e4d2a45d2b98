//! Agents' live side: the websocket their page (or any client) keeps
//! open while logged in.
//!
//! - [`protocol`]: the messages, version 1 (`docs/agent-protocol.md`).
//! - [`session`]: one socket: authentication, attaching to the ACD,
//!   relaying requests and events, token re-checks, resume after a reload.
//!
//! The agents' state lives in the ACD task ([`crate::acd::service`]), not
//! here: a session is only a window onto it.

pub mod protocol;
pub mod session;
