//! One peer connection of one agent (one "generation"): built from an
//! offer, answered with every candidate, its remote audio read into the
//! agent's inbound channel, its state reported on the agent's event
//! channel.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_PCMA, MIME_TYPE_PCMU};
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    register_default_interceptors, MediaEngine, PeerConnection, PeerConnectionBuilder,
    PeerConnectionEventHandler, RTCConfigurationBuilder, RTCIceCandidateType, RTCIceGatheringState,
    RTCPeerConnectionState, RTCSessionDescription, Registry, SettingEngineBuilder,
};

use super::audio::Outlet;
use super::phone::{InboundFrame, LinkState, SoftphoneEvent};
use super::{SoftphoneConfig, SoftphoneError};
use crate::media::g711::Law;

/// Where the next connection's port search starts in `port_min..=port_max`,
/// shared by all agents so they do not all try the same first port.
static PORT_CURSOR: AtomicU32 = AtomicU32::new(0);

/// What every connection of one agent reports to.
pub(super) struct Shared {
    pub(super) agent: String,
    pub(super) frames: mpsc::Sender<InboundFrame>,
    pub(super) events: mpsc::Sender<SoftphoneEvent>,
    /// `(generation, state)` of the current connection.
    pub(super) state: watch::Sender<(u64, LinkState)>,
    /// The generation whose state `state` follows.
    pub(super) current: AtomicU64,
}

impl Shared {
    pub(super) fn report(&self, generation: u64, state: LinkState) {
        debug!(agent = %self.agent, generation, ?state, "softphone: connection state");
        // Lifecycle events are few; a full queue means the actor is gone
        // or stuck, and `state` still tells the truth.
        let _ = self.events.try_send(SoftphoneEvent { generation, state });
        if self.current.load(Ordering::Acquire) == generation {
            self.state.send_replace((generation, state));
        }
    }
}

/// A live connection and its outgoing track.
pub(super) struct PeerLeg {
    pub(super) generation: u64,
    pub(super) pc: Arc<dyn PeerConnection>,
    pub(super) outlet: Arc<Outlet>,
}

impl PeerLeg {
    /// Builds the connection for `offer` and answers it (complete SDP).
    pub(super) async fn open(
        config: &SoftphoneConfig,
        shared: &Arc<Shared>,
        generation: u64,
        offer: &str,
        law: Law,
    ) -> Result<(PeerLeg, String), SoftphoneError> {
        let (gathered_tx, mut gathered) = watch::channel(false);
        let handler = Arc::new(Handler {
            generation,
            law,
            shared: Arc::clone(shared),
            gathered: gathered_tx,
        });
        let pc = bind(config, handler).await?;

        let ssrc: u32 = rand::random();
        let codec = codec_of(law).rtp_codec;
        let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            format!("hibiki-{}", shared.agent),
            format!("hibiki-{}-audio-{generation}", shared.agent),
            "hibiki-audio".to_owned(),
            RtpCodecKind::Audio,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                active: true,
                codec,
                ..Default::default()
            }],
        )));
        let leg = PeerLeg {
            generation,
            pc,
            outlet: Arc::new(Outlet {
                generation,
                track: Arc::clone(&track),
                ssrc,
                law,
            }),
        };
        match leg.negotiate(config, offer, track, &mut gathered).await {
            Ok(answer) => Ok((leg, answer)),
            Err(error) => {
                leg.close().await;
                Err(error)
            }
        }
    }

    async fn negotiate(
        &self,
        config: &SoftphoneConfig,
        offer: &str,
        track: Arc<TrackLocalStaticRTP>,
        gathered: &mut watch::Receiver<bool>,
    ) -> Result<String, SoftphoneError> {
        self.pc.add_track(track as Arc<dyn TrackLocal>).await?;
        self.pc
            .set_remote_description(RTCSessionDescription::offer(offer.to_owned())?)
            .await?;
        let answer = self.pc.create_answer(None).await?;
        self.pc.set_local_description(answer).await?;
        // Non-trickle: wait for every candidate (host ones come at once;
        // STUN/TURN ones take a round trip), but not forever.
        let wait = gathered.wait_for(|done| *done);
        if tokio::time::timeout(config.gather_timeout(), wait)
            .await
            .is_err()
        {
            warn!(
                generation = self.generation,
                "softphone: candidate gathering timed out; answering with what was gathered"
            );
        }
        let local = self
            .pc
            .local_description()
            .await
            .ok_or(SoftphoneError::NotOpen)?;
        Ok(local.sdp)
    }

    pub(super) async fn close(&self) {
        if let Err(error) = self.pc.close().await {
            debug!(generation = self.generation, %error, "softphone: close failed");
        }
    }
}

