//! One agent's softphone station: the task that owns the agent's
//! [`Softphone`] (its WebRTC negotiation) and, between calls, its
//! [`SoftphoneMedia`] (the audio channels).
//!
//! The agent's page negotiates through [`Station::offer`] (every tab and
//! reload of the same agent reaches the same station, so a reload
//! renegotiates the one connection and a call in progress carries on). A
//! call that the agent answers borrows the media with [`Station::borrow`]
//! and holds a [`Lent`], which gives the media back when dropped, however
//! the call ends. Between calls the station reads and discards the
//! browser's audio, so a call starts with fresh frames, not stale ones.
//!
//! The station lives as long as a [`Station`] handle does: the ACD keeps
//! one while the agent is logged in, and a call keeps one while bridged.
//! When the last one goes, the peer connection is closed.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info};

use super::{LinkState, Softphone, SoftphoneConfig, SoftphoneError, SoftphoneMedia};

/// Commands queued towards a station.
const COMMANDS: usize = 16;

/// Why the media could not be borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BorrowError {
    /// The page has not connected its softphone (or it failed or closed).
    #[error("the agent's softphone is not connected ({0:?})")]
    NotConnected(LinkState),
    /// Another call holds it.
    #[error("the agent's softphone is in use by another call")]
    InUse,
    /// The station stopped (the agent logged out).
    #[error("the agent's softphone is closed")]
    Closed,
}

enum Command {
    Offer {
        sdp: String,
        reply: oneshot::Sender<Result<String, SoftphoneError>>,
    },
    Borrow {
        reply: oneshot::Sender<Result<Lent, BorrowError>>,
    },
    State {
        reply: oneshot::Sender<LinkState>,
    },
}

/// A handle on one agent's station. Cheap to clone.
#[derive(Clone)]
pub struct Station {
    agent: Arc<str>,
    tx: mpsc::Sender<Command>,
}

impl std::fmt::Debug for Station {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Station")
            .field("agent", &self.agent)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Station {
    fn eq(&self, other: &Station) -> bool {
        self.tx.same_channel(&other.tx)
    }
}

impl Eq for Station {}

impl Station {
    /// Starts the station of `agent`. Must be called inside a tokio
    /// runtime.
    pub fn spawn(agent: &str, config: Arc<SoftphoneConfig>) -> Station {
        let (phone, media) = Softphone::new(agent, config);
        let (tx, rx) = mpsc::channel(COMMANDS);
        let (back_tx, back_rx) = mpsc::unbounded_channel();
        let task = Task {
            phone,
            media: Some(media),
            back_tx,
        };
        tokio::spawn(task.run(rx, back_rx));
        Station {
            agent: agent.into(),
            tx,
        }
    }

    /// The agent it belongs to.
    pub fn agent(&self) -> &str {
        &self.agent
    }

    /// Answers the page's offer (SDP), replacing any previous connection.
    pub async fn offer(&self, sdp: String) -> Result<String, SoftphoneError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Command::Offer { sdp, reply })
            .await
            .map_err(|_| SoftphoneError::NotOpen)?;
        answer.await.map_err(|_| SoftphoneError::NotOpen)?
    }

    /// Lends the media to a call: only while connected and not lent.
    pub async fn borrow(&self) -> Result<Lent, BorrowError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Command::Borrow { reply })
            .await
            .map_err(|_| BorrowError::Closed)?;
        answer.await.map_err(|_| BorrowError::Closed)?
    }

    /// The state of the current connection.
    pub async fn state(&self) -> LinkState {
        let (reply, answer) = oneshot::channel();
        if self.tx.send(Command::State { reply }).await.is_err() {
            return LinkState::Closed;
        }
        answer.await.unwrap_or(LinkState::Closed)
    }
}

/// The media of an agent's softphone, lent to one call; given back to the
/// station when dropped.
pub struct Lent {
    media: Option<SoftphoneMedia>,
    back: mpsc::UnboundedSender<SoftphoneMedia>,
}

impl Lent {
    /// The channels: the browser's frames and link events, and the sender
    /// towards the browser.
    pub fn media(&mut self) -> &mut SoftphoneMedia {
        // Taken only in Drop.
        #[allow(clippy::expect_used)]
        self.media
            .as_mut()
            .expect("lent media is present until dropped")
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        if let Some(media) = self.media.take() {
            // The station may be gone (logged out): then so is the media.
            let _ = self.back.send(media);
        }
    }
}

struct Task {
    phone: Softphone,
    /// `None` while lent.
    media: Option<SoftphoneMedia>,
    back_tx: mpsc::UnboundedSender<SoftphoneMedia>,
}

impl Task {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut back: mpsc::UnboundedReceiver<SoftphoneMedia>,
    ) {
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.handle(command).await,
                    None => break,
                },
                Some(media) = back.recv() => {
                    debug!(agent = %self.phone.agent(), "softphone media given back");
                    self.media = Some(media);
                }
                // Between calls the browser's audio is read and dropped.
                Some(event) = idle(&mut self.media) => {
                    if let Some(event) = event {
                        debug!(agent = %self.phone.agent(), ?event, "softphone link (idle)");
                    }
                }
            }
        }
        info!(agent = %self.phone.agent(), "softphone station closed");
        self.phone.close().await;
    }

    async fn handle(&mut self, command: Command) {
        match command {
            Command::Offer { sdp, reply } => {
                let _ = reply.send(self.phone.accept_offer(&sdp).await);
            }
            Command::Borrow { reply } => {
                let state = self.phone.state();
                let result = if state != LinkState::Connected {
                    Err(BorrowError::NotConnected(state))
                } else {
                    match self.media.take() {
                        Some(mut media) => {
                            while media.frames.try_recv().is_ok() {}
                            while media.events.try_recv().is_ok() {}
                            Ok(Lent {
                                media: Some(media),
                                back: self.back_tx.clone(),
                            })
                        }
                        None => Err(BorrowError::InUse),
                    }
                };
                // A borrower that went away gives it back by dropping it.
                let _ = reply.send(result);
            }
            Command::State { reply } => {
                let _ = reply.send(self.phone.state());
            }
        }
    }
}

/// The next frame (`Some(None)`) or link event of idle media; `None` once
/// its channels closed.
async fn idle(media: &mut Option<SoftphoneMedia>) -> Option<Option<super::SoftphoneEvent>> {
    let Some(m) = media else {
        return std::future::pending().await;
    };
    tokio::select! {
        Some(_) = m.frames.recv() => Some(None),
        Some(event) = m.events.recv() => Some(Some(event)),
        else => None,
    }
}
