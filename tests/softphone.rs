//! The agent softphone against a second webrtc-rs peer on 127.0.0.1 that
//! plays the browser: offer → answer → connected, a tone each way decoded
//! and measured (Goertzel), and a page reload (a new offer) that replaces
//! the connection while the actor's channels carry on.

use std::sync::Arc;
use std::time::Duration;

use hibiki::media::g711::Law;
use hibiki::softphone::{
    BorrowError, InboundFrame, LinkState, Softphone, SoftphoneConfig, SoftphoneError,
    SoftphoneMedia, Station,
};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_PCMA, MIME_TYPE_PCMU};
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use tokio::sync::{mpsc, watch};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    register_default_interceptors, MediaEngine, PeerConnection, PeerConnectionBuilder,
    PeerConnectionEventHandler, RTCIceGatheringState, RTCPeerConnectionState,
    RTCSessionDescription, Registry, SettingEngineBuilder,
};

const RATE: f64 = 8000.0;
const FRAME: usize = 160;
/// About one second of 20 ms frames.
const FRAMES: usize = 50;
const BROWSER_TONE: f64 = 1000.0;
const HIBIKI_TONE: f64 = 400.0;

// ---------------------------------------------------------------- tones

fn tone_frame(hz: f64, index: usize) -> Vec<i16> {
    (0..FRAME)
        .map(|i| {
            let n = (index * FRAME + i) as f64;
            (8000.0 * (2.0 * std::f64::consts::PI * hz * n / RATE).sin()) as i16
        })
        .collect()
}

/// Power of `pcm` at `hz` (Goertzel), normalised by length.
fn goertzel(pcm: &[i16], hz: f64) -> f64 {
    let coeff = 2.0 * (2.0 * std::f64::consts::PI * hz / RATE).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in pcm {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (pcm.len() as f64).powi(2)
}

/// Asserts `pcm` is a tone at `hz`: its power there dwarfs the other
/// test tone and a few unrelated frequencies, and it is loud.
fn assert_tone(pcm: &[i16], hz: f64, who: &str) {
    assert!(pcm.len() >= 20 * FRAME, "{who}: only {} samples", pcm.len());
    let at = goertzel(pcm, hz);
    for other in [BROWSER_TONE, HIBIKI_TONE, 250.0, 1700.0, 3000.0] {
        if (other - hz).abs() < 1.0 {
            continue;
        }
        let off = goertzel(pcm, other);
        assert!(
            at > 100.0 * off,
            "{who}: {hz} Hz power {at:.1} vs {other} Hz {off:.1}"
        );
    }
    // A full-scale-ish 8000-amplitude sine has Goertzel power ≈ (A/2)² = 1.6e7.
    assert!(at > 1.0e6, "{who}: {hz} Hz too weak ({at:.1})");
}

fn decode(law: Law, payloads: impl IntoIterator<Item = bytes::Bytes>) -> Vec<i16> {
    let mut pcm = Vec::new();
    for payload in payloads {
        let mut buf = vec![0i16; payload.len()];
        law.decode(&payload, &mut buf);
        pcm.extend_from_slice(&buf);
    }
    pcm
}

// ---------------------------------------------------- the "browser" peer

struct BrowserHandler {
    state: watch::Sender<RTCPeerConnectionState>,
    gathered: watch::Sender<bool>,
    packets: mpsc::UnboundedSender<rtp::Packet>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for BrowserHandler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.gathered.send_replace(true);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.state.send_replace(state);
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let packets = self.packets.clone();
        tokio::spawn(async move {
            while let Some(event) = track.poll().await {
                if let TrackRemoteEvent::OnRtpPacket(packet) = event {
                    if packets.send(packet).is_err() {
                        break;
                    }
                }
            }
        });
    }
}

/// A webrtc-rs peer that offers sendrecv audio like a browser page.
struct Browser {
    pc: Box<dyn PeerConnection>,
    track: Arc<TrackLocalStaticRTP>,
    law: Law,
    ssrc: u32,
    state: watch::Receiver<RTCPeerConnectionState>,
    gathered: watch::Receiver<bool>,
    packets: mpsc::UnboundedReceiver<rtp::Packet>,
}

fn codec(law: Law) -> RTCRtpCodecParameters {
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: match law {
                Law::Ulaw => MIME_TYPE_PCMU,
                Law::Alaw => MIME_TYPE_PCMA,
            }
            .to_owned(),
            clock_rate: 8000,
            channels: 0,
            sdp_fmtp_line: String::new(),
            rtcp_feedback: Vec::new(),
        },
        payload_type: law.payload_type(),
    }
}

