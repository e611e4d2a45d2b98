//! Offer/answer (RFC 3264) for one audio stream, as a B2BUA that anchors
//! media: each leg negotiates with Hibiki, never end to end.
//!
//! - [`answer`]: a peer's offer → our answer and what was negotiated.
//! - [`offer`] / [`accept_answer`]: our offer for an outbound leg, and
//!   the peer's answer checked against it.
//! - [`hold`], [`resume`], [`reoffer`]: re-INVITE offers from our last
//!   description, version + 1; [`SessionDescription::is_hold`] recognises
//!   a peer's hold; [`SessionDescription::versioned_after`] keeps the
//!   `o=` version right when answering a re-INVITE.
//!
//! Codecs are G.711 only ([`Codec`]), with RFC 4733 telephone-event at
//! 8 kHz. Plain RTP only (`RTP/AVP`, `RTP/AVPF`): SRTP and WebRTC
//! (DTLS-SRTP) offers are refused with [`SdpError::NoCommonTransport`].

use std::net::{IpAddr, SocketAddr};

use super::{
    AddrType, Attribute, Connection, Direction, MediaKind, MediaSection, Origin, RtpMap, SdpError,
    SessionDescription, Timing, Transport,
};

/// The `o=` username and `s=` of the descriptions Hibiki writes.
const OUR_NAME: &str = "hibiki";
/// The payload type of telephone-event in our own offers.
pub const TELEPHONE_EVENT_PT: u8 = 101;
/// The events we offer (RFC 4733 §3.2: DTMF 0–9 * # A–D, and flash).
const TELEPHONE_EVENTS: &str = "0-16";
/// The packet time assumed when a peer does not say (RFC 3551 §4.5).
const DEFAULT_PTIME: u32 = 20;
const TELEPHONE_EVENT: &str = "telephone-event";
const G711_CLOCK: u32 = 8000;

/// An audio codec Hibiki's media layer speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law, static payload type 0 (RFC 3551).
    Pcmu,
    /// G.711 A-law, static payload type 8 (RFC 3551).
    Pcma,
}

impl Codec {
    /// Its static payload type.
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// Its encoding name in `a=rtpmap`.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// Its RTP clock rate.
    pub fn clock_rate(self) -> u32 {
        G711_CLOCK
    }

    fn rtpmap(self, payload_type: u8) -> Attribute {
        Attribute::RtpMap(RtpMap {
            payload_type,
            encoding: self.name().to_owned(),
            clock_rate: G711_CLOCK,
            channels: None,
        })
    }
}

/// What Hibiki offers or accepts on one leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    /// Where we receive RTP.
    pub addr: IpAddr,
    pub port: u16,
    /// The codecs we accept; in our own offers, in this order.
    pub codecs: Vec<Codec>,
    /// Whether to offer/accept RFC 4733 telephone-event.
    pub telephone_event: bool,
    /// The packet time we want to receive, in ms.
    pub ptime: u32,
    /// `o=` session id and version of what we write.
    pub session_id: u64,
    pub session_version: u64,
    /// What we are willing to do: sendrecv normally, sendonly while we
    /// hold the peer (it then stays so in answers to its re-INVITEs).
    pub direction: Direction,
}

impl LocalMedia {
    /// PCMU then PCMA, telephone-event, 20 ms, sendrecv, version 1.
    pub fn new(addr: IpAddr, port: u16, session_id: u64) -> LocalMedia {
        LocalMedia {
            addr,
            port,
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            telephone_event: true,
            ptime: DEFAULT_PTIME,
            session_id,
            session_version: 1,
            direction: Direction::SendRecv,
        }
    }

    fn description(&self, timing: Vec<Timing>, media: Vec<MediaSection>) -> SessionDescription {
        SessionDescription {
            origin: Origin {
                username: OUR_NAME.to_owned(),
                session_id: self.session_id.to_string(),
                session_version: self.session_version,
                net_type: "IN".to_owned(),
                addr_type: AddrType::of(self.addr).as_str().to_owned(),
                address: self.addr.to_string(),
            },
            session_name: OUR_NAME.to_owned(),
            connection: Some(Connection::new(self.addr)),
            timing,
            lines: Vec::new(),
            attributes: Vec::new(),
            media,
        }
    }

