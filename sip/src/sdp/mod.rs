//! SDP (RFC 8866, formerly RFC 4566) as Hibiki needs it, and the RFC 3264
//! offer/answer model for audio, seen from a B2BUA that anchors media.
//!
//! This module owns:
//! - the model of a session description ([`SessionDescription`],
//!   [`MediaSection`], [`Attribute`]…): typed where Hibiki decides
//!   something (origin, connection, media lines, `rtpmap`, `fmtp`,
//!   `ptime`, direction, `rtcp`), verbatim everywhere else, so a
//!   description parsed and written back loses nothing;
//! - [`parse`](SessionDescription::parse): bytes → model, tolerant of LF
//!   line ends, blank lines and unknown lines, strict where a mistake
//!   would route audio wrongly (`v=`, `o=`, `c=`, `m=`, `t=`): each
//!   refusal names the line ([`SdpError::Malformed`]);
//! - writing: [`SessionDescription`] implements `Display` (CRLF line
//!   ends, RFC 8866 line order);
//! - offer/answer ([`negotiate`]): [`answer`] an offer with PCMU/PCMA and
//!   telephone-event (RFC 4733), make our own [`offer`] and
//!   [`accept_answer`], and re-offers for [`hold`] and [`resume`].
//!
//! ## Decisions
//! - **Hand-written, not a crate.** The Rust SDP crates either type every
//!   attribute and refuse or drop the ones they do not know
//!   (`webrtc-sdp`), or keep everything as strings and give no line on
//!   error (`sdp` from webrtc-rs, which also pulls in its RTC stack).
//!   Hibiki needs the middle: a handful of typed fields for negotiation,
//!   every other line kept verbatim and in order, errors that name the
//!   line, and a parser that cannot panic on hostile input (the
//!   indexing/unwrap lints below are denied). That is a few hundred lines.
//! - **Attributes keep their order.** They live in one ordered list of
//!   [`Attribute`]s, typed variants mixed with [`Attribute::Other`]; an
//!   attribute whose typed form does not parse (say `a=ptime:2.5`) is kept
//!   as `Other`, verbatim, rather than refusing the whole description.
//! - **Text is decoded leniently.** Bytes that are not UTF-8 (an `s=` in
//!   Latin-1 from old gear) become U+FFFD; every field Hibiki reads is
//!   ASCII, so negotiation never depends on them.
//! - **Addresses are IP literals.** A `c=` with a host name is refused:
//!   resolving it would be IO, and no SIP trunk we know sends one.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

use std::fmt;
use std::net::IpAddr;

pub mod negotiate;
mod parse;
mod write;

pub use negotiate::{
    accept_answer, answer, hold, offer, reoffer, resume, Answer, Codec, LocalMedia, Negotiated,
};

#[cfg(test)]
mod tests;