impl Browser {
    /// `laws`: the codecs it offers, in order; it sends with the first.
    async fn new(laws: &[Law]) -> Browser {
        let mut media_engine = MediaEngine::default();
        for law in laws {
            media_engine
                .register_codec(codec(*law), RtpCodecKind::Audio)
                .unwrap();
        }
        let registry = register_default_interceptors(Registry::new(), &mut media_engine).unwrap();
        let (state_tx, state) = watch::channel(RTCPeerConnectionState::New);
        let (gathered_tx, gathered) = watch::channel(false);
        let (packets_tx, packets) = mpsc::unbounded_channel();
        let pc = PeerConnectionBuilder::new()
            .with_media_engine(media_engine)
            .with_interceptor_registry(registry)
            .with_setting_engine(
                SettingEngineBuilder::new()
                    .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
                    .with_include_loopback_candidate(true)
                    .build(),
            )
            .with_handler(Arc::new(BrowserHandler {
                state: state_tx,
                gathered: gathered_tx,
                packets: packets_tx,
            }))
            .with_udp_addrs(vec!["127.0.0.1:0"])
            .build()
            .await
            .unwrap();
        let law = laws[0];
        let ssrc: u32 = rand::random();
        let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            "browser".to_owned(),
            "browser-mic".to_owned(),
            "mic".to_owned(),
            RtpCodecKind::Audio,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                active: true,
                codec: codec(law).rtp_codec,
                ..Default::default()
            }],
        )));
        pc.add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
            .await
            .unwrap();
        Browser {
            pc: Box::new(pc),
            track,
            law,
            ssrc,
            state,
            gathered,
            packets,
        }
    }

    /// A complete offer (after gathering).
    async fn offer(&mut self) -> String {
        let offer = self.pc.create_offer(None).await.unwrap();
        self.pc.set_local_description(offer).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), self.gathered.wait_for(|g| *g))
            .await
            .expect("browser gathering completes")
            .unwrap();
        self.pc.local_description().await.unwrap().sdp
    }

    async fn accept(&mut self, answer: String) {
        self.pc
            .set_remote_description(RTCSessionDescription::answer(answer).unwrap())
            .await
            .unwrap();
        tokio::time::timeout(
            Duration::from_secs(10),
            self.state
                .wait_for(|s| *s == RTCPeerConnectionState::Connected),
        )
        .await
        .expect("browser side connects")
        .unwrap();
    }

    async fn send(&self, index: usize, pcm: &[i16]) {
        let mut payload = vec![0u8; pcm.len()];
        self.law.encode(pcm, &mut payload);
        let packet = rtp::Packet {
            header: rtp::Header {
                version: 2,
                payload_type: self.law.payload_type(),
                sequence_number: index as u16,
                timestamp: (index * FRAME) as u32,
                ssrc: self.ssrc,
                ..Default::default()
            },
            payload: payload.into(),
        };
        // Before the browser's track is bound a write may fail: not the
        // softphone's concern, the receiving side's count tells.
        let _ = self.track.write_rtp(packet).await;
    }
}

// ------------------------------------------------------------- scenario

/// Connects `browser` to `phone`; returns the answer.
async fn connect(phone: &mut Softphone, browser: &mut Browser) -> String {
    let offer = browser.offer().await;
    let answer = phone.accept_offer(&offer).await.expect("offer accepted");
    let (server, client) = tokio::join!(phone.wait_connected(), browser.accept(answer.clone()));
    server.expect("softphone connects");
    let () = client;
    assert_eq!(phone.state(), LinkState::Connected);
    answer
}

/// One second of talk both ways: the browser sends 1 kHz, the actor (this
/// test) 400 Hz every 20 ms. Returns what each side received.
async fn talk(
    browser: &mut Browser,
    media: &mut SoftphoneMedia,
    generation: u64,
) -> (Vec<InboundFrame>, Vec<rtp::Packet>) {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut at_hibiki = Vec::new();
    let mut at_browser = Vec::new();
    for index in 0..FRAMES {
        tick.tick().await;
        browser.send(index, &tone_frame(BROWSER_TONE, index)).await;
        media
            .audio
            .send_pcm(&tone_frame(HIBIKI_TONE, index))
            .expect("send_pcm queues");
        while let Ok(frame) = media.frames.try_recv() {
            if frame.generation == generation {
                at_hibiki.push(frame);
            }
        }
        while let Ok(packet) = browser.packets.try_recv() {
            at_browser.push(packet);
        }
    }
    // The last packets in flight.
    tokio::time::sleep(Duration::from_millis(200)).await;
    while let Ok(frame) = media.frames.try_recv() {
        if frame.generation == generation {
            at_hibiki.push(frame);
        }
    }
    while let Ok(packet) = browser.packets.try_recv() {
        at_browser.push(packet);
    }
    (at_hibiki, at_browser)
}

