//! # hibiki-sip — the SIP protocol, without IO
//!
//! This crate is to Hibiki's signaling layer what `quinn-proto` is to
//! `quinn`: all of the protocol, none of the sockets. It never reads a
//! clock, never touches a socket and never spawns a task; time comes in
//! with every call as a [`std::time::Instant`], bytes come in as slices,
//! and what must go out is handed back.
//!
//! ## Layout
//! - [`message`]: requests, responses and the typed headers.
//! - [`parse`]: bytes → [`message::Message`], with framing for streams
//!   (Content-Length), folded lines, compact header names, and a precise
//!   reason for every refusal.
//! - [`write`]: [`message::Message`] → bytes.
//! - [`transaction`]: RFC 3261 §17 client and server transactions, INVITE
//!   and non-INVITE, timers A–K.
//! - [`endpoint`]: the one object a transport drives: parsing, stateless
//!   error responses, transaction matching, CANCEL, ACK.
//! - [`dialog`]: dialog state (tags, route set, CSeq, remote target).
//! - [`auth`]: digest authentication, MD5 and SHA-256 (RFC 8760).
//! - [`sdp`]: SDP (RFC 4566) for audio, and offer/answer (RFC 3264).
//!
//! ## The driving rule
//! After every `Endpoint::handle_*` call, drain `poll_transmit()` and
//! `poll_event()` until both return `None`, then sleep until
//! `poll_timeout()` and call `handle_timeout(now)`.

pub mod auth;
pub mod dialog;
pub mod endpoint;
pub mod message;
pub mod parse;
pub mod sdp;
pub mod transaction;
pub mod write;

pub use message::*;