/// Why a description was refused or an offer/answer failed.
///
/// [`SdpError::sip_status`] is the one place these become SIP status codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// A line that Hibiki must understand could not be parsed.
    #[error("SDP line {line} ({text:?}): {reason}")]
    Malformed {
        /// 1-based line number in the body.
        line: usize,
        /// The line itself, cut to 80 characters.
        text: String,
        reason: &'static str,
    },
    /// A mandatory line is absent (`"v="`, `"o="`).
    #[error("SDP has no {0} line")]
    Missing(&'static str),
    /// The offer has no audio stream at all.
    #[error("the offer has no audio stream")]
    NoAudio,
    /// Audio streams are offered, but only over transports we do not
    /// speak (SRTP, DTLS-SRTP for WebRTC).
    #[error("no audio stream over plain RTP (RTP/AVP or RTP/AVPF)")]
    NoCommonTransport,
    /// No offered codec is one we support (or the answer picked none of
    /// ours).
    #[error("no codec in common")]
    NoCommonCodec,
    /// The chosen media stream has no `c=` line, neither its own nor the
    /// session's. The number is the stream's index (0-based).
    #[error("media stream {0} has no connection address")]
    NoConnection(usize),
    /// An answer that does not fit the offer it answers.
    #[error("the answer does not match our offer: {0}")]
    AnswerMismatch(&'static str),
}

impl SdpError {
    /// The SIP status a UAS answers an INVITE with when its SDP fails this
    /// way: 400 for a body that cannot be read, 488 (Not Acceptable Here)
    /// when it reads but cannot be negotiated.
    pub fn sip_status(&self) -> u16 {
        match self {
            SdpError::Malformed { .. } | SdpError::Missing(_) => 400,
            _ => 488,
        }
    }
}

/// A session description (RFC 8866 §5).
///
/// `Display` writes it (CRLF, RFC 8866 order); [`SessionDescription::parse`]
/// reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `o=`.
    pub origin: Origin,
    /// `s=` (`"-"` when the peer left it out).
    pub session_name: String,
    /// Session-level `c=`.
    pub connection: Option<Connection>,
    /// `t=` lines, each with its `r=` lines. Written as `t=0 0` if empty.
    pub timing: Vec<Timing>,
    /// Session-level `i=`, `u=`, `e=`, `p=`, `b=`, `z=`, `k=` and unknown
    /// lines, verbatim.
    pub lines: Vec<Line>,
    /// Session-level `a=` lines, in order.
    pub attributes: Vec<Attribute>,
    /// `m=` sections, in order.
    pub media: Vec<MediaSection>,
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub username: String,
    /// Kept as text: it identifies, it is never computed with.
    pub session_id: String,
    /// Incremented on every change (RFC 3264 §8).
    pub session_version: u64,
    pub net_type: String,
    pub addr_type: String,
    /// An IP literal or a host name, as the peer wrote it.
    pub address: String,
}

/// The address family of a `c=` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrType {
    Ip4,
    Ip6,
}

impl AddrType {
    /// The family of an address.
    pub fn of(addr: IpAddr) -> AddrType {
        match addr {
            IpAddr::V4(_) => AddrType::Ip4,
            IpAddr::V6(_) => AddrType::Ip6,
        }
    }

    /// `IP4` or `IP6`.
    pub fn as_str(self) -> &'static str {
        match self {
            AddrType::Ip4 => "IP4",
            AddrType::Ip6 => "IP6",
        }
    }
}

/// `c=IN <IP4|IP6> <address>[/<ttl>][/<count>]` (network type is always
/// `IN`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub address: IpAddr,
    /// The multicast suffix after the address (`"127/3"`), verbatim.
    pub multicast: Option<String>,
}

impl Connection {
    /// A unicast connection to `address`.
    pub fn new(address: IpAddr) -> Connection {
        Connection {
            address,
            multicast: None,
        }
    }
}

/// `t=<start> <stop>` and the `r=` lines that follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    pub start: u64,
    pub stop: u64,
    /// `r=` values, verbatim.
    pub repeats: Vec<String>,
}

impl Timing {
    /// `t=0 0`, the permanent session every SIP call uses.
    pub fn permanent() -> Timing {
        Timing {
            start: 0,
            stop: 0,
            repeats: Vec::new(),
        }
    }
}

/// A line kept verbatim: its type letter and what follows the `=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub kind: char,
    pub value: String,
}

/// The media type of an `m=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaKind {
    Audio,
    Video,
    /// `image`, used for T.38 fax.
    Image,
    Application,
    Text,
    Message,
    Other(String),
}

impl MediaKind {
    fn from_token(s: &str) -> MediaKind {
        match s {
            "audio" => MediaKind::Audio,
            "video" => MediaKind::Video,
            "image" => MediaKind::Image,
            "application" => MediaKind::Application,
            "text" => MediaKind::Text,
            "message" => MediaKind::Message,
            other => MediaKind::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
            MediaKind::Image => "image",
            MediaKind::Application => "application",
            MediaKind::Text => "text",
            MediaKind::Message => "message",
            MediaKind::Other(s) => s,
        }
    }
}

/// The transport protocol of an `m=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// `RTP/AVP` (RFC 3551): what SIP trunks and phones speak.
    RtpAvp,
    /// `RTP/AVPF` (RFC 4585): RTP/AVP plus RTCP feedback.
    RtpAvpf,
    /// `RTP/SAVP` (RFC 3711, SDES-keyed SRTP).
    RtpSavp,
    /// `RTP/SAVPF`.
    RtpSavpf,
    /// `UDP/TLS/RTP/SAVPF` (DTLS-SRTP, WebRTC).
    UdpTlsRtpSavpf,
    /// Anything else (`udptl`, `UDP/DTLS/SCTP`…), verbatim.
    Other(String),
}

