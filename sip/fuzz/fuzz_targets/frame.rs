//! Fuzz target: any bytes through `frame`, as a stream reader would call
//! it; every framed message must be within the buffer and parseable
//! without a panic.
#![no_main]

use hibiki_sip::parse::{frame, parse_message, Framed};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buf = data;
    // Consume the buffer the way a TCP reader does, bounded by its length.
    for _ in 0..=data.len() {
        match frame(buf) {
            Ok(Framed::Message { len }) => {
                assert!(len > 0 && len <= buf.len());
                let _ = parse_message(&buf[..len]);
                buf = &buf[len..];
            }
            Ok(Framed::KeepAlive { len }) => {
                assert!(len > 0 && len <= buf.len());
                buf = &buf[len..];
            }
            Ok(Framed::Incomplete) | Err(_) => break,
        }
    }
});
