//! [`Message`] → bytes. (Signatures fixed; body being written.)

use bytes::Bytes;

use crate::message::{Message, Request, Response};

/// Writes a request, with a Content-Length derived from its body.
pub fn write_request(req: &Request) -> Bytes {
    let _ = req;
    Bytes::new()
}

/// Writes a response, with a Content-Length derived from its body.
pub fn write_response(resp: &Response) -> Bytes {
    let _ = resp;
    Bytes::new()
}

/// Writes either kind.
pub fn write_message(msg: &Message) -> Bytes {
    match msg {
        Message::Request(r) => write_request(r),
        Message::Response(r) => write_response(r),
    }
}