fn assert_two_way_audio(
    law: Law,
    at_hibiki: &[InboundFrame],
    at_browser: &[rtp::Packet],
    round: &str,
) {
    // Frames may be lost before both ends are bound; most must arrive.
    assert!(
        at_hibiki.len() >= FRAMES * 3 / 5,
        "{round}: Hibiki got {} of {FRAMES} frames",
        at_hibiki.len()
    );
    assert!(
        at_browser.len() >= FRAMES * 3 / 5,
        "{round}: browser got {} of {FRAMES} packets",
        at_browser.len()
    );
    for frame in at_hibiki {
        assert_eq!(frame.law, law, "{round}: inbound law");
        assert_eq!(frame.payload.len(), FRAME, "{round}: inbound frame size");
    }
    for packet in at_browser {
        assert_eq!(
            packet.header.payload_type,
            law.payload_type(),
            "{round}: outbound payload type"
        );
    }
    // Consecutive outbound packets are numbered and timed as 20 ms frames.
    for pair in at_browser.windows(2) {
        let (a, b) = (&pair[0].header, &pair[1].header);
        if b.sequence_number == a.sequence_number.wrapping_add(1) {
            assert_eq!(
                b.timestamp.wrapping_sub(a.timestamp),
                FRAME as u32,
                "{round}"
            );
        }
    }
    let heard_by_hibiki = decode(law, at_hibiki.iter().map(|f| f.payload.clone()));
    assert_tone(&heard_by_hibiki, BROWSER_TONE, &format!("{round}: Hibiki"));
    let heard_by_browser = decode(law, at_browser.iter().map(|p| p.payload.clone()));
    assert_tone(&heard_by_browser, HIBIKI_TONE, &format!("{round}: browser"));
}

