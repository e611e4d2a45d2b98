//! [`Softphone`], one agent's negotiation handle, and [`SoftphoneMedia`],
//! the channels the call actor holds for the same agent.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info};

use super::audio::{self, AudioSender, LawCell, Outlet};
use super::connection::{PeerLeg, Shared};
use super::{sdp, SoftphoneConfig, SoftphoneError};
use crate::media::g711::Law;

/// Inbound frames queued towards the actor: 1.28 s of 20 ms packets.
const IN_QUEUE: usize = 64;
/// State events queued towards the actor.
const EVENT_QUEUE: usize = 32;

/// One RTP packet of audio from the browser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundFrame {
    /// The connection it came on (see [`Softphone::generation`]).
    pub generation: u64,
    /// Its G.711 law (the negotiated one).
    pub law: Law,
    /// RTP sequence number and timestamp (8 kHz), for reordering, loss and
    /// the recording timeline.
    pub sequence: u16,
    pub timestamp: u32,
    /// RTP marker: the start of a talk spurt.
    pub marker: bool,
    /// When it was read from the connection.
    pub arrived: Instant,
    /// The G.711 bytes (160 for the browsers' 20 ms).
    pub payload: Bytes,
}

/// The state of an agent's connection, as the W3C `connectionState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkState {
    /// No offer accepted yet, or ICE not started.
    New,
    /// ICE or DTLS in progress.
    Connecting,
    /// Media can flow.
    Connected,
    /// Consent checks lapsed; may come back by itself.
    Disconnected,
    /// ICE or DTLS failed; needs a new offer.
    Failed,
    /// Closed by us (replaced or [`Softphone::close`]) or by the browser.
    Closed,
}

/// A state change of one connection of the agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SoftphoneEvent {
    /// Which connection (events of replaced ones may still arrive).
    pub generation: u64,
    pub state: LinkState,
}

/// What the call actor holds for an agent's softphone: it survives
/// renegotiation.
#[derive(Debug)]
pub struct SoftphoneMedia {
    /// The browser's audio, packet by packet. The queue holds 1.28 s; while
    /// the actor lags further behind, new packets are dropped.
    pub frames: mpsc::Receiver<InboundFrame>,
    /// Connection state changes, of every generation.
    pub events: mpsc::Receiver<SoftphoneEvent>,
    /// Audio towards the browser.
    pub audio: AudioSender,
}

/// One agent's softphone connection: answers the page's offers and keeps
/// the current peer connection.
///
/// ```no_run
/// # async fn demo(offer_sdp: String) -> Result<(), hibiki::softphone::SoftphoneError> {
/// use std::sync::Arc;
/// use hibiki::softphone::{Softphone, SoftphoneConfig};
///
/// let (mut phone, mut media) = Softphone::new("agent-7", Arc::new(SoftphoneConfig::default()));
/// let answer_sdp = phone.accept_offer(&offer_sdp).await?; // → the page, over the websocket
/// phone.wait_connected().await?;
/// media.audio.send_frame(&[0xFF; 160]).ok();              // every 20 ms
/// if let Some(_frame) = media.frames.recv().await { /* 160 bytes of G.711 */ }
/// phone.close().await;
/// # Ok(()) }
/// ```
pub struct Softphone {
    config: Arc<SoftphoneConfig>,
    shared: Arc<Shared>,
    state: watch::Receiver<(u64, LinkState)>,
    outlet: watch::Sender<Option<Arc<Outlet>>>,
    law: LawCell,
    leg: Option<PeerLeg>,
    generation: u64,
}

