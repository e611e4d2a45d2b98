//! Fuzz target: any bytes as an SDP body, through everything Hibiki does
//! with a peer's SDP: parse it; if it parses, answer it as an offer (and
//! re-answer after a hold), and accept it as the answer to our offer.
//! Nothing may panic; what we write must parse again, and an answer we
//! give must be acceptable to ourselves.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use hibiki_sip::sdp::{self, LocalMedia, SessionDescription};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(theirs) = SessionDescription::parse(data) else {
        return;
    };
    // Our own writing of what we parsed must parse.
    let rewritten = theirs.to_bytes();
    assert!(SessionDescription::parse(&rewritten).is_ok());

    let local = LocalMedia::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 20_000, 1);
    if let Ok(answer) = sdp::answer(&theirs, &local) {
        let ours = answer.sdp.to_bytes();
        let reparsed = SessionDescription::parse(&ours).expect("our answer parses");
        // Our answer is a valid answer to their offer, from their side.
        let _ = sdp::accept_answer(&theirs, &reparsed);
        let held = sdp::hold(&answer.sdp);
        assert!(SessionDescription::parse(&held.to_bytes()).is_ok());
        let _ = answer.sdp.versioned_after(&held);
    }
    let offer = sdp::offer(&local);
    let _ = sdp::accept_answer(&offer, &theirs);
});
