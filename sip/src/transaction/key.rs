//! Transaction matching keys (RFC 3261 §17.1.3 for responses, §17.2.3 for
//! requests, including the RFC 2543 fallback for branches without the
//! magic cookie). Keys are hashable so the endpoint finds a transaction in
//! O(1).

use crate::message::{Host, Method, Request, Response, Transport, Via, BRANCH_MAGIC};

use super::build::{branch_of, tag_of};

/// The default port of a transport when a Via or URI omits it.
pub fn default_port(transport: &Transport) -> u16 {
    match transport {
        Transport::Tls => 5061,
        Transport::Ws => 80,
        Transport::Wss => 443,
        _ => 5060,
    }
}

/// The `sent-by` of a Via: host and port (the transport default filled in).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SentBy {
    pub host: Host,
    pub port: u16,
}

impl SentBy {
    /// The sent-by of `via`.
    pub fn of(via: &Via) -> SentBy {
        SentBy {
            host: via.host.clone(),
            port: via.port.unwrap_or_else(|| default_port(&via.transport)),
        }
    }
}

/// The key of a server transaction, built from a request.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ServerKey {
    /// RFC 3261: the branch (with magic cookie), the top Via's sent-by and
    /// the method (ACK counted as INVITE; CANCEL is its own).
    Branch {
        branch: String,
        sent_by: SentBy,
        method: Method,
    },
    /// RFC 2543 fallback (§17.2.3, last paragraph): Request-URI, From tag,
    /// Call-ID, CSeq number and method (ACK as INVITE), and top Via
    /// sent-by. The To tag is not part of the key: an ACK's To tag is
    /// checked against our response by the caller when it matters.
    Legacy {
        call_id: String,
        from_tag: Option<String>,
        cseq: u32,
        method: Method,
        uri: String,
        sent_by: SentBy,
    },
}

impl ServerKey {
    /// The key `req` matches, or `None` without a Via. An ACK maps to
    /// the INVITE transaction it acknowledges.
    pub fn of_request(req: &Request) -> Option<ServerKey> {
        let via = req.headers.via.first()?;
        let method = match req.method {
            Method::Ack => Method::Invite,
            ref m => m.clone(),
        };
        Some(Self::build(req, via, method))
    }

    /// The key of the INVITE transaction a CANCEL targets (§9.2: same
    /// matching as the CANCEL's own, with the method INVITE).
    pub fn invite_for_cancel(cancel: &Request) -> Option<ServerKey> {
        let via = cancel.headers.via.first()?;
        Some(Self::build(cancel, via, Method::Invite))
    }

    fn build(req: &Request, via: &Via, method: Method) -> ServerKey {
        let sent_by = SentBy::of(via);
        match branch_of(via) {
            Some(b) if b.starts_with(BRANCH_MAGIC) => ServerKey::Branch {
                branch: b.to_owned(),
                sent_by,
                method,
            },
            _ => ServerKey::Legacy {
                call_id: req.headers.call_id.clone(),
                from_tag: tag_of(&req.headers.from).map(str::to_owned),
                cseq: req.headers.cseq.seq,
                method,
                uri: format!("{:?}", req.uri),
                sent_by,
            },
        }
    }

    /// The method part of the key.
    pub fn method(&self) -> &Method {
        match self {
            ServerKey::Branch { method, .. } | ServerKey::Legacy { method, .. } => method,
        }
    }
}

/// The key of a client transaction: the branch we put in the top Via and
/// the CSeq method (§17.1.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientKey {
    pub branch: String,
    pub method: Method,
}

impl ClientKey {
    /// The key a response matches, or `None` when its top Via has no branch.
    pub fn of_response(resp: &Response) -> Option<ClientKey> {
        let via = resp.headers.via.first()?;
        Some(ClientKey {
            branch: branch_of(via)?.to_owned(),
            method: resp.headers.cseq.method.clone(),
        })
    }
}

/// The dialog-level key an ACK for a 2xx is matched with (its branch is
/// new): Call-ID, From tag, To tag and CSeq number.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AckKey {
    pub call_id: String,
    pub from_tag: String,
    pub to_tag: String,
    pub cseq: u32,
}

impl AckKey {
    /// The key of a request (the ACK) or of the INVITE and our 2xx's To tag.
    pub fn new(req: &Request, to_tag: Option<&str>) -> Option<AckKey> {
        Some(AckKey {
            call_id: req.headers.call_id.clone(),
            from_tag: tag_of(&req.headers.from)?.to_owned(),
            to_tag: to_tag.or_else(|| tag_of(&req.headers.to))?.to_owned(),
            cseq: req.headers.cseq.seq,
        })
    }
}

/// The key §8.2.2.2 merged-request detection uses for requests without a
/// To tag: From tag, Call-ID, CSeq number and method.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MergeKey {
    pub call_id: String,
    pub from_tag: String,
    pub cseq: u32,
    pub method: Method,
}

impl MergeKey {
    /// The key of an out-of-dialog request (no To tag, a From tag).
    pub fn of_request(req: &Request) -> Option<MergeKey> {
        if tag_of(&req.headers.to).is_some() {
            return None;
        }
        Some(MergeKey {
            call_id: req.headers.call_id.clone(),
            from_tag: tag_of(&req.headers.from)?.to_owned(),
            cseq: req.headers.cseq.seq,
            method: req.headers.cseq.method.clone(),
        })
    }
}
