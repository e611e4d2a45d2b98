//! The agent's browser softphone, media side: one persistent WebRTC peer
//! connection per logged-in agent, opened at login so that answering a
//! call needs no new negotiation.
//!
//! ## What it owns
//! - [`Softphone`]: the negotiation handle of one agent. The agent's page
//!   offers (sendrecv audio) over the agent websocket;
//!   [`Softphone::accept_offer`] answers with a complete SDP (non-trickle:
//!   the answer carries every candidate, so the websocket carries one
//!   message each way). A later offer from the same agent (a page reload)
//!   replaces the previous peer connection: it is closed, and the audio
//!   channels below carry on with the new one.
//! - [`SoftphoneMedia`]: what the call actor holds for the same agent —
//!   [`InboundFrame`]s from the browser on a bounded tokio `mpsc` it can
//!   `select!` on, [`SoftphoneEvent`]s (connected, disconnected, failed…)
//!   on another, and an [`AudioSender`] whose
//!   [`send_frame`](AudioSender::send_frame) and
//!   [`send_pcm`](AudioSender::send_pcm) never block: the actor calls one
//!   every 20 ms with 160 samples; a per-agent task stamps them into RTP and
//!   hands them to the crate's track writer. Silence and comfort noise when
//!   nothing is bridged are the actor's business.
//!
//! Those channels outlive renegotiation, so the actor does not care how many
//! times the page reloaded; every frame and event carries the
//! `generation` (the count of offers accepted) it came from.
//!
//! ## Codecs
//! G.711 only, as the rest of Hibiki's media path: PCMU when the offer has
//! it, else PCMA. Only the chosen law is registered for the connection, so
//! the answer names one codec and both directions use it: no per-packet
//! transcoding surprises on either side. An offer with neither is refused
//! ([`SoftphoneError::NoG711`]).
//!
//! ## ICE
//! Full ICE (the crate's default) rather than ICE-lite. Lite would do for a
//! server with a public address, but full ICE also works when Hibiki sits
//! behind a NAT with no `public_ip` set (its STUN servers give it a
//! server-reflexive candidate, its TURN servers a relay one), and its
//! consent checks notice a dead browser on their own. Host candidates are on
//! `bind_ip` (a wildcard means every non-loopback interface); `public_ip`
//! replaces them with the 1:1 NAT address. mDNS is off: it binds port 5353
//! per connection, and browsers that were granted the microphone reveal
//! real addresses anyway (their checks would reach us as peer-reflexive
//! candidates otherwise). The same STUN/TURN servers are what the page
//! should use: [`SoftphoneConfig::browser_ice_servers`].
//!
//! ## Why this crate and shape
//! `webrtc` 0.21 (webrtc-rs), the async layer over its sans-IO `rtc`
//! core: each connection gets a background driver task that owns its
//! sockets, which matches "one long-lived connection per agent" and keeps
//! DTLS, SRTP, ICE and RTCP out of this module. The sans-IO core with one
//! socket for all agents would save ports, but a contact center has
//! hundreds of agents, not tens of thousands, and `port_min`/`port_max`
//! keep their sockets in a firewall-friendly range (the crate has no range
//! setting: this module picks the port and binds it exactly). The crate
//! drives its own clock and sockets, so — unlike `media::rtp` — this module
//! is an adapter, not a sans-IO core; its tests pair it with a second
//! webrtc-rs peer on 127.0.0.1.

// Offers and RTP come from the network: no panics on them.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod audio;
mod config;
mod connection;
mod phone;
mod sdp;
mod station;

pub use audio::{AudioSender, SendFrameError};
pub use config::{BrowserIceServer, SoftphoneConfig, TurnServer};
pub use phone::{InboundFrame, LinkState, Softphone, SoftphoneEvent, SoftphoneMedia};
pub use station::{BorrowError, Lent, Station};

use std::time::Duration;

/// Why a softphone operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SoftphoneError {
    /// The offer is not SDP with an audio section.
    #[error("the offer has no audio section")]
    NoAudio,
    /// The offer's audio section has neither PCMU nor PCMA.
    #[error("the offer has neither PCMU nor PCMA")]
    NoG711,
    /// No UDP port in `port_min..=port_max` could be bound.
    #[error("no free UDP port in {min}..={max} on {ip}")]
    NoPort {
        ip: std::net::IpAddr,
        min: u16,
        max: u16,
    },
    /// The WebRTC stack refused (bad SDP, closed connection, bind failure…).
    #[error("webrtc: {0}")]
    WebRtc(#[from] webrtc::error::Error),
    /// No connection is open (no offer accepted yet, or closed).
    #[error("no peer connection is open")]
    NotOpen,
    /// ICE and DTLS did not reach `connected` in time.
    #[error("not connected after {0:?}")]
    ConnectTimeout(Duration),
    /// The connection failed or was closed or replaced while waiting.
    #[error("the connection ended while waiting ({0:?})")]
    Ended(LinkState),
}