/// The codec registered for `law` (static payload types 0 and 8).
fn codec_of(law: Law) -> RTCRtpCodecParameters {
    let mime_type = match law {
        Law::Ulaw => MIME_TYPE_PCMU,
        Law::Alaw => MIME_TYPE_PCMA,
    };
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: mime_type.to_owned(),
            clock_rate: 8000,
            channels: 0,
            sdp_fmtp_line: String::new(),
            rtcp_feedback: Vec::new(),
        },
        payload_type: law.payload_type(),
    }
}

/// Builds the connection on the first free port of the configured range.
async fn bind(
    config: &SoftphoneConfig,
    handler: Arc<Handler>,
) -> Result<Arc<dyn PeerConnection>, SoftphoneError> {
    let start = PORT_CURSOR.fetch_add(1, Ordering::Relaxed);
    let mut last_error = None;
    for port in config.ports_from(start) {
        let addr = SocketAddr::new(config.bind_ip, port);
        // The driver binds inside `build`; probing first skips taken ports
        // without building a connection for each.
        if port != 0 && UdpSocket::bind(addr).is_err() {
            continue;
        }
        match build(config, Arc::clone(&handler), addr).await {
            Ok(pc) => return Ok(pc),
            Err(error) if port != 0 => last_error = Some(error),
            Err(error) => return Err(error),
        }
    }
    match last_error {
        Some(error) => Err(error),
        None => Err(SoftphoneError::NoPort {
            ip: config.bind_ip,
            min: config.port_min,
            max: config.port_max,
        }),
    }
}

async fn build(
    config: &SoftphoneConfig,
    handler: Arc<Handler>,
    addr: SocketAddr,
) -> Result<Arc<dyn PeerConnection>, SoftphoneError> {
    // Only the chosen law: the answer then names one codec for both ways.
    let mut media_engine = MediaEngine::default();
    media_engine.register_codec(codec_of(handler.law), RtpCodecKind::Audio)?;
    let registry = register_default_interceptors(Registry::new(), &mut media_engine)?;
    let mut settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .with_include_loopback_candidate(config.bind_ip.is_loopback());
    if let Some(public_ip) = config.public_ip {
        settings =
            settings.with_nat_1to1_ips(vec![public_ip.to_string()], RTCIceCandidateType::Host);
    }
    let configuration = RTCConfigurationBuilder::new()
        .with_ice_servers(config.ice_servers())
        .build();
    let pc = PeerConnectionBuilder::new()
        .with_configuration(configuration)
        .with_media_engine(media_engine)
        .with_interceptor_registry(registry)
        .with_setting_engine(settings.build())
        .with_handler(handler as Arc<dyn PeerConnectionEventHandler>)
        .with_udp_addrs(vec![addr])
        .build()
        .await?;
    Ok(Arc::new(pc))
}

/// The crate's callbacks for one connection.
struct Handler {
    generation: u64,
    law: Law,
    shared: Arc<Shared>,
    gathered: watch::Sender<bool>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.gathered.send_replace(true);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let state = match state {
            RTCPeerConnectionState::New => LinkState::New,
            RTCPeerConnectionState::Connecting => LinkState::Connecting,
            RTCPeerConnectionState::Connected => LinkState::Connected,
            RTCPeerConnectionState::Disconnected => LinkState::Disconnected,
            RTCPeerConnectionState::Failed => LinkState::Failed,
            RTCPeerConnectionState::Closed => LinkState::Closed,
            _ => return,
        };
        self.shared.report(self.generation, state);
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let frames = self.shared.frames.clone();
        let agent = self.shared.agent.clone();
        let generation = self.generation;
        tokio::spawn(read_track(agent, generation, track, frames));
    }
}

/// Forwards the browser's audio packets until the track ends.
async fn read_track(
    agent: String,
    generation: u64,
    track: Arc<dyn TrackRemote>,
    frames: mpsc::Sender<InboundFrame>,
) {
    let mut dropped: u64 = 0;
    while let Some(event) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(packet) = event else {
            continue;
        };
        // Only the negotiated G.711 law is registered; anything else (a
        // stray payload type) is not audio we can use.
        let Some(law) = Law::from_payload_type(packet.header.payload_type) else {
            continue;
        };
        let frame = InboundFrame {
            generation,
            law,
            sequence: packet.header.sequence_number,
            timestamp: packet.header.timestamp,
            marker: packet.header.marker,
            arrived: Instant::now(),
            payload: packet.payload,
        };
        match frames.try_send(frame) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => dropped += 1,
            Err(mpsc::error::TrySendError::Closed(_)) => break,
        }
    }
    debug!(%agent, generation, dropped, "softphone: remote audio track ended");
}