fn config() -> Arc<SoftphoneConfig> {
    Arc::new(SoftphoneConfig::loopback())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_offer_connects_and_audio_flows_both_ways() {
    let (mut phone, mut media) = Softphone::new("agent-1", config());
    let mut browser = Browser::new(&[Law::Ulaw, Law::Alaw]).await;
    let answer = connect(&mut phone, &mut browser).await;

    // PCMU preferred and alone in the answer; a host candidate on the
    // configured bind address.
    assert!(answer.contains("PCMU/8000"), "{answer}");
    assert!(!answer.contains("PCMA/8000"), "{answer}");
    assert!(
        answer.lines().any(|l| l.starts_with("a=candidate:")
            && l.contains(" 127.0.0.1 ")
            && l.contains("typ host")),
        "{answer}"
    );
    assert_eq!(phone.law(), Some(Law::Ulaw));
    assert_eq!(media.audio.law(), Some(Law::Ulaw));
    assert_eq!(phone.generation(), 1);

    let (at_hibiki, at_browser) = talk(&mut browser, &mut media, 1).await;
    assert_two_way_audio(Law::Ulaw, &at_hibiki, &at_browser, "first connection");

    // The event channel said connected for generation 1.
    let mut events = Vec::new();
    while let Ok(event) = media.events.try_recv() {
        events.push(event);
    }
    assert!(
        events
            .iter()
            .any(|e| e.generation == 1 && e.state == LinkState::Connected),
        "{events:?}"
    );

    phone.close().await;
    assert_eq!(phone.state(), LinkState::Closed);
    assert!(matches!(
        phone.wait_connected().await,
        Err(SoftphoneError::NotOpen)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_offer_replaces_the_connection_and_audio_flows_again() {
    let (mut phone, mut media) = Softphone::new("agent-2", config());
    let mut first = Browser::new(&[Law::Ulaw]).await;
    connect(&mut phone, &mut first).await;
    let (at_hibiki, at_browser) = talk(&mut first, &mut media, 1).await;
    assert_two_way_audio(Law::Ulaw, &at_hibiki, &at_browser, "before reload");

    // The page reloads: a new peer, a new offer, same Softphone and media.
    let mut second = Browser::new(&[Law::Ulaw, Law::Alaw]).await;
    connect(&mut phone, &mut second).await;
    assert_eq!(phone.generation(), 2);

    let mut events = Vec::new();
    while let Ok(event) = media.events.try_recv() {
        events.push(event);
    }
    assert!(
        events
            .iter()
            .any(|e| e.generation == 1 && e.state == LinkState::Closed),
        "the replaced connection reports closed: {events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.generation == 2 && e.state == LinkState::Connected),
        "{events:?}"
    );

    // Drop whatever of generation 1 was still queued, then talk.
    let (at_hibiki, at_browser) = talk(&mut second, &mut media, 2).await;
    assert_two_way_audio(Law::Ulaw, &at_hibiki, &at_browser, "after reload");

    // The old page hears nothing more: its connection is gone.
    while first.packets.try_recv().is_ok() {}
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(first.packets.try_recv().is_err());
    phone.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pcma_only_offer_is_answered_in_pcma() {
    let (mut phone, mut media) = Softphone::new("agent-3", config());
    let mut browser = Browser::new(&[Law::Alaw]).await;
    let answer = connect(&mut phone, &mut browser).await;
    assert!(answer.contains("PCMA/8000"), "{answer}");
    assert!(!answer.contains("PCMU/8000"), "{answer}");
    assert_eq!(media.audio.law(), Some(Law::Alaw));
    let (at_hibiki, at_browser) = talk(&mut browser, &mut media, 1).await;
    assert_two_way_audio(Law::Alaw, &at_hibiki, &at_browser, "PCMA");
    phone.close().await;
}

#[tokio::test]
async fn offers_without_g711_audio_are_refused_and_leave_no_connection() {
    let (mut phone, _media) = Softphone::new("agent-4", config());
    let opus_only = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n";
    assert!(matches!(
        phone.accept_offer(opus_only).await,
        Err(SoftphoneError::NoG711)
    ));
    assert!(matches!(
        phone.accept_offer("not sdp").await,
        Err(SoftphoneError::NoAudio)
    ));
    assert_eq!(phone.generation(), 0);
    assert!(matches!(
        phone.wait_connected().await,
        Err(SoftphoneError::NotOpen)
    ));
    assert_eq!(
        _media.audio.send_pcm(&[0; 160]),
        Err(hibiki::softphone::SendFrameError::NotNegotiated)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ports_come_from_the_configured_range() {
    let config = Arc::new(SoftphoneConfig {
        port_min: 18_610,
        port_max: 18_619,
        ..SoftphoneConfig::loopback()
    });
    let (mut phone, _media) = Softphone::new("agent-5", config);
    let mut browser = Browser::new(&[Law::Ulaw]).await;
    let answer = connect(&mut phone, &mut browser).await;
    let port: u16 = answer
        .lines()
        .find(|l| l.starts_with("a=candidate:") && l.contains("typ host"))
        .and_then(|l| l.split_whitespace().nth(5))
        .and_then(|p| p.parse().ok())
        .expect("a host candidate with a port");
    assert!((18_610..=18_619).contains(&port), "port {port}");
    phone.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_lends_its_media_to_one_call_at_a_time_and_gets_it_back() {
    let station = Station::spawn("agent-9", config());
    // Nothing to lend before the page connects.
    assert!(matches!(
        station.borrow().await,
        Err(BorrowError::NotConnected(LinkState::New))
    ));
    let mut browser = Browser::new(&[Law::Ulaw]).await;
    let offer = browser.offer().await;
    let answer = station.offer(offer).await.expect("offer accepted");
    browser.accept(answer).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while station.state().await != LinkState::Connected {
        assert!(tokio::time::Instant::now() < deadline, "never connected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Audio sent before any call is read and dropped by the station.
    for index in 60_000..60_010 {
        browser.send(index, &tone_frame(BROWSER_TONE, index)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut lent = station.borrow().await.expect("lent to the first call");
    assert!(matches!(station.borrow().await, Err(BorrowError::InUse)));
    let (at_hibiki, at_browser) = talk(&mut browser, lent.media(), 1).await;
    assert_two_way_audio(Law::Ulaw, &at_hibiki, &at_browser, "a lent station");
    assert!(
        at_hibiki.iter().all(|f| f.sequence < 60_000),
        "no stale frames from before the call"
    );
    drop(lent);
    // Given back: the next call may borrow it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match station.borrow().await {
            Ok(_) => break,
            Err(BorrowError::InUse) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("not given back: {e}"),
        }
    }
}