impl Transport {
    fn from_token(s: &str) -> Transport {
        match s {
            "RTP/AVP" => Transport::RtpAvp,
            "RTP/AVPF" => Transport::RtpAvpf,
            "RTP/SAVP" => Transport::RtpSavp,
            "RTP/SAVPF" => Transport::RtpSavpf,
            "UDP/TLS/RTP/SAVPF" => Transport::UdpTlsRtpSavpf,
            other => Transport::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Transport::RtpAvp => "RTP/AVP",
            Transport::RtpAvpf => "RTP/AVPF",
            Transport::RtpSavp => "RTP/SAVP",
            Transport::RtpSavpf => "RTP/SAVPF",
            Transport::UdpTlsRtpSavpf => "UDP/TLS/RTP/SAVPF",
            Transport::Other(s) => s,
        }
    }

    /// Whether the formats are RTP payload type numbers.
    pub fn is_rtp(&self) -> bool {
        !matches!(self, Transport::Other(_))
    }

    /// Whether this is unencrypted RTP, the only kind Hibiki's RTP
    /// sessions speak.
    pub fn is_plain_rtp(&self) -> bool {
        matches!(self, Transport::RtpAvp | Transport::RtpAvpf)
    }
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSection {
    pub kind: MediaKind,
    /// 0 means the stream is rejected or disabled (RFC 3264 §6, §8.2).
    pub port: u16,
    /// The `/<number of ports>` suffix, if any.
    pub port_count: Option<u16>,
    pub transport: Transport,
    /// The formats: payload type numbers for RTP (checked to be 0–127),
    /// anything for other transports (`t38`, `webrtc-datachannel`).
    pub formats: Vec<String>,
    /// Media-level `c=`.
    pub connection: Option<Connection>,
    /// Media-level `i=`, `b=`, `k=` and unknown lines, verbatim.
    pub lines: Vec<Line>,
    /// Media-level `a=` lines, in order.
    pub attributes: Vec<Attribute>,
}

/// `a=` lines. Typed where Hibiki reads them; any other, or any that does
/// not parse in its typed form, is [`Attribute::Other`], verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    /// `a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]`.
    RtpMap(RtpMap),
    /// `a=fmtp:<pt> <parameters>`, parameters verbatim.
    Fmtp { payload_type: u8, params: String },
    /// `a=ptime:<milliseconds>`.
    Ptime(u32),
    /// `a=sendrecv`, `a=sendonly`, `a=recvonly`, `a=inactive`.
    Direction(Direction),
    /// `a=rtcp:<port> [IN <IP4|IP6> <address>]` (RFC 3605).
    Rtcp {
        port: u16,
        connection: Option<Connection>,
    },
    /// `a=<name>` (`value` is `None`) or `a=<name>:<value>`.
    Other { name: String, value: Option<String> },
}

impl Attribute {
    /// An `a=<name>` flag or `a=<name>:<value>` attribute kept verbatim.
    pub fn other(name: &str, value: Option<&str>) -> Attribute {
        Attribute::Other {
            name: name.to_owned(),
            value: value.map(str::to_owned),
        }
    }
}

/// `a=rtpmap` (RFC 8866 §6.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    pub payload_type: u8,
    /// As written (`PCMU`, `telephone-event`, `opus`); compare it
    /// ignoring case.
    pub encoding: String,
    pub clock_rate: u32,
    pub channels: Option<u16>,
}

