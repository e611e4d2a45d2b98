//! Audio towards the browser: the non-blocking [`AudioSender`] the call
//! actor holds, and the per-agent task that turns its frames into RTP on
//! whichever connection is current.
//!
//! The actor's 20 ms tick must never wait on the WebRTC driver, so
//! [`AudioSender::send_frame`] is a `try_send` of one copied frame into a
//! short queue; the pump task stamps sequence numbers and timestamps (a new
//! random origin per connection, marker bit on its first packet) and awaits
//! the track writer. A full queue drops the frame and says so.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use rtc::rtp;
use tokio::sync::{mpsc, watch};
use tracing::debug;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;

use crate::media::g711::Law;

/// Frames queued towards the pump: 160 ms of 20 ms frames.
pub(super) const OUT_QUEUE: usize = 8;

/// No connection negotiated yet, in [`AudioSender`]'s law cell.
const NO_LAW: u8 = u8::MAX;

/// Where the pump writes: the current connection's outgoing track.
pub(super) struct Outlet {
    pub(super) generation: u64,
    pub(super) track: Arc<TrackLocalStaticRTP>,
    pub(super) ssrc: u32,
    pub(super) law: Law,
}

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendFrameError {
    /// The queue is full (the connection's driver is behind): dropped.
    #[error("softphone send queue full: frame dropped")]
    Full,
    /// The softphone's pump is gone (its media was dropped).
    #[error("softphone closed")]
    Closed,
    /// [`AudioSender::send_pcm`] before any offer was accepted: no law yet.
    #[error("no connection negotiated yet")]
    NotNegotiated,
}

/// Sends audio to the agent's browser, whichever connection is current.
/// Cheap to clone; every method returns at once.
#[derive(Clone, Debug)]
pub struct AudioSender {
    frames: mpsc::Sender<Bytes>,
    law: Arc<AtomicU8>,
}

impl AudioSender {
    /// Queues one frame of G.711 in the negotiated [`law`](Self::law)
    /// (160 bytes for 20 ms). Frames sent while no connection is open are
    /// discarded by the pump.
    pub fn send_frame(&self, payload: &[u8]) -> Result<(), SendFrameError> {
        self.frames
            .try_send(Bytes::copy_from_slice(payload))
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => SendFrameError::Full,
                mpsc::error::TrySendError::Closed(_) => SendFrameError::Closed,
            })
    }

    /// Encodes linear PCM (8 kHz) in the negotiated law and queues it.
    pub fn send_pcm(&self, pcm: &[i16]) -> Result<(), SendFrameError> {
        let law = self.law().ok_or(SendFrameError::NotNegotiated)?;
        let mut payload = vec![0u8; pcm.len()];
        law.encode(pcm, &mut payload);
        self.send_frame(&payload)
    }

    /// The law of the current connection (`None` before the first offer).
    pub fn law(&self) -> Option<Law> {
        Law::from_payload_type(self.law.load(Ordering::Relaxed))
    }
}

/// The law cell shared by the [`AudioSender`]s and the negotiation handle.
#[derive(Clone, Debug)]
pub(super) struct LawCell(Arc<AtomicU8>);

impl LawCell {
    pub(super) fn set(&self, law: Option<Law>) {
        let value = law.map_or(NO_LAW, Law::payload_type);
        self.0.store(value, Ordering::Relaxed);
    }

    pub(super) fn get(&self) -> Option<Law> {
        Law::from_payload_type(self.0.load(Ordering::Relaxed))
    }
}

/// Starts the pump of one agent; it ends when every [`AudioSender`] is
/// dropped or the outlet's sender (the [`Softphone`](super::Softphone)) is.
pub(super) fn spawn_pump(
    agent: String,
    outlet: watch::Receiver<Option<Arc<Outlet>>>,
) -> (AudioSender, LawCell) {
    let (frames_tx, frames_rx) = mpsc::channel(OUT_QUEUE);
    let law = Arc::new(AtomicU8::new(NO_LAW));
    tokio::spawn(pump(agent, frames_rx, outlet));
    (
        AudioSender {
            frames: frames_tx,
            law: Arc::clone(&law),
        },
        LawCell(law),
    )
}

/// RTP numbering of the stream towards one connection.
struct Numbering {
    generation: u64,
    sequence: u16,
    timestamp: u32,
    first: bool,
}

async fn pump(
    agent: String,
    mut frames: mpsc::Receiver<Bytes>,
    mut outlet: watch::Receiver<Option<Arc<Outlet>>>,
) {
    let mut numbering: Option<Numbering> = None;
    let mut write_errors: u64 = 0;
    loop {
        let payload = tokio::select! {
            frame = frames.recv() => match frame {
                Some(payload) => payload,
                None => break,
            },
            changed = outlet.changed() => {
                if changed.is_err() {
                    break;
                }
                continue;
            }
        };
        let Some(out) = outlet.borrow().clone() else {
            continue;
        };
        let stream = match &mut numbering {
            Some(stream) if stream.generation == out.generation => stream,
            _ => numbering.insert(Numbering {
                generation: out.generation,
                sequence: rand::random(),
                timestamp: rand::random(),
                first: true,
            }),
        };
        let samples = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        let packet = rtp::Packet {
            header: rtp::Header {
                version: 2,
                marker: stream.first,
                payload_type: out.law.payload_type(),
                sequence_number: stream.sequence,
                timestamp: stream.timestamp,
                ssrc: out.ssrc,
                ..Default::default()
            },
            payload,
        };
        stream.first = false;
        stream.sequence = stream.sequence.wrapping_add(1);
        stream.timestamp = stream.timestamp.wrapping_add(samples);
        if let Err(error) = out.track.write_rtp(packet).await {
            // Before the track is bound (negotiation still going) and after
            // a close, writes fail; count them and log the first.
            write_errors += 1;
            if write_errors == 1 {
                debug!(%agent, generation = out.generation, %error, "softphone: RTP write failed");
            }
        }
    }
    debug!(%agent, write_errors, "softphone: audio pump ended");
}
