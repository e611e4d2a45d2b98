//! Fuzz target: any bytes through `parse_message`. Beyond "never panics",
//! it checks the parser's own promises: a refusal's response parses as a
//! response, and an accepted message survives a write/parse round trip.
#![no_main]

use hibiki_sip::parse::parse_message;
use hibiki_sip::write::write_message;
use hibiki_sip::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_message(data) {
        Ok(m) => {
            let written = write_message(&m);
            let again = parse_message(&written).expect("our own output must parse");
            assert_eq!(m, again, "round trip changed the message");
        }
        Err(e) => {
            if let Some(resp) = e.response {
                assert!(e.status.is_some());
                assert!(resp.starts_with(b"SIP/2.0 "));
                assert!(resp.len() <= 2 * data.len() + 512, "response out of proportion to input");
            }
        }
    }
});