/// The direction of a stream (RFC 3264 §5.1, §6.1), from the point of
/// view of whoever wrote the description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    /// From what the writer does.
    pub fn from_flags(sends: bool, receives: bool) -> Direction {
        match (sends, receives) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The same stream seen from the other end: sendonly ↔ recvonly.
    pub fn reversed(self) -> Direction {
        Direction::from_flags(self.receives(), self.sends())
    }

    /// What both allow.
    pub fn intersect(self, other: Direction) -> Direction {
        Direction::from_flags(
            self.sends() && other.sends(),
            self.receives() && other.receives(),
        )
    }

    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    fn from_name(name: &str) -> Option<Direction> {
        match name {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The direction attribute in a list, if any (the first one wins).
fn direction_in(attributes: &[Attribute]) -> Option<Direction> {
    attributes.iter().find_map(|a| match a {
        Attribute::Direction(d) => Some(*d),
        _ => None,
    })
}

/// The value of the first `a=<name>` (`Some(None)` for a flag).
fn other_in<'a>(attributes: &'a [Attribute], wanted: &str) -> Option<Option<&'a str>> {
    attributes.iter().find_map(|a| match a {
        Attribute::Other { name, value } if name == wanted => Some(value.as_deref()),
        _ => None,
    })
}

impl SessionDescription {
    /// The session-level direction attribute, if any.
    pub fn direction(&self) -> Option<Direction> {
        direction_in(&self.attributes)
    }

    /// The direction of media section `index` as RFC 3264 §5.1 reads it:
    /// its own attribute, else the session's, else sendrecv.
    /// Old-style hold (`c=0.0.0.0`) is not folded in here; see
    /// [`SessionDescription::is_hold`].
    pub fn media_direction(&self, index: usize) -> Direction {
        self.media
            .get(index)
            .and_then(MediaSection::direction)
            .or_else(|| self.direction())
            .unwrap_or(Direction::SendRecv)
    }

    /// The connection that applies to media section `index`: its own `c=`,
    /// else the session's.
    pub fn media_connection(&self, index: usize) -> Option<&Connection> {
        self.media
            .get(index)
            .and_then(|m| m.connection.as_ref())
            .or(self.connection.as_ref())
    }

    /// The value of the first session-level `a=<name>` attribute kept
    /// verbatim (`Some(None)` for a flag such as `a=ice-lite`).
    pub fn attribute(&self, name: &str) -> Option<Option<&str>> {
        other_in(&self.attributes, name)
    }
}

impl MediaSection {
    /// The media-level direction attribute, if any.
    pub fn direction(&self) -> Option<Direction> {
        direction_in(&self.attributes)
    }

    /// Replaces every media-level direction attribute with `direction`
    /// (where the first one was, or at the end).
    pub fn set_direction(&mut self, direction: Direction) {
        let mut placed = false;
        self.attributes.retain_mut(|a| match a {
            Attribute::Direction(d) if !placed => {
                *d = direction;
                placed = true;
                true
            }
            Attribute::Direction(_) => false,
            _ => true,
        });
        if !placed {
            self.attributes.push(Attribute::Direction(direction));
        }
    }

    /// The `a=rtpmap` for payload type `pt`.
    pub fn rtpmap(&self, pt: u8) -> Option<&RtpMap> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::RtpMap(m) if m.payload_type == pt => Some(m),
            _ => None,
        })
    }

    /// The `a=fmtp` parameters for payload type `pt`.
    pub fn fmtp(&self, pt: u8) -> Option<&str> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Fmtp {
                payload_type,
                params,
            } if *payload_type == pt => Some(params.as_str()),
            _ => None,
        })
    }

    /// `a=ptime`, in milliseconds.
    pub fn ptime(&self) -> Option<u32> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Ptime(p) => Some(*p),
            _ => None,
        })
    }

    /// `a=rtcp`: the port and, if given, the address RTCP goes to.
    pub fn rtcp(&self) -> Option<(u16, Option<&Connection>)> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Rtcp { port, connection } => Some((*port, connection.as_ref())),
            _ => None,
        })
    }

    /// The value of the first `a=<name>` attribute kept verbatim
    /// (`Some(None)` for a flag such as `a=rtcp-mux`).
    pub fn attribute(&self, name: &str) -> Option<Option<&str>> {
        other_in(&self.attributes, name)
    }

    /// The formats as RTP payload types, in order (formats that are not
    /// numbers 0–127 are skipped; for RTP transports the parser refuses
    /// them).
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats
            .iter()
            .filter_map(|f| f.parse::<u8>().ok())
            .filter(|pt| *pt <= 127)
    }
}
