//! The SIP message model: requests, responses and the typed headers a
//! transaction layer, a dialog layer and a B2BUA actually read.
//!
//! The headers every request must carry (RFC 3261 §8.1.1: Via, From, To,
//! Call-ID, CSeq, and Max-Forwards where present) are parsed once, at the
//! edge, into typed fields of [`Headers`]; everything else stays in
//! [`Headers::extra`] as canonical-name/value pairs in arrival order, so a
//! message round-trips without the core paying for headers it never reads.
//! `Content-Length` is not stored: it is derived from the body when the
//! message is written.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::Bytes;

/// The only protocol version Hibiki speaks.
pub const SIP_VERSION: &str = "SIP/2.0";

/// The magic cookie that marks an RFC 3261 branch (§8.1.1.7).
pub const BRANCH_MAGIC: &str = "z9hG4bK";

/// A request method. Methods are case-sensitive (RFC 3261 §7.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Register,
    Info,
    Prack,
    Update,
    Subscribe,
    Notify,
    Refer,
    Message,
    Publish,
    /// Any other token: answered 501 or 405 by the core.
    Extension(String),
}

impl Method {
    /// Parses a method token exactly as written (case-sensitive).
    pub fn from_token(token: &str) -> Method {
        match token {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "REGISTER" => Method::Register,
            "INFO" => Method::Info,
            "PRACK" => Method::Prack,
            "UPDATE" => Method::Update,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "REFER" => Method::Refer,
            "MESSAGE" => Method::Message,
            "PUBLISH" => Method::Publish,
            other => Method::Extension(other.to_owned()),
        }
    }

    /// The method token as it goes on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Extension(s) => s,
            known => known.standard_token().unwrap_or_default(),
        }
    }

    /// The token of a method this crate names (`None` for extensions):
    /// `'static`, so it can label metrics without growing with input.
    pub fn standard_token(&self) -> Option<&'static str> {
        Some(match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Info => "INFO",
            Method::Prack => "PRACK",
            Method::Update => "UPDATE",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Publish => "PUBLISH",
            Method::Extension(_) => return None,
        })
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `name[=value]` parameter (URI, Via, From/To, Contact…). Names keep
/// their case as received; lookups compare case-insensitively.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub value: Option<String>,
}

impl Param {
    pub fn new(name: impl Into<String>, value: Option<String>) -> Self {
        Param {
            name: name.into(),
            value,
        }
    }
}

/// Finds a parameter by case-insensitive name.
pub fn find_param<'a>(params: &'a [Param], name: &str) -> Option<&'a Param> {
    params.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

/// A host: a domain name or an IP literal (IPv6 written in brackets on the wire).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    Domain(String),
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::Ipv4(a) => write!(f, "{a}"),
            Host::Ipv6(a) => write!(f, "[{a}]"),
        }
    }
}

/// A `sip:` or `sips:` URI (RFC 3261 §19.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipUri {
    /// `sips:` rather than `sip:`.
    pub secure: bool,
    /// The user part, unescaped.
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: Host,
    pub port: Option<u16>,
    /// `;name=value` URI parameters (`transport`, `lr`, `user`…).
    pub params: Vec<Param>,
    /// `?name=value` URI headers.
    pub headers: Vec<Param>,
}

/// Any URI: SIP/SIPS parsed, other schemes (`tel:`, `http:`, `urn:`…) kept opaque.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Uri {
    Sip(SipUri),
    /// An absolute URI of another scheme: `scheme` lower-cased, `rest` is
    /// everything after the colon, as received.
    Other {
        scheme: String,
        rest: String,
    },
}

/// The transport token of a Via header.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
    Sctp,
    Ws,
    Wss,
    Other(String),
}

/// One Via header value (RFC 3261 §20.42; rport per RFC 3581).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Via {
    pub transport: Transport,
    pub host: Host,
    pub port: Option<u16>,
    /// `branch`, `received`, `rport`, `maddr`, `ttl` and extensions.
    pub params: Vec<Param>,
}

/// A name-addr or addr-spec with header parameters: From, To, Contact,
/// Route, Record-Route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name, unquoted.
    pub display_name: Option<String>,
    pub uri: Uri,
    /// Header parameters (`tag`, `expires`, `q`…), not URI parameters.
    pub params: Vec<Param>,
}

/// One Contact value: `*` (REGISTER only) or an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Contact {
    Wildcard,
    Addr(NameAddr),
}

/// The CSeq header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}

/// Any header that is not one of the typed fields of [`Headers`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The canonical full name (`Supported`, not `k`; `Content-Type`
    /// is typed, so never here).
    pub name: String,
    /// The value with folding removed and outer whitespace trimmed.
    pub value: String,
}

/// The headers of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Headers {
    /// Top-most first.
    pub via: Vec<Via>,
    pub from: NameAddr,
    pub to: NameAddr,
    pub call_id: String,
    pub cseq: CSeq,
    pub max_forwards: Option<u32>,
    pub contact: Vec<Contact>,
    pub route: Vec<NameAddr>,
    pub record_route: Vec<NameAddr>,
    pub content_type: Option<String>,
    /// Every other header in arrival order.
    pub extra: Vec<Header>,
}

/// A SIP request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub uri: Uri,
    pub headers: Headers,
    pub body: Bytes,
}

/// A SIP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Headers,
    pub body: Bytes,
}

/// Either kind of message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Request(Request),
    Response(Response),
}