    /// Our audio `m=` section: `formats` as (codec, payload type), then
    /// telephone-event with `te`'s payload type and events.
    fn audio(
        &self,
        transport: Transport,
        port: u16,
        codecs: &[(Codec, u8)],
        te: Option<(u8, &str)>,
        direction: Direction,
    ) -> MediaSection {
        let mut formats: Vec<String> = codecs.iter().map(|(_, pt)| pt.to_string()).collect();
        let mut attributes: Vec<Attribute> = codecs.iter().map(|(c, pt)| c.rtpmap(*pt)).collect();
        if let Some((pt, events)) = te {
            formats.push(pt.to_string());
            attributes.push(Attribute::RtpMap(RtpMap {
                payload_type: pt,
                encoding: TELEPHONE_EVENT.to_owned(),
                clock_rate: G711_CLOCK,
                channels: None,
            }));
            attributes.push(Attribute::Fmtp {
                payload_type: pt,
                params: events.to_owned(),
            });
        }
        attributes.push(Attribute::Ptime(self.ptime));
        attributes.push(Attribute::Direction(direction));
        MediaSection {
            kind: MediaKind::Audio,
            port,
            port_count: None,
            transport,
            formats,
            connection: None,
            lines: Vec::new(),
            attributes,
        }
    }
}

/// What an offer/answer exchange settled for the audio stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    pub codec: Codec,
    /// The payload type the peer expects the codec in (what we send with).
    /// In our answers it is also what we receive; after
    /// [`accept_answer`], a peer that renumbered a dynamic type sends with
    /// the number of our offer, so receivers should match the codec by
    /// both (never an issue for PCMU 0 and PCMA 8).
    pub payload_type: u8,
    /// The payload type of telephone-event, if both sides use it.
    pub telephone_event_pt: Option<u8>,
    /// Where the peer receives RTP (its `c=` address and `m=` port). An
    /// unspecified address (`0.0.0.0`, old-style hold, RFC 3264 §8.4) or
    /// port 0 means: send nothing.
    pub remote: SocketAddr,
    /// Our direction: [`Direction::SendRecv`] means we send and receive,
    /// [`Direction::RecvOnly`] that the peer holds us, etc.
    pub direction: Direction,
    /// The packet time the peer asked to receive, in ms (its `a=ptime`,
    /// else 20).
    pub ptime: u32,
}

impl Negotiated {
    /// Whether we should send RTP at all.
    pub fn sends(&self) -> bool {
        self.direction.sends() && self.remote.port() != 0 && !self.remote.ip().is_unspecified()
    }
}

/// The result of [`answer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Our answer, to send in the 200 (or 183) body.
    pub sdp: SessionDescription,
    pub negotiated: Negotiated,
}

/// How a peer's description says one audio stream should go.
struct Stream {
    index: usize,
    codec: Codec,
    payload_type: u8,
    telephone_event_pt: Option<u8>,
    remote: SocketAddr,
    /// The peer's direction, old-style hold folded in.
    direction: Direction,
    ptime: u32,
}

