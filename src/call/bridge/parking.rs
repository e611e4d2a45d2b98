//! A SIP bridge's media as [`Actor::talk`](crate::call::actor::Actor)
//! holds it: the two RTP legs and the recording, either here in the
//! call's task (relayed packet by packet by its select loop, as while the
//! caller holds and hears music) or parked on the media plane
//! ([`crate::media::plane`]), which relays and records them in batches
//! while the task waits for signalling. Taking them back is one message
//! and at most a millisecond or so: anything that needs them (a
//! re-INVITE, a hold, a recording pause, the end) does.

use std::time::Instant;

use tracing::warn;

use crate::call::recording::Recording;
use crate::media::leg::{Received, RtpLeg};
use crate::media::plane::{BridgeMedia, Media, MediaPlane, ParkedMedia, PlaneEvent};
use crate::store::RecordingRecord;

/// Which party a message or packet came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Party {
    Caller,
    Callee,
}

/// The media in the call's task.
pub(super) struct Here {
    /// The caller's leg.
    pub(super) a: RtpLeg,
    /// The other party's leg.
    pub(super) b: RtpLeg,
    pub(super) recording: Option<Recording>,
}

/// Where a bridge's media is.
pub(super) enum BridgeLegs {
    Here(Box<Here>),
    Parked {
        bridge: ParkedMedia,
        /// The recording's row (its recorder is on the plane).
        row: Option<Box<RecordingRecord>>,
    },
    /// Its media-plane worker is gone, and the legs with it (a bug: the
    /// call ends).
    Lost,
}

/// What woke the media branch of the call's select loop.
pub(super) enum MediaWoke {
    /// A datagram on a leg in the task.
    Packet(Party, std::io::Result<Received>),
    /// The plane's word on the parked bridge (`None`: the plane is gone).
    Plane(Option<PlaneEvent>),
}

impl BridgeLegs {
    pub(super) fn is_parked(&self) -> bool {
        matches!(self, BridgeLegs::Parked { .. })
    }

    /// Whether the legs are gone (the call must end).
    pub(super) fn is_lost(&self) -> bool {
        matches!(self, BridgeLegs::Lost)
    }

    /// The media if it is in the task now (no waiting).
    pub(super) fn here_now(&mut self) -> Option<&mut Here> {
        match self {
            BridgeLegs::Here(here) => Some(&mut **here),
            _ => None,
        }
    }

    /// The media in the task, taken back from the plane if parked; `None`
    /// if it is lost.
    pub(super) async fn here(&mut self) -> Option<&mut Here> {
        if let BridgeLegs::Parked { .. } = self {
            let BridgeLegs::Parked { bridge, row } = std::mem::replace(self, BridgeLegs::Lost)
            else {
                return None;
            };
            // (A media timeout said and not read yet is said again
            // once parked anew.)
            if let Some((Media::Bridge(media), _)) = bridge.unpark().await {
                *self = match unparked(*media, row) {
                    Ok(here) => BridgeLegs::Here(Box::new(here)),
                    Err(e) => {
                        warn!(error = %e, "the bridge's RTP sockets could not be taken back");
                        BridgeLegs::Lost
                    }
                };
            } else {
                warn!("the media plane is gone with the bridge's legs");
            }
        }
        self.here_now()
    }

    /// Hands the media to `plane` (if it is in the task); media timeouts
    /// count from `media_since`.
    pub(super) fn park(&mut self, plane: &MediaPlane, media_since: Instant) {
        if !matches!(self, BridgeLegs::Here(_)) {
            return;
        }
        let BridgeLegs::Here(here) = std::mem::replace(self, BridgeLegs::Lost) else {
            return;
        };
        let Here { a, b, recording } = *here;
        let (recorder, row) = Recording::split(recording);
        let (caller, callee) = match (a.park(), b.park()) {
            (Ok(caller), Ok(callee)) => (caller, callee),
            (a, b) => {
                let e = a.err().or(b.err());
                warn!(error = ?e, "the bridge's RTP sockets could not be parked");
                return;
            }
        };
        let media = BridgeMedia {
            caller,
            callee,
            recorder,
            media_since,
        };
        *self = match plane.park(Media::Bridge(Box::new(media)), tracing::Span::current()) {
            Ok(bridge) => BridgeLegs::Parked { bridge, row },
            Err(Media::Bridge(media)) => match unparked(*media, row) {
                Ok(here) => BridgeLegs::Here(Box::new(here)),
                Err(e) => {
                    warn!(error = %e, "the bridge's RTP sockets could not be taken back");
                    BridgeLegs::Lost
                }
            },
            Err(Media::Flow(_)) => BridgeLegs::Lost,
        };
    }

    /// The next datagram (in the task) or word from the plane (parked);
    /// never, when lost.
    pub(super) async fn next(&mut self) -> MediaWoke {
        match self {
            BridgeLegs::Here(here) => {
                tokio::select! {
                    received = here.a.recv() => MediaWoke::Packet(Party::Caller, received),
                    received = here.b.recv() => MediaWoke::Packet(Party::Callee, received),
                }
            }
            BridgeLegs::Parked { bridge, .. } => MediaWoke::Plane(bridge.event().await),
            BridgeLegs::Lost => std::future::pending().await,
        }
    }

    /// The media back in the task for good (the bridge is over); `None`
    /// if it is lost.
    pub(super) async fn into_here(mut self) -> Option<Here> {
        self.here().await?;
        match self {
            BridgeLegs::Here(here) => Some(*here),
            _ => None,
        }
    }
}

/// The plane's media back as the task's.
fn unparked(media: BridgeMedia, row: Option<Box<RecordingRecord>>) -> std::io::Result<Here> {
    let BridgeMedia {
        caller,
        callee,
        recorder,
        ..
    } = media;
    Ok(Here {
        a: caller.unpark()?,
        b: callee.unpark()?,
        recording: Recording::join(recorder, row),
    })
}
