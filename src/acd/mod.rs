//! The ACD (automatic call distribution): queues, agents and who gets
//! which call.
//!
//! - [`core`]: the decisions, sans-IO (longest idle, skills and levels,
//!   priority, overflow, max wait, ring-no-answer, wrap-up, estimated
//!   wait, callbacks keeping their place), unit-tested on a fake clock.
//! - [`service`]: the one tokio task that owns the [`core::Acd`] and the
//!   agents' screens: calls and agent websockets talk to it by messages.

pub mod core;
pub mod service;
#[cfg(test)]
mod tests;

pub use self::core::{Acd, Action, EntryKind, Estimate, LeftReason, QueueSettings, SkillNeed};
pub use crate::store::AgentStatus;