/// Reads audio stream `index` of a peer's description, keeping the first
/// of its formats that `accept` takes (in the peer's order).
fn read_stream(
    sdp: &SessionDescription,
    index: usize,
    accept: impl Fn(Codec, u8) -> bool,
) -> Result<Stream, SdpError> {
    let m = sdp.media.get(index).ok_or(SdpError::NoAudio)?;
    let (codec, payload_type) = m
        .payload_types()
        .find_map(|pt| codec_of(m, pt).filter(|c| accept(*c, pt)).map(|c| (c, pt)))
        .ok_or(SdpError::NoCommonCodec)?;
    let address = match sdp.media_connection(index) {
        Some(c) => c.address,
        None if m.port == 0 => IpAddr::from([0, 0, 0, 0]),
        None => return Err(SdpError::NoConnection(index)),
    };
    let remote = SocketAddr::new(address, m.port);
    let mut direction = sdp.media_direction(index);
    if m.port == 0 {
        direction = Direction::Inactive;
    } else if address.is_unspecified() {
        // RFC 3264 §8.4: c=0.0.0.0 is the old way of saying "do not send
        // to me".
        direction = Direction::from_flags(direction.sends(), false);
    }
    Ok(Stream {
        index,
        codec,
        payload_type,
        telephone_event_pt: telephone_event_pt(m),
        remote,
        direction,
        ptime: m.ptime().unwrap_or(DEFAULT_PTIME),
    })
}

/// The G.711 codec payload type `pt` carries in `m`: by its `a=rtpmap`,
/// else by the static table (RFC 3551 §6).
fn codec_of(m: &MediaSection, pt: u8) -> Option<Codec> {
    match m.rtpmap(pt) {
        Some(map) => {
            let mono = !matches!(map.channels, Some(c) if c != 1);
            if map.clock_rate != G711_CLOCK || !mono {
                None
            } else if map.encoding.eq_ignore_ascii_case("PCMU") {
                Some(Codec::Pcmu)
            } else if map.encoding.eq_ignore_ascii_case("PCMA") {
                Some(Codec::Pcma)
            } else {
                None
            }
        }
        None => match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        },
    }
}

/// The first listed format of `m` that is telephone-event at 8 kHz (the
/// rate of G.711; RFC 4733 §2.5.1.4 ties the two).
fn telephone_event_pt(m: &MediaSection) -> Option<u8> {
    m.payload_types().find(|pt| {
        m.rtpmap(*pt).is_some_and(|map| {
            map.encoding.eq_ignore_ascii_case(TELEPHONE_EVENT) && map.clock_rate == G711_CLOCK
        })
    })
}

/// A rejected stream in an answer: port 0, the offer's formats (RFC 3264
/// §6: at least one format even when rejected).
fn rejected(m: &MediaSection) -> MediaSection {
    MediaSection {
        kind: m.kind.clone(),
        port: 0,
        port_count: None,
        transport: m.transport.clone(),
        formats: m.formats.clone(),
        connection: None,
        lines: Vec::new(),
        attributes: Vec::new(),
    }
}

