//! Bytes → [`Message`]. (Signatures fixed; body being written.)

use bytes::Bytes;

use crate::message::Message;

/// Why a message was refused, and what to answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct ParseError {
    /// The status to answer with (400, 505, 416…), or `None` when the
    /// message must be dropped silently (responses, unparseable Via…).
    pub status: Option<u16>,
    /// What is wrong, for the reason phrase and logs.
    pub reason: String,
    /// The wire response to send back to the source, when one can be built.
    pub response: Option<Bytes>,
}

/// What sits at the front of a stream buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framed {
    /// More bytes are needed.
    Incomplete,
    /// A complete message occupies the first `len` bytes.
    Message { len: usize },
    /// `len` bytes of CRLF keep-alive (RFC 5626 §3.5.1) to discard.
    KeepAlive { len: usize },
}

/// Parses one complete message (a datagram, or a frame from [`frame`]).
pub fn parse_message(buf: &[u8]) -> Result<Message, ParseError> {
    let _ = buf;
    Err(ParseError {
        status: None,
        reason: "parser not yet written".into(),
        response: None,
    })
}

/// Finds the first message in a stream buffer using Content-Length.
pub fn frame(buf: &[u8]) -> Result<Framed, ParseError> {
    let _ = buf;
    Ok(Framed::Incomplete)
}