impl Softphone {
    /// A softphone with no connection yet, and the actor's side of it.
    /// Must be called inside a tokio runtime (it starts the audio pump).
    pub fn new(
        agent: impl Into<String>,
        config: Arc<SoftphoneConfig>,
    ) -> (Softphone, SoftphoneMedia) {
        let agent = agent.into();
        let (frames_tx, frames) = mpsc::channel(IN_QUEUE);
        let (events_tx, events) = mpsc::channel(EVENT_QUEUE);
        let (state_tx, state) = watch::channel((0, LinkState::New));
        let (outlet, outlet_rx) = watch::channel(None);
        let (audio, law) = audio::spawn_pump(agent.clone(), outlet_rx);
        let shared = Arc::new(Shared {
            agent,
            frames: frames_tx,
            events: events_tx,
            state: state_tx,
            current: Default::default(),
        });
        let phone = Softphone {
            config,
            shared,
            state,
            outlet,
            law,
            leg: None,
            generation: 0,
        };
        (
            phone,
            SoftphoneMedia {
                frames,
                events,
                audio,
            },
        )
    }

    /// Answers the browser's offer (SDP text) with a complete answer (every
    /// candidate included). A previous connection is closed first: this is
    /// how a page reload renegotiates.
    pub async fn accept_offer(&mut self, offer: &str) -> Result<String, SoftphoneError> {
        let law = sdp::choose_law(offer)?;
        self.close_leg().await;
        self.generation += 1;
        let generation = self.generation;
        self.shared.current.store(generation, Ordering::Release);
        self.shared.state.send_replace((generation, LinkState::New));
        let (leg, answer) =
            PeerLeg::open(&self.config, &self.shared, generation, offer, law).await?;
        self.law.set(Some(law));
        self.outlet.send_replace(Some(Arc::clone(&leg.outlet)));
        info!(agent = %self.shared.agent, generation, ?law, "softphone: offer answered");
        self.leg = Some(leg);
        Ok(answer)
    }

    /// Waits until the current connection is connected (ICE and DTLS), for
    /// at most `connect_timeout_ms`.
    pub async fn wait_connected(&self) -> Result<(), SoftphoneError> {
        let generation = self.generation;
        if self.leg.is_none() {
            return Err(SoftphoneError::NotOpen);
        }
        let mut state = self.state.clone();
        let timeout = self.config.connect_timeout();
        let settled = state.wait_for(|(current, link)| {
            *current != generation
                || matches!(
                    link,
                    LinkState::Connected | LinkState::Failed | LinkState::Closed
                )
        });
        let outcome = match tokio::time::timeout(timeout, settled).await {
            Err(_) => return Err(SoftphoneError::ConnectTimeout(timeout)),
            Ok(Err(_)) => return Err(SoftphoneError::Ended(LinkState::Closed)),
            Ok(Ok(now)) => *now,
        };
        match outcome {
            (current, LinkState::Connected) if current == generation => Ok(()),
            (current, link) if current == generation => Err(SoftphoneError::Ended(link)),
            _ => Err(SoftphoneError::Ended(LinkState::Closed)),
        }
    }

    /// The state of the current connection.
    pub fn state(&self) -> LinkState {
        self.state.borrow().1
    }

    /// How many offers have been accepted; tags frames and events.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The law of the current connection.
    pub fn law(&self) -> Option<Law> {
        self.law.get()
    }

    /// The agent this softphone belongs to.
    pub fn agent(&self) -> &str {
        &self.shared.agent
    }

    /// Closes the current connection (the agent logged out). The media
    /// channels stay usable for a later offer.
    pub async fn close(&mut self) {
        self.close_leg().await;
    }

    async fn close_leg(&mut self) {
        let Some(leg) = self.leg.take() else {
            return;
        };
        self.outlet.send_replace(None);
        self.law.set(None);
        debug!(agent = %self.shared.agent, generation = leg.generation, "softphone: closing connection");
        leg.close().await;
        // The crate reports `closed` only for some paths; make it certain.
        self.shared.report(leg.generation, LinkState::Closed);
    }
}

impl Drop for Softphone {
    fn drop(&mut self) {
        // A dropped connection's driver would keep its socket: close it.
        if let Some(leg) = self.leg.take() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move { leg.close().await });
            }
        }
    }
}