/// Answers a peer's offer (RFC 3264 §6).
///
/// The accepted stream is the first audio stream over plain RTP with a
/// codec in common (one with a non-zero port first); every other stream
/// is answered with port 0. The codec is the first of the offer's
/// formats that `local.codecs` holds, under the offer's payload type
/// number; telephone-event is accepted under the offer's number when
/// `local.telephone_event` is set. The direction mirrors the offer's
/// (sendonly → recvonly…) within `local.direction`.
///
/// Errors: [`SdpError::NoAudio`], [`SdpError::NoCommonTransport`],
/// [`SdpError::NoCommonCodec`] (all 488), [`SdpError::NoConnection`].
///
/// ```
/// use hibiki_sip::sdp::{answer, Codec, Direction, LocalMedia, SessionDescription};
/// let offer = SessionDescription::parse(
///     b"v=0\r\no=- 1 1 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\n\
///       m=audio 6000 RTP/AVP 8 96\r\na=rtpmap:96 telephone-event/8000\r\na=sendonly\r\n",
/// )
/// .unwrap();
/// let local = LocalMedia::new("203.0.113.1".parse().unwrap(), 20000, 42);
/// let a = answer(&offer, &local).unwrap();
/// assert_eq!(a.negotiated.codec, Codec::Pcma);
/// assert_eq!(a.negotiated.telephone_event_pt, Some(96));
/// assert_eq!(a.negotiated.remote, "192.0.2.7:6000".parse().unwrap());
/// assert_eq!(a.negotiated.direction, Direction::RecvOnly); // the peer holds us
/// let body = a.sdp.to_string(); // for the 200 OK
/// assert!(body.contains("m=audio 20000 RTP/AVP 8 96\r\n"));
/// ```
pub fn answer(offer: &SessionDescription, local: &LocalMedia) -> Result<Answer, SdpError> {
    let audio: Vec<usize> = (0..offer.media.len())
        .filter(|i| {
            offer
                .media
                .get(*i)
                .is_some_and(|m| m.kind == MediaKind::Audio)
        })
        .collect();
    if audio.is_empty() {
        return Err(SdpError::NoAudio);
    }
    let plain: Vec<usize> = audio
        .into_iter()
        .filter(|i| {
            offer
                .media
                .get(*i)
                .is_some_and(|m| m.transport.is_plain_rtp())
        })
        .collect();
    if plain.is_empty() {
        return Err(SdpError::NoCommonTransport);
    }
    let accept = |c: Codec, _pt: u8| local.codecs.contains(&c);
    let live = |i: &usize| offer.media.get(*i).is_some_and(|m| m.port != 0);
    let candidates = plain
        .iter()
        .filter(|i| live(i))
        .chain(plain.iter().filter(|i| !live(i)));
    let mut last_error = SdpError::NoCommonCodec;
    let mut stream = None;
    for i in candidates {
        match read_stream(offer, *i, accept) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_error = e,
        }
    }
    let s = stream.ok_or(last_error)?;
    let te = match (local.telephone_event, s.telephone_event_pt) {
        (true, Some(pt)) => Some(pt),
        _ => None,
    };
    let direction = s.direction.reversed().intersect(local.direction);
    let media = offer
        .media
        .iter()
        .enumerate()
        .map(|(i, m)| {
            if i != s.index {
                return rejected(m);
            }
            let events = te.map(|pt| {
                let mut events = m.fmtp(pt).unwrap_or(TELEPHONE_EVENTS).trim();
                if events.is_empty() {
                    events = TELEPHONE_EVENTS;
                }
                (pt, events)
            });
            // RFC 3264 §8.2: a stream offered with port 0 is answered with 0.
            let port = if m.port == 0 { 0 } else { local.port };
            local.audio(
                m.transport.clone(),
                port,
                &[(s.codec, s.payload_type)],
                events,
                direction,
            )
        })
        .collect();
    let timing = if offer.timing.is_empty() {
        vec![Timing::permanent()]
    } else {
        offer.timing.clone() // RFC 3264 §6: the answer's t= equals the offer's
    };
    Ok(Answer {
        sdp: local.description(timing, media),
        negotiated: Negotiated {
            codec: s.codec,
            payload_type: s.payload_type,
            telephone_event_pt: te,
            remote: s.remote,
            direction,
            ptime: s.ptime,
        },
    })
}

/// Our offer for an outbound leg: one `RTP/AVP` audio stream with
/// `local.codecs` under their static payload types, telephone-event 101
/// (`0-16`) when enabled, `a=ptime`, and `local.direction`.
pub fn offer(local: &LocalMedia) -> SessionDescription {
    let codecs: Vec<(Codec, u8)> = local
        .codecs
        .iter()
        .map(|c| (*c, c.payload_type()))
        .collect();
    let te = local
        .telephone_event
        .then_some((TELEPHONE_EVENT_PT, TELEPHONE_EVENTS));
    let audio = local.audio(Transport::RtpAvp, local.port, &codecs, te, local.direction);
    local.description(vec![Timing::permanent()], vec![audio])
}

