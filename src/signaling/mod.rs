//! Signaling: SIP transports, the engine that drives the sans-IO endpoint,
//! and the door that decides which requests may start calls.
//!
//! - [`engine`]: the one task that owns the `Endpoint`, the UDP socket and
//!   the table of live calls by Call-ID.
//! - [`transport`]: TCP listener and connection tasks (framing).
//! - [`door`]: trunk identification (source address or digest) and routes.
//! - [`stats`]: folds the endpoint's counters into Prometheus metrics.

pub mod door;
pub mod engine;
pub mod stats;
pub mod transport;

pub use engine::{run, EngineParts};