/// Checks a peer's answer against the offer we sent and says what was
/// negotiated (RFC 3264 §7).
///
/// The answer must have as many `m=` lines as the offer, and our audio
/// stream (the first one with a port) must come back as audio over the
/// same transport. It is rejected (port 0) or holds none of the codecs we
/// offered → [`SdpError::NoCommonCodec`]. The codec is the first of the
/// answer's formats that we offered.
pub fn accept_answer(
    offer: &SessionDescription,
    answer: &SessionDescription,
) -> Result<Negotiated, SdpError> {
    if offer.media.len() != answer.media.len() {
        return Err(SdpError::AnswerMismatch(
            "not as many m= lines as the offer",
        ));
    }
    let index = offer
        .media
        .iter()
        .position(|m| m.kind == MediaKind::Audio && m.port != 0)
        .ok_or(SdpError::NoAudio)?;
    let ours = offer.media.get(index).ok_or(SdpError::NoAudio)?;
    let theirs = answer.media.get(index).ok_or(SdpError::NoAudio)?;
    if theirs.kind != MediaKind::Audio {
        return Err(SdpError::AnswerMismatch(
            "our audio stream came back as another media",
        ));
    }
    if theirs.transport != ours.transport {
        return Err(SdpError::AnswerMismatch(
            "the transport differs from the offer's",
        ));
    }
    if theirs.port == 0 {
        return Err(SdpError::NoCommonCodec);
    }
    let offered = |c: Codec, _pt: u8| ours.payload_types().any(|pt| codec_of(ours, pt) == Some(c));
    let s = read_stream(answer, index, offered)?;
    let te = s
        .telephone_event_pt
        .filter(|_| telephone_event_pt(ours).is_some());
    let ours_direction = offer.media_direction(index);
    Ok(Negotiated {
        codec: s.codec,
        payload_type: s.payload_type,
        telephone_event_pt: te,
        remote: s.remote,
        direction: s.direction.reversed().intersect(ours_direction),
        ptime: s.ptime,
    })
}

/// A re-offer from our last description (offer or answer we sent): the
/// same streams, `direction` on every live audio stream, session version
/// + 1 (RFC 3264 §8).
pub fn reoffer(previous: &SessionDescription, direction: Direction) -> SessionDescription {
    let mut next = previous.clone();
    next.origin.session_version = previous.origin.session_version.wrapping_add(1);
    next.attributes
        .retain(|a| !matches!(a, Attribute::Direction(_)));
    for m in next
        .media
        .iter_mut()
        .filter(|m| m.kind == MediaKind::Audio && m.port != 0)
    {
        m.set_direction(direction);
    }
    next
}

/// Puts the peer on hold: [`reoffer`] with sendonly (RFC 3264 §8.4). If the
/// peer holds us too, use `reoffer(previous, Direction::Inactive)`.
pub fn hold(previous: &SessionDescription) -> SessionDescription {
    reoffer(previous, Direction::SendOnly)
}

/// Takes the peer off hold: [`reoffer`] with sendrecv.
pub fn resume(previous: &SessionDescription) -> SessionDescription {
    reoffer(previous, Direction::SendRecv)
}

impl SessionDescription {
    /// Whether this description, from the peer, puts the call on hold: its
    /// audio stream (the first with a port, else the first) is sendonly or
    /// inactive, has port 0, or points at an unspecified address
    /// (`c=0.0.0.0`, RFC 3264 §8.4 old style). A description without audio
    /// is not a hold.
    pub fn is_hold(&self) -> bool {
        let audio = |m: &MediaSection| m.kind == MediaKind::Audio;
        let live = self.media.iter().position(|m| audio(m) && m.port != 0);
        let Some(index) = live.or_else(|| self.media.iter().position(audio)) else {
            return false;
        };
        let port_zero = self.media.get(index).is_some_and(|m| m.port == 0);
        let unspecified = self
            .media_connection(index)
            .is_some_and(|c| c.address.is_unspecified());
        port_zero || unspecified || !self.media_direction(index).receives()
    }

    /// `self` with the `o=` version that follows `previous` (our last
    /// description on this leg): the same version if nothing else changed,
    /// else one more (RFC 3264 §8). Use it on the answer to a re-INVITE.
    pub fn versioned_after(mut self, previous: &SessionDescription) -> SessionDescription {
        self.origin.session_version = previous.origin.session_version;
        if &self != previous {
            self.origin.session_version = previous.origin.session_version.wrapping_add(1);
        }
        self
    }
}
